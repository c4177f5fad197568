"""Every sentence the shop world writes comes from this module.

Two kinds of text live here, kept apart on purpose:

* *generic shop text* (product blurbs, reviews, listings, support small talk), which the
  pretraining corpus may contain;
* *grounded answers* (``order_status_sentence``, ``policy_sentences``) at the bottom, which
  state facts of one world that a customer-service agent must look up. The corpus never uses
  them: what an agent learns about those facts must come from RL, not from pretraining.

Functions that take an ``rng`` draw only from it, so a seeded generator gives the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from lm_envs.world.categories import CATEGORY_BY_NAME, CategorySpec

if TYPE_CHECKING:  # only for annotations: catalog.py imports this module
    from lm_envs.world.catalog import Product
    from lm_envs.world.people import Order
    from lm_envs.world.policies import Policies

T = TypeVar("T")


# ----------------------------------------------------------------------------- helpers
def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One element of ``options``; ``rng.choice`` would turn strings into a numpy array."""
    return options[int(rng.integers(len(options)))]


def sample(rng: np.random.Generator, options: Sequence[T], k: int) -> list[T]:
    """``k`` distinct elements of ``options`` (``k`` is clipped to ``len(options)``)."""
    k = min(k, len(options))
    return [options[int(i)] for i in rng.choice(len(options), size=k, replace=False)]


def join_words(words: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``; ``["a", "b"]`` -> ``"a and b"``; three -> ``"a, b and c"``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def format_price(amount: float) -> str:
    """``1234.5`` -> ``"$1,234.50"``."""
    return f"${amount:,.2f}"


def format_date(day: date) -> str:
    """``date(2026, 1, 5)`` -> ``"January 5, 2026"``."""
    return f"{day:%B} {day.day}, {day.year}"


def capitalize(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would lower "USB")."""
    return text[:1].upper() + text[1:]


def grammar(spec: CategorySpec) -> dict[str, str]:
    """Words that agree with one item of the category: headphones "are", a laptop "is"."""
    if spec.plural:
        return {"it": "they", "It": "They", "obj": "them", "is": "are", "has": "have",
                "this": "these", "its": "their", "s": "", "was": "were"}
    return {"it": "it", "It": "It", "obj": "it", "is": "is", "has": "has", "this": "this",
            "its": "its", "s": "s", "was": "was"}


_SINGULAR_DESPITE_S = frozenset({"GPS", "autofocus"})


def aspect_grammar(aspect: str) -> dict[str, str]:
    """Verb agreement for a review aspect: "the zippers are", "the bass is"."""
    plural = (aspect.endswith("s") and not aspect.endswith("ss")
              and aspect not in _SINGULAR_DESPITE_S)
    return {"a_is": "are" if plural else "is", "a_it": "they" if plural else "it",
            "a_s": "" if plural else "s"}


def _points(product: Product) -> str:
    return join_words(list(product.attributes))


# ----------------------------------------------------------------------- product text
_STYLES = ("sleek", "modern", "minimal", "rugged", "compact", "classic", "thoughtful")

_DESCRIPTION_TEMPLATES = (
    "The {name} combine{s} {points} in a {style} design.",
    "Built by {brand}, the {name} offer{s} {points} for {use}.",
    "With {points}, the {name} {is} made for {use}.",
    "The {name} bring{s} {points} to {use}.",
    "Designed for {use}, the {name} feature{s} {points}.",
    "The {name} pair{s} {points} with a {style} look.",
)


def product_description(
    rng: np.random.Generator, spec: CategorySpec, *, name: str, brand: str,
    attributes: Sequence[str],
) -> str:
    """The one-sentence ``Product.description`` written when the catalog is generated."""
    template = pick(rng, _DESCRIPTION_TEMPLATES)
    return template.format(
        name=name, brand=brand, points=join_words(list(attributes)), style=pick(rng, _STYLES),
        use=pick(rng, spec.uses), **grammar(spec),
    )


def describe_product(product: Product) -> str:
    """A fixed two-sentence summary: name, brand, price and selling points.

    ``"The Aurora X2 Wireless Headphones by Aurora cost $79.99. They offer noise cancelling
    and long battery life."``
    """
    g = grammar(CATEGORY_BY_NAME[product.category])
    return (
        f"The {product.name} by {product.brand} cost{g['s']} {format_price(product.price)}. "
        f"{g['It']} offer{g['s']} {_points(product)}."
    )


_BLURB_TEMPLATES = (
    "{summary} {description}",
    "Meet the {name}. {description} {It} {is} priced at {price}.",
    "Looking for new {category}? The {name} from {brand} offer{s} {points} for {price}.",
    "{name}: {price}. Highlights: {points}. {description}",
    "Why choose the {name}? {It} {has} {points}, and {it} cost{s} just {price}.",
    "{description} At {price}, the {name} {is} one of the {category} from {brand}.",
    "The {brand} lineup of {category} includes the {name}. {It} {has} {points}.",
)


def product_blurb(rng: np.random.Generator, product: Product) -> str:
    """A short multi-sentence product text for the corpus, in one of several styles."""
    spec = CATEGORY_BY_NAME[product.category]
    return pick(rng, _BLURB_TEMPLATES).format(
        summary=describe_product(product), description=product.description, name=product.name,
        brand=product.brand, price=format_price(product.price), points=_points(product),
        category=spec.name, **grammar(spec),
    )


def listing(category: str, products: Sequence[Product], *, rng: np.random.Generator) -> str:
    """A catalog page: a heading and one line per product with price and selling points."""
    heading = pick(rng, (
        "{Category} in our catalog:", "Shop {category}:", "Our {category} lineup:",
        "Browse {category} by price:", "Popular {category}:",
    )).format(category=category, Category=capitalize(category))
    lines = [heading]
    for p in products:
        points = ", ".join(p.attributes)
        lines.append(f"- {p.name}: {format_price(p.price)}. {capitalize(points)}.")
    return "\n".join(lines)


def comparison(rng: np.random.Generator, a: Product, b: Product) -> str:
    """Two products of one category side by side: prices, selling points, a verdict."""
    g = grammar(CATEGORY_BY_NAME[a.category])
    cheaper, pricier = (a, b) if a.price <= b.price else (b, a)
    better = a if a.quality >= b.quality else b
    opening = pick(rng, (
        "Comparing the {a} and the {b}: ", "{a} or {b}? ", "Trying to choose between the {a} "
        "and the {b}? ",
    )).format(a=a.name, b=b.name)
    body = (
        f"The {a.name} cost{g['s']} {format_price(a.price)} and offer{g['s']} {_points(a)}, "
        f"while the {b.name} cost{g['s']} {format_price(b.price)} and offer{g['s']} "
        f"{_points(b)}. "
    )
    verdict = pick(rng, (
        f"If you are on a budget, the {cheaper.name} {g['is']} the better pick.",
        f"Reviewers tend to prefer the {better.name}.",
        f"The {pricier.name} cost{g['s']} more, but many shoppers think {g['it']} {g['is']} "
        "worth it.",
        f"Both are solid choices; the {cheaper.name} simply cost{g['s']} less.",
    ))
    return opening + body + verdict


def buying_guide(rng: np.random.Generator, spec: CategorySpec, products: Sequence[Product]) -> str:
    """Generic advice on choosing a category, with the shop's price range for it."""
    aspects = join_words(sample(rng, [aspect for _, aspect in spec.attributes], 3))
    brands = join_words(sample(rng, list(spec.brands), 3))
    low = format_price(min(p.price for p in products))
    high = format_price(max(p.price for p in products))
    return pick(rng, (
        "How to choose {category}: pay attention to the {aspects}. Popular brands include "
        "{brands}. In our shop, {category} range from {low} to {high}.",
        "Buying {category}? Think about what you need them for, such as {use}. Compare the "
        "{aspects} before you decide. Prices here go from {low} to {high}.",
        "A quick guide to {category}: the best picks balance {aspects}. Shoppers often "
        "look at {brands}. Expect to pay between {low} and {high}.",
        "Not sure which {singular} to buy? Start with your budget, then compare the "
        "{aspects}. {Brands} are good places to start.",
    )).format(
        category=spec.name, singular=spec.singular, aspects=aspects, brands=brands,
        Brands=capitalize(brands), low=low, high=high, use=pick(rng, spec.uses),
    )


# ---------------------------------------------------------------------------- reviews
SENTIMENTS = ("positive", "negative", "mixed")

_POSITIVE_ADJ = ("excellent", "fantastic", "superb", "great", "amazing", "wonderful",
                 "impressive", "outstanding", "solid", "terrific", "brilliant", "lovely",
                 "perfect", "awesome")
_NEGATIVE_ADJ = ("terrible", "awful", "disappointing", "poor", "horrible", "frustrating",
                 "weak", "bad", "useless", "annoying", "lousy", "dreadful", "flawed", "pathetic")
# words found in the VADER lexicon, so a lexicon scorer agrees with the review's label;
# "super" and "truly" are positive words there, not mere boosters, so they are left out
_INTENSIFIERS = ("really", "very", "extremely", "incredibly", "absolutely", "totally")
_GENERIC_ASPECTS = ("build quality", "design", "overall feel", "finish", "packaging")

_OPENERS = {
    "positive": (
        "I love the {name}!", "Absolutely thrilled with {this} {noun}.",
        "The {name} exceeded my expectations.", "What a fantastic purchase.",
        "Best {noun} I have ever owned.", "I am so happy with the {name}.",
        "Great {noun}, and I am glad I bought {obj}.", "Wow, the {name} {is} excellent.",
    ),
    "negative": (
        "I regret buying the {name}.", "Very disappointed with the {name}.",
        "The {name} {is} a real letdown.", "Not happy with {this} {noun} at all.",
        "Worst {noun} I have ever owned.", "I expected much more from the {name}.",
        "Unfortunately, the {name} {was} a waste of money.",
    ),
    "mixed": (
        "The {name} {is} a mixed bag.", "I have mixed feelings about the {name}.",
        "The {name} {is} decent, but not perfect.", "Good {noun}, with a few flaws.",
        "Some things I like about the {name}, some I don't.",
        "The {name} {is} okay overall.",
    ),
}
_PRAISE = (
    "The {aspect} {a_is} {adj}.", "The {aspect} {a_is} {intensifier} {adj}.",
    "I really like the {aspect}; {a_it} {a_is} {adj}.", "The {aspect} work{a_s} perfectly.",
    "The {aspect} {a_is} a real highlight.", "Very happy with the {aspect}.",
    "The {aspect} {a_is} {adj}, exactly what I wanted.", "I was impressed by the {aspect}.",
    "The {aspect} make{a_s} me smile every day.",
)
_COMPLAINTS = (
    "The {aspect} {a_is} {adj}.", "Sadly, the {aspect} {a_is} {intensifier} {adj}.",
    "The {aspect} {a_is} not great.", "I hate the {aspect}.",
    "The {aspect} feel{a_s} {adj} for the price.", "The {aspect} really annoy{a_s} me.",
    "After a few weeks, the {aspect} already feel{a_s} {adj}.",
    "I am disappointed by the {aspect}.", "The {aspect} {a_is} {intensifier} {adj}.",
)
_TURNS = ("However,", "On the other hand,", "But", "That said,", "Unfortunately,")
_PRICE_LINES = {
    "positive": ("At {price}, {it} {is} a bargain.", "Worth every penny of {price}.",
                 "Great value for {price}."),
    "negative": ("Overpriced at {price}.", "Definitely not worth {price}.",
                 "For {price} I expected a lot more."),
    "mixed": ("At {price}, {it} {is} a fair deal, I guess.", "{price} feels a bit steep.",
              "For {price}, {it} {is} acceptable."),
}
_USE_LINES = {
    "positive": ("I use {it} for {use} and {it} {is} perfect.",
                 "{It} {is} ideal for {use}."),
    "negative": ("I bought {this} {noun} for {use}, and {it} {is} not up to the job.",
                 "{It} {is} useless for {use}."),
    "mixed": ("{It} {is} fine for {use}, nothing more.",
              "For {use}, {it} {is} good enough."),
}
_CLOSERS = {
    "positive": ("Highly recommend {obj}!", "Love {obj}!", "I would happily buy {obj} again.",
                 "Five stars from me.", "Couldn't be happier.", "A great buy."),
    "negative": ("I cannot recommend {obj}.", "Save your money.", "Would not buy again.",
                 "Really disappointing overall.", "Avoid {obj}.", "One star."),
    "mixed": ("Good, but {it} could be better.", "Decent overall.",
              "I would recommend {obj} with some reservations.", "Three stars.",
              "Not bad, not great."),
}
_TITLES = {
    "positive": ("Love it", "Exceeded expectations", "Great value", "Fantastic {noun}",
                 "Highly recommended"),
    "negative": ("Disappointed", "Not worth it", "Poor quality", "Terrible {noun}",
                 "Very unhappy"),
    "mixed": ("Good but not great", "Mixed feelings", "Decent overall", "Okay {noun}",
              "Some pros, some cons"),
}
_STARS = {"positive": (4, 5), "negative": (1, 2), "mixed": (3,)}


def review(rng: np.random.Generator, product: Product, sentiment: str) -> str:
    """A customer review of ``product`` with the given sentiment, naming its aspects.

    ``sentiment`` is ``"positive"``, ``"negative"`` or ``"mixed"``; the wording is dense in
    sentiment words so that a lexicon scorer such as VADER agrees with the label.
    """
    if sentiment not in SENTIMENTS:
        raise ValueError(f"unknown sentiment {sentiment!r}; known: {', '.join(SENTIMENTS)}")
    spec = CATEGORY_BY_NAME[product.category]
    g = grammar(spec)
    fill = {"name": product.name, "noun": spec.singular, "price": format_price(product.price),
            "use": pick(rng, spec.uses), **g}
    own_aspects = [aspect for point, aspect in spec.attributes if point in product.attributes]
    aspects = sample(rng, own_aspects + sample(rng, _GENERIC_ASPECTS, 2), 3)

    def praise(aspect: str) -> str:
        return pick(rng, _PRAISE).format(
            aspect=aspect, adj=pick(rng, _POSITIVE_ADJ), intensifier=pick(rng, _INTENSIFIERS),
            **aspect_grammar(aspect))

    def complain(aspect: str) -> str:
        return pick(rng, _COMPLAINTS).format(
            aspect=aspect, adj=pick(rng, _NEGATIVE_ADJ), intensifier=pick(rng, _INTENSIFIERS),
            **aspect_grammar(aspect))

    sentences = [pick(rng, _OPENERS[sentiment]).format(**fill)]
    n_aspects = 1 + int(rng.integers(len(aspects)))
    if sentiment == "positive":
        sentences += [praise(a) for a in aspects[:n_aspects]]
    elif sentiment == "negative":
        sentences += [complain(a) for a in aspects[:n_aspects]]
    else:
        # aspects has 3 entries: 3 drawn from >= 2 own aspects plus 2 generic ones
        sentences.append(praise(aspects[0]))
        complaint = complain(aspects[1])
        if complaint.startswith("The "):
            complaint = "the " + complaint[4:]
        sentences.append(f"{pick(rng, _TURNS)} {complaint}")
    if rng.random() < 0.5:
        sentences.append(capitalize(pick(rng, _PRICE_LINES[sentiment]).format(**fill)))
    if rng.random() < 0.4:
        sentences.append(capitalize(pick(rng, _USE_LINES[sentiment]).format(**fill)))
    sentences.append(pick(rng, _CLOSERS[sentiment]).format(**fill))
    text = " ".join(sentences)

    header_style = int(rng.integers(3))
    stars = pick(rng, _STARS[sentiment])
    if header_style == 0:
        return f"{pick(rng, _TITLES[sentiment]).format(noun=spec.singular)}\n{text}"
    if header_style == 1:
        return f"Rating: {stars}/5. {text}"
    return text


# ------------------------------------------------------------------ support small talk
_GREETINGS = (
    "Hi there!", "Hello!", "Good morning!", "Good afternoon!", "Hi, thanks for contacting us.",
    "Hello and welcome to our support chat.", "Hey there, thanks for getting in touch.",
    "Hi {customer}!", "Hello {customer}, nice to meet you.", "Good evening, {customer}.",
)
_INTRODUCTIONS = (
    "My name is {agent} and I'll be helping you today.", "This is {agent} from customer support.",
    "{agent} here, happy to assist.", "I'm {agent}, and I'm here to help.",
)
_ACKNOWLEDGEMENTS = (
    "Thanks for reaching out, I'm happy to help.", "I'd be glad to help you with that.",
    "Thank you for your patience.", "I understand how frustrating that can be.",
    "I'm sorry for the trouble.", "I apologize for the inconvenience.",
    "Let me take a look at that for you.", "I appreciate you letting us know.",
    "That's a great question.", "Thanks for bearing with me.",
    "I completely understand, and I'm sorry about the hassle.",
    "No worries at all, we'll sort this out together.",
    "Thank you for being such a loyal customer.", "I'm really sorry to hear that.",
)
_CLOSINGS = (
    "Is there anything else I can help you with?", "Have a wonderful day!",
    "Thanks for shopping with us.", "Take care!", "It was a pleasure helping you.",
    "Feel free to reach out anytime.", "Have a great rest of your day!",
    "Thank you for your patience and understanding.", "Enjoy your day!",
    "Happy to help anytime.",
)
_CUSTOMER_LINES = (
    "Hi, hope you're doing well.", "Thank you so much, that was really helpful!",
    "Thanks, have a great day!", "Great, I appreciate it.", "Perfect, thanks for your help.",
    "Hello, I have a quick question.", "Thanks for the quick reply!",
    "Awesome, you've been very helpful.", "That's all for now, thank you.",
    "Good morning! I hope you can help me.",
)
_FIRST_NAMES = ("Maya", "Liam", "Sofia", "Noah", "Aisha", "Ethan", "Chloe", "Mateo", "Priya",
                "Lucas", "Hana", "Omar", "Grace", "Diego", "Zoe", "Kenji")
_AGENT_NAMES = ("Sam", "Alex", "Jordan", "Taylor", "Riley", "Casey", "Morgan", "Jamie")


def small_talk(rng: np.random.Generator) -> str:
    """A generic support-agent message (greeting, empathy, sign-off) or a customer nicety.

    It holds no facts of any world: no order, date, amount or policy.
    """
    fill = {"customer": pick(rng, _FIRST_NAMES), "agent": pick(rng, _AGENT_NAMES)}
    if rng.random() < 0.2:
        return " ".join(sample(rng, _CUSTOMER_LINES, 1 + int(rng.integers(2))))
    parts = [pick(rng, _GREETINGS)]
    if rng.random() < 0.4:
        parts.append(pick(rng, _INTRODUCTIONS))
    parts += sample(rng, _ACKNOWLEDGEMENTS, 1 + int(rng.integers(2)))
    parts += sample(rng, _CLOSINGS, 1 + int(rng.integers(2)))
    return " ".join(parts).format(**fill)


# ------------------------------------------------------------ buying-experience notes
# A buyer's account of buying something: the words of the shop's records and policies
# (order, shipped, processing, delivery, delivered, return, refund, cancelled, in stock,
# out of stock, tracking, warranty, payment, account) in their everyday sense, so a model
# can read and copy them, but never a value (no date, amount, day count or id), never an
# answer to a customer and never a policy of any shop.
_EXPERIENCE_LINES = (
    "My order arrived earlier than I expected and was well packed.",
    "Order placed on a Sunday, shipped the next morning.",
    "Shipping was quick and the box came undamaged.",
    "Delivery took a little longer than I hoped, but it was worth the wait.",
    "The delivery driver left it at the front door.",
    "It was delivered while I was at work, safe and sound.",
    "The order was still processing when I changed my mind about the color.",
    "It was out of stock for a while, so I was glad to see it in stock again.",
    "It was in stock and shipped the same day.",
    "I checked the tracking page every morning until it arrived.",
    "The first one had a scratch, so I sent it back; the return was painless and the refund came through.",
    "I cancelled my first order and bought the {noun} instead.",
    "The warranty card was in the box with the manual.",
    "Paying at checkout took a minute with my card.",
    "Setting up an account was easy, and I got a confirmation email right away.",
    "My total was lower than I expected after the discount.",
    "I returned a different item last year and this time kept it.",
    "Free shipping was a nice surprise.",
    "The package was delivered in one piece and arriving early made my week.",
    "Support answered my email quickly when I asked about the {noun}.",
)


def experience_note(rng: np.random.Generator, product: Product) -> str:
    """``"Bought the Halo A76 Desk Lamp. Shipping was quick and ..."``: two or three
    buying-experience lines (see ``_EXPERIENCE_LINES``) about ``product``."""
    spec = CATEGORY_BY_NAME[product.category]
    lines = [line.format(noun=spec.singular) for line in sample(rng, _EXPERIENCE_LINES, 2 + int(rng.integers(2)))]
    opener = pick(rng, ("Bought the {name}.", "Just got the {name}.", "Ordered the {name}.", "About the {name}:"))
    return " ".join([opener.format(name=product.name)] + lines)


# ---------------------------------------------- reading exercises (records of other kinds)
# A record from outside the shop (a booking, a permit, a class pass, ...), then a customer's
# question and the agent's reply, which restates values of the record. Entities, fields,
# their order and every value are drawn at random, and some entity and status words are
# made-up words, so no reply can be memorised: the one way to predict it is to find the
# asked value in the context and copy it. That is the reading skill a support agent needs;
# *which* facts a shop customer wants, and every fact of the shop world, are left for RL.
# Values have the world's shapes (dates of any year 1990-2059, 2025 and 2026 included; any
# cents; any day count; ``example.*`` e-mail hosts), so the copying prior never argues
# against a true value; ``corpus.py`` drops an exercise that happens to state one of the
# world's own facts. Words have the world's vocabulary too (v5): statuses include the shop's
# (shipped, delivered, in stock, ...), providers include the carriers, ways to pay include the
# card names, codes include carrier-style tracking codes, and hours are composed in the shop's
# style; these are words to copy, not facts (which order shipped with whom stays the world's).
# Ids never start with ORD. Contexts also
# come as notes alone (``_note``: rules of other places, one to three, the reply restating
# the asked one, as a policy line is restated) and as catalog-shaped lines (``_item_line``),
# so the skill is reading any line, not one record format.
_ENTITIES = ("Booking", "Ticket", "Loan", "Membership", "Reservation", "Appointment", "Permit",
             "Subscription", "Rental", "Lease", "Pass", "Enrollment", "Application", "Visit",
             "Locker", "Session", "Voucher", "Course", "Repair", "Claim", "Request", "Case",
             "Account", "Plot", "Slot", "Policy", "Badge", "Job", "Tour", "Stay", "Loaner",
             "Charter", "Entry", "Listing", "Invoice", "Berth", "Desk", "Studio", "Camp", "Grant")
_STATUSES = ("confirmed", "pending", "active", "expired", "approved", "on hold", "closed",
             "open", "waitlisted", "checked in", "paid", "unpaid", "renewed", "suspended",
             "scheduled", "in review", "completed", "declined", "assigned", "queued", "booked",
             "signed", "finished", "started", "paused", "archived", "issued", "accepted",
             "in progress", "ready", "printed", "posted", "filed", "verified", "rejected",
             # the shop's own status and stock words, so copying one is never against the prior
             "processing", "shipped", "delivered", "cancelled", "returned", "in stock", "out of stock")
_DATE_FIELDS = (  # (record wording, question, what the reply says), {d} = the date
    ("starting {d}", "When does {x} start?", "starts on {d}"),
    ("ending {d}", "When does {x} end?", "ends on {d}"),
    ("expires {d}", "When does {x} expire?", "expires on {d}"),
    ("renews {d}", "When does {x} renew?", "renews on {d}"),
    ("due {d}", "When is {x} due?", "is due on {d}"),
    ("scheduled for {d}", "What day is {x} scheduled for?", "is scheduled for {d}"),
    ("issued {d}", "When was {x} issued?", "was issued on {d}"),
    ("ready {d}", "When will {x} be ready?", "will be ready on {d}"),
    ("opened {d}", "When was {x} opened?", "was opened on {d}"),
    ("closing {d}", "When does {x} close?", "closes on {d}"),
)
_MONEY_LABELS = ("fee", "deposit", "balance", "fare", "charge", "total", "rate", "cost", "dues",
                 "premium")
_COUNT_UNITS = ("nights", "guests", "days", "weeks", "sessions", "visits", "seats", "hours",
                "lessons", "tickets", "days", "days")  # day counts twice as often: every policy day count occurs
_CODE_LABELS = ("reference", "room", "seat", "locker", "card", "confirmation", "permit",
                "account", "pin", "badge", "serial", "case", "tracking")
_PROVIDERS = ("Northway", "Brightline", "Cobalt Co", "Harbor Group", "Summit Services",
              "Bluebird", "Keystone", "Pioneer Hall", "Redwood Union", "Tandem",
              "UPS", "FedEx", "DHL", "USPS")
_SURNAMES = ("Chen", "Ortiz", "Reyes", "Park", "Haddad", "Novak", "Silva", "Kowalski", "Ito",
             "Mensah", "Larsen", "Rossi", "Dubois", "Nguyen", "Okafor", "Varga")
_PLACES = (("Willow", "Aspen", "Harbor", "Quarry", "Meadow", "Granite", "Orchard", "Beacon"),
           ("Row", "Terrace", "Crescent", "Square", "Walk", "Place"),
           ("Northgate", "Eastbrook", "Westmoor", "Southport", "Millbank", "Kingsford"))
_MAIL_HOSTS = ("example.com", "example.net", "example.org", "inbox.test", "post.test")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
_ALL_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CONSONANTS, _VOWELS = "bcdfghjklmnpqrstvwxz", "aeiouy"
_NOT_WORDS = ("ord", "ups", "dhl", "ret", "ref", "can", "del", "ship", "goal", "carr")


def _made_up_word(rng: np.random.Generator) -> str:
    """``"tesomi"``: 4-8 letters alternating consonants and vowels, from any first letter,
    spelling no shop word or carrier (one can only copy such a word, not guess it)."""
    while True:
        letters, vowel = [], rng.random() < 0.3
        for _ in range(int(rng.integers(4, 9))):
            letters.append(pick(rng, _VOWELS if vowel else _CONSONANTS))
            vowel = not vowel
        word = "".join(letters)
        if not any(bad in word for bad in _NOT_WORDS):
            return word


def _exercise_code(rng: np.random.Generator) -> str:
    """``"BK-40213"``, ``"QTL-881"``: two to four letters (never ``ORD``, ``UPS`` or ``DHL``) and 3-6 digits."""
    while True:
        prefix = "".join(pick(rng, _ALL_LETTERS) for _ in range(2 + int(rng.integers(3))))
        if not any(bad in prefix for bad in ("ORD", "UPS", "DHL")):  # no order id or carrier
            break
    digits = int(rng.integers(3, 7))
    return f"{prefix}-{int(rng.integers(10 ** (digits - 1), 10 ** digits))}"


def _exercise_date(rng: np.random.Generator) -> str:
    """``"March 3, 2034"``: any year from 1990 to 2059, so the year too must be copied."""
    return format_date(date(int(rng.integers(1990, 2060)), int(rng.integers(1, 13)), int(rng.integers(1, 29))))


def _exercise_money(rng: np.random.Generator) -> str:
    """``"$41.99"``: any cents, so no ending (``.99``, ``.49``, ``.00``) is less likely to be copied."""
    return format_price(float(rng.integers(2, 900)) + float(rng.integers(100)) / 100)


def _long_code(rng: np.random.Generator) -> str:
    """``"40213998712"``, ``"K7QX2M"``, ``"1Z4F..."``: digits (8 to 22) or letters and digits,
    sometimes in a carrier's style, so a tracking number is a code like any other."""
    kind = rng.random()
    if kind < 0.4:
        return "".join(pick(rng, "0123456789") for _ in range(int(rng.integers(8, 23))))
    if kind < 0.55:  # UPS-style
        return "1Z" + "".join(pick(rng, _CODE_LETTERS + "0123456789") for _ in range(16))
    return "".join(pick(rng, _CODE_LETTERS + "0123456789") for _ in range(int(rng.integers(5, 11))))


def _exercise_count(rng: np.random.Generator, unit: str) -> int:
    return int(rng.integers(2, 90 if unit == "days" else 13))


def _exercise_fields(rng: np.random.Generator, x: str) -> dict[str, tuple[str, list[tuple[str, str]], str]]:
    """Fields of one record: name -> (record wording, [(question, reply)], reply clause)."""
    X = x[0].upper() + x[1:]
    status = _made_up_word(rng) if rng.random() < 0.4 else pick(rng, _STATUSES)
    other = pick(rng, [s for s in _STATUSES if s != status])
    wording, question, clause = pick(rng, _DATE_FIELDS)
    d = _exercise_date(rng)
    label, money = pick(rng, _MONEY_LABELS), _exercise_money(rng)
    unit = pick(rng, _COUNT_UNITS)
    n = _exercise_count(rng, unit)
    code_label = pick(rng, _CODE_LABELS)
    code = _long_code(rng)
    provider = pick(rng, _PROVIDERS)
    return {
        "status": (status, [(f"What is the status of {x}?", f"{X} is {status}."),
                            (f"Is {x} {other}?", f"No, {x} is {status}."),
                            (f"What's happening with {x}?", f"{X} is {status}.")], f"is {status}"),
        "date": (wording.format(d=d), [(question.format(x=x), f"{X} {clause.format(d=d)}.")], clause.format(d=d)),
        "money": (f"{label} {money}", [(f"How much is the {label} for {x}?", f"The {label} for {x} is {money}."),
                                       (f"What did I pay for {x}?", f"You paid {money} for {x}.")],
                  f"has a {label} of {money}"),
        "count": (f"{n} {unit}", [(f"How many {unit} is {x} for?", f"{X} is for {n} {unit}.")], f"is for {n} {unit}"),
        "code": (f"{code_label} {code}", [(f"What is the {code_label} number of {x}?", f"The {code_label} number of {x} is {code}."),
                                          (f"Can you send me the {code_label} for {x}?", f"The {code_label} for {x} is {code}.")],
                 f"has {code_label} {code}"),
        "provider": (f"with {provider}", [(f"Who handles {x}?", f"{X} is handled by {provider}."),
                                          (f"Which company is {x} with?", f"{X} is with {provider}.")],
                     f"is with {provider}"),
    }


def _member_line(rng: np.random.Generator, x: str) -> tuple[str, list[tuple[str, str]]]:
    """A member line (name, e-mail, sometimes an address) and questions about it."""
    first, last = pick(rng, _FIRST_NAMES), pick(rng, _SURNAMES)
    email = f"{first.lower()}.{last.lower()}{int(rng.integers(100))}@{pick(rng, _MAIL_HOSTS)}"
    street = f"{int(rng.integers(1, 3000))} {pick(rng, _PLACES[0])} {pick(rng, _PLACES[1])}"
    town = pick(rng, _PLACES[2])
    with_address = rng.random() < 0.5
    label = pick(rng, ("Member", "Account", "Guest", "Client", "Contact", "Holder"))
    line = f"{label}: {first} {last}, {email}" + (f", {street}, {town}." if with_address else ".")
    key = pick(rng, ("login", "pin", "pass code", "key card", "member card"))
    exchanges = [("What email do you have for me?", f"We have {email} on file."),
                 (pick(rng, (f"I lost my {key}.", f"I forgot my {key}.", f"How do I get a new {key}?",
                             f"I can't find my {key}.")), f"I have sent a new {key} link to {email}."),
                 (f"Whose name is {x} under?", f"{x[0].upper() + x[1:]} is under {first} {last}.")]
    if with_address:
        exchanges.append(("Which address do you have?", f"We have {street}, {town}."))
    return line, exchanges


_PAY_WAYS = ("cash", "checks", "bank transfers", "vouchers", "tokens", "meal cards",
             "coupons", "store credit", "prepaid cards", "wire transfers", "money orders",
             "Visa", "Mastercard", "American Express", "PayPal", "Apple Pay", "Google Pay", "gift cards")
_WEEK_DAYS = ("Monday to Friday", "Monday to Saturday", "Tuesday to Sunday", "Monday to Thursday",
              "every day", "weekdays", "weekends only", "Fridays only", "every evening")


def _week_hours(rng: np.random.Generator) -> str:
    """``"Monday to Friday, 8am to 5pm PT"``: composed, so the shop's own hours are one of many."""
    if rng.random() < 0.1:
        return "24 hours a day, 7 days a week"
    start, end = int(rng.integers(5, 12)), int(rng.integers(1, 12))
    return f"{pick(rng, _WEEK_DAYS)}, {start}am to {end}pm" + pick(rng, ("", "", " ET", " PT", " CT"))
_NOTE_SUBJECTS = ("guests", "members", "visitors", "students", "tenants", "drivers", "children", "pets",
                  "bikes", "boats", "lockers", "rooms", "tickets", "passes", "permits", "lessons", "tours",
                  "rentals", "vouchers", "parking spots", "weekend passes", "group visits", "late checkouts",
                  "repairs", "lockers", "classes", "camp spots", "desks", "studios", "field trips",
                  "trial classes", "guest passes", "boat slips", "storage units", "workshops")
_NOTE_UNITS = ("nights", "hours", "weeks", "sessions", "visits", "lessons", "months")
_CODE_WORDS = ("badge", "pin", "permit", "key card", "pass code", "member card", "ticket stub")
# (sentence, topic questions) with {S}/{s} the subject; values are drawn per sentence, so
# the one way to restate a note is to copy it
_NOTES = (
    ("{S} can stay up to {n} {unit}.", ("How long can {s} stay?", "Is there a limit for {s}?")),
    ("{S} are free for the first {n} {unit}, then {m} each.", ("Are {s} free?", "What do {s} cost?")),
    ("{S} cost {m}, and they are free for groups over {k}.", ("How much are {s}?", "What do {s} cost?")),
    ("{S} cost {m} each on weekdays and {m2} on weekends.", ("How much are {s}?", "What is the price of {s}?")),
    ("A late fee of {m} per day applies to {s}.", ("Is there a late fee for {s}?", "What happens if {s} are late?")),
    ("We take {ways} for {s}.", ("How can I pay for {s}?", "What can I pay with for {s}?")),
    ("{S} can be paid with {ways}.", ("How do I pay for {s}?", "Which ways to pay work for {s}?")),
    ("{S} are open {hours}.", ("When are {s} open?", "What are the hours for {s}?")),
    ("The desk for {s} is staffed {hours}.", ("When can I ask about {s}?", "When is someone there for {s}?")),
    ("{S} are covered for {k} months after the visit.", ("Are {s} covered?", "How long are {s} covered?")),
    ("{S} are valid for {n} {unit} after they are issued.", ("How long are {s} valid?", "When do {s} run out?")),
    ("{S} need a {code_word} from {provider}.", ("What do {s} need?", "Who issues what {s} need?")),
    ("{S} are {status} until {d}.", ("Are {s} {other}?", "What is going on with {s}?")),
    ("Each of the {s} comes with {k} {unit} and a {m} credit.", ("What comes with {s}?", "What do I get with {s}?")),
    ("{S} are handled by {provider} and cost {m}.", ("Who handles {s}?", "Who runs {s}?")),
    ("{S} booked before {d} get {k} free {unit}.", ("Is there a deal on {s}?", "Do early {s} get anything?")),
    ("Up to {k} {s} are allowed per member, at {m} each.", ("How many {s} can I have?", "Is there a limit on {s}?")),
    ("{S} must be {status} within {n} {unit}, or a {m} fee applies.", ("Is there a deadline for {s}?", "What are the rules for {s}?")),
)
_NOTE_LABELS = ("Policy", "Rule", "Note", "Notice", "Terms", "Info", "Guideline")


def _note(rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    """``"Rule: Lockers are free for the first 9 hours, then $4.15 each."`` and questions whose
    reply restates the sentence: a policy line of another place, drawn anew each time."""
    subject = _made_up_word(rng) + "s" if rng.random() < 0.3 else pick(rng, _NOTE_SUBJECTS)
    sentence, questions = pick(rng, _NOTES)
    unit = pick(rng, _NOTE_UNITS)
    status = pick(rng, _STATUSES)
    m, m2 = _exercise_money(rng), _exercise_money(rng)
    sentence = sentence.format(
        S=subject[0].upper() + subject[1:], s=subject, n=_exercise_count(rng, "days"), unit=unit,
        m=m, m2=m2, k=int(rng.integers(2, 13)), ways=join_words(sample(rng, _PAY_WAYS, int(rng.integers(2, 5)))),
        hours=_week_hours(rng), code_word=pick(rng, _CODE_WORDS), provider=pick(rng, _PROVIDERS),
        status=status, d=_exercise_date(rng))
    other = pick(rng, [s for s in _STATUSES if s != status])
    asked = [q.format(s=subject, other=other) for q in questions]
    asked += [f"What is the rule for {subject}?", f"What about {subject}?", f"Can you tell me about {subject}?"]
    return f"{pick(rng, _NOTE_LABELS)}: {sentence}", [(q, sentence) for q in asked]


_ITEM_LABELS = ("Item", "Unit", "Listing", "Lot", "Kit", "Room", "Plan", "Spot", "Offer", "Model")
_ITEM_NOUNS = ("Lantern", "Tent", "Kayak", "Easel", "Bench", "Loom", "Sled", "Canoe", "Hammock",
               "Telescope", "Trailer", "Cabin", "Locker", "Stall", "Berth", "Bunk", "Drone", "Piano",
               "Harp", "Forge", "Anvil", "Glider", "Raft", "Wagon")
_ITEM_TERMS = ("plan", "guarantee", "lease", "service plan", "trial", "cover")


def _item_line(rng: np.random.Generator) -> tuple[str, list[tuple[str, str]]]:
    """``"Item: Tesomi K4 Lantern, $41.15, open (6 left), 9-month plan."`` and questions on it,
    the shape of a catalog line without any catalog value."""
    name = (f"{_made_up_word(rng).capitalize()} {pick(rng, _CODE_LETTERS)}{int(rng.integers(1, 100))} "
            f"{pick(rng, _ITEM_NOUNS)}")
    money, left = _exercise_money(rng), int(rng.integers(1, 90))
    status = pick(rng, _STATUSES)
    k, unit, term = int(rng.integers(2, 49)), pick(rng, ("month", "week", "year")), pick(rng, _ITEM_TERMS)
    fields = [money, f"{status} ({left} left)", f"{k}-{unit} {term}"]
    rng.shuffle(fields)
    line = f"{pick(rng, _ITEM_LABELS)}: {name}, " + ", ".join(fields) + "."
    other = pick(rng, [s for s in _STATUSES if s != status])
    exchanges = [
        (f"How much is the {name}?", f"The {name} is {money}."),
        (f"What does the {name} cost?", f"The {name} costs {money}."),
        (f"Is the {name} {other}?", f"No, the {name} is {status}; there are {left} left."),
        (f"Is the {name} {status}?", f"Yes, the {name} is {status}; there are {left} left."),
        (f"How many {name}s are left?", f"There are {left} left, and the {name} is {status}."),
        (f"What {term} does the {name} have?", f"The {name} comes with a {k}-{unit} {term}."),
        (f"How long is the {term} on the {name}?", f"The {name} has a {k}-{unit} {term}."),
        (f"Tell me about the {name}.", line.split(": ", 1)[1]),
    ]
    return line, exchanges


def copy_exercise(rng: np.random.Generator) -> str:
    """A record from outside the shop, a customer's question and the agent's reply from it.

    ``"Permit QTL-4471: approved, expires March 3, 2034, fee $41.50.\nCustomer: When does
    permit QTL-4471 expire?\nAgent: Permit QTL-4471 expires on March 3, 2034."`` One
    exchange per record, so the reply is followed by the end of the text, as an answer is.
    """
    entity = _made_up_word(rng).capitalize() if rng.random() < 0.35 else pick(rng, _ENTITIES)
    code = _exercise_code(rng)
    x = f"{entity.lower()} {code}"
    fields = _exercise_fields(rng, x)
    chosen = sample(rng, list(fields), 2 + int(rng.integers(3)))
    lines = [f"{entity} {code}: " + ", ".join(fields[name][0] for name in chosen) + "."]
    exchanges = [pick(rng, fields[name][1]) for name in chosen]
    update = pick(rng, (f"Any update on {x}?", f"Where is my {entity.lower()} {code}?", f"Can you check {x}?",
                        f"Can you read me {x}?", f"What do you have on file for {x}?"))
    if rng.random() < 0.5:  # read the record back: the whole line, copied
        exchanges += [(update, lines[0])] * 2
    else:  # or join two of its fields, as a status answer does
        first, second = chosen[:2]
        exchanges.append((update, f"{x[0].upper() + x[1:]} {fields[first][2]} and {fields[second][2]}."))
    if rng.random() < 0.4:
        member, member_qa = _member_line(rng, x)
        lines.insert(int(rng.integers(2)), member)
        exchanges.append(pick(rng, member_qa))
    if rng.random() < 0.3:
        note, note_qa = _note(rng)
        lines.append(note)
        exchanges.append(pick(rng, note_qa))
    kind = rng.random()
    if kind < 0.2:  # notes alone, as policy lines are retrieved alone: the reply is one of them
        notes = [_note(rng) for _ in range(1 + int(rng.integers(3)))]
        lines, exchanges = [line for line, _ in notes], [pick(rng, pick(rng, notes)[1])]
    elif kind < 0.35:  # catalog-shaped lines, sometimes with a note
        items = [_item_line(rng) for _ in range(1 + int(rng.integers(2)))]
        lines, exchanges = [line for line, _ in items], [pick(rng, pick(rng, items)[1])]
        if rng.random() < 0.3:
            note, note_qa = _note(rng)
            lines.append(note)
            exchanges.append(pick(rng, note_qa))
    question, reply = pick(rng, exchanges)
    if reply.startswith(x[0].upper() + x[1:]) and rng.random() < 0.4:  # "Your permit QTL-4471 ..."
        reply = "Your " + reply[0].lower() + reply[1:]
    elif rng.random() < 0.25:  # customers often ask without the record's code
        question = question.replace(x, f"my {entity.lower()}")
    return "\n".join(lines + [f"Customer: {question}", f"Agent: {reply}"])


# ------------------------------------------- grounded answers: NEVER used by the corpus
def order_status_sentence(order: Order) -> str:
    """The grounded answer to "where is my order?" for one order of one world.

    Lives here so envs and rewards share one wording; ``corpus.py`` must never call it.
    """
    carrier = f"{order.carrier} (tracking number {order.tracking_number})"
    when = format_date(order.delivery_date)
    return {
        "processing": f"Order {order.order_id} is being processed and is expected to arrive "
                      f"on {when}.",
        "shipped": f"Order {order.order_id} has shipped with {carrier} and is expected to "
                   f"arrive on {when}.",
        "delivered": f"Order {order.order_id} was delivered by {carrier} on {when}.",
        "cancelled": f"Order {order.order_id} was cancelled before it shipped.",
        "returned": f"Order {order.order_id} was delivered on {when} and has since been "
                    "returned.",
    }[order.status]


def policy_sentences(policies: Policies) -> dict[str, str]:
    """Grounded answers about the shop's policies, keyed by topic; never in the corpus."""
    return {
        "returns": f"You can return items within {policies.return_window_days} days of "
                   "delivery.",
        "refunds": f"Refunds are issued within {policies.refund_days} business days after "
                   "we receive the return.",
        "shipping": f"Shipping costs {format_price(policies.shipping_fee)}, and it is free on "
                    f"orders over {format_price(policies.free_shipping_threshold)}.",
        "cancellation": policies.cancellation_policy,
        "payment": f"We accept {join_words(list(policies.payment_methods))}.",
        "hours": f"Our support team is available {policies.support_hours}.",
        "warranty": policies.warranty_policy,
        "restocking": (f"A restocking fee of {policies.restocking_fee_percent}% applies to "
                       "opened items." if policies.restocking_fee_percent
                       else "There is no restocking fee on returns."),
    }

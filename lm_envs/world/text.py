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


# ------------------------------------------------------- copy exercises (other domains)
# A record line, then questions whose replies restate the record's values. The values are
# random codes, numbers, names and times from domains that are not the shop (a library, a
# hotel, a train, ...), so this teaches one skill, copying a value from the context into
# the reply, and no fact of any shop world.
_SURNAMES = ("Chen", "Ortiz", "Reyes", "Park", "Haddad", "Novak", "Silva", "Kowalski", "Ito",
             "Mensah", "Larsen", "Rossi", "Dubois", "Nguyen", "Okafor", "Varga")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TITLE_WORDS = (("The Quiet", "A Distant", "The Last", "Under the", "The Silver", "Beyond the",
                 "The Hidden", "A Winter"),
                ("River", "Garden", "Harbor", "Lantern", "Mountain", "Orchard", "Station",
                 "Meadow", "Compass", "Island"))
_COLORS = ("teal", "amber", "crimson", "navy", "olive", "coral", "ivory", "plum")
_MAIL_HOSTS = ("inbox.test", "post.test", "mailbox.test")
_CODE_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"
_BANNED_CODES = ("ORD", "UPS", "DHL")  # would look like the support world's ids or carriers


def _code(rng: np.random.Generator, prefix: str) -> str:
    """``"LB-40213"``: a domain prefix and 3 to 6 random digits."""
    digits = int(rng.integers(3, 7))
    return f"{prefix}-{int(rng.integers(10 ** (digits - 1), 10 ** digits))}"


def _reference(rng: np.random.Generator) -> str:
    """``"K7Q2XZ"``: six random letters and digits, never spelling a carrier or an order id."""
    while True:
        ref = "".join(pick(rng, _CODE_LETTERS + "23456789") for _ in range(6))
        if not any(banned in ref for banned in _BANNED_CODES):
            return ref


def _number_groups(rng: np.random.Generator) -> str:
    """``"4821 3907 5512"``: 2 to 4 groups of four digits (never one 10+ digit run)."""
    return " ".join(f"{int(rng.integers(10_000)):04d}" for _ in range(int(rng.integers(2, 5))))


def _time(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(1, 13))}:{pick(rng, ('00', '15', '30', '45'))} {pick(rng, ('am', 'pm'))}"


def _person(rng: np.random.Generator) -> tuple[str, str, str]:
    """(first name, full name, e-mail on a reserved ``.test`` host)."""
    first, last = pick(rng, _FIRST_NAMES), pick(rng, _SURNAMES)
    return first, f"{first} {last}", f"{first.lower()}.{last.lower()}@{pick(rng, _MAIL_HOSTS)}"


def _library(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    first, name, _ = _person(rng)
    code, card, day = _code(rng, "LB"), str(int(rng.integers(10**6, 10**9))), pick(rng, _WEEKDAYS)
    title = f"{pick(rng, _TITLE_WORDS[0])} {pick(rng, _TITLE_WORDS[1])}"
    record = f"Loan {code}: {title}, reader {name}, card {card}, due back {day}."
    return record, ("Reader", "Librarian"), [
        (f"When is loan {code} due?", f"Loan {code} is due back on {day}, {first}."),
        (f"When is {title} due?", f"{title} is due back on {day}."),
        ("What is my card number?", f"Your library card number is {card}."),
        ("Which loan is this?", f"This is loan {code}, for {title}."),
        (f"Can you read me loan {code}?", f"Loan {code}: {title}, card {card}, due back {day}."),
    ]


def _hotel(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    first, name, email = _person(rng)
    code, room, nights = _code(rng, "HT"), int(rng.integers(101, 950)), int(rng.integers(1, 9))
    check_in = _time(rng)
    record = (f"Booking {code}: {name}, room {room}, {nights} nights, check-in {check_in}, "
              f"{email}.")
    return record, ("Guest", "Agent"), [
        (f"Which room is booking {code}?", f"Booking {code} is in room {room}, {first}."),
        (f"How many nights is booking {code}?", f"Booking {code} is for {nights} nights."),
        ("When can I check in?", f"Check-in for booking {code} is at {check_in}."),
        ("Where will you send the receipt?", f"We will send it to {email}."),
        ("Can you read back my booking?", f"Booking {code}: room {room}, {nights} nights, "
                                          f"check-in {check_in}, {email}."),
    ]


def _train(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    first, name, _ = _person(rng)
    code, coach = _reference(rng), int(rng.integers(1, 13))
    seat, platform = f"{int(rng.integers(1, 80))}{pick(rng, 'ABCD')}", int(rng.integers(1, 20))
    departs = _time(rng)
    record = (f"Ticket {code}: {name}, coach {coach}, seat {seat}, platform {platform}, "
              f"departs {departs}.")
    return record, ("Traveler", "Agent"), [
        (f"Where is my seat on ticket {code}?", f"Ticket {code} has seat {seat} in coach {coach}."),
        ("Which platform do I need?", f"Your train leaves from platform {platform} at {departs}."),
        ("What is my ticket reference?", f"Your ticket reference is {code}."),
        (f"When does ticket {code} leave?", f"Ticket {code} departs at {departs} from platform "
                                             f"{platform}."),
        ("Can you read me my ticket?", f"Ticket {code}: coach {coach}, seat {seat}, platform "
                                       f"{platform}, departs {departs}."),
    ]


def _restaurant(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    first, name, _ = _person(rng)
    code, table, guests = _code(rng, "RS"), int(rng.integers(1, 40)), int(rng.integers(2, 11))
    day, at = pick(rng, _WEEKDAYS), _time(rng)
    record = f"Reservation {code}: {name}, table {table}, {guests} guests, {day} at {at}."
    return record, ("Guest", "Host"), [
        (f"What time is reservation {code}?", f"Reservation {code} is for {day} at {at}, {first}."),
        ("How many people is the reservation for?", f"Reservation {code} is for {guests} guests."),
        ("Which table do we have?", f"You have table {table}."),
        ("Can you confirm my reservation?", f"Reservation {code}: table {table}, {guests} guests, "
                                            f"{day} at {at}."),
    ]


def _gym(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    first, name, email = _person(rng)
    code, locker, color = _code(rng, "GM"), int(rng.integers(1, 300)), pick(rng, _COLORS)
    pin = _number_groups(rng)
    record = f"Member {code}: {name}, locker {locker}, {color} band, key {pin}, {email}."
    return record, ("Member", "Staff"), [
        ("Which locker is mine?", f"Your locker is number {locker}, {first}."),
        (f"What is the key number for member {code}?", f"Member {code} has key number {pin}."),
        ("What is my membership number?", f"Your membership number is {code}."),
        ("What email do you have for me?", f"We have {email} on file for member {code}."),
        ("Can you read back my details?", f"Member {code}: locker {locker}, {color} band, key "
                                          f"{pin}, {email}."),
    ]


def _lab(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    code, shelf = _code(rng, "SM"), f"{pick(rng, 'ABCDEFGH')}{int(rng.integers(1, 10))}"
    mass, batch = f"{rng.uniform(0.1, 50):.2f} kg", _number_groups(rng)
    color = pick(rng, _COLORS)
    record = f"Sample {code}: {mass}, {color} label, shelf {shelf}, batch {batch}."
    return record, ("Student", "Technician"), [
        (f"How heavy is sample {code}?", f"Sample {code} weighs {mass}."),
        ("Where is it stored?", f"It is on shelf {shelf}, with a {color} label."),
        (f"Which batch is sample {code} from?", f"Sample {code} is from batch {batch}."),
        ("What is the sample code?", f"The sample code is {code}."),
        ("Can you read out the label?", f"Sample {code}: {mass}, shelf {shelf}, batch {batch}."),
    ]


_FACILITIES = ("pool", "library", "museum", "climbing wall", "sauna", "reading room", "studio")
_ALLOWED = ("towels", "water bottles", "notebooks", "cameras", "umbrellas", "headphones",
            "snacks", "bikes")


def _rules(rng: np.random.Generator) -> tuple[str, tuple[str, str], list[tuple[str, str]]]:
    place = pick(rng, _FACILITIES)
    opens, closes = f"{int(rng.integers(6, 11))}:00 am", f"{int(rng.integers(5, 11))}:00 pm"
    guests, items = int(rng.integers(1, 6)), join_words(sample(rng, _ALLOWED, int(rng.integers(2, 5))))
    rule = pick(rng, (
        f"The {place} is open from {opens} to {closes}, every day of the week.",
        f"Each visitor may bring up to {guests} guests to the {place}.",
        f"You may bring {items} into the {place}.",
    ))
    question = pick(rng, ("What are the rules?", f"What should I know about the {place}?",
                          "Can you tell me the rule?", "Is there a rule about that?"))
    return f"Rule: {rule}", ("Visitor", "Staff"), [(question, rule)]


_COPY_DOMAINS = (_library, _hotel, _train, _restaurant, _gym, _lab, _rules)


def copy_exercise(rng: np.random.Generator) -> str:
    """A record from a non-shop domain and one to four exchanges that restate its values.

    ``"Booking HT-4471: Maya Chen, room 314, 3 nights, ...\\nGuest: Which room am I in?\\n
    Front desk: You are in room 314, Maya."``
    """
    record, (asker, answerer), exchanges = pick(rng, _COPY_DOMAINS)(rng)
    lines = [record]
    for question, answer in sample(rng, exchanges, 1 + int(rng.integers(4))):
        lines += [f"{asker}: {question}", f"{answerer}: {answer}"]
    return "\n".join(lines)


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

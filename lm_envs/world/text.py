"""The shop world's prose: product texts, reviews, support small talk and grounded answers.

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

import numpy as np

from lm_envs.world.catalog import Product
from lm_envs.world.categories import CATEGORY_BY_NAME, CategorySpec
from lm_envs.world.people import Order
from lm_envs.world.policies import Policies
from lm_envs.world.sampling import pick, sample
from lm_envs.world.words import format_date, format_price, grammar, join_words

__all__ = [
    "FIRST_NAMES",
    "SENTIMENTS",
    "aspect_grammar",
    "buying_guide",
    "capitalize",
    "comparison",
    "describe_product",
    "experience_note",
    "listing",
    "order_status_sentence",
    "policy_sentences",
    "product_blurb",
    "review",
    "small_talk",
]


# ----------------------------------------------------------------------------- helpers
def capitalize(text: str) -> str:
    """Upper-case the first letter only (``str.capitalize`` would lower "USB")."""
    return text[:1].upper() + text[1:]


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
FIRST_NAMES = ("Maya", "Liam", "Sofia", "Noah", "Aisha", "Ethan", "Chloe", "Mateo", "Priya",
               "Lucas", "Hana", "Omar", "Grace", "Diego", "Zoe", "Kenji")
"""Names the small talk greets customers by (the world's users are named in ``people.py``)."""
_AGENT_NAMES = ("Sam", "Alex", "Jordan", "Taylor", "Riley", "Casey", "Morgan", "Jamie")


def small_talk(rng: np.random.Generator) -> str:
    """A generic support-agent message (greeting, empathy, sign-off) or a customer nicety.

    It holds no facts of any world: no order, date, amount or policy.
    """
    fill = {"customer": pick(rng, FIRST_NAMES), "agent": pick(rng, _AGENT_NAMES)}
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

"""The pretraining corpus: generic shop text for the tiny tokenizer and the tiny GPT-2.

What goes in: product blurbs, catalog listings, comparisons, buying guides, reviews with
clear sentiment, and support small talk. Optionally (``n_copy_exercises``, off by default)
reading exercises: records, rules and catalog-shaped lines from outside the shop (a booking,
a permit, a made-up "umajov ZEWB-34747", "Rule: Lockers are free for the first 9 hours") and
a customer question whose reply restates the asked line or its values, to teach finding a
value in the context and copying it, with no shop fact (see ``text.copy_exercise``).
``tiny-shop-reader``'s last pretraining stage used this version of them; ``tiny-shop`` was
continued on an earlier one (git tag ``tiny-shop-exercises-v2``; README, "Customer-service
baselines"). What never goes in: the world's order ids, tracking numbers and dates, its
customers' e-mails, its policy amounts and support hours, a grounded answer (``text``'s
second half), or any dialog goal; the shop's words (shipped, in stock, USPS, Visa) appear only
as values of other records in the exercises, never in the generic text. Those are what
customer-service tasks ask about, and RL, not pretraining, must teach them; so this
module uses only the generic half of ``text.py``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from lm_envs.world import text
from lm_envs.world.categories import CATEGORIES

if TYPE_CHECKING:
    from lm_envs.world.catalog import Product
    from lm_envs.world.shop import ShopWorld

BLURBS_PER_PRODUCT = 4
LISTINGS_PER_CATEGORY = 15
GUIDES_PER_CATEGORY = 10


def review_sentiment(rng: np.random.Generator, quality: float) -> str:
    """Better products get more positive reviews; every product gets some of each kind."""
    weights = np.array([0.1 + 0.7 * quality, 0.1 + 0.6 * (1.0 - quality), 0.25])
    return str(rng.choice(text.SENTIMENTS, p=weights / weights.sum()))


def build_corpus(
    world: ShopWorld, seed: int = 0, *, n_reviews: int = 4000, n_small_talk: int = 1500,
    n_comparisons: int = 400, n_copy_exercises: int = 0, n_experience_notes: int = 0,
) -> list[str]:
    """Shuffled, de-duplicated documents about ``world``'s catalog plus generic small talk.

    The generator is seeded by ``(world.seed, seed)``: the same world and seed give the same
    list, and a different seed gives another sample of the same kinds of text.
    """
    rng = np.random.default_rng([world.seed, seed])
    products = world.products
    by_category: dict[str, list[Product]] = {}
    for p in products:
        by_category.setdefault(p.category, []).append(p)

    documents: list[str] = []
    # 1. product blurbs and catalog listings
    for p in products:
        documents += [text.product_blurb(rng, p) for _ in range(BLURBS_PER_PRODUCT)]
    for category, members in by_category.items():
        for _ in range(LISTINGS_PER_CATEGORY):
            shown = text.sample(rng, members, 2 + int(rng.integers(max(1, len(members) - 1))))
            documents.append(text.listing(category, sorted(shown, key=lambda p: p.price), rng=rng))

    # 2. comparisons and buying guides
    comparable = [members for members in by_category.values() if len(members) >= 2]
    for _ in range(n_comparisons if comparable else 0):
        a, b = text.sample(rng, text.pick(rng, comparable), 2)
        documents.append(text.comparison(rng, a, b))
    for spec in CATEGORIES:
        if spec.name in by_category:
            documents += [text.buying_guide(rng, spec, by_category[spec.name])
                          for _ in range(GUIDES_PER_CATEGORY)]

    # 3. reviews, the sentiment signal a VADER-based reward can build on
    for _ in range(n_reviews):
        p = text.pick(rng, products)
        documents.append(text.review(rng, p, review_sentiment(rng, p.quality)))

    # 4. generic support small talk
    documents += [text.small_talk(rng) for _ in range(n_small_talk)]

    # 5. copy exercises (opt-in): records and replies restating them, the copying skill
    world_facts = world_fact_strings(world)
    for _ in range(n_copy_exercises):
        exercise = text.copy_exercise(rng)
        while mentions_world_fact(exercise, world_facts):  # values are random; a few hit a real one
            exercise = text.copy_exercise(rng)
        documents.append(exercise)

    # 6. buying-experience notes (opt-in): the shop's words (order, shipped, delivery, return,
    # refund, in stock, tracking, ...) in a buyer's own account, never in an answer or with a value
    documents += [text.experience_note(rng, text.pick(rng, products)) for _ in range(n_experience_notes)]

    unique = list(dict.fromkeys(documents))
    return [unique[int(i)] for i in rng.permutation(len(unique))]


# The shapes of the values a reading exercise can share with the world: dates, amounts,
# e-mails and long digit strings (tracking numbers). Comparing the values of these shapes
# against a set is fast; a regex of every world fact would not be.
_VALUE_SHAPES = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r" \d{1,2}, \d{4}|\$[\d,]+\.\d\d|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\d{6,}\b|\b1Z[A-Z0-9]{16}\b"
    # opening hours, the shape of the shop's support hours
    r"|(?:[A-Z][a-z]+ to [A-Z][a-z]+|every day|every evening|weekdays|weekends only|[A-Z][a-z]+s only),"
    r" \d{1,2}(?:am|pm) to \d{1,2}(?:am|pm)(?: [A-Z]T)?|24 hours a day, 7 days a week"
)


def world_fact_strings(world: ShopWorld) -> frozenset[str]:
    """The world's own values in the forms an exercise could state them: every order's dates,
    total and tracking number, every customer's e-mail, the policy amounts and support hours."""
    facts: set[str] = set()
    for order in world.orders:
        facts.update({text.format_date(order.order_date), text.format_date(order.delivery_date),
                      text.format_price(order.total), order.tracking_number})
    facts.update(user.email for user in world.users)
    facts.update({text.format_price(world.policies.shipping_fee), text.format_price(world.policies.free_shipping_threshold),
                  world.policies.support_hours})
    return frozenset(facts)


def mentions_world_fact(document: str, world_facts: frozenset[str]) -> bool:
    """Whether ``document`` states one of ``world_facts``."""
    return any(match.group(0).rstrip(".") in world_facts for match in _VALUE_SHAPES.finditer(document))

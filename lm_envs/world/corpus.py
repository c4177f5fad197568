"""The world corpus: generic shop text for the tiny tokenizer and the tiny GPT-2.

What goes in: product blurbs, catalog listings, comparisons, buying guides, reviews with
clear sentiment, and support small talk; optionally (``n_experience_notes``, off by default)
buyers' accounts of buying something. What never goes in: the world's order ids, tracking
numbers and dates, its customers' e-mails, its policy amounts and support hours, a grounded
answer (``text``'s second half), or any dialog goal; the shop's words (shipped, in stock,
USPS, Visa) never appear in the generic text. Those are what customer-service tasks ask
about, and RL, not pretraining, must teach them; so this module uses only the generic half
of ``text.py``.

The corpus is built in steps that share one generator (`corpus_rng`), so that the
pretraining mixture (`lm_envs.models.exercises.pretraining_corpus`) can add its reading
exercises between them and still draw the same text for the same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lm_envs.world import text
from lm_envs.world.catalog import Product
from lm_envs.world.categories import CATEGORIES
from lm_envs.world.sampling import pick, sample

__all__ = [
    "build_corpus",
    "corpus_rng",
    "experience_notes",
    "review_sentiment",
    "shop_documents",
    "shuffled_unique",
]

BLURBS_PER_PRODUCT = 4
LISTINGS_PER_CATEGORY = 15
GUIDES_PER_CATEGORY = 10


def review_sentiment(rng: np.random.Generator, quality: float) -> str:
    """Better products get more positive reviews; every product gets some of each kind."""
    weights = np.array([0.1 + 0.7 * quality, 0.1 + 0.6 * (1.0 - quality), 0.25])
    return str(rng.choice(text.SENTIMENTS, p=weights / weights.sum()))


def corpus_rng(world_seed: int, seed: int) -> np.random.Generator:
    """The one generator a corpus is drawn from, seeded by ``(world_seed, seed)``."""
    return np.random.default_rng([world_seed, seed])


def shop_documents(
    rng: np.random.Generator, products: Sequence[Product], *, n_reviews: int = 4000,
    n_small_talk: int = 1500, n_comparisons: int = 400,
) -> list[str]:
    """The generic documents about a catalog, in drawing order (neither shuffled nor de-duplicated)."""
    by_category: dict[str, list[Product]] = {}
    for p in products:
        by_category.setdefault(p.category, []).append(p)

    documents: list[str] = []
    # 1. product blurbs and catalog listings
    for p in products:
        documents += [text.product_blurb(rng, p) for _ in range(BLURBS_PER_PRODUCT)]
    for category, members in by_category.items():
        for _ in range(LISTINGS_PER_CATEGORY):
            shown = sample(rng, members, 2 + int(rng.integers(max(1, len(members) - 1))))
            documents.append(text.listing(category, sorted(shown, key=lambda p: p.price), rng=rng))

    # 2. comparisons and buying guides
    comparable = [members for members in by_category.values() if len(members) >= 2]
    for _ in range(n_comparisons if comparable else 0):
        a, b = sample(rng, pick(rng, comparable), 2)
        documents.append(text.comparison(rng, a, b))
    for spec in CATEGORIES:
        if spec.name in by_category:
            documents += [text.buying_guide(rng, spec, by_category[spec.name])
                          for _ in range(GUIDES_PER_CATEGORY)]

    # 3. reviews, the sentiment signal a VADER-based reward can build on
    for _ in range(n_reviews):
        p = pick(rng, products)
        documents.append(text.review(rng, p, review_sentiment(rng, p.quality)))

    # 4. generic support small talk
    documents += [text.small_talk(rng) for _ in range(n_small_talk)]
    return documents


def experience_notes(rng: np.random.Generator, products: Sequence[Product], n: int) -> list[str]:
    """``n`` buying-experience notes: the shop's words (order, shipped, delivery, return, refund,
    in stock, tracking, ...) in a buyer's own account, never in an answer or with a value."""
    return [text.experience_note(rng, pick(rng, products)) for _ in range(n)]


def shuffled_unique(rng: np.random.Generator, documents: Sequence[str]) -> list[str]:
    """``documents`` without repeats (first occurrence kept), in an order drawn from ``rng``."""
    unique = list(dict.fromkeys(documents))
    return [unique[int(i)] for i in rng.permutation(len(unique))]


def build_corpus(
    products: Sequence[Product], world_seed: int, seed: int = 0, *, n_reviews: int = 4000,
    n_small_talk: int = 1500, n_comparisons: int = 400, n_experience_notes: int = 0,
) -> list[str]:
    """Shuffled, de-duplicated documents about a world's catalog plus generic small talk.

    The generator is seeded by ``(world_seed, seed)``: the same world and seed give the same
    list, and a different seed gives another sample of the same kinds of text.
    """
    rng = corpus_rng(world_seed, seed)
    documents = shop_documents(rng, products, n_reviews=n_reviews, n_small_talk=n_small_talk,
                               n_comparisons=n_comparisons)
    documents += experience_notes(rng, products, n_experience_notes)
    return shuffled_unique(rng, documents)

"""The pretraining corpus and the text helpers.

The central check: the corpus holds no grounded customer-service answers, so whatever an
agent later knows about orders and policies was taught by RL, not by pretraining.
"""

from __future__ import annotations

import re
import time
from datetime import date

import numpy as np
import pytest

from lm_envs.world import (
    ShopWorld,
    format_date,
    format_price,
    make_world,
    order_status_sentence,
    policy_sentences,
)
from lm_envs.world.text import SENTIMENTS, copy_exercise, join_words, review

MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|"
          "December")
# phrases of grounded answers and of dialog goals; none may appear in generic text
FORBIDDEN_PHRASES = (
    "ord-", "order number", "order id", "tracking number", "track your", "return", "returns",
    "returned", "delivery", "deliver", "delivered", "cancel", "is being processed", "has shipped",
    "was delivered", "been delivered", "was cancelled", "been returned", "expected to arrive",
    "refund", "return window", "return items", "restocking", "shipping", "business days",
    "carrier", "ups", "fedex", "dhl", "usps", "the customer wants", "goal", "<|",
)


@pytest.fixture(scope="module", params=[0, 5])
def world_and_corpus(request: pytest.FixtureRequest) -> tuple[ShopWorld, list[str]]:
    # with the opt-in copy exercises, so the exclusion checks below cover them too
    world = make_world(request.param)
    return world, world.corpus(seed=0, n_copy_exercises=3000)


# ----------------------------------------------------------------------- determinism
def test_corpus_is_deterministic() -> None:
    world = make_world(0)
    assert world.corpus(0) == world.corpus(0)
    assert world.corpus(0) == ShopWorld.generate(0).corpus(0)
    assert world.corpus(0) != world.corpus(1)
    assert make_world(1).corpus(0) != world.corpus(0)


def test_corpus_returns_a_fresh_list() -> None:
    world = make_world(0)
    docs = world.corpus(0)
    docs.clear()
    assert world.corpus(0)


def test_corpus_size_and_variety(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    world, docs = world_and_corpus
    chars = sum(map(len, docs))
    assert 3000 <= len(docs) <= 20_000
    assert 300_000 <= chars <= 5_000_000
    assert len(set(docs)) == len(docs)
    assert all(doc.strip() for doc in docs)
    text = "\n".join(docs)
    # every kind of document is there
    for marker in ("Rating:", "Thanks for reaching out", "Comparing the", "in our catalog:",
                   "How to choose", "Highlights:", "Librarian:", "Rule:"):
        assert marker in text, marker
    assert all(p.name in text for p in world.products)
    assert all(format_price(p.price) in text for p in world.products)
    # varied, not one template repeated: many distinct opening and closing sentences
    assert len({doc.split(".")[0] for doc in docs}) > 500


def test_corpus_is_fast() -> None:
    start = time.perf_counter()
    ShopWorld.generate(11).corpus(3)
    assert time.perf_counter() - start < 5


@pytest.mark.parametrize("field", ["n_reviews", "n_small_talk", "n_comparisons", "n_copy_exercises"])
def test_corpus_counts_are_validated(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_world(0).corpus(0, **{field: -1})
    with pytest.raises(ValueError, match="seed"):
        make_world(0).corpus(-1)


def test_copy_exercises_are_opt_in() -> None:
    world = make_world(0)
    plain, with_copies = world.corpus(0), world.corpus(0, n_copy_exercises=500)
    assert not any(doc.startswith(("Loan ", "Booking ", "Ticket ", "Rule: ")) for doc in plain)
    assert len(with_copies) > len(plain) + 400
    assert set(plain) < set(with_copies)


def test_corpus_counts_are_respected() -> None:
    small = make_world(0).corpus(0, n_reviews=10, n_small_talk=0, n_comparisons=0, n_copy_exercises=0)
    assert len(small) < 600


# ------------------------------------------------------------- grounded-answer exclusion
def test_corpus_has_no_order_facts(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    world, docs = world_and_corpus
    text = "\n".join(docs)
    for order in world.orders:
        assert order.order_id not in text
        assert order.tracking_number not in text
        assert order_status_sentence(order) not in text
        for day in (order.order_date, order.delivery_date):
            assert format_date(day) not in text and day.isoformat() not in text
    assert not re.search(r"ORD-\d", text)
    assert not re.search(r"1Z[A-Z0-9]{6}\d{10}|\b\d{10,22}\b", text)  # tracking-like
    assert not re.search(rf"\b({MONTHS}) \d", text)
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text)


def test_corpus_has_no_policy_facts(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    world, docs = world_and_corpus
    text = "\n".join(docs)
    for sentence in policy_sentences(world.policies).values():
        assert sentence not in text
    assert format_price(world.policies.shipping_fee) not in text
    # the only amounts are list prices: no fees, thresholds or refund amounts
    amounts = set(re.findall(r"\$[\d,]+(?:\.\d+)?", text))
    assert amounts <= {format_price(p.price) for p in world.products}
    assert not re.search(r"\b\d+\s+(business\s+)?days?\b", text)
    assert not re.search(r"\b\d+\s*%", text)


def test_corpus_has_no_grounded_phrases(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    _, docs = world_and_corpus
    for doc in docs:
        lowered = doc.lower()
        for phrase in FORBIDDEN_PHRASES:
            # word boundaries: "ups" must not match "cups"
            assert not re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", lowered), (
                phrase, doc)


# ----------------------------------------------------------------------- text helpers
def test_text_helpers_by_hand() -> None:
    assert join_words([]) == ""
    assert join_words(["a"]) == "a"
    assert join_words(["a", "b"]) == "a and b"
    assert join_words(["a", "b", "c"]) == "a, b and c"
    assert format_price(1234.5) == "$1,234.50"
    assert format_price(79.99) == "$79.99"
    assert format_date(date(2026, 1, 5)) == "January 5, 2026"


def test_grounded_sentences_state_the_facts() -> None:
    world = make_world(0)
    for order in world.orders:
        sentence = order_status_sentence(order)
        assert order.order_id in sentence
        if order.status in ("processing", "shipped", "delivered"):
            assert format_date(order.delivery_date) in sentence
        if order.status in ("shipped", "delivered"):
            assert order.tracking_number in sentence
    policies = policy_sentences(world.policies)
    assert f"{world.policies.return_window_days} days" in policies["returns"]
    assert f"{world.policies.refund_days} business days" in policies["refunds"]
    assert format_price(world.policies.shipping_fee) in policies["shipping"]


def test_reviews_carry_their_sentiment() -> None:
    vader = pytest.importorskip("vaderSentiment.vaderSentiment")
    analyzer = vader.SentimentIntensityAnalyzer()
    world = make_world(0)
    rng = np.random.default_rng(0)
    for sentiment, sign in (("positive", 1), ("negative", -1)):
        scores = np.array([
            analyzer.polarity_scores(review(rng, world.products[i % 60], sentiment))["compound"]
            for i in range(300)
        ])
        assert (sign * scores > 0.05).mean() > 0.95, sentiment


def test_copy_exercises_restate_values_of_their_record() -> None:
    # the skill they teach: every number or code in a reply was shown in the record line
    rng = np.random.default_rng(3)
    value = re.compile(r"[A-Z]{2}-\d+|\b[A-Z0-9]{6}\b|\d+(?:[.:]\d+)*|[\w.]+@[\w.]+\w")
    kinds = set()
    for _ in range(300):
        record, *exchanges = copy_exercise(rng).split("\n")
        kinds.add(record.split(" ")[0])
        replies = exchanges[1::2]
        assert 1 <= len(replies) <= 4 and len(exchanges) == 2 * len(replies)
        for reply in replies:
            values = value.findall(reply.split(": ", 1)[1])
            values += [day for day in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                       "Saturday", "Sunday") if day in reply]
            assert values or reply.split(": ", 1)[1] in record, reply
            assert all(v in record for v in values), (record, reply)
    assert len(kinds) == 7  # every domain shows up


def test_review_rejects_unknown_sentiment() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="known: positive, negative, mixed"):
        review(rng, make_world(0).products[0], "angry")
    assert SENTIMENTS == ("positive", "negative", "mixed")

"""The pretraining corpus and the text helpers.

The central check: the corpus holds no grounded customer-service answers, so whatever an
agent later knows about orders and policies was taught by RL, not by pretraining.
"""

from __future__ import annotations

import re
from collections import Counter
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
from lm_envs.models.exercises import copy_exercise, mentions_world_fact, pretraining_corpus, world_fact_strings
from lm_envs.world.text import SENTIMENTS, review
from lm_envs.world.words import join_words

MONTHS = ("January|February|March|April|May|June|July|August|September|October|November|"
          "December")
# phrases of grounded answers and of dialog goals; none may appear anywhere in the corpus
GROUNDED_PHRASES = (
    "ord-", "order number", "order id", "track your", "is being processed", "has shipped",
    "was delivered", "been delivered", "was cancelled", "been returned", "expected to arrive",
    "refund", "return window", "return items", "restocking", "business days",
    "the customer wants", "goal", "<|",
)
# the shop's words; the generic text never uses them, the reading exercises may use them as
# values of other records (a permit that is "delivered", a rental "with USPS")
SHOP_WORDS = (
    "tracking number", "return", "returns", "returned", "delivery", "deliver", "delivered",
    "cancel", "shipping", "carrier", "ups", "fedex", "dhl", "usps",
)


@pytest.fixture(scope="module", params=[0, 5])
def world_and_corpus(request: pytest.FixtureRequest) -> tuple[ShopWorld, list[str]]:
    # with the opt-in reading exercises, so the exclusion checks below cover them too
    world = make_world(request.param)
    return world, pretraining_corpus(world, 0, n_copy_exercises=3000)


@pytest.fixture(scope="module", params=[0, 5])
def generic_and_exercises(request: pytest.FixtureRequest) -> tuple[ShopWorld, list[str], list[str]]:
    """(world, generic shop documents, reading exercises) of one corpus with exercises."""
    world = make_world(request.param)
    generic = world.corpus(seed=0)
    exercises = [doc for doc in pretraining_corpus(world, 0, n_copy_exercises=3000) if doc not in set(generic)]
    return world, generic, exercises


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
                   "How to choose", "Highlights:", "\nCustomer: ", "\nAgent: "):
        assert marker in text, marker
    assert all(p.name in text for p in world.products)
    assert all(format_price(p.price) in text for p in world.products)
    # varied, not one template repeated: many distinct opening and closing sentences
    assert len({doc.split(".")[0] for doc in docs}) > 500




@pytest.mark.parametrize("field", ["n_reviews", "n_small_talk", "n_comparisons", "n_experience_notes"])
def test_corpus_counts_are_validated(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make_world(0).corpus(0, **{field: -1})
    with pytest.raises(ValueError, match="seed"):
        make_world(0).corpus(-1)


@pytest.mark.parametrize("field", ["n_copy_exercises", "n_experience_notes"])
def test_pretraining_corpus_counts_are_validated(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        pretraining_corpus(make_world(0), 0, **{field: -1})
    with pytest.raises(ValueError, match="seed"):
        pretraining_corpus(make_world(0), -1)


def test_pretraining_corpus_without_exercises_is_the_world_corpus() -> None:
    world = make_world(0)
    assert pretraining_corpus(world, 1) == world.corpus(1)
    assert pretraining_corpus(world, 2, n_experience_notes=50) == world.corpus(2, n_experience_notes=50)


def test_copy_exercises_are_opt_in() -> None:
    world = make_world(0)
    plain, with_copies = world.corpus(0), pretraining_corpus(world, 0, n_copy_exercises=500)
    assert not any("\nCustomer: " in doc for doc in plain)
    assert len(with_copies) > len(plain) + 400
    assert set(plain) < set(with_copies)


def test_corpus_counts_are_respected() -> None:
    small = make_world(0).corpus(0, n_reviews=10, n_small_talk=0, n_comparisons=0)
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
    for user in world.users:
        assert user.email not in text and user.address not in text
    assert not re.search(r"ORD-\d", text)
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", text)


def test_generic_text_has_no_fact_shapes(generic_and_exercises: tuple[ShopWorld, list[str], list[str]]) -> None:
    # the shop text states no date, fee, duration or id at all; values of those shapes are
    # only in the reading exercises, which are about other records (next test)
    _, generic, _ = generic_and_exercises
    text = "\n".join(generic)
    assert not re.search(r"1Z[A-Z0-9]{6}\d{10}|\b\d{10,22}\b", text)  # tracking-like
    assert not re.search(rf"\b({MONTHS}) \d", text)
    assert not re.search(r"\b\d+\s+(business\s+)?days?\b", text)


def test_reading_exercises_state_no_world_fact(generic_and_exercises: tuple[ShopWorld, list[str], list[str]]) -> None:
    world, _, exercises = generic_and_exercises
    assert len(exercises) > 2500
    text = "\n".join(exercises)
    policies = world.policies
    # values have the world's shapes, so the copying prior never argues against a true value:
    # the world's years, the policy day counts and .99/.49/.00 prices all occur ...
    years = {int(y) for y in re.findall(rf"\b(?:{MONTHS}) \d+, (\d{{4}})", text)}
    assert len(years) > 50 and {2025, 2026} <= years
    # (day counts: from a larger sample of the same generator, as 3,000 exercises state only
    # about 350 of them; "7 days a week" is opening hours, not a count)
    rng = np.random.default_rng(world.seed)
    sample_text = "\n".join(copy_exercise(rng) for _ in range(12_000))
    day_counts = Counter(int(n) for n in re.findall(r"\b(\d+) days?\b(?! a week)", sample_text))
    assert {policies.return_window_days, policies.refund_days} <= set(day_counts)
    amounts = set(re.findall(r"\$[\d,]+\.\d\d", text))
    assert {a[-3:] for a in amounts} >= {".99", ".49", ".00"}
    # ... but no more often than any other value (no hint which one is the shop's) ...
    typical = float(np.median(list(day_counts.values())))
    assert day_counts[policies.return_window_days] < 2 * typical and day_counts[policies.refund_days] < 2 * typical
    # ... and never one of the world's own values
    facts = world_fact_strings(world)
    assert not any(mentions_world_fact(doc, facts) for doc in exercises)
    assert not (amounts & {format_price(o.total) for o in world.orders})
    assert format_price(policies.shipping_fee) not in text
    assert format_price(policies.free_shipping_threshold) not in text
    assert policies.support_hours not in text
    # no product of the world; the shop's words occur, as values of other records
    assert not any(p.name in text for p in world.products)
    for word in ("processing", "shipped", "delivered", "in stock", "out of stock", "USPS", "FedEx", "Visa",
                 "Apple Pay", "gift cards", "tracking number", " ET.", "1Z"):
        assert word in text, word


def test_world_fact_filter_catches_each_kind_of_value() -> None:
    world = make_world(0)
    facts = world_fact_strings(world)
    order, user = world.orders[0], world.users[0]
    for value in (format_date(order.delivery_date), format_price(order.total), order.tracking_number, user.email,
                  format_price(world.policies.shipping_fee), world.policies.support_hours):
        assert mentions_world_fact(f"Permit QTL-4471: approved, noted {value}.", facts), value
    assert not mentions_world_fact("Permit QTL-4471: approved, expires March 3, 2034, fee $41.37.", facts)


def test_experience_notes_use_shop_words_but_state_no_value() -> None:
    world = make_world(0)
    plain = world.corpus(0)
    notes = [doc for doc in world.corpus(0, n_experience_notes=500) if doc not in set(plain)]
    assert len(notes) > 300
    text = "\n".join(notes)
    for word in ("order", "shipped", "delivery", "delivered", "return", "refund", "in stock", "out of stock",
                 "tracking", "warranty", "processing", "cancelled"):
        assert word in text.lower(), word
    # a buyer's account: no exchange, no id, date, amount or day count, no world fact
    without_names = text
    for product in world.products:
        without_names = without_names.replace(product.name, "")
    assert not re.search(r"\d", without_names)
    assert "Customer:" not in text and "Agent:" not in text
    assert not any(mentions_world_fact(doc, world_fact_strings(world)) for doc in notes)
    assert world.corpus(0) == plain  # opt-in: the default corpus is unchanged


def test_corpus_has_no_policy_facts(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    world, docs = world_and_corpus
    text = "\n".join(docs)
    for sentence in policy_sentences(world.policies).values():
        assert sentence not in text
    assert format_price(world.policies.shipping_fee) not in text
    assert not re.search(r"\b\d+\s*%", text)


def test_generic_text_has_only_list_prices(generic_and_exercises: tuple[ShopWorld, list[str], list[str]]) -> None:
    world, generic, _ = generic_and_exercises
    amounts = set(re.findall(r"\$[\d,]+(?:\.\d+)?", "\n".join(generic)))
    assert amounts <= {format_price(p.price) for p in world.products}


def _has_phrase(phrase: str, doc: str) -> bool:
    # word boundaries: "ups" must not match "cups"
    return bool(re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", doc.lower()))


def test_corpus_has_no_grounded_phrases(world_and_corpus: tuple[ShopWorld, list[str]]) -> None:
    _, docs = world_and_corpus
    for doc in docs:
        for phrase in GROUNDED_PHRASES:
            assert not _has_phrase(phrase, doc), (phrase, doc)


def test_generic_text_has_no_shop_words(generic_and_exercises: tuple[ShopWorld, list[str], list[str]]) -> None:
    _, generic, _ = generic_and_exercises
    for doc in generic:
        for phrase in SHOP_WORDS:
            assert not _has_phrase(phrase, doc), (phrase, doc)


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
    # the skill they teach: every value in a reply was shown in the record lines above it
    rng = np.random.default_rng(3)
    value = re.compile(rf"[A-Z]{{2,4}}-\d+|\b[A-Z0-9]{{5,}}\b|\$[\d,.]+\d|\d+|[\w.]+@[\w.]+\w|(?:{MONTHS}) \d+, \d+")
    entities, rules = set(), 0
    for _ in range(400):
        lines = copy_exercise(rng).split("\n")
        records = [line for line in lines if not line.startswith(("Customer: ", "Agent: "))]
        exchanges = lines[len(records):]
        assert records and records == lines[: len(records)]
        questions, replies = exchanges[0::2], exchanges[1::2]
        assert 1 <= len(replies) <= 3 and len(questions) == len(replies)
        assert all(q.startswith("Customer: ") for q in questions) and all(r.startswith("Agent: ") for r in replies)
        record_text = "\n".join(records)
        entities.update(line.split(" ")[0] for line in records if "-" in line.split(":")[0])
        rules += any(line.startswith(("Policy: ", "Rule: ", "Note: ")) for line in records)
        for reply in replies:
            body = reply.removeprefix("Agent: ")
            found = value.findall(body)
            # no number or code: a restated rule, or a status or provider word of the record
            assert found or body in record_text or body.rstrip(".").rsplit(" ", 1)[-1] in record_text, reply
            assert all(v in record_text for v in found), (record_text, reply)
    assert len(entities) >= 15 and rules > 40  # many kinds of record, and rule lines


def test_copy_exercises_pick_the_asked_line_among_notes_and_items() -> None:
    # policy-shaped notes and catalog-shaped lines, drawn anew each time (so a reply can only
    # be copied, not recalled), several to a context, and the reply restates the asked one
    rng = np.random.default_rng(11)
    notes, several, items = set(), 0, 0
    for _ in range(600):
        lines = copy_exercise(rng).split("\n")
        records, reply = lines[:-2], lines[-1].removeprefix("Agent: ")
        note_lines = [line.split(": ", 1)[1] for line in records if line.split(":")[0] in
                      ("Policy", "Rule", "Note", "Notice", "Terms", "Info", "Guideline")]
        notes.update(note_lines)
        if len(note_lines) == len(records) >= 2:
            several += 1
            assert reply in note_lines, (records, reply)
        names = [line.split(": ", 1)[1].split(",")[0] for line in records if " left)" in line]
        if names:  # catalog-shaped: the reply names the asked item, or restates a note
            items += 1
            assert any(name in reply for name in names) or reply in note_lines, (records, reply)
    assert len(notes) > 150 and several > 30 and items > 40


def test_review_rejects_unknown_sentiment() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="known: positive, negative, mixed"):
        review(rng, make_world(0).products[0], "angry")
    assert SENTIMENTS == ("positive", "negative", "mixed")

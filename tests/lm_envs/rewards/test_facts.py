"""The ``facts`` and ``wrong_facts`` rewards on hand-made answers, and the dialog reward terms."""

from __future__ import annotations

import math

import pytest

from lm_envs.rewards import REWARDS, make_reward
from lm_envs.rewards.facts import check_facts, normalize_fact

TRUTH = [
    {"name": "order_id", "value": "ORD-10234", "kind": "order_id"},
    {"name": "delivery_date", "value": "2026-01-20", "kind": "date"},
    {"name": "total", "value": 79.99, "kind": "money"},
    {"name": "status", "value": "shipped", "kind": "text", "wrong": ["delivered", "cancelled"]},
]


def score(text: str, truth=TRUTH, **kwargs) -> float:
    out = REWARDS["facts"](**kwargs)(["prompt"], [text], facts=[truth])
    assert type(out[0]) is float
    return out[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        # correct: every required fact, in other surface forms too
        ("Order ORD-10234 has shipped and arrives on January 20, 2026; you paid $79.99.", 1.0),
        ("ord 10234 shipped, arriving Jan 20 (total: 79.99 dollars)", 1.0),
        ("ORD#10234 SHIPPED - 2026-01-20 - $79.99", 1.0),
        ("Order ORD-10234 shipped; it arrives on the 20th of January. Total $ 79.99.", 1.0),
        # missing: 2 of 4 stated
        ("Order ORD-10234 has shipped.", 2 / 4),
        ("", 0.0),
        ("Thanks for reaching out, happy to help!", 0.0),
        # contradicting: a wrong order number, a wrong date, a wrong amount, a wrong status
        ("Order ORD-10235 has shipped and arrives on January 20, 2026; you paid $79.99.", (3 - 1) / 4),
        ("Order ORD-10234 has shipped and arrives on January 21, 2026; you paid $79.99.", (3 - 1) / 4),
        ("Order ORD-10234 has shipped and arrives on January 20, 2026; you paid $80.", (3 - 1) / 4),
        ("Order ORD-10234 was delivered on January 20, 2026; you paid $79.99.", (3 - 1) / 4),
        ("Order ORD-99999 was delivered on 01/21/2026 for $5.", -1.0),  # clipped at -1
    ],
)
def test_facts_on_hand_made_answers(text, expected):
    assert score(text) == pytest.approx(expected)


def test_penalty_weight_and_allowed_values():
    text = "Order ORD-10234 and ORD-55555 have shipped."
    assert score(text) == pytest.approx((2 - 1) / 4)
    assert score(text, penalty=0.0) == pytest.approx(2 / 4)
    assert score(text, penalty=2.0) == pytest.approx((2 - 2) / 4)
    # a value marked required=False is true but not asked for: neither credit nor contradiction
    allowed = TRUTH + [{"name": "other", "value": "ORD-55555", "kind": "order_id", "required": False}]
    assert score(text, allowed) == pytest.approx(2 / 4)


def test_kinds_the_truth_does_not_mention_are_not_judged():
    truth = [{"name": "date", "value": "2026-01-20", "kind": "date"}]
    assert score("It arrives on January 20 and costs $5 with order ORD-1234.", truth) == 1.0


def test_numbers_inside_a_true_text_fact_are_not_contradictions():
    truth = [
        {"name": "window", "value": 14, "kind": "days"},
        {"name": "hours", "value": "24 hours a day, 7 days a week", "kind": "text"},
    ]
    assert score("Return within 14 days; we are here 24 hours a day, 7 days a week.", truth) == 1.0
    assert score("Return within 7 days.", truth) == pytest.approx((0 - 1) / 2)


@pytest.mark.parametrize(
    "kind, value, text",
    [
        ("order_id", "ORD-10234", "ord-10234"),
        ("tracking", "1Z4RT5X00123456789", "tracking 1z4rt5x00123456789."),
        ("tracking", "123456789012", "FedEx 123456789012"),
        ("email", "Priya.Patel@example.com", "mail priya.patel@example.com."),
        ("money", "$1,234.50", "1234.5 USD"),
        ("date", "January 5, 2026", "5 Jan 2026"),
        ("days", 30, "a 30-day window"),
        ("days", "5", "within 5 business days"),
        ("months", 24, "a 2-year warranty"),
        ("months", 12, "12-month warranty"),
        ("percent", 10, "a 10 percent fee"),
        ("text", "Monday  to Friday", "monday to\nfriday"),
    ],
)
def test_normalisation(kind, value, text):
    truth = [{"name": kind, "value": value, "kind": kind}]
    assert check_facts(text, truth).present == (kind,)


def test_normalize_fact_values():
    assert normalize_fact("money", 79.99) == 7999
    assert normalize_fact("money", "79.99") == 7999
    assert normalize_fact("date", "2026-01-20") == (2026, 1, 20)
    assert normalize_fact("order_id", "10234") == "ORD-10234"
    assert normalize_fact("text", " In  Stock ") == "in stock"


def test_text_facts_aliases_and_wrong_phrases():
    truth = [{"name": "stock", "value": "in stock", "kind": "text", "aliases": ["available"], "wrong": ["out of stock"]}]
    assert score("Yes, it is available.", truth) == 1.0
    assert score("Sorry, it is out of stock.", truth) == -1.0
    check = check_facts("It is in stock, no wait, out of stock.", truth)
    assert check.present == ("stock",) and check.wrong == ("text: out of stock",)


def test_wrong_facts_counts_contradictions():
    fn = REWARDS["wrong_facts"]()
    texts = ["Order ORD-10234 shipped.", "Order ORD-111 and ORD-222 were delivered on May 3."]
    assert fn(["p", "p"], texts, facts=[TRUTH, TRUTH]) == [0.0, 4.0]
    assert REWARDS["wrong_facts"](cap=2)(["p"], [texts[1]], facts=[TRUTH]) == [2.0]


def test_check_facts_report():
    check = check_facts("Order ORD-10234 arrives Jan 21.", TRUTH)
    assert check.present == ("order_id",)
    assert check.missing == ("delivery_date", "total", "status")
    assert check.wrong == ("date: ????-01-21",)
    assert check.recall == 0.25 and check.n_required == 4


def test_samples_without_facts_score_zero():
    fn = REWARDS["facts"]()
    assert fn(["p", "p"], ["ORD-1", "x"], facts=[None, []]) == [0.0, 0.0]
    assert fn(["p"], ["ORD-1"]) == [0.0]


@pytest.mark.parametrize(
    "facts, match",
    [
        ("ORD-1", "list of fact dicts"),
        ([{"value": "x"}], "no 'kind'"),
        ([{"value": "x", "kind": "colour"}], "unknown fact kind 'colour'; known: order_id"),
        ([{"value": "x", "kind": "text", "colour": 1}], "unknown key"),
        ([{"value": "soon", "kind": "date"}], "cannot read 'soon' as a date"),
        ([{"value": 5, "kind": "days", "wrong": ["6 days"]}], "'wrong' phrases are for text facts"),
        ([{"value": "", "kind": "text"}], "non-blank"),
    ],
)
def test_bad_facts_raise_clear_errors(facts, match):
    with pytest.raises(ValueError, match=match):
        REWARDS["facts"]()(["p"], ["text"], facts=[facts])


def test_bad_kwargs():
    with pytest.raises(ValueError, match="penalty"):
        make_reward([{"name": "facts", "kwargs": {"penalty": -1}}])
    with pytest.raises(ValueError, match="cap"):
        make_reward([{"name": "wrong_facts", "kwargs": {"cap": 0}}])


@pytest.mark.parametrize("name", ["facts", "wrong_facts"])
def test_finite_on_strange_texts(name):
    texts = ["", "\x00\x1b[31m", "😀 ORD-", "$$$ 1/1/1 ORD-0000 99999999999999999999999", "a" * 5000, "日本語 2026-13-45"]
    out = REWARDS[name]()(["p"] * len(texts), texts, facts=[TRUTH] * len(texts))
    assert all(type(x) is float and math.isfinite(x) for x in out)


def test_dialog_terms_by_hand():
    reward = make_reward({"outcome": 1.0, "turns": -0.05, "wrong_facts": -0.25})
    totals, terms = reward.score(
        ["p"] * 4, ["", "", "ORD-222", ""],
        outcome=["success", "failure", "truncated", None], turns=[2, 3, 4, None],
        facts=[TRUTH] * 4,
    )
    assert terms["outcome"].tolist() == [1.0, -1.0, 0.0, 0.0]
    assert terms["turns"].tolist() == [2.0, 3.0, 4.0, 0.0]
    assert terms["wrong_facts"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert totals.tolist() == pytest.approx([0.9, -1.15, -0.45, 0.0])
    custom = make_reward([{"name": "outcome", "kwargs": {"success": 2.0, "failure": -0.5, "truncated": -0.1}}])
    assert custom(["p"] * 3, [""] * 3, outcome=["success", "failure", "truncated"]) == [2.0, -0.5, -0.1]
    with pytest.raises(ValueError, match="outcome"):
        reward(["p"], [""], outcome=["won"], turns=[1])
    with pytest.raises(ValueError, match="turns"):
        reward(["p"], [""], outcome=["success"], turns=[-1])
    assert all(math.isfinite(x) for x in reward(["p"], ["\x00😀"], outcome=["ongoing"], turns=[0]))

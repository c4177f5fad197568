"""Contract checks over every cheap built-in: finite floats for any unicode, batch-first, TRL-safe.

fluency and similarity run a model; they are checked on fixed strange strings in
test_reward_models.py instead of here.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lm_envs.rewards import REWARDS

CHEAP = ("bleu", "keywords", "length", "repetition", "rouge", "sentiment")
RANGES = {
    "bleu": (0.0, 1.0),
    "keywords": (0.0, 1.0),
    "length": (0.0, 1.0),
    "repetition": (0.0, 1.0),
    "rouge": (0.0, 1.0),
    "sentiment": (-1.0, 1.0),
}
FUNCTIONS = {name: REWARDS[name]() for name in CHEAP}

# Any unicode (hypothesis' default alphabet includes control characters), plus runs of
# the characters that tend to break text code: RTL and bidi marks, emoji, zero-width joiners.
awkward = st.sampled_from(
    ["\u202e", "\u200f", "\u200d", "\ufeff", "\x00", "\x1b", "🏽", "👨‍👩‍👧", "ﷺ", "ß", "İ", "\r\n"]
)
texts = st.one_of(st.text(max_size=80), st.lists(st.one_of(awkward, st.text(max_size=5)), max_size=30).map("".join))


@st.composite
def batches(draw):
    size = draw(st.integers(0, 4))
    column = lambda strategy: draw(st.lists(strategy, min_size=size, max_size=size))  # noqa: E731
    return {
        "prompts": column(texts),
        "completions": column(texts),
        "keywords": column(st.one_of(st.none(), texts, st.lists(texts, max_size=3))),
        "references": column(st.one_of(st.none(), texts, st.lists(texts, max_size=3))),
        "sentiment_target": column(st.sampled_from([None, "positive", "negative"])),
    }


@pytest.mark.parametrize("name", CHEAP, ids=CHEAP)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=batches())
def test_finite_floats_in_range_for_any_unicode(name, batch):
    out = FUNCTIONS[name](**batch)
    low, high = RANGES[name]
    assert isinstance(out, list) and len(out) == len(batch["completions"])
    assert all(type(x) is float and math.isfinite(x) and low <= x <= high for x in out), out


@pytest.mark.parametrize("name", CHEAP, ids=CHEAP)
def test_fixed_strange_strings(name, strange_texts):
    references = [[t, "hello world"] for t in strange_texts[::-1]]
    out = FUNCTIONS[name](strange_texts, strange_texts, references=references, keywords=references)
    assert len(out) == len(strange_texts) and all(math.isfinite(x) for x in out)


@pytest.mark.parametrize("name", CHEAP, ids=CHEAP)
def test_batch_equals_one_by_one(name):
    prompts = ["p1", "p2", "p3"]
    completions = ["I love the battery", "the screen is bad bad bad", ""]
    fields = {
        "keywords": [["battery"], ["screen", "bad"], None],
        "references": [["I love the battery"], "a screen", None],
        "sentiment_target": ["negative", None, "positive"],
    }
    fn = FUNCTIONS[name]
    batch = fn(prompts, completions, **fields)
    single = [
        fn([prompts[i]], [completions[i]], **{k: [v[i]] for k, v in fields.items()})[0] for i in range(len(prompts))
    ]
    assert batch == single


@pytest.mark.parametrize("name", CHEAP, ids=CHEAP)
def test_unknown_kwargs_ignored(name):
    fn = FUNCTIONS[name]
    plain = fn(["p"], ["I love the battery"])
    noisy = fn(
        ["p"],
        ["I love the battery"],
        trainer_state=object(),
        completion_ids=[[1, 2, 3]],
        some_column=["x", "y", "z"],  # wrong length: not read, so not checked
        log_extra=None,
    )
    assert noisy == plain


@pytest.mark.parametrize("name", CHEAP, ids=CHEAP)
def test_length_mismatch_raises(name):
    with pytest.raises(ValueError, match="2 prompts but 1 completions"):
        FUNCTIONS[name](["a", "b"], ["c"])

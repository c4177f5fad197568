"""Registry, spec parsing and composition: behaviour and error messages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lm_envs.rewards import REWARDS, CompositeReward, make_reward, register_reward

BUILTINS = ("bleu", "fluency", "keywords", "length", "repetition", "rouge", "sentiment", "similarity")
PROMPTS = ["Review:", "Review:", "Review:"]
COMPLETIONS = ["I love this phone, the battery is great", "bad bad bad bad", ""]


# --- registry --------------------------------------------------------------------------


def test_builtins_are_registered():
    assert set(BUILTINS) <= set(REWARDS)


def test_unknown_name_lists_the_known_names_sorted():
    with pytest.raises(ValueError) as err:
        make_reward("sentimnt")
    message = str(err.value)
    assert message == f"unknown reward 'sentimnt'; known: {', '.join(sorted(REWARDS))}"
    assert {"bleu", "fluency", "keywords", "length", "repetition", "rouge", "sentiment", "similarity"} <= set(REWARDS)


@pytest.mark.parametrize(
    "spec", [{"sentimnt": 1.0}, [{"name": "sentimnt"}], ["sentimnt"], {3: 1.0}], ids=["dict", "list", "bare", "int"]
)
def test_unknown_name_in_every_spec_form(spec):
    with pytest.raises(ValueError, match=r"unknown reward .*; known: bleu, .*keywords, .*sentiment"):
        make_reward(spec)


def test_register_as_call_and_as_decorator(restore_registry):
    def constant(*, value: float = 1.0):
        return lambda prompts, completions, **kw: [value] * len(completions)

    assert register_reward("constant", constant) is constant

    @register_reward("twice")
    def twice(*, value: float = 2.0):
        return lambda prompts, completions, **kw: [value] * len(completions)

    assert REWARDS["constant"] is constant and REWARDS["twice"] is twice
    totals, terms = make_reward({"constant": 1.0, "twice": 0.5}).score(["p"], ["c"])
    assert totals.tolist() == [2.0]
    assert terms["twice"].tolist() == [2.0]


def test_register_duplicate_name_raises(restore_registry):
    with pytest.raises(ValueError, match="'sentiment' is already registered"):
        register_reward("sentiment", lambda: None)


@pytest.mark.parametrize("name", ["", "  ", None, 3])
def test_register_bad_name_raises(name):
    with pytest.raises(ValueError, match="non-empty str"):
        register_reward(name, lambda: None)


def test_register_non_callable_raises(restore_registry):
    with pytest.raises(ValueError, match="must be callable"):
        register_reward("nope", 42)


# --- spec parsing ----------------------------------------------------------------------


@pytest.mark.parametrize("weight", ["1.0", None, float("nan"), float("inf"), -math.inf, True, [1.0]])
def test_bad_weight_raises_naming_the_reward_and_weight(weight):
    with pytest.raises(ValueError, match=r"reward 'sentiment' has weight .*finite number"):
        make_reward({"sentiment": weight})
    with pytest.raises(ValueError, match=r"reward 'sentiment' has weight"):
        make_reward([{"name": "sentiment", "weight": weight}])


def test_numpy_and_int_weights_are_accepted():
    reward = make_reward({"sentiment": np.float32(0.5), "length": 2, "keywords": np.int64(-1)})
    assert reward.weights == (0.5, 2.0, -1.0)
    assert all(type(w) is float for w in reward.weights)


def test_list_entry_with_unknown_key_names_it():
    with pytest.raises(ValueError, match=r"entry 1 has unknown key\(s\) 'wieght'; allowed: name, weight, kwargs"):
        make_reward([{"name": "length"}, {"name": "sentiment", "wieght": 1.0}])


@pytest.mark.parametrize(
    "entry, match",
    [
        ({"weight": 1.0}, r"entry 0 has no 'name'"),
        (42, r"entry 0 must be a dict"),
        ({"name": "length", "kwargs": [1, 2]}, r"'kwargs' must be a dict"),
        ({"name": "length", "kwargs": {1: 2}}, r"'kwargs' must be a dict with str keys"),
    ],
)
def test_bad_list_entries(entry, match):
    with pytest.raises(ValueError, match=match):
        make_reward([entry])


def test_unknown_factory_kwarg_names_it_and_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        make_reward([{"name": "length", "kwargs": {"min_wrds": 3}}])
    assert str(err.value) == "reward 'length' got unknown kwarg(s) 'min_wrds'; accepted: falloff, max_words, min_words"


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("sentiment", {"target": "neutral"}, "'target'"),
        ("length", {"min_words": 10, "max_words": 5}, "'max_words'"),
        ("length", {"min_words": -1}, "'min_words'"),
        ("length", {"max_words": 2.5}, "'max_words'"),
        ("repetition", {"n": 0}, "'n'"),
        ("keywords", {"keywords": [1, 2]}, "'keywords'"),
        ("rouge", {"rouge_type": "rougeX"}, "'rouge_type'"),
        ("bleu", {"tokenize": "ja-mecab"}, "'tokenize'"),
        ("fluency", {"model": object()}, "'tokenizer'"),
        ("fluency", {"floor": float("-inf")}, "'floor'"),
        ("similarity", {"batch_size": 0}, "'batch_size'"),
    ],
)
def test_bad_factory_kwarg_values_name_the_kwarg(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_reward([{"name": name, "kwargs": kwargs}])


def test_factory_type_error_becomes_value_error(restore_registry):
    def picky(**kwargs):
        raise TypeError("picky() wants nothing")

    register_reward("picky", picky)
    with pytest.raises(ValueError, match=r"reward 'picky' rejected kwargs .*wants nothing"):
        make_reward([{"name": "picky", "kwargs": {"x": 1}}])


@pytest.mark.parametrize("spec", [42, 1.5, b"sentiment", None, {}, [], ()])
def test_bad_spec_types_and_empty_specs(spec):
    with pytest.raises(ValueError):
        make_reward(spec)


def test_spec_forms_agree():
    by_name = make_reward("length")
    by_dict = make_reward({"length": 1.0})
    by_list = make_reward([{"name": "length"}])
    by_tuple = make_reward(("length",))
    results = [r.score(PROMPTS, COMPLETIONS)[0] for r in (by_name, by_dict, by_list, by_tuple)]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_spec_is_plain_data_from_json():
    spec = json.loads('[{"name": "sentiment", "weight": 1.0, "kwargs": {"target": "negative"}}, {"name": "length"}]')
    reward = make_reward(spec)
    assert reward.names == ("sentiment", "length")


def test_made_reward_passes_through():
    reward = make_reward({"sentiment": 1.0})
    assert make_reward(reward) is reward


# --- composition -----------------------------------------------------------------------


def test_totals_are_the_weighted_sum_of_raw_terms():
    weights = {"sentiment": 1.0, "repetition": -0.5, "length": 0.25, "keywords": 2.0}
    reward = make_reward(weights)
    fields = {"keywords": [["battery"], ["bad"], ["x"]]}
    totals, terms = reward.score(PROMPTS, COMPLETIONS, **fields)
    assert reward.names == tuple(weights) and reward.weights == tuple(weights.values())
    assert list(terms) == list(weights)
    assert totals.shape == (3,) and totals.dtype == np.float64
    for name in weights:
        assert terms[name].shape == (3,) and terms[name].dtype == np.float64
        # raw values: the same as the reward function on its own
        np.testing.assert_array_equal(terms[name], make_reward(name).score(PROMPTS, COMPLETIONS, **fields)[0])
    np.testing.assert_allclose(totals, sum(w * terms[n] for n, w in weights.items()), rtol=0, atol=1e-12)
    assert reward(PROMPTS, COMPLETIONS, **fields) == totals.tolist()
    assert all(type(x) is float for x in reward(PROMPTS, COMPLETIONS, **fields))


def test_zero_weight_term_is_reported_but_not_counted():
    totals, terms = make_reward({"length": 1.0, "sentiment": 0.0}).score(PROMPTS, COMPLETIONS)
    np.testing.assert_array_equal(totals, terms["length"])
    assert terms["sentiment"][0] > 0


def test_trl_compatible_call_and_name():
    reward = make_reward({"sentiment": 1.0, "repetition": -0.5})
    assert reward.__name__ == "sentiment+repetition"
    out = reward(prompts=PROMPTS, completions=COMPLETIONS, trainer_state=object(), completion_ids=[[1], [2], [3]])
    assert isinstance(out, list) and len(out) == 3


def test_same_name_twice_gets_unique_keys():
    reward = make_reward(
        [
            {"name": "sentiment", "weight": 1.0},
            {"name": "sentiment", "weight": 0.5, "kwargs": {"target": "negative"}},
            {"name": "sentiment", "weight": 0.25},
        ]
    )
    assert reward.names == ("sentiment", "sentiment_2", "sentiment_3")
    totals, terms = reward.score(PROMPTS, COMPLETIONS)
    np.testing.assert_array_equal(terms["sentiment_2"], -terms["sentiment"])
    np.testing.assert_allclose(totals, 0.75 * terms["sentiment"], atol=1e-12)


def test_unique_key_skips_a_registered_name_2(restore_registry):
    register_reward("length_2", REWARDS["length"])
    reward = make_reward(["length", "length_2", "length"])
    assert reward.names == ("length", "length_2", "length_3")


def test_extra_kwargs_are_ignored_and_not_length_checked():
    reward = make_reward({"sentiment": 1.0, "length": 1.0})
    plain = reward.score(PROMPTS, COMPLETIONS)[0]
    extra = reward.score(PROMPTS, COMPLETIONS, unrelated_column=[1], trainer_state=object(), log_extra=None)[0]
    np.testing.assert_array_equal(plain, extra)


def test_prompt_completion_length_mismatch_raises():
    with pytest.raises(ValueError, match="got 2 prompts but 3 completions"):
        make_reward("length").score(PROMPTS[:2], COMPLETIONS)


def test_read_field_length_mismatch_raises():
    with pytest.raises(ValueError, match="task field 'keywords' has 2 entries but the batch has 3"):
        make_reward("keywords").score(PROMPTS, COMPLETIONS, keywords=[["a"], ["b"]])
    with pytest.raises(ValueError, match="task field 'sentiment_target' must be a per-sample list"):
        make_reward("sentiment").score(PROMPTS, COMPLETIONS, sentiment_target="negative")


def test_non_text_raises_type_error():
    with pytest.raises(TypeError, match=r"completions\[1\] is a int"):
        make_reward("length").score(["a", "b"], ["x", 3])
    with pytest.raises(TypeError, match="single str"):
        make_reward("length").score("a", "b")


def test_empty_batch():
    totals, terms = make_reward({"sentiment": 1.0, "keywords": 1.0, "bleu": 1.0}).score([], [])
    assert totals.shape == (0,) and all(v.shape == (0,) for v in terms.values())


def test_term_returning_non_finite_or_wrong_shape_is_refused(restore_registry):
    register_reward("nan", lambda: (lambda prompts, completions, **kw: [float("nan")] * len(completions)))
    register_reward("short", lambda: (lambda prompts, completions, **kw: [0.0]))
    with pytest.raises(ValueError, match=r"reward 'nan' returned non-finite values at rows \[0, 1\]"):
        make_reward("nan").score(["a", "b"], ["c", "d"])
    with pytest.raises(ValueError, match=r"reward 'short' returned shape \(1,\), expected \(2,\)"):
        make_reward("short").score(["a", "b"], ["c", "d"])


def test_composite_rejects_no_terms_and_duplicate_keys():
    with pytest.raises(ValueError):
        CompositeReward([])
    fn = REWARDS["length"]()
    with pytest.raises(ValueError, match="unique"):
        CompositeReward([("a", 1.0, fn), ("a", 1.0, fn)])


def test_import_is_light():
    import subprocess
    import sys

    # Only what importing the rewards adds on top of the parent package counts.
    code = (
        "import sys, lm_envs; before = set(sys.modules); import lm_envs.rewards; "
        "heavy = ('torch', 'sentence_transformers', 'transformers', 'rouge_score', 'nltk'); "
        "print(sorted(m for m in heavy if m in sys.modules and m not in before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"

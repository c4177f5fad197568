"""`pick` and `sample`, the draws every world generator and text shares."""

from __future__ import annotations

import numpy as np
import pytest

from lm_envs.world.sampling import pick, sample


def test_pick_keeps_the_element_type() -> None:
    # rng.choice would return numpy strings; pick returns the element itself
    value = pick(np.random.default_rng(0), ("a", "b", "c"))
    assert type(value) is str and value in ("a", "b", "c")


def test_pick_draws_one_integer_below_the_length() -> None:
    options = ("a", "b", "c", "d")
    expected = options[int(np.random.default_rng(3).integers(4))]
    assert pick(np.random.default_rng(3), options) == expected


def test_sample_draws_distinct_elements_and_clips_k() -> None:
    rng = np.random.default_rng(1)
    drawn = sample(rng, list(range(10)), 4)
    assert len(drawn) == 4 and len(set(drawn)) == 4 and all(0 <= x < 10 for x in drawn)
    assert sorted(sample(rng, ["x", "y"], 5)) == ["x", "y"]
    assert sample(rng, ["x", "y"], 0) == []


def test_draws_follow_the_seed() -> None:
    options = tuple("abcdefgh")
    first = [pick(np.random.default_rng(7), options), sample(np.random.default_rng(7), options, 3)]
    second = [pick(np.random.default_rng(7), options), sample(np.random.default_rng(7), options, 3)]
    assert first == second


@pytest.mark.parametrize("k", [1, 3])
def test_sample_uses_choice_without_replacement(k: int) -> None:
    options = tuple("abcdef")
    indices = np.random.default_rng(5).choice(len(options), size=k, replace=False)
    assert sample(np.random.default_rng(5), options, k) == [options[int(i)] for i in indices]

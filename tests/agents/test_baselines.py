"""Built-in recommender policies and the normalised score."""

from __future__ import annotations

import numpy as np
import pytest

from agents.baselines import evaluate_baseline, normalised_score, reference_returns


def test_oracle_beats_random_by_a_wide_margin():
    random = evaluate_baseline("random", n_episodes=96, seed=0)
    oracle = evaluate_baseline("oracle", n_episodes=96, seed=0)
    assert len(random.returns) == len(oracle.returns) == 96
    assert oracle.mean > 2.5 * random.mean
    assert oracle.mean - random.mean > 5 * np.std(random.returns) / np.sqrt(96)


def test_planner_beats_the_myopic_oracle_with_fatigue_and_churn():
    oracle = evaluate_baseline("oracle", n_episodes=96, seed=1)
    planner = evaluate_baseline("planner", n_episodes=96, seed=1)
    assert planner.mean > 1.1 * oracle.mean


def test_baselines_on_slates_and_other_rewards():
    kwargs = {"slate_size": 3, "reward": {"click": 1.0, "revenue": 1.0}, "difficulty": "easy"}
    for name in ("random", "popular", "oracle", "planner"):
        result = evaluate_baseline(name, kwargs, n_episodes=16, seed=0)
        assert np.isfinite(result.returns).all()


def test_normalised_score_by_hand():
    assert normalised_score(5.0, (2.0, 8.0)) == pytest.approx(0.5)
    np.testing.assert_allclose(normalised_score([2.0, 8.0, 11.0], (2.0, 8.0)), [0.0, 1.0, 1.5])
    with pytest.raises(ValueError, match="does not beat random"):
        normalised_score(1.0, (3.0, 3.0))
    with pytest.raises(ValueError, match="unknown baseline 'greedy'; known: random, popular, oracle, planner"):
        evaluate_baseline("greedy")


def test_reference_returns_are_cached_and_ordered():
    low, high = reference_returns({"max_steps": 10}, n_episodes=32)
    assert high > low
    assert reference_returns({"max_steps": 10}, n_episodes=32) == (low, high)

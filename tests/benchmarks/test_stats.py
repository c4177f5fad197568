"""Benchmark statistics against values worked out by hand, and CIs against scipy."""

import numpy as np
import pytest
from scipy import stats as sps

from benchmarks.stats import bootstrap_ci, iqm, normalised_scores, probability_of_improvement


def test_iqm_is_the_25_percent_trimmed_mean():
    # 8 values: drop 2 at each end, mean of 3, 4, 5, 6
    assert iqm([1, 2, 3, 4, 5, 6, 7, 100]) == pytest.approx(4.5)
    assert iqm([2.0, 2.0, 2.0, 2.0]) == pytest.approx(2.0)
    np.testing.assert_allclose(iqm(np.array([[1, 2, 3, 4], [10, 20, 30, 40]]), axis=1), [2.5, 25.0])


def test_single_stratum_ci_matches_scipy_bootstrap():
    x = np.array([0.1, 0.4, 0.35, 0.8, 0.55, 0.2])
    point, low, high = bootstrap_ci(x, statistic="mean", n_resamples=999, seed=3)
    ref = sps.bootstrap(
        (x,), np.mean, n_resamples=999, method="percentile", rng=np.random.default_rng(3), vectorized=True, axis=-1
    )
    assert point == pytest.approx(x.mean())
    assert low == pytest.approx(ref.confidence_interval.low)
    assert high == pytest.approx(ref.confidence_interval.high)
    assert low <= point <= high


def test_ci_is_reproducible_and_the_level_widens_it():
    x = np.arange(10.0)
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    _, lo90, hi90 = bootstrap_ci(x, statistic="mean", confidence_level=0.9)
    _, lo99, hi99 = bootstrap_ci(x, statistic="mean", confidence_level=0.99)
    assert lo99 <= lo90 and hi90 <= hi99


def test_stratified_bootstrap_resamples_within_each_stratum():
    # Two envs, four seeds each. A stratified resample always holds four scores of each
    # env, so the pooled mean stays within [(0*4 + 1*4)/8, (0.1*4 + 1.1*4)/8] = [0.5, 0.6].
    a, b = [0.0, 0.0, 0.0, 0.1], [1.0, 1.0, 1.0, 1.1]
    point, low, high = bootstrap_ci([a, b], statistic="mean", n_resamples=2000)
    assert point == pytest.approx(np.mean(a + b))
    assert 0.5 <= low <= point <= high <= 0.6
    # pooling the same scores into one stratum mixes envs and gives a far wider interval
    _, plow, phigh = bootstrap_ci(np.array(a + b), statistic="mean", n_resamples=2000)
    assert phigh - plow > 3 * (high - low)


def test_constant_strata_have_a_degenerate_interval_and_one_score_none():
    assert bootstrap_ci([[0.0, 0.0], [1.0, 1.0]], statistic="mean") == (0.5, 0.5, 0.5)
    point, low, high = bootstrap_ci([3.0])
    assert point == 3.0 and np.isnan(low) and np.isnan(high)
    assert all(np.isnan(v) for v in bootstrap_ci([]))
    # a one-seed stratum next to a varying one joins the statistic as a constant
    point, low, high = bootstrap_ci([[5.0], [0.0, 1.0]], statistic="mean")
    assert point == pytest.approx(2.0)
    assert 5 / 3 <= low <= high <= 7 / 3  # means of {5, 0, 0}, ..., {5, 1, 1}


def test_unknown_statistic_is_refused():
    with pytest.raises(ValueError, match="unknown statistic 'iqr'; known: mean, iqm, median"):
        bootstrap_ci([1.0, 2.0], statistic="iqr")


def test_probability_of_improvement_by_hand():
    # task 1: every x beats every y -> 1; task 2: (1v1 tie .5, 1v2 0, 2v1 1, 2v2 tie .5) / 4 = .5
    point, low, high = probability_of_improvement([[1, 2, 3], [1, 2]], [[0, 0, 0], [1, 2]])
    assert point == pytest.approx(0.75)
    assert 0.5 <= low <= point <= high <= 1.0
    # symmetric: P(Y > X) = 1 - P(X > Y)
    assert probability_of_improvement([[1, 2]], [[0, 5]])[0] == pytest.approx(0.5)
    assert probability_of_improvement([[0, 0]], [[1, 1]])[0] == 0.0
    with pytest.raises(ValueError, match="one entry per task"):
        probability_of_improvement([[1]], [[1], [2]])


def test_normalised_scores():
    np.testing.assert_allclose(normalised_scores([0.0, 0.5, 1.0, 2.0], low=0.0, high=1.0), [0.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(normalised_scores([-1.0, 3.0], low=-1.0, high=3.0), [0.0, 1.0])
    with pytest.raises(ValueError, match="high > low"):
        normalised_scores([1.0], low=1.0, high=1.0)

"""Aggregate statistics of benchmark runs, following Agarwal et al., 2021, "Deep RL at the
Edge of the Statistical Precipice" (NeurIPS): report the interquartile mean (IQM) with
stratified bootstrap confidence intervals, not a bare mean over a handful of seeds, and
compare agents by their probability of improvement.

```python
from benchmarks.stats import iqm, bootstrap_ci, probability_of_improvement
iqm([1, 2, 3, 4, 100])                                  # 3.0: the 25% trimmed mean
bootstrap_ci([x_env1, x_env2], statistic="iqm")         # (point, low, high), strata = envs
probability_of_improvement([x_env1, x_env2], [y_env1, y_env2])
```

Every confidence interval comes from ``scipy.stats.bootstrap`` (percentile method, as in
the paper's ``rliable``); passing one sample per stratum (env) makes scipy resample each
stratum on its own, which is exactly the stratified bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

__all__ = [
    "STATISTICS",
    "bootstrap_ci",
    "iqm",
    "normalised_scores",
    "probability_of_improvement",
]

ArrayLike = Any


def iqm(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    """Interquartile mean: the mean of the middle 50% (``scipy.stats.trim_mean(x, 0.25)``)."""
    return sps.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis)


def _mean(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    return np.mean(np.asarray(x, dtype=np.float64), axis=axis)


def _median(x: ArrayLike, axis: int = -1) -> np.ndarray | float:
    return np.median(np.asarray(x, dtype=np.float64), axis=axis)


STATISTICS: dict[str, Callable[..., Any]] = {"mean": _mean, "iqm": iqm, "median": _median}
"""Point statistics by name; each takes ``(x, axis)``."""


def _statistic(name: str) -> Callable[..., Any]:
    if name not in STATISTICS:
        raise ValueError(f"unknown statistic {name!r}; known: {', '.join(STATISTICS)}")
    return STATISTICS[name]


def _strata(samples: ArrayLike | Sequence[ArrayLike]) -> list[np.ndarray]:
    """One float array per stratum; a flat sequence of numbers is a single stratum."""
    if isinstance(samples, np.ndarray) and samples.ndim == 1:
        strata = [samples]
    elif isinstance(samples, Sequence) and samples and all(np.ndim(s) == 0 for s in samples):
        strata = [np.asarray(samples)]
    else:
        strata = [np.asarray(s) for s in samples]
    out = []
    for s in strata:
        s = np.asarray(s, dtype=np.float64).reshape(-1)
        s = s[np.isfinite(s)]
        if s.size:
            out.append(s)
    return out


def _percentile_interval(
    samples: Sequence[np.ndarray], statistic: Callable[..., Any], n_resamples: int, confidence_level: float, seed: int
) -> tuple[float, float]:
    """Percentile CI of ``statistic`` with each sample resampled on its own (``scipy.stats.bootstrap``)."""
    res = sps.bootstrap(
        tuple(samples),
        statistic,
        n_resamples=n_resamples,
        vectorized=True,
        paired=False,
        axis=-1,
        confidence_level=confidence_level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_ci(
    samples: ArrayLike | Sequence[ArrayLike],
    *,
    statistic: str = "iqm",
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and stratified-bootstrap CI of ``statistic`` over the pooled samples.

    Args:
        samples: one array of scores (one stratum), or a sequence of arrays, one per stratum
            (for example one per env, each holding one score per seed). Non-finite values are
            dropped.
        statistic: ``"iqm"``, ``"mean"`` or ``"median"``, computed on all strata pooled.
        confidence_level: two-sided level of the percentile interval.
        n_resamples: bootstrap resamples.
        seed: seeds the resampling, so a report is reproducible.

    Returns:
        ``(point, low, high)``. With fewer than two scores in total the interval is
        ``(nan, nan)``: one seed says nothing about the spread.
    """
    fn = _statistic(statistic)
    strata = _strata(samples)
    if not strata:
        return float("nan"), float("nan"), float("nan")
    pooled = np.concatenate(strata)
    point = float(fn(pooled))
    # a stratum of one score never varies under resampling; it joins the statistic as a constant
    varying = [s for s in strata if s.size > 1]
    fixed = np.concatenate([s for s in strata if s.size == 1]) if len(varying) < len(strata) else np.empty(0)
    if not varying:
        return point, float("nan"), float("nan")
    if all(np.all(s == s[0]) for s in varying):
        return point, point, point  # no spread to resample (e.g. deterministic baselines)

    def pooled_statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        parts = [np.moveaxis(r, axis, -1) for r in resampled]
        if fixed.size:
            parts.append(np.broadcast_to(fixed, parts[0].shape[:-1] + fixed.shape))
        return fn(np.concatenate(parts, axis=-1), axis=-1)

    low, high = _percentile_interval(varying, pooled_statistic, n_resamples, confidence_level, seed)
    return point, low, high


def _poi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann-Whitney U / (n m) along the last axis: P(X > Y) + P(X = Y) / 2."""
    gt = (x[..., :, None] > y[..., None, :]).mean(axis=(-2, -1))
    eq = (x[..., :, None] == y[..., None, :]).mean(axis=(-2, -1))
    return gt + 0.5 * eq


def probability_of_improvement(
    x: Sequence[ArrayLike],
    y: Sequence[ArrayLike],
    *,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """P(X > Y) of Agarwal et al., 2021: the mean over tasks of the normalised Mann-Whitney U.

    ``x[m]`` and ``y[m]`` hold the scores (one per seed) of agents X and Y on task ``m``;
    a task where either agent has no finite score is skipped. The CI resamples each
    agent's runs within each task (stratified bootstrap via ``scipy.stats.bootstrap``).

    Returns:
        ``(point, low, high)``; ``(nan, nan, nan)`` when no task has scores of both.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y need one entry per task; got {len(x)} and {len(y)}")
    pairs = []
    for xs, ys in zip(x, y):
        xs = np.asarray(xs, dtype=np.float64).reshape(-1)
        ys = np.asarray(ys, dtype=np.float64).reshape(-1)
        xs, ys = xs[np.isfinite(xs)], ys[np.isfinite(ys)]
        if xs.size and ys.size:
            pairs.append((xs, ys))
    if not pairs:
        return float("nan"), float("nan"), float("nan")
    point = float(np.mean([_poi(xs, ys) for xs, ys in pairs]))
    if all(xs.size < 2 and ys.size < 2 for xs, ys in pairs):
        return point, float("nan"), float("nan")
    data: list[np.ndarray] = []
    for xs, ys in pairs:
        data += [xs, ys]
    if all(np.all(d == d[0]) for d in data):
        return point, point, point

    def statistic(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        r = [np.moveaxis(a, axis, -1) for a in resampled]
        return np.mean([_poi(r[2 * i], r[2 * i + 1]) for i in range(len(pairs))], axis=0)

    low, high = _percentile_interval(data, statistic, n_resamples, confidence_level, seed)
    return point, low, high


def normalised_scores(scores: ArrayLike, *, low: float, high: float) -> np.ndarray:
    """``(score - low) / (high - low)``: 0 at the low reference (random or the initial
    policy), 1 at the high one (an oracle or the best achievable return).

    Raises:
        ValueError: ``high`` does not exceed ``low`` (the scale would be undefined or flipped).
    """
    if not (np.isfinite(low) and np.isfinite(high) and high > low):
        raise ValueError(f"normalisation needs finite references with high > low; got low={low!r}, high={high!r}")
    return (np.asarray(scores, dtype=np.float64) - low) / (high - low)

"""Built-in recommender policies and the normalised score of `ProductRecommendation-v0`.

Four fixed policies act on the native vector env (`RecommendationVectorEnv`), all rows
at once:

- ``random``: a uniformly random available item (the score's 0);
- ``popular``: the most popular available items (past demand in the catalog);
- ``oracle``: the myopic oracle. It reads the simulator's hidden state (true interests,
  fatigue) and shows the items of highest expected *immediate* reward (the score's 1);
- ``planner``: the same oracle plus the value of the satisfaction an item adds or costs, a
  one-step lookahead on the churn dynamics. With fatigue and churn on it beats the myopic
  oracle, which shows that a policy that plans ahead can score above 1.

```python
from agents.baselines import evaluate_baseline, reference_returns, normalised_score
refs = reference_returns({"difficulty": "default"}, n_episodes=200)
score = normalised_score(my_mean_return, refs)        # 0 = random, 1 = myopic oracle
```
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from agents.buffers import Episode
from agents.evaluation import evaluate_policy

__all__ = [
    "BASELINES",
    "BaselineResult",
    "evaluate_baseline",
    "normalised_score",
    "reference_returns",
]

# fn(vector_env, obs, rng) -> item ids, (N,) or (N, k)
BaselinePolicy = Callable[[Any, dict[str, np.ndarray], np.random.Generator], np.ndarray]


def _top_k(scores: np.ndarray, available: np.ndarray, k: int) -> np.ndarray:
    """(N, k) ids of the k best available items per row (ties to the lower id)."""
    masked = np.where(available, scores, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")
    return order[:, :k]


def random_policy(env: Any, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    available = env.sessions.available()
    k = env.env.slate_size
    # a random key per item, masked: the top-k keys are a uniform k-subset of the available items
    return _top_k(rng.random(available.shape), available, k)


def popular_policy(env: Any, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    available = env.sessions.available()
    popularity = np.broadcast_to(env.catalog.popularity, available.shape)
    return _top_k(popularity, available, env.env.slate_size)


def oracle_policy(env: Any, obs: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Greedy on the true expected immediate reward (reads the hidden state)."""
    sessions = env.sessions
    expected = sessions.expected_terms() @ sessions.reward_weights
    return _top_k(expected, sessions.available(), env.env.slate_size)


def planner_policy(
    env: Any, obs: dict[str, np.ndarray], rng: np.random.Generator, *, satisfaction_value: float | None = None
) -> np.ndarray:
    """Myopic oracle + ``satisfaction_value`` times the expected change of satisfaction.

    A click on an item of quality q changes satisfaction by ``quality_gain * (q -
    quality_threshold)``, a skip by ``-skip_penalty``; satisfaction buys future steps. The
    default value, ``0.2 / step_cost``, is the reward of the steps a unit of satisfaction
    buys at a modest 0.2 per step (a one-step lookahead, not a tuned optimum).
    """
    sessions = env.sessions
    model = sessions.model
    expected = sessions.expected_terms() @ sessions.reward_weights
    p_click = sessions.choice_probabilities_all()
    gain = model.quality_gain * (sessions.catalog.quality[None, :] - model.quality_threshold)
    delta = p_click * gain - (1.0 - p_click) * model.skip_penalty
    value = 0.2 / model.step_cost if satisfaction_value is None else satisfaction_value
    return _top_k(expected + value * delta, sessions.available(), env.env.slate_size)


BASELINES: dict[str, BaselinePolicy] = {
    "random": random_policy,
    "popular": popular_policy,
    "oracle": oracle_policy,
    "planner": planner_policy,
}


@dataclass(frozen=True)
class BaselineResult:
    """The sessions a built-in policy played (``agents.evaluation.evaluate_policy``)."""

    name: str
    episodes: list[Episode]

    @property
    def returns(self) -> np.ndarray:
        """``(n_episodes,)`` return of each session."""
        return np.array([e.episode_return for e in self.episodes])

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))


def _slate_actions(env: Any, items: np.ndarray) -> np.ndarray:
    return items[:, 0] if env.env.slate_size == 1 else items


def evaluate_baseline(
    name: str,
    env_kwargs: dict[str, Any] | None = None,
    *,
    n_episodes: int = 200,
    seed: int = 0,
    num_envs: int = 16,
) -> BaselineResult:
    """Sessions of the built-in policy ``name`` on `ProductRecommendation-v0` with ``env_kwargs``.

    ``num_envs`` rows, reset with ``seed`` (``evaluate_policy``'s vector seeding); the
    policies draw from ``np.random.default_rng(seed)``.
    """
    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    import lm_envs  # noqa: F401  (registers the ids)

    kwargs = dict(env_kwargs or {})
    env = gym.make_vec("lm_envs/ProductRecommendation-v0", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
    rng = np.random.default_rng(seed)
    policy = BASELINES[name]
    try:
        episodes = evaluate_policy(env, lambda obs, new, info: _slate_actions(env, policy(env, obs, rng)), n_episodes,
                                   seed=seed)
    finally:
        env.close()
    return BaselineResult(name, episodes)


@functools.lru_cache(maxsize=32)
def _reference(key: str, n_episodes: int, seed: int) -> tuple[float, float]:
    kwargs = json.loads(key)
    low = evaluate_baseline("random", kwargs, n_episodes=n_episodes, seed=seed).mean
    high = evaluate_baseline("oracle", kwargs, n_episodes=n_episodes, seed=seed).mean
    return low, high


def reference_returns(env_kwargs: dict[str, Any] | None = None, *, n_episodes: int = 500, seed: int = 12345) -> tuple[float, float]:
    """Mean returns ``(random, myopic oracle)`` of the discrete env with ``env_kwargs``.

    The continuous env shares the simulator, so its scores use the same references (drop
    nothing: only the action interface differs). JSON-serialisable kwargs are cached.
    """
    kwargs = dict(env_kwargs or {})
    if "simulator" in kwargs:
        return _reference_uncached(kwargs, n_episodes, seed)
    return _reference(json.dumps(kwargs, sort_keys=True), n_episodes, seed)


def _reference_uncached(kwargs: dict[str, Any], n_episodes: int, seed: int) -> tuple[float, float]:
    low = evaluate_baseline("random", kwargs, n_episodes=n_episodes, seed=seed).mean
    high = evaluate_baseline("oracle", kwargs, n_episodes=n_episodes, seed=seed).mean
    return low, high


def normalised_score(returns: Any, references: tuple[float, float]) -> np.ndarray | float:
    """``(R - R_random) / (R_oracle - R_random)``: 0 = random, 1 = myopic oracle."""
    low, high = references
    if not high > low:
        raise ValueError(f"the myopic oracle ({high:.3f}) does not beat random ({low:.3f}); the score is undefined")
    values = (np.asarray(returns, dtype=np.float64) - low) / (high - low)
    return float(values) if values.ndim == 0 else values

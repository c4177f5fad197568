"""`check_lm_env`: the checks a user runs on their own token env, reward or data.

It runs Gymnasium's `check_env` and SB3's `check_env`, failing on any warning either prints,
then rolls the env twice from the same seed with the global RNGs disturbed in between and
requires identical trajectories: all randomness must come from ``env.np_random``.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["check_lm_env", "results_equal", "rollout_trace"]


def _fail_on_warnings(label: str, check: Any, *args: Any, **kwargs: Any) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check(*args, **kwargs)
    if caught:
        messages = "\n".join(f"  - {w.category.__name__}: {w.message}" for w in caught)
        raise AssertionError(f"{label} warned:\n{messages}")


def rollout_trace(env: gym.Env, *, seed: int, episodes: int = 2, max_steps: int = 10_000) -> list[tuple]:
    """Every (obs, reward, terminated, truncated, info) of ``episodes`` episodes from ``seed``.

    Actions come from a generator seeded with ``seed`` and are drawn from the env's action
    mask when it has one, so the trace depends only on the seed.
    """
    action_rng = np.random.default_rng(seed)
    trace: list[tuple] = []
    obs, info = env.reset(seed=seed)
    trace.append(("reset", obs, info))
    for _ in range(episodes):
        for _ in range(max_steps):
            masks = getattr(env.unwrapped, "action_masks", None)
            space = env.action_space
            if masks is not None and isinstance(space, gym.spaces.Discrete):
                allowed = np.flatnonzero(masks())
                action = int(action_rng.choice(allowed))
            else:
                space.seed(int(action_rng.integers(2**31)))
                action = space.sample()
            obs, reward, terminated, truncated, info = env.step(action)
            trace.append(("step", action, obs, float(reward), bool(terminated), bool(truncated), info))
            if terminated or truncated:
                break
        obs, info = env.reset()
        trace.append(("reset", obs, info))
    return trace


def _disturb_global_rngs() -> None:
    random.seed(12345)
    np.random.seed(12345)  # noqa: NPY002 - deliberately disturbing the legacy global RNG
    try:
        import torch

        torch.manual_seed(12345)
    except ImportError:
        pass


def results_equal(a: Any, b: Any) -> bool:
    """Deep equality of env results: dicts, sequences, numpy arrays (values and dtype, object
    arrays element by element, as vector-env infos hold them) and floats (NaN equals NaN)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(results_equal(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) and a.dtype == object:
        return isinstance(b, np.ndarray) and a.shape == b.shape and all(results_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(results_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b) and np.asarray(a).dtype == np.asarray(b).dtype
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (np.isnan(a) and np.isnan(b))
    return a == b


def check_lm_env(env: gym.Env, *, seed: int = 0, episodes: int = 2, skip_sb3: bool = False) -> None:
    """Raise ``AssertionError`` unless ``env`` passes every check.

    1. ``gymnasium.utils.env_checker.check_env`` with no warnings;
    2. ``stable_baselines3.common.env_checker.check_env`` with no warnings;
    3. two rollouts from ``seed`` with the global RNGs disturbed in between are identical.
    """
    from gymnasium.utils.env_checker import check_env as gym_check_env

    _fail_on_warnings("gymnasium check_env", gym_check_env, env.unwrapped, skip_render_check=False)
    if not skip_sb3:
        from stable_baselines3.common.env_checker import check_env as sb3_check_env

        _fail_on_warnings("stable-baselines3 check_env", sb3_check_env, env.unwrapped, warn=True)

    first = rollout_trace(env, seed=seed, episodes=episodes)
    _disturb_global_rngs()
    second = rollout_trace(env, seed=seed, episodes=episodes)
    if len(first) != len(second):
        raise AssertionError(f"same-seed rollouts differ in length: {len(first)} vs {len(second)} records")
    for position, (a, b) in enumerate(zip(first, second)):
        if not results_equal(a, b):
            raise AssertionError(f"same-seed rollouts differ at record {position}: {a!r} != {b!r}")

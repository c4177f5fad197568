"""Vector-env plumbing the agents share: building a SAME_STEP vector env, reading one row
of a vectorized info dict, and finding an env's action masks."""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv

__all__ = ["ActionMasks", "EvaluationEnvs", "check_same_step", "find_action_masks", "make_vector_env", "row_info"]


def check_same_step(env: VectorEnv) -> None:
    """Raise unless ``env`` autoresets in the same step (rollouts and evaluation rely on it)."""
    mode = env.metadata.get("autoreset_mode")
    if mode is not None and not isinstance(mode, AutoresetMode):
        mode = AutoresetMode(mode)
    if mode != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"the rollout needs a vector env with autoreset_mode=AutoresetMode.SAME_STEP; got {mode}. "
            "Create it with gym.make_vec(id, vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP}) "
            "or pass an env id."
        )


def make_vector_env(
    env_or_id: str | gym.Env | VectorEnv, *, num_envs: int, env_kwargs: dict[str, Any] | None = None
) -> VectorEnv:
    """A SAME_STEP vector env from an id, an env instance or a vector env.

    ``lm_envs/...`` ids use their native vector entry point; other ids get a
    ``SyncVectorEnv`` with ``autoreset_mode=SAME_STEP``. A single env instance is
    deep-copied into ``num_envs`` rows (each row is seeded differently on reset).
    """
    kwargs = dict(env_kwargs or {})
    if isinstance(env_or_id, str):
        if env_or_id.startswith("lm_envs/"):
            import lm_envs  # noqa: F401  (registers the ids)
        spec = gym.spec(env_or_id)
        if env_or_id.startswith("lm_envs/") and spec.vector_entry_point is not None:
            env = gym.make_vec(env_or_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)
        else:
            env = gym.make_vec(
                env_or_id,
                num_envs=num_envs,
                vectorization_mode="sync",
                vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                **kwargs,
            )
    elif isinstance(env_or_id, VectorEnv):
        env = env_or_id
    elif isinstance(env_or_id, gym.Env):
        if kwargs:
            raise ValueError("env_kwargs only apply to an env id; got an env instance")
        copies = [env_or_id] + [copy.deepcopy(env_or_id) for _ in range(num_envs - 1)]
        env = SyncVectorEnv([(lambda e=e: e) for e in copies], autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        raise TypeError(f"env_or_id must be an env id, a gymnasium Env or a VectorEnv; got {type(env_or_id).__name__}")
    check_same_step(env)
    return env


class EvaluationEnvs:
    """The vector envs an agent evaluates on, by episode count.

    An agent built from an env id evaluates on ``min(n_episodes, max_rows)`` rows of a fresh
    env of that id (built once per row count, then reused), so evaluating never disturbs the
    training env. An agent built from an env instance has no id to build from: it borrows
    ``training_env``, and the caller must reset its own episodes afterwards.
    """

    def __init__(
        self, env_id: str | None, env_kwargs: dict[str, Any], *, max_rows: int, training_env: VectorEnv
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.max_rows = max_rows
        self.training_env = training_env
        self.envs: dict[int, VectorEnv] = {}

    def __call__(self, n_episodes: int) -> VectorEnv:
        if self.env_id is None:
            return self.training_env
        n = max(1, min(n_episodes, self.max_rows))
        if n not in self.envs:
            self.envs[n] = make_vector_env(self.env_id, num_envs=n, env_kwargs=self.env_kwargs)
        return self.envs[n]


def row_info(info: dict[str, Any] | list[dict[str, Any]], i: int) -> dict[str, Any]:
    """Row ``i`` of a vectorized info dict (arrays with ``_key`` presence masks).

    A list or tuple of per-row dicts is accepted too.
    """
    if isinstance(info, (list, tuple)):
        return dict(info[i] or {})
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        present = info.get("_" + key)
        if present is not None and not bool(np.asarray(present)[i]):
            continue
        if isinstance(value, dict):
            out[key] = row_info(value, i)
        elif isinstance(value, (list, tuple, np.ndarray)):
            v = value[i]
            out[key] = v.item() if isinstance(v, np.generic) else v
        else:
            out[key] = value
    return out


def find_action_masks(env: VectorEnv) -> np.ndarray | None:
    """``(N, n)`` bool masks from ``env.action_masks()`` (a native vector env answers for all
    rows at once) or ``env.call("action_masks")`` (one row at a time); ``None`` if neither exists."""
    method = getattr(env, "action_masks", None)
    if callable(method):
        return np.asarray(method(), dtype=bool)
    try:
        rows = env.call("action_masks")
    except (AttributeError, NotImplementedError):
        return None
    return np.stack([np.asarray(m, dtype=bool) for m in rows])


class ActionMasks:
    """The action masks of a vector env, from wherever it gives them.

    Looked up once, after a reset: ``info["action_mask"]`` (Gymnasium's convention, e.g.
    Taxi), else :func:`find_action_masks`; an env with neither has no masks (``None``).
    """

    def __init__(self, env: VectorEnv, reset_info: dict[str, Any]) -> None:
        self.env = env
        if "action_mask" in reset_info:
            self.source: str | None = "info"
        else:
            self.source = "env" if find_action_masks(env) is not None else None

    def __call__(self, info: dict[str, Any]) -> np.ndarray | None:
        """``(N, n)`` bool masks of the current observations (``info`` is the latest step's)."""
        if self.source == "info":
            return np.stack([np.asarray(m, dtype=bool) for m in info["action_mask"]])
        if self.source == "env":
            return find_action_masks(self.env)
        return None

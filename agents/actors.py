"""What acting needs from a policy, step by step: the :class:`Actor` protocol, the MLP actor,
and :class:`ActorPolicy`, which turns a policy into an ``act`` for ``evaluate_policy``.

The rollout collector (``agents.rollout``) and evaluation drive a policy only through an
:class:`Actor`. An MLP actor is stateless; the LM actor (``agents.kv_cache.LMActor``) keeps
a KV cache across steps, which is why the protocol says which rows just reset.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from agents.envs import ActionMasks
from agents.kv_cache import LMActor
from agents.policies import LMActorCritic, MLPActorCritic, Policy, is_token_observation_space

__all__ = ["ActOut", "Actor", "ActorPolicy", "MLPActor", "make_actor"]

ActOut = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
"""``(actions, logprobs, entropies, values)``, each with ``N`` rows."""


class Actor(Protocol):
    """A policy acting on the ``N`` rows of a SAME_STEP vector env.

    The driver calls ``start`` after a reset of every row, then per step ``act`` (and
    ``record``) before ``env.step`` and ``observe`` after it. ``observe`` may defer work
    until the next ``act`` or ``current_values`` asks for it.
    """

    def start(self, obs: Any) -> None:
        """Every row begins an episode with the batched observation ``obs``."""

    def observe(self, obs: Any, reset_rows: np.ndarray) -> None:
        """The observation after a step; ``reset_rows`` ``(N,)`` bool: rows whose episode
        ended on it, so ``obs`` holds their next episode's first observation."""

    def act(self, mask: torch.Tensor | None, generator: torch.Generator, deterministic: bool) -> ActOut:
        """Actions for the current observations (``mask``: ``(N, n)`` bool, allowed actions);
        samples with ``generator``, or takes the argmax when ``deterministic``."""

    def record(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The current observations as a rollout batch stores them: ``(obs, obs_len)``."""

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        """``actions`` as the vector env takes them."""

    def current_values(self) -> torch.Tensor:
        """``(N,)`` values of the current observations (for the last step's bootstrap)."""

    def values_of(self, obs_rows: list[Any]) -> torch.Tensor:
        """Values of single observations (the final observations of truncated episodes)."""

    def retire(self, rows: torch.Tensor) -> None:
        """Rows ``rows`` (``(N,)`` bool) need no more actions that count (they still act)."""

    def check_weights(self) -> None:
        """Forget anything computed with weights that have changed since."""


class MLPActor:
    """The :class:`Actor` of an :class:`MLPActorCritic`: stateless, one forward per step."""

    def __init__(self, policy: MLPActorCritic) -> None:
        self.policy = policy
        self.x: torch.Tensor | None = None

    def start(self, obs: Any) -> None:
        self.x = self.policy.obs_to_tensor(obs)

    def observe(self, obs: Any, reset_rows: np.ndarray) -> None:
        self.x = self.policy.obs_to_tensor(obs)

    def act(self, mask: torch.Tensor | None, generator: torch.Generator, deterministic: bool) -> ActOut:
        return self.policy.act(self.x, action_mask=mask, generator=generator, deterministic=deterministic)

    def record(self) -> tuple[torch.Tensor, None]:
        return self.x, None

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        return self.policy.env_actions(actions)

    def current_values(self) -> torch.Tensor:
        return self.policy.value(self.x)

    def values_of(self, obs_rows: list[Any]) -> torch.Tensor:
        if isinstance(obs_rows[0], dict):
            stacked: Any = {k: np.stack([o[k] for o in obs_rows]) for k in obs_rows[0]}
        else:
            stacked = np.stack(obs_rows)
        return self.policy.value(self.policy.obs_to_tensor(stacked))

    def retire(self, rows: torch.Tensor) -> None:
        pass

    def check_weights(self) -> None:
        pass


def make_actor(policy: Policy, env: VectorEnv, *, cache_mode: str = "per_row") -> Actor:
    """The :class:`Actor` of ``policy`` on ``env``: a KV-cached ``LMActor`` for an
    :class:`LMActorCritic` (``cache_mode``, see ``agents.kv_cache``), else an :class:`MLPActor`."""
    if isinstance(policy, LMActorCritic):
        if not is_token_observation_space(env.single_observation_space):
            raise ValueError("LMActorCritic needs a token env (observation Dict with input_ids, attention_mask)")
        return LMActor(policy, cache_mode)
    return MLPActor(policy)


class ActorPolicy:
    """``policy`` as the ``act(obs, new_episode, info)`` of ``agents.evaluation.evaluate_policy``
    on the vector env ``env``.

    Samples with ``generator`` (or takes the argmax when ``deterministic``), within the
    env's action masks, in eval mode and without gradients. An LM policy acts through its KV
    cache: the first call prefills every row, later calls re-prefill only the rows
    ``new_episode`` marks. One ``ActorPolicy`` plays one evaluation.
    """

    def __init__(
        self,
        policy: Policy,
        env: VectorEnv,
        *,
        generator: torch.Generator,
        deterministic: bool = False,
        cache_mode: str = "per_row",
    ) -> None:
        self.actor = make_actor(policy, env, cache_mode=cache_mode)
        self.env = env
        self.device = policy.device
        self.generator = generator
        self.deterministic = deterministic
        self.masks: ActionMasks | None = None  # found on the first call, after the reset
        policy.eval()

    @torch.no_grad()
    def __call__(self, obs: Any, new_episode: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        if self.masks is None:
            self.masks = ActionMasks(self.env, info)
            self.actor.check_weights()
            self.actor.start(obs)
        else:
            self.actor.observe(obs, new_episode)
        masks = self.masks(info)
        mask = None if masks is None else torch.as_tensor(masks, device=self.device)
        actions, _, _, _ = self.actor.act(mask, self.generator, self.deterministic)
        return self.actor.env_actions(actions)

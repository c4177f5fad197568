"""Batched rollouts of a policy in a Gymnasium vector env (``AutoresetMode.SAME_STEP``).

:class:`Rollout` steps every row of the env with an :class:`~agents.actors.Actor` and
collects ``(T, N)`` batches (:class:`~agents.buffers.RolloutBatch`): ``collect`` continues the
episodes in progress for a fixed number of steps (GAE-style algorithms), ``collect_episodes``
plays one episode per row from a reset (Monte Carlo and group baselines). The actor of an
:class:`~agents.policies.LMActorCritic` acts token by token through a KV cache
(:mod:`agents.kv_cache`); that of an :class:`~agents.policies.MLPActorCritic` runs one forward
per step. Evaluation, which records no batch, is ``agents.evaluation.evaluate_policy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium.vector import VectorEnv

from agents.actors import make_actor
from agents.buffers import Episode, RolloutBatch, episode_ids, minibatch_indices
from agents.envs import ActionMasks, check_same_step, row_info
from agents.policies import Policy, frozen_weights

__all__ = ["Rollout"]

Step = dict[str, torch.Tensor | None]
"""One step of every row: the :class:`RolloutBatch` fields that are per step, each ``(N, ...)``."""


class Rollout:
    """Collects experience from a SAME_STEP vector env; keeps env and actor state.

    Args:
        env: a Gymnasium vector env with ``autoreset_mode = SAME_STEP``.
        policy: an :class:`LMActorCritic` (token envs) or :class:`MLPActorCritic`.
        generator: the only source of sampling randomness.
        ref_policy: frozen reference policy; when given, batches carry ``ref_logprobs``.
        bootstrap_truncated: add ``V(final_obs)`` of truncated steps to the batch.
        cache_mode: ``"per_row"`` or ``"rebuild"`` (LM policies), see :mod:`agents.kv_cache`.
    """

    def __init__(
        self,
        env: VectorEnv,
        policy: Policy,
        *,
        generator: torch.Generator,
        ref_policy: Policy | None = None,
        bootstrap_truncated: bool = False,
        cache_mode: str = "per_row",
    ) -> None:
        check_same_step(env)
        self.env = env
        self.policy = policy
        self.ref_policy = ref_policy
        self.generator = generator
        self.bootstrap_truncated = bootstrap_truncated
        self.num_envs = env.num_envs
        self.actor = make_actor(policy, env, cache_mode=cache_mode)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self._masks: ActionMasks | None = None
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.steps = 0

    # -- env plumbing -----------------------------------------------------------------------

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset every row (new episodes) and prefill the policy state."""
        self._obs, self._info = self.env.reset(seed=seed, options=options)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._masks = ActionMasks(self.env, self._info)
        with torch.no_grad(), frozen_weights(self.policy):
            self.actor.check_weights()
            self.actor.start(self._obs)

    @property
    def needs_reset(self) -> bool:
        """True when there are no episodes in progress to continue: before the first
        :meth:`reset`, after :meth:`collect_episodes` and after :meth:`require_reset`."""
        return self._obs is None

    def require_reset(self) -> None:
        """Forget the episodes in progress (someone else stepped or reset the env): the
        next :meth:`collect` starts from a fresh reset."""
        self._obs = None

    @torch.no_grad()
    def _step(self, deterministic: bool) -> tuple[Step, list[Episode]]:
        if self._obs is None:
            raise RuntimeError("call Rollout.reset() before collecting")
        masks = self._masks(self._info)
        masks = None if masks is None else torch.as_tensor(masks, device=self.policy.device)
        obs_rec, obs_len = self.actor.record()
        actions, logp, ent, values = self.actor.act(masks, self.generator, deterministic)
        obs, rewards, terminated, truncated, info = self.env.step(self.actor.env_actions(actions))
        self.steps += self.num_envs
        rewards = np.asarray(rewards, dtype=np.float64)
        done = np.logical_or(terminated, truncated)
        self._returns += rewards
        self._lengths += 1
        episodes: list[Episode] = []
        bootstrap = torch.zeros(self.num_envs)
        if done.any():
            final_info = info.get("final_info", {})
            for i in np.flatnonzero(done):
                episodes.append(Episode.from_info(int(i), self._returns[i], self._lengths[i], row_info(final_info, int(i))))
            if self.bootstrap_truncated and truncated.any():
                rows = np.flatnonzero(np.logical_and(truncated, ~np.asarray(terminated)))
                if rows.size:
                    final_obs = [self._final_obs_row(info, int(i)) for i in rows]
                    bootstrap[torch.as_tensor(rows)] = self.actor.values_of(final_obs).float().cpu()
            self._returns[done] = 0.0
            self._lengths[done] = 0
        self._obs, self._info = obs, info
        self.actor.observe(obs, done)
        step: Step = {
            "obs": obs_rec,
            "obs_len": obs_len,
            "actions": actions,
            "logprobs": logp,
            "values": values,
            "entropies": ent,
            "rewards": torch.as_tensor(rewards, dtype=torch.float32),
            "terminated": torch.as_tensor(np.asarray(terminated, dtype=bool)),
            "truncated": torch.as_tensor(np.asarray(truncated, dtype=bool)),
            "bootstrap_values": bootstrap,
            "action_masks": masks,
        }
        return step, episodes

    @staticmethod
    def _final_obs_row(info: dict[str, Any], i: int) -> Any:
        final_obs = info["final_obs"]
        if isinstance(final_obs, dict):  # dict of arrays (a native vector env may batch them)
            return {k: np.asarray(v[i]) for k, v in final_obs.items() if not k.startswith("_")}
        return final_obs[i]

    # -- collection -------------------------------------------------------------------------

    def _batch(self, steps: list[Step], valid: torch.Tensor, *, last_value: torch.Tensor | None = None) -> RolloutBatch:
        # (T, N, ...) per field; obs_len and action_masks stay None where the env has none
        cols = {
            name: None if first is None else torch.stack([s[name].cpu() for s in steps])
            for name, first in steps[0].items()
        }
        for name in ("logprobs", "values", "entropies"):
            cols[name] = cols[name].float()
        batch = RolloutBatch(
            **cols,
            valid=valid,
            episode_ids=episode_ids(cols["terminated"] | cols["truncated"]),
            last_value=torch.zeros(self.num_envs) if last_value is None else last_value,
        )
        if self.ref_policy is not None:
            batch = batch._replace(ref_logprobs=self.score(self.ref_policy, batch))
        return batch

    @torch.no_grad()
    def score(self, policy: Policy, batch: RolloutBatch, *, tokens_per_chunk: int = 512) -> torch.Tensor:
        """``(T, N)`` log-probs of the batch's actions under ``policy`` (0 where invalid)."""
        out = torch.zeros(batch.num_steps * batch.num_envs)
        n_chunks = max(1, math.ceil(int(batch.valid.sum()) / tokens_per_chunk))
        chunks = minibatch_indices(
            batch, n_chunks, generator=torch.Generator().manual_seed(0), by_segment=policy.is_sequence_model
        )
        with frozen_weights(policy):
            for idx in chunks:
                logp, _, _ = policy.evaluate_actions(batch, idx)
                out[idx] = logp.float().cpu()
        return out.reshape(batch.num_steps, batch.num_envs)

    def collect(self, n_steps: int, *, deterministic: bool = False) -> tuple[RolloutBatch, list[Episode]]:
        """``n_steps`` steps of every row, continuing the episodes in progress.

        Returns the ``(T, N)`` batch and the episodes that finished during it. The
        batch's ``last_value`` is 0 for rows whose last step ended an episode (GAE does
        not bootstrap across a done; the new episodes are prefilled when next needed).
        """
        self.actor.check_weights()
        steps: list[Step] = []
        episodes: list[Episode] = []
        with frozen_weights(self.policy):
            if self.needs_reset:
                self.reset()
            for _ in range(n_steps):
                step, ended = self._step(deterministic)
                steps.append(step)
                episodes += ended
            with torch.no_grad():
                last_value = self.actor.current_values().float().cpu()
        valid = torch.ones(n_steps, self.num_envs, dtype=torch.bool)
        return self._batch(steps, valid, last_value=last_value), episodes

    def collect_episodes(
        self,
        *,
        seed: int | list[int] | None = None,
        options: dict[str, Any] | None = None,
        deterministic: bool = False,
        max_steps: int = 100_000,
    ) -> tuple[RolloutBatch, list[Episode]]:
        """Reset, then step until every row has finished one episode.

        Steps after a row's first episode are marked invalid (the row keeps acting
        because a vector env steps all rows). Returns the batch and exactly one
        episode per row, in row order. ``last_value`` is all 0: no row's last valid
        step needs it.
        """
        finished = torch.zeros(self.num_envs, dtype=torch.bool)
        firsts: dict[int, Episode] = {}
        steps: list[Step] = []
        valid_rows: list[torch.Tensor] = []
        with frozen_weights(self.policy):
            self.reset(seed=seed, options=options)
            while not bool(finished.all()):
                if len(steps) >= max_steps:
                    raise RuntimeError(f"episodes did not finish within max_steps={max_steps}")
                valid_rows.append(~finished)
                step, ended = self._step(deterministic)
                steps.append(step)
                for ep in ended:
                    if not finished[ep.env_index]:
                        firsts[ep.env_index] = ep
                finished |= step["terminated"] | step["truncated"]
                with torch.no_grad():
                    self.actor.retire(finished)  # no more prefills or decode steps for them
        # every row's last valid step ends its episode: GAE never bootstraps from last_value
        batch = self._batch(steps, torch.stack(valid_rows))
        self.require_reset()  # the rows ran past their episodes: the next collect() resets
        return batch, [firsts[i] for i in range(self.num_envs)]

"""Proximal Policy Optimization with a KL penalty to a frozen reference policy.

PPO: Schulman et al., 2017 (arXiv:1707.06347). Implementation details follow the
reference implementation as catalogued by Huang et al., 2022 ("The 37 Implementation
Details of Proximal Policy Optimization"). The KL penalty and its adaptive controller
follow Ziegler et al., 2019 ("Fine-Tuning Language Models from Human Preferences").
``advantage="rloo"`` swaps GAE for a group baseline: the rows of a group answer the same
prompt and a sample's advantage is its return minus the other members' mean (Ahmadian et
al., 2024, "Back to Basics: Revisiting REINFORCE Style Optimization ..."; GRPO, Shao et al.,
2024, uses the same group baseline), keeping PPO's clipped epochs over the batch.

Reads top to bottom: ``PPOConfig``, the KL controller, ``PPO`` and its learn loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from agents.base import Agent, Callback
from agents.buffers import explained_variance, kl_penalized_rewards, minibatch_indices
from agents.options import (
    LMOptions,
    check_group_size,
    check_hidden_sizes,
    check_int,
    check_non_negative,
    check_positive,
    check_total_steps,
    check_unit_interval,
)
from agents.policies import frozen_weights
from agents.returns import gae, rloo_advantages

__all__ = ["ADVANTAGES", "PPO", "PPOConfig", "adaptive_kl_coef", "episodes_in_batch"]

ADVANTAGES = ("gae", "rloo")


@dataclass(kw_only=True)
class PPOConfig(LMOptions):
    """Hyperparameters of :class:`PPO`; defaults are CleanRL's for classic control.

    ``num_envs``, the LM sampling options, ``kl_coef`` (the initial ``beta``), ``reference``
    and ``cache_mode`` are the fields of :class:`~agents.options.LMOptions`.
    """

    n_steps: int = 128
    """Steps per env per rollout; a batch holds ``num_envs * n_steps`` samples (tokens)."""
    minibatch_size: int = 256
    """Samples per gradient step; must divide ``num_envs * n_steps``. LM policies deal
    whole episode segments into ``num_envs * n_steps // minibatch_size`` minibatches."""
    update_epochs: int = 4
    """Passes over each batch."""
    learning_rate: float = 2.5e-4
    """Adam step size, for classic control; fine-tuning an LM wants ~1e-5
    (tiny-shop: 1e-5 to 3e-5; at 2.5e-4 PPO's first update moves the policy ~4 nats)."""
    anneal_lr: bool = True
    """Decay the learning rate linearly to 0 over the ``learn`` call."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 0.95
    """GAE lambda (Schulman et al., 2016)."""
    advantage: str = "gae"
    """``"gae"``: a learned value baseline over rollouts of ``n_steps``. ``"rloo"``: each
    update plays one episode per row, rows ``[0, k)``, ``[k, 2k)``, ... (``k = group_size``)
    answer the same prompt, and a sample's advantage is its return-to-go minus the mean
    return of the other members of its group; no value loss, and ``n_steps`` is unused.
    For LM tasks with one reward per answer, where a value head must first learn how hard
    each prompt is, the group baseline removes that difficulty from the advantage at once."""
    group_size: int = 4
    """Group size ``k`` of ``advantage="rloo"``; must divide ``num_envs``."""
    max_episode_steps: int = 100_000
    """Guard of ``advantage="rloo"``: raise if a round of episodes has not ended after this many steps."""
    clip_coef: float = 0.2
    """Clip range of the probability ratio."""
    clip_vloss: bool = True
    """Clip the value update around the old value, as in the reference implementation."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    critic_lr_scale: float = 1.0
    """The value head's learning rate as a multiple of ``learning_rate`` (see
    ``A2CConfig.critic_lr_scale``); GAE only."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = True
    """Normalise advantages per minibatch."""
    target_kl: float | None = None
    """Stop the epochs of an update once the approximate KL between the old and new
    policy exceeds ``1.5 * target_kl`` (as in stable-baselines3); ``None`` disables."""
    adaptive_kl: bool = False
    """Adapt ``beta`` towards ``kl_target`` (Ziegler et al., 2019); needs ``kl_coef > 0``."""
    kl_target: float = 6.0
    """Target KL to the reference per episode (sum over tokens), in nats."""
    kl_horizon: int = 10_000
    """Horizon of the adaptive controller, in episodes."""
    bootstrap_truncated: bool | None = None
    """Bootstrap ``V(final_obs)`` on truncation; ``None``: yes for classic envs, no for
    token envs whose length budget is part of the task (Pardo et al., 2018)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of an MLP policy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "n_steps", "minibatch_size", "update_epochs", "kl_horizon")
        check_positive(self, "learning_rate", "clip_coef", "max_grad_norm", "kl_target")
        check_non_negative(self, "vf_coef", "ent_coef")
        check_positive(self, "critic_lr_scale")
        check_unit_interval(self, "gamma", "gae_lambda")
        check_hidden_sizes(self)
        batch = self.num_envs * self.n_steps
        if self.minibatch_size > batch or batch % self.minibatch_size:
            raise ValueError(
                f"minibatch_size must divide the batch num_envs * n_steps = {batch}; got {self.minibatch_size}"
            )
        if self.target_kl is not None and not self.target_kl > 0:
            raise ValueError(f"target_kl must be None or > 0; got {self.target_kl}")
        if self.adaptive_kl and self.kl_coef <= 0:
            raise ValueError(f"kl_coef must be > 0 when adaptive_kl is set; got {self.kl_coef}")
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"advantage must be one of {', '.join(ADVANTAGES)}; got {self.advantage!r}")
        if self.advantage == "rloo":
            check_group_size(self)
            check_int(self, "max_episode_steps")


def adaptive_kl_coef(beta: float, kl: float, n_episodes: int, *, target: float, horizon: int) -> float:
    """Ziegler et al., 2019, eq. (2): a proportional controller on log(beta).

    ``e = clip(KL / target - 1, -0.2, 0.2)``, ``beta <- beta * (1 + e * n / horizon)``
    where ``KL`` is the mean KL to the reference per episode and ``n`` the number of
    episodes it was measured on.
    """
    error = float(np.clip(kl / target - 1.0, -0.2, 0.2))
    return beta * (1.0 + error * n_episodes / horizon)


def episodes_in_batch(valid_tokens: int, finished_lengths: list[int]) -> float:
    """How many whole episodes ``valid_tokens`` amount to, at the finished episodes' mean length.

    A rollout of fixed size cuts episodes at its edges, so counting pieces overcounts; with
    no finished episode the whole batch counts as one (long) episode.
    """
    if not finished_lengths:
        return 1.0
    return max(1.0, valid_tokens / float(np.mean(finished_lengths)))


class PPO(Agent):
    """PPO with clipped surrogate, GAE, clipped value loss, entropy bonus, KL control.

    ``PPO(env_or_id, policy="auto", config=PPOConfig(...), seed=0, env_kwargs=None)``;
    see :class:`agents.base.Agent` for the arguments and the shared API.
    """

    config_class = PPOConfig
    algorithm = "ppo"
    config: PPOConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kl_coef = self.config.kl_coef

    def extra_state(self) -> dict[str, Any]:
        return {"kl_coef": self.kl_coef}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.kl_coef = float(state.get("kl_coef", self.config.kl_coef))

    def learn(self, total_steps: int, callback: Callback | None = None) -> PPO:
        check_total_steps(total_steps)
        cfg = self.config
        grouped = cfg.advantage == "rloo"
        n_updates = max(1, math.ceil(total_steps / (cfg.num_envs * cfg.n_steps)))  # gae: a fixed batch size
        update, steps_done = 0, 0
        while (steps_done < total_steps) if grouped else (update < n_updates):
            self.num_updates += 1
            if cfg.anneal_lr:
                self._set_lr(cfg.learning_rate * (1.0 - (steps_done / total_steps if grouped else update / n_updates)))
            update += 1
            start = time.perf_counter()

            # 1. collect rollout: n_steps per row, or (rloo) one episode per row in prompt groups
            if grouped:
                batch, episodes = self._collect_groups(cfg.group_size, cfg.max_episode_steps)
            else:
                batch, episodes = self._collect(cfg.n_steps)
            batch_size = batch.num_steps * batch.num_envs
            steps_done += batch_size
            self.num_timesteps += batch_size
            # the same tokens per minibatch either way; a round of episodes varies in length
            n_minibatches = max(1, round(int(batch.valid.sum()) / cfg.minibatch_size)) if grouped \
                else batch_size // cfg.minibatch_size

            # 2. advantages
            # per-token KL penalty to the reference, added to the env rewards (Ziegler et al., 2019)
            rewards = kl_penalized_rewards(batch.rewards, batch.logprobs, batch.ref_logprobs, kl_coef=self.kl_coef)
            if grouped:
                advantages = rloo_advantages(rewards, batch.dones, gamma=cfg.gamma, group_size=cfg.group_size)
                returns = None  # no critic to train
            else:
                # a truncated episode is bootstrapped with V(final_obs) (Pardo et al., 2018)
                rewards = rewards + cfg.gamma * batch.bootstrap_values
                advantages, returns = gae(
                    rewards, batch.values, batch.dones, batch.last_value, gamma=cfg.gamma, lam=cfg.gae_lambda
                )
            dev = self.device
            flat_adv = advantages.reshape(-1).to(dev)
            flat_ret = None if returns is None else returns.reshape(-1).to(dev)
            old_logp, old_values = batch.logprobs.reshape(-1).to(dev), batch.values.reshape(-1).to(dev)

            # 3. update
            self.policy.train()
            stats: dict[str, list[float]] = {k: [] for k in ("pg", "v", "ent", "approx_kl", "clipfrac")}
            epochs_done, stopped = 0, False
            first_epoch = list(minibatch_indices(
                batch, n_minibatches, generator=self.shuffle_generator, by_segment=self.policy.is_sequence_model
            ))  # fmt: skip
            rescore = getattr(self.policy, "dtype_name", "float32") != "float32"
            if rescore:
                # bf16: the rollout's cached decode and the update's teacher-forced forward round
                # differently (~0.01 nats), so the old log-probs come from the update's own forward
                # at the rollout's weights: its first epoch's ratio is exactly 1. The first
                # minibatch's are its own training forward (below), the others' one no-grad pass.
                old_logp = old_logp.clone()
                with torch.no_grad(), frozen_weights(self.policy):
                    for idx in first_epoch[1:]:
                        old_logp[idx] = self.policy.evaluate_actions(batch, idx)[0]
            for epoch in range(cfg.update_epochs):
                for i, idx in enumerate(first_epoch if epoch == 0 else minibatch_indices(
                    batch, n_minibatches, generator=self.shuffle_generator, by_segment=self.policy.is_sequence_model
                )):  # fmt: skip
                    new_logp, entropy, new_values = self.policy.evaluate_actions(batch, idx)
                    if rescore and epoch == 0 and i == 0:
                        old_logp[idx] = new_logp.detach()
                    log_ratio = new_logp - old_logp[idx]
                    ratio = log_ratio.exp()
                    with torch.no_grad():
                        # low-variance KL estimator (Schulman, 2020, "Approximating KL divergence")
                        approx_kl = float(((ratio - 1.0) - log_ratio).mean())
                        stats["clipfrac"].append(float(((ratio - 1.0).abs() > cfg.clip_coef).float().mean()))
                    if cfg.target_kl is not None and approx_kl > 1.5 * cfg.target_kl:
                        stopped = True
                        break
                    mb_adv = flat_adv[idx]
                    if cfg.norm_adv and mb_adv.numel() > 1:
                        mb_adv = (mb_adv - mb_adv.mean()) / (mb_adv.std() + 1e-8)
                    # clipped surrogate objective, as a loss
                    pg_loss = torch.max(
                        -mb_adv * ratio, -mb_adv * ratio.clamp(1.0 - cfg.clip_coef, 1.0 + cfg.clip_coef)
                    ).mean()
                    ent = entropy.mean()
                    loss = pg_loss - cfg.ent_coef * ent
                    if flat_ret is not None:
                        if cfg.clip_vloss:
                            v_clipped = old_values[idx] + (new_values - old_values[idx]).clamp(-cfg.clip_coef, cfg.clip_coef)
                            v_loss = 0.5 * torch.max((new_values - flat_ret[idx]) ** 2, (v_clipped - flat_ret[idx]) ** 2).mean()
                        else:
                            v_loss = 0.5 * ((new_values - flat_ret[idx]) ** 2).mean()
                        loss = loss + cfg.vf_coef * v_loss
                        stats["v"].append(float(v_loss.detach()))
                    self._check_finite(loss, self.num_updates)
                    self._clip_and_step(loss, cfg.max_grad_norm)
                    stats["pg"].append(float(pg_loss.detach()))
                    stats["ent"].append(float(ent.detach()))
                    stats["approx_kl"].append(approx_kl)
                if stopped:
                    break
                epochs_done += 1

            # 4. adapt the KL coefficient and log
            if batch.ref_logprobs is not None and cfg.adaptive_kl:
                kl_tokens = batch.logprobs - batch.ref_logprobs
                # the controller wants KL per whole episode; pieces cut at the rollout edges would
                # undercount it, so scale by the mean length of the episodes that finished
                n_episodes = episodes_in_batch(int(batch.valid.sum()), [e.length for e in episodes])
                kl_per_episode = float(kl_tokens[batch.valid].sum()) / n_episodes
                self.kl_coef = adaptive_kl_coef(
                    self.kl_coef, kl_per_episode, max(1, round(n_episodes)), target=cfg.kl_target,
                    horizon=cfg.kl_horizon,
                )
            # logged with the coefficient the next update uses
            row = self._base_metrics(episodes, batch, batch_size, time.perf_counter() - start)
            row.update(
                {
                    "step_reward_mean": float(batch.rewards.mean()),
                    "policy_loss": _mean(stats["pg"]),
                    "value_loss": _mean(stats["v"]),
                    "approx_kl": _mean(stats["approx_kl"]),
                    "clip_fraction": _mean(stats["clipfrac"]),
                    "explained_variance": float("nan") if returns is None else explained_variance(
                        batch.values.reshape(-1), returns.reshape(-1)),
                    "kl_coef": self.kl_coef,
                    "epochs": epochs_done,
                }
            )
            if not self._end_update(row, callback):
                break
        return self


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")

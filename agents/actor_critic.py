"""Advantage actor-critic (A2C): synchronous, n-step or GAE advantages, one step per rollout.

A2C is the synchronous variant of A3C (Mnih et al., 2016, arXiv:1602.01783); with
``gae_lambda = 1`` the advantages are the n-step returns of the paper minus the value,
with ``gae_lambda < 1`` they are GAE (Schulman et al., 2016). Defaults follow
stable-baselines3's A2C (RMSprop, ``n_steps = 5``).

Reads top to bottom: ``A2CConfig``, ``A2C`` and its learn loop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
import torch

from agents.base import Agent, Callback
from agents.buffers import explained_variance, kl_penalized_rewards
from agents.options import (
    LMOptions,
    check_hidden_sizes,
    check_int,
    check_non_negative,
    check_positive,
    check_total_steps,
    check_unit_interval,
)
from agents.returns import gae

__all__ = ["A2C", "A2CConfig"]


@dataclass(kw_only=True)
class A2CConfig(LMOptions):
    """Hyperparameters of :class:`A2C`.

    ``num_envs``, the LM sampling options, ``kl_coef`` (a fixed ``beta``), ``reference``
    and ``cache_mode`` are the fields of :class:`~agents.options.LMOptions`.
    """

    n_steps: int = 5
    """Steps per env per update (the "n" of n-step returns)."""
    learning_rate: float = 7e-4
    """Optimizer step size, for classic control; fine-tuning an LM wants ~1e-5
    (tiny-shop: 1e-5 to 3e-5)."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the ``learn`` call."""
    optimizer: str = "rmsprop"
    """``"rmsprop"`` (alpha 0.99, eps 1e-5, as in A3C / stable-baselines3) or ``"adam"``."""
    gamma: float = 0.99
    """Discount factor."""
    gae_lambda: float = 1.0
    """1: n-step returns (A3C); < 1: GAE."""
    vf_coef: float = 0.5
    """Weight of the value loss."""
    critic_lr_scale: float = 1.0
    """The value head's learning rate as a multiple of ``learning_rate``. An LM's value head is
    one linear layer on a pretrained trunk; at the rate that fine-tunes the LM it learns too
    slowly to be a baseline, and the policy gradient then drifts (e.g. 30 on tiny-shop)."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    norm_adv: bool = False
    """Normalise advantages over the batch."""
    bootstrap_truncated: bool | None = None
    """Bootstrap ``V(final_obs)`` on truncation; ``None``: yes for classic envs, no for
    token envs whose length budget is part of the task (Pardo et al., 2018)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of an MLP policy."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "n_steps")
        check_positive(self, "learning_rate", "max_grad_norm")
        check_non_negative(self, "vf_coef", "ent_coef")
        check_positive(self, "critic_lr_scale")
        check_unit_interval(self, "gamma", "gae_lambda")
        check_hidden_sizes(self)
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam'; got {self.optimizer!r}")


class A2C(Agent):
    """Synchronous advantage actor-critic with a learned value.

    ``A2C(env_or_id, policy="auto", config=A2CConfig(...), seed=0, env_kwargs=None)``;
    see :class:`agents.base.Agent` for the arguments and the shared API.
    """

    config_class = A2CConfig
    algorithm = "a2c"
    config: A2CConfig

    def _make_optimizer(self) -> torch.optim.Optimizer:
        if self.config.optimizer == "rmsprop":
            return torch.optim.RMSprop(self._param_groups(), lr=self.config.learning_rate, alpha=0.99, eps=1e-5)
        return super()._make_optimizer()

    def learn(self, total_steps: int, callback: Callback | None = None) -> A2C:
        check_total_steps(total_steps)
        cfg = self.config
        batch_size = cfg.num_envs * cfg.n_steps
        n_updates = max(1, math.ceil(total_steps / batch_size))
        for update in range(n_updates):
            self.num_updates += 1
            if cfg.anneal_lr:
                self._set_lr(cfg.learning_rate * (1.0 - update / n_updates))
            start = time.perf_counter()

            # 1. collect rollout
            batch, episodes = self._collect(cfg.n_steps)
            self.num_timesteps += batch_size

            # 2. advantages
            rewards = kl_penalized_rewards(batch.rewards, batch.logprobs, batch.ref_logprobs, kl_coef=cfg.kl_coef)
            rewards = rewards + cfg.gamma * batch.bootstrap_values  # Pardo et al., 2018
            advantages, returns = gae(
                rewards, batch.values, batch.dones, batch.last_value, gamma=cfg.gamma, lam=cfg.gae_lambda
            )
            adv, ret = advantages.reshape(-1).to(self.device), returns.reshape(-1).to(self.device)
            if cfg.norm_adv and adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            # 3. update: one gradient step on the whole batch
            self.policy.train()
            idx = torch.arange(batch_size)
            logp, entropy, values = self.policy.evaluate_actions(batch, idx)
            pg_loss = -(adv * logp).mean()
            v_loss = 0.5 * ((values - ret) ** 2).mean()
            ent = entropy.mean()
            loss = pg_loss - cfg.ent_coef * ent + cfg.vf_coef * v_loss
            self._check_finite(loss, self.num_updates)
            grad_norm = self._clip_and_step(loss, cfg.max_grad_norm)

            # 4. log
            row = self._base_metrics(episodes, batch, batch_size, time.perf_counter() - start)
            row.update(
                {
                    "step_reward_mean": float(batch.rewards.mean()),
                    "policy_loss": float(pg_loss.detach()),
                    "value_loss": float(v_loss.detach()),
                    "explained_variance": explained_variance(batch.values.reshape(-1), returns.reshape(-1)),
                    "grad_norm": grad_norm,
                }
            )
            if not self._end_update(row, callback):
                break
        return self

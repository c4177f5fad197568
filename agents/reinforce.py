"""REINFORCE with a baseline: leave-one-out over k samples per prompt (RLOO) or a
moving average.

REINFORCE: Williams, 1992. The leave-one-out baseline: Kool et al., 2019 ("Buy 4
REINFORCE samples, get a baseline for free!") and Ahmadian et al., 2024 ("Back to
Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback").

Each update plays one episode per row. For RLOO the rows come in groups of
``group_size`` that are reset with the same seed, so each group answers the same
prompt (same task); the baseline of a sample is the mean return of the other members
of its group. Steps a row takes after its episode ended (a vector env steps every
row) are marked invalid and not trained on.

Reads top to bottom: ``REINFORCEConfig``, ``REINFORCE`` and its learn loop.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from agents.base import Agent, Callback
from agents.buffers import kl_penalized_rewards
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
from agents.returns import discounted_returns, leave_one_out_baseline

__all__ = ["REINFORCE", "REINFORCEConfig"]

BASELINES = ("rloo", "moving_average", "none")


@dataclass(kw_only=True)
class REINFORCEConfig(LMOptions):
    """Hyperparameters of :class:`REINFORCE`; each update trains on one episode per row.

    ``num_envs``, the LM sampling options, ``kl_coef`` (a fixed ``beta``), ``reference``
    and ``cache_mode`` are the fields of :class:`~agents.options.LMOptions`.
    """

    learning_rate: float = 1e-3
    """Adam step size, for classic control; fine-tuning an LM wants ~1e-5
    (tiny-shop: 1e-5 to 3e-5)."""
    gamma: float = 0.99
    """Discount factor of the returns-to-go (use 1.0 for sparse end-of-text rewards)."""
    baseline: str = "rloo"
    """``"rloo"`` (leave-one-out within groups), ``"moving_average"`` or ``"none"``."""
    group_size: int = 4
    """RLOO group size ``k``: rows ``[0, k)``, ``[k, 2k)``, ... share a prompt; must
    divide ``num_envs``."""
    baseline_decay: float = 0.9
    """Moving-average baseline: ``b <- decay * b + (1 - decay) * mean episode return``."""
    norm_adv: bool = False
    """Normalise advantages over the valid steps of the batch."""
    ent_coef: float = 0.0
    """Weight of the entropy bonus."""
    max_grad_norm: float = 0.5
    """Global gradient-norm clip."""
    max_episode_steps: int = 100_000
    """Guard: raise if a round of episodes has not ended after this many steps."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layers of an MLP policy (its value head is unused)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        check_int(self, "max_episode_steps")
        check_positive(self, "learning_rate", "max_grad_norm")
        check_non_negative(self, "ent_coef")
        check_unit_interval(self, "gamma", "baseline_decay")
        check_hidden_sizes(self)
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {self.baseline!r}")
        if self.baseline == "rloo":
            check_group_size(self)


class REINFORCE(Agent):
    """Monte Carlo policy gradient with a leave-one-out or moving-average baseline.

    ``REINFORCE(env_or_id, policy="auto", config=REINFORCEConfig(...), seed=0)``;
    see :class:`agents.base.Agent` for the arguments and the shared API.
    """

    config_class = REINFORCEConfig
    algorithm = "reinforce"
    config: REINFORCEConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rollout.bootstrap_truncated = False  # Monte Carlo returns: no critic to bootstrap with
        self.baseline_value: float | None = None

    def extra_state(self) -> dict[str, Any]:
        return {"baseline_value": self.baseline_value}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.baseline_value = state.get("baseline_value")

    def learn(self, total_steps: int, callback: Callback | None = None) -> REINFORCE:
        check_total_steps(total_steps)
        cfg = self.config
        steps_done = 0
        while steps_done < total_steps:
            self.num_updates += 1
            start = time.perf_counter()

            # 1. collect rollout: one episode per row, RLOO groups reset to the same task
            batch, episodes = self._collect_groups(cfg.group_size if cfg.baseline == "rloo" else 1, cfg.max_episode_steps)
            n_steps = batch.num_steps * batch.num_envs
            steps_done += n_steps
            self.num_timesteps += n_steps

            # 2. advantages: returns-to-go minus a baseline that ignores the sample's own actions
            rewards = kl_penalized_rewards(batch.rewards, batch.logprobs, batch.ref_logprobs, kl_coef=cfg.kl_coef)
            returns = discounted_returns(rewards, batch.dones, None, gamma=cfg.gamma)
            episode_returns = returns[0]  # (N,): every row is valid at t = 0
            if cfg.baseline == "rloo":
                baseline = leave_one_out_baseline(episode_returns, group_size=cfg.group_size)[None, :]
            elif cfg.baseline == "moving_average":
                mean_return = float(episode_returns.mean())
                # first update: start from the batch mean rather than 0
                prev = mean_return if self.baseline_value is None else self.baseline_value
                baseline = torch.full_like(episode_returns, prev)[None, :]
                self.baseline_value = cfg.baseline_decay * prev + (1.0 - cfg.baseline_decay) * mean_return
            else:
                baseline = torch.zeros_like(episode_returns)[None, :]
            advantages = (returns - baseline).reshape(-1)
            valid = batch.valid.reshape(-1)
            idx = torch.nonzero(valid).flatten()
            adv = advantages[idx].to(self.device)
            if cfg.norm_adv and adv.numel() > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)

            # 3. update: one gradient step on the valid steps
            self.policy.train()
            logp, entropy, _ = self.policy.evaluate_actions(batch, idx)
            pg_loss = -(adv * logp).mean()
            ent = entropy.mean()
            loss = pg_loss - cfg.ent_coef * ent
            self._check_finite(loss, self.num_updates)
            grad_norm = self._clip_and_step(loss, cfg.max_grad_norm)

            # 4. log
            row = self._base_metrics(episodes, batch, n_steps, time.perf_counter() - start)
            row.update(
                {
                    "valid_fraction": float(valid.float().mean()),
                    "policy_loss": float(pg_loss.detach()),
                    "advantage_std": float(adv.std()) if adv.numel() > 1 else 0.0,
                    "baseline_mean": float(baseline.mean()),
                    "grad_norm": grad_norm,
                }
            )
            if not self._end_update(row, callback):
                break
        return self

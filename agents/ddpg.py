"""DDPG, and Wolpertinger DDPG for large discrete action spaces (item catalogs).

DDPG: Lillicrap et al., 2016 (arXiv:1509.02971): a deterministic actor, a Q critic,
a replay buffer, target networks with Polyak averaging, Gaussian or Ornstein-Uhlenbeck
exploration noise. Wolpertinger: Dulac-Arnold et al., 2015 ("Deep Reinforcement Learning
in Large Discrete Action Spaces", arXiv:1512.07679): the actor emits a proto-action in the
item-embedding space, its k nearest (available) items are the candidates, and the critic
picks the best of them, both when acting and in the bootstrap target.

``DDPG`` runs Wolpertinger on a ``Discrete`` action space whose env exposes
``item_embeddings`` (``ProductRecommendation-v0``), and on a ``Box`` one of the embeddings'
dimension (``ProductRecommendationContinuous-v0``), where it sends the chosen item's
embedding (see ``DDPGConfig.box_items``); masks from ``action_masks`` restrict the
candidates. On any other bounded ``Box`` (Pendulum) it runs plain DDPG.

Reads top to bottom: ``DDPGConfig``, the networks, the replay buffer, ``DDPG`` and its learn
loop; observations are encoded by ``agents.features`` (item ids as item embeddings).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from torch import nn

from agents.buffers import Episode, check_finite_loss
from agents.envs import EvaluationEnvs, find_action_masks, make_vector_env, row_info
from agents.evaluation import episode_stats, evaluate_policy, summarize
from agents.features import ObsEncoder, candidate_features, item_embeddings
from agents.hyperparams import config_for
from agents.metrics import Callback, MetricsLogger
from agents.options import (
    check_hidden_sizes,
    check_int,
    check_non_negative,
    check_positive,
    check_seed,
    check_total_steps,
    check_unit_interval,
    resolve_device,
)
from agents.persistence import load_agent, save_agent

if TYPE_CHECKING:  # pandas costs ~0.25 s to import; only ``DDPG.metrics`` needs it
    import pandas as pd

__all__ = ["DDPG", "DDPGConfig", "ReplayBuffer"]


@dataclass
class DDPGConfig:
    """Hyperparameters of :class:`DDPG`."""

    num_envs: int = 8
    """Parallel environments (rows of the vector env); one vector step adds ``num_envs``
    transitions."""
    buffer_size: int = 100_000
    """Replay buffer capacity, in transitions."""
    batch_size: int = 256
    """Transitions per gradient step."""
    learning_starts: int = 2_000
    """Env steps of uniformly random (available) actions before learning starts."""
    train_freq: int = 1
    """Vector steps between updates."""
    gradient_steps: int = 1
    """Gradient steps per update."""
    actor_lr: float = 3e-4
    """Adam step size of the actor."""
    critic_lr: float = 1e-3
    """Adam step size of the critic."""
    gamma: float = 0.95
    """Discount factor."""
    tau: float = 0.01
    """Polyak averaging rate of the target networks."""
    noise: str = "gaussian"
    """Exploration noise on the (proto-)action: ``"gaussian"`` or ``"ou"`` (Ornstein-Uhlenbeck,
    as in Lillicrap et al.)."""
    noise_std: float = 0.3
    """Std of the Gaussian noise, or sigma of the OU process, in action units ([-1, 1])."""
    ou_theta: float = 0.15
    """Mean-reversion rate of the OU process."""
    k_neighbors: int = 20
    """Wolpertinger: candidates per proto-action (the paper's k)."""
    box_items: bool = True
    """On a ``Box`` action space whose env exposes ``item_embeddings`` of the same dimension
    (``ProductRecommendationContinuous-v0``), act Wolpertinger-style as on the discrete env
    and send the chosen item's embedding, which the env maps to exactly that item: the
    critic then scores the item the env executes, with its candidate features. ``False``:
    plain DDPG on the proto-action, whose critic learns ``Q(s, proto)`` while the env
    executes the nearest available item; on the recommender it keeps showing the same
    item (half of its steps repeat the last one) and scores below random."""
    hidden_sizes: tuple[int, ...] = (128, 128)
    """Hidden layers of actor and critic."""
    max_grad_norm: float = 10.0
    """Global gradient-norm clip of each network."""
    log_interval: int = 1_000
    """Env steps between metrics rows."""

    def __post_init__(self) -> None:
        check_int(self, "num_envs", "buffer_size", "batch_size", "train_freq", "gradient_steps", "k_neighbors", "log_interval")
        check_int(self, "learning_starts", minimum=0)
        check_positive(self, "actor_lr", "critic_lr", "max_grad_norm")
        check_non_negative(self, "noise_std", "ou_theta")
        check_unit_interval(self, "gamma", "tau")
        if self.noise not in ("gaussian", "ou"):
            raise ValueError(f"noise must be 'gaussian' or 'ou'; got {self.noise!r}")
        check_hidden_sizes(self)


# ---------------------------------------------------------------------------------------
# networks
# ---------------------------------------------------------------------------------------


def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


class Actor(nn.Module):
    """``mu(s)`` in ``[-1, 1]^d`` (tanh), rescaled to the action bounds by the agent."""

    def __init__(self, obs_dim: int, action_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = _mlp(obs_dim, hidden, action_dim)
        # small last layer: the first proto-actions sit near the centre (Lillicrap et al.)
        nn.init.uniform_(self.net[-1].weight, -3e-3, 3e-3)
        nn.init.zeros_(self.net[-1].bias)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs))


class Critic(nn.Module):
    """``Q(s, a, f)``: state features, the action vector (a Box action or an item embedding)
    and ``extra`` candidate features (see `candidate_features`)."""

    def __init__(self, obs_dim: int, action_dim: int, extra_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.net = _mlp(obs_dim + action_dim + extra_dim, hidden, 1)

    def forward(self, obs: torch.Tensor, action: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([obs, action, extra], dim=-1)).squeeze(-1)


class DDPGNetworks(nn.Module):
    """Actor, critic and their targets: what ``save``/``load`` write (safetensors)."""

    def __init__(self, obs_dim: int, action_dim: int, extra_dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        self.actor = Actor(obs_dim, action_dim, hidden)
        self.critic = Critic(obs_dim, action_dim, extra_dim, hidden)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)


# ---------------------------------------------------------------------------------------
# replay buffer
# ---------------------------------------------------------------------------------------


class Transitions(NamedTuple):
    """A sampled minibatch; ``B`` transitions."""

    obs: torch.Tensor
    """``(B, D)`` encoded observations."""
    history: torch.Tensor
    """``(B, H)`` recent item ids (``H = 0`` without a history)."""
    actions: torch.Tensor
    """``(B, A)`` Box actions, or ``(B,)`` int64 item ids (Wolpertinger)."""
    rewards: torch.Tensor
    next_obs: torch.Tensor
    next_history: torch.Tensor
    next_masks: torch.Tensor
    """``(B, n_items)`` bool masks of the next state (all True without masks)."""
    terminated: torch.Tensor
    """``(B,)`` float: 1 when the episode ended by termination (no bootstrap)."""


class ReplayBuffer:
    """A ring buffer of encoded transitions (numpy storage, torch minibatches)."""

    def __init__(self, capacity: int, obs_dim: int, history_len: int, action_shape: tuple[int, ...],
                 action_dtype: Any, n_masks: int) -> None:
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.history = np.zeros((capacity, history_len), np.int64)
        self.next_history = np.zeros((capacity, history_len), np.int64)
        self.actions = np.zeros((capacity, *action_shape), action_dtype)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.next_masks = np.ones((capacity, n_masks), bool)

    def add(self, **batch: np.ndarray) -> None:
        n = len(batch["rewards"])
        idx = (self.pos + np.arange(n)) % self.capacity
        for name, value in batch.items():
            getattr(self, name)[idx] = value
        self.pos = int((self.pos + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, device: torch.device) -> Transitions:
        idx = rng.integers(self.size, size=batch_size)

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(x[idx], device=device)

        return Transitions(t(self.obs), t(self.history), t(self.actions), t(self.rewards), t(self.next_obs),
                           t(self.next_history), t(self.next_masks), t(self.terminated))


# ---------------------------------------------------------------------------------------
# the agent
# ---------------------------------------------------------------------------------------


class DDPG:
    """DDPG (Box actions) or Wolpertinger DDPG (item actions: Discrete, or a Box of item embeddings).

    ``DDPG(env_or_id, policy="auto", config=DDPGConfig(...), seed=0, env_kwargs=None)``,
    with the API of the on-policy agents (``learn``, ``evaluate``, ``metrics``, ``save``,
    ``load``; see :class:`agents.base.Agent` for the arguments). ``policy`` must be
    ``"auto"`` or ``"mlp"``.
    """

    config_class = DDPGConfig
    algorithm = "ddpg"
    config: DDPGConfig

    def __init__(
        self,
        env_or_id: str | gym.Env | VectorEnv,
        policy: str = "auto",
        config: DDPGConfig | dict[str, Any] | None = None,
        *,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        tensorboard_log: str | None = None,
    ) -> None:
        if policy not in ("auto", "mlp"):
            raise ValueError(f"DDPG builds its own MLP actor and critic: policy must be 'auto' or 'mlp'; got {policy!r}")
        config = config_for(self.algorithm, DDPGConfig, config, env_or_id, policy)
        self.config = config
        self.seed = check_seed(seed)
        self.device = resolve_device(device)
        self.env_id = env_or_id if isinstance(env_or_id, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        torch.manual_seed(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.env = make_vector_env(env_or_id, num_envs=config.num_envs, env_kwargs=self.env_kwargs)

        space = self.env.single_action_space
        self.embeddings = item_embeddings(self.env)
        if isinstance(space, spaces.Discrete):
            if self.embeddings is None:
                raise ValueError("Wolpertinger needs item embeddings: the env must expose item_embeddings "
                                 "(n_items, d), as lm_envs/ProductRecommendation-v0 does")
            self.embeddings = np.asarray(self.embeddings, np.float32)
            if len(self.embeddings) != space.n:
                raise ValueError(f"item_embeddings has {len(self.embeddings)} rows for Discrete({space.n}) actions")
            self.wolpertinger = True
            self.action_dim = self.embeddings.shape[1]
        elif isinstance(space, spaces.Box) and len(space.shape) == 1 and np.isfinite(space.low).all() and np.isfinite(space.high).all():
            self.action_dim = int(space.shape[0])
            self.wolpertinger = (config.box_items and self.embeddings is not None
                                 and self.embeddings.shape[1] == self.action_dim)
            self.low, self.high = space.low.astype(np.float32), space.high.astype(np.float32)
        else:
            raise ValueError(f"DDPG needs a bounded 1-D Box or a Discrete (with item embeddings) action space; got {space}")
        self.encoder = ObsEncoder(self.env.single_observation_space, self.embeddings)
        self.policy = DDPGNetworks(self.encoder.dim, self.action_dim, 2, tuple(config.hidden_sizes)).to(self.device)
        self.actor_optimizer = torch.optim.Adam(self.policy.actor.parameters(), lr=config.actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.policy.critic.parameters(), lr=config.critic_lr)
        # items are what Wolpertinger acts on: the Discrete action, or the Box point sent for one
        self.item_box = self.wolpertinger and isinstance(space, spaces.Box)
        self.n_items = len(self.embeddings) if self.wolpertinger else 0
        self.has_masks = self.wolpertinger and find_action_masks(self.env) is not None
        n_masks = self.n_items if self.wolpertinger else 1
        history_len = 0 if self.encoder.history_key is None else int(np.prod(self.env.single_observation_space["item_ids"].shape))
        self.buffer = ReplayBuffer(
            config.buffer_size, self.encoder.dim, history_len,
            () if self.wolpertinger else (self.action_dim,), np.int64 if self.wolpertinger else np.float32, n_masks,
        )
        self.num_timesteps = 0
        self.num_updates = 0
        self._obs: Any = None
        self._ou_state = np.zeros((config.num_envs, self.action_dim), np.float32)
        self._returns = np.zeros(config.num_envs)
        self._lengths = np.zeros(config.num_envs, dtype=np.int64)
        self.logger = MetricsLogger(tensorboard_log)
        self._evaluation_env = EvaluationEnvs(
            self.env_id, self.env_kwargs, max_rows=config.num_envs, training_env=self.env
        )

    # -- masks and candidates ----------------------------------------------------------------

    def _masks(self, env: VectorEnv) -> np.ndarray:
        n = self.n_items if self.wolpertinger else 1
        masks = find_action_masks(env) if self.has_masks else None
        return np.ones((env.num_envs, n), bool) if masks is None else masks

    def _knn(self, proto: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` ids of the K available items nearest to each proto-action ``(N, d)``."""
        table = torch.as_tensor(self.embeddings, device=proto.device)
        distances = torch.cdist(proto, table).masked_fill(~masks, float("inf"))
        k = min(self.config.k_neighbors, table.shape[0])
        return torch.topk(distances, k, dim=1, largest=False).indices

    def _best_candidates(self, critic: Critic, obs: torch.Tensor, history: np.ndarray | None,
                         candidates: torch.Tensor, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Critic's pick among ``candidates`` ``(N, K)``: ``(item ids (N,), Q values (N,))``."""
        n, k = candidates.shape
        table = torch.as_tensor(self.embeddings, device=obs.device)
        extra = torch.as_tensor(candidate_features(history, candidates.cpu().numpy()), device=obs.device)
        q = critic(obs[:, None, :].expand(n, k, obs.shape[1]), table[candidates], extra)
        # a candidate the mask removed (fewer than K available items) can never win
        q = q.masked_fill(~masks.gather(1, candidates), float("-inf"))
        best = q.argmax(dim=1)
        return candidates[torch.arange(n), best], q[torch.arange(n), best]

    # -- acting ------------------------------------------------------------------------------

    def _noise(self, rng: np.random.Generator, ou_state: np.ndarray) -> np.ndarray:
        """Exploration noise ``(N, d)`` drawn from ``rng``; OU noise advances ``ou_state`` in place.

        Training draws from ``self.np_rng`` and ``self._ou_state``; evaluation from its own
        generator and state, so evaluating neither perturbs training nor depends on it.
        """
        cfg = self.config
        gaussian = rng.normal(size=ou_state.shape).astype(np.float32) * cfg.noise_std
        if cfg.noise == "gaussian":
            return gaussian
        # OU: dx = -theta x + sigma dW, temporally correlated exploration (Lillicrap et al., 2016)
        ou_state += -cfg.ou_theta * ou_state + gaussian
        return ou_state.copy()

    def predict(self, obs: Any, masks: np.ndarray | None = None, *, noise: np.ndarray | None = None) -> np.ndarray:
        """Env actions for batched ``obs``: item ids (Wolpertinger on a Discrete space), the
        chosen items' embeddings (on a Box space with items) or Box actions."""
        return self._env_actions(self._act(obs, masks, noise))

    def _env_actions(self, actions: np.ndarray) -> np.ndarray:
        """What the env receives for the agent's actions (item ids or Box actions)."""
        return self.embeddings[actions] if self.item_box else actions

    @torch.no_grad()
    def _act(self, obs: Any, masks: np.ndarray | None, noise: np.ndarray | None) -> np.ndarray:
        """The agent's actions, as the replay buffer stores them: item ids or Box actions."""
        x = torch.as_tensor(self.encoder(obs), device=self.device)
        proto = self.policy.actor(x)
        if noise is not None:
            proto = (proto + torch.as_tensor(noise, device=self.device)).clamp(-1.0, 1.0)
        if not self.wolpertinger:
            scaled = self.low + (proto.cpu().numpy() + 1.0) * 0.5 * (self.high - self.low)
            return np.clip(scaled, self.low, self.high).astype(np.float32)
        m = torch.as_tensor(masks if masks is not None else np.ones((len(x), len(self.embeddings)), bool), device=self.device)
        items, _ = self._best_candidates(self.policy.critic, x, self.encoder.history(obs), self._knn(proto, m), m)
        return items.cpu().numpy()

    def _random_actions(self, masks: np.ndarray) -> np.ndarray:
        if not self.wolpertinger:
            return self.np_rng.uniform(self.low, self.high, size=(self.env.num_envs, self.action_dim)).astype(np.float32)
        keys = np.where(masks, self.np_rng.random(masks.shape), -1.0)
        return keys.argmax(axis=1)

    # -- one update --------------------------------------------------------------------------

    def _update(self) -> dict[str, float]:
        cfg, nets = self.config, self.policy
        batch = self.buffer.sample(cfg.batch_size, self.np_rng, self.device)
        history = batch.history.cpu().numpy() if batch.history.shape[1] else None
        next_history = batch.next_history.cpu().numpy() if batch.next_history.shape[1] else None
        if self.wolpertinger:
            table = torch.as_tensor(self.embeddings, device=self.device)
            action_vec = table[batch.actions]
            extra = torch.as_tensor(candidate_features(history, batch.actions.cpu().numpy()[:, None]), device=self.device)[:, 0]
        else:
            action_vec = batch.actions
            extra = torch.zeros(len(batch.rewards), 2, device=self.device)

        # 1. critic: y = r + gamma (1 - terminated) Q'(s', pi'(s'))
        with torch.no_grad():
            proto_next = nets.actor_target(batch.next_obs)
            if self.wolpertinger:
                # the target policy is the full Wolpertinger policy with target networks
                candidates = self._knn(proto_next, batch.next_masks)
                _, q_next = self._best_candidates(nets.critic_target, batch.next_obs, next_history, candidates, batch.next_masks)
            else:
                q_next = nets.critic_target(batch.next_obs, proto_next * 0.5 * torch.as_tensor(self.high - self.low)
                                            + torch.as_tensor((self.high + self.low) * 0.5), extra)
            target = batch.rewards + cfg.gamma * (1.0 - batch.terminated) * q_next
        q = nets.critic(batch.obs, action_vec, extra)
        critic_loss = nn.functional.mse_loss(q, target)
        check_finite_loss(critic_loss, algorithm="DDPG", update=self.num_updates)
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        nn.utils.clip_grad_norm_(nets.critic.parameters(), cfg.max_grad_norm)
        self.critic_optimizer.step()

        # 2. actor: ascend Q(s, mu(s)); Wolpertinger scores the proto-action itself, with the
        #    candidate features of its nearest item
        proto = nets.actor(batch.obs)
        if self.wolpertinger:
            with torch.no_grad():
                nearest = self._knn(proto.detach(), torch.ones(len(proto), len(self.embeddings), dtype=torch.bool))[:, :1]
            actor_extra = torch.as_tensor(candidate_features(history, nearest.cpu().numpy()), device=self.device)[:, 0]
            actor_action = proto
        else:
            actor_extra = extra
            actor_action = proto * 0.5 * torch.as_tensor(self.high - self.low) + torch.as_tensor((self.high + self.low) * 0.5)
        actor_loss = -nets.critic(batch.obs, actor_action, actor_extra).mean()
        self.actor_optimizer.zero_grad(set_to_none=True)
        actor_loss.backward()
        nn.utils.clip_grad_norm_(nets.actor.parameters(), cfg.max_grad_norm)
        self.actor_optimizer.step()

        # 3. Polyak averaging of the targets
        with torch.no_grad():
            for net, target_net in ((nets.actor, nets.actor_target), (nets.critic, nets.critic_target)):
                for p, tp in zip(net.parameters(), target_net.parameters()):
                    tp.mul_(1.0 - cfg.tau).add_(p, alpha=cfg.tau)
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(), "q_mean": q.detach().mean().item()}

    # -- learn -------------------------------------------------------------------------------

    def learn(self, total_steps: int, callback: Callback | None = None) -> DDPG:
        """Collect ``total_steps`` env steps (all rows together), updating as it goes."""
        check_total_steps(total_steps)
        cfg = self.config
        env = self.env
        if self._obs is None:
            self._obs, _ = env.reset(seed=self.seed)
            self._returns[:], self._lengths[:], self._ou_state[:] = 0.0, 0, 0.0
        n_vector_steps = max(1, math.ceil(total_steps / env.num_envs))
        episodes: list[Episode] = []
        losses: list[dict[str, float]] = []
        start = time.perf_counter()
        steps_at_log = self.num_timesteps
        for step in range(n_vector_steps):
            # 1. act: random (available) actions first, then the actor plus exploration noise
            masks = self._masks(env)
            if self.num_timesteps < cfg.learning_starts:
                actions = self._random_actions(masks)
            else:
                actions = self._act(self._obs, masks, self._noise(self.np_rng, self._ou_state))
            obs_enc = self.encoder(self._obs)
            history = self.encoder.history(self._obs)
            next_obs, rewards, terminated, truncated, info = env.step(self._env_actions(actions))
            self.num_timesteps += env.num_envs

            # 2. store: a finished row's true next observation is info["final_obs"]
            done = np.logical_or(terminated, truncated)
            real_next = next_obs
            if done.any():
                real_next = {k: np.array(v, copy=True) for k, v in next_obs.items()} if isinstance(next_obs, dict) else np.array(next_obs, copy=True)
                for row in np.flatnonzero(done):
                    final = info["final_obs"][row]
                    if isinstance(real_next, dict):
                        for key in real_next:
                            real_next[key][row] = final[key]
                    else:
                        real_next[row] = final
            next_masks = self._masks(env)
            if done.any():
                # after an autoreset the env's mask is the new session's; the finished one's
                # is close to the mask before this step (off by at most the item just bought)
                next_masks[done] = masks[done]
            self.buffer.add(
                obs=obs_enc, next_obs=self.encoder(real_next), actions=actions, rewards=rewards.astype(np.float32),
                terminated=terminated.astype(np.float32), next_masks=next_masks,
                **({} if history is None else {"history": history, "next_history": self.encoder.history(real_next)}),
            )
            self._returns += rewards
            self._lengths += 1
            for row in np.flatnonzero(done):
                final_info = row_info(info.get("final_info", {}), int(row))
                episodes.append(Episode.from_info(int(row), self._returns[row], self._lengths[row], final_info))
                self._returns[row] = 0.0
                self._lengths[row] = 0
                self._ou_state[row] = 0.0
            self._obs = next_obs

            # 3. update
            if self.num_timesteps >= cfg.learning_starts and self.buffer.size >= cfg.batch_size and step % cfg.train_freq == 0:
                for _ in range(cfg.gradient_steps):
                    losses.append(self._update())
                    self.num_updates += 1

            # 4. log
            if self.num_timesteps - steps_at_log >= cfg.log_interval or step == n_vector_steps - 1:
                seconds = time.perf_counter() - start
                row = {"update": self.num_updates, "timesteps": self.num_timesteps, "episodes": len(episodes)}
                if episodes:
                    row.update(episode_stats(episodes))
                for key in ("critic_loss", "actor_loss", "q_mean"):
                    if losses:
                        row[key] = float(np.mean([loss[key] for loss in losses]))
                row["steps_per_s"] = (self.num_timesteps - steps_at_log) / max(seconds, 1e-9)
                self.logger.log(row)
                episodes, losses = [], []
                steps_at_log = self.num_timesteps
                start = time.perf_counter()
                if callback is not None and callback(self, row) is False:
                    break
        return self

    # -- evaluate ----------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, n_episodes: int = 10, *, deterministic: bool = True, seed: int | None = None,
                 n_samples: int = 3) -> dict[str, Any]:
        """Play ``n_episodes`` without exploration noise (``deterministic=False`` adds it).

        Uses its own env seed and noise generator (``seed``, default ``self.seed + 10_000``;
        see ``agents.evaluation.evaluate_policy``), as ``Agent.evaluate`` does, so evaluating
        neither perturbs training nor depends on it; the OU state starts at 0 with every
        episode, as in ``learn``. Returns the record of ``agents.evaluation.summarize``,
        ``returns`` (every episode's return) and ``time_s``.
        """
        seed = self.seed + 10_000 if seed is None else seed
        env = self._evaluation_env(n_episodes)
        rng = np.random.default_rng(seed)
        ou_state = np.zeros((env.num_envs, self.action_dim), np.float32)

        def act(obs: Any, new_episode: np.ndarray, info: dict[str, Any]) -> np.ndarray:
            if deterministic:
                return self.predict(obs, self._masks(env))
            ou_state[new_episode] = 0.0
            return self.predict(obs, self._masks(env), noise=self._noise(rng, ou_state))

        start = time.perf_counter()
        try:
            episodes = evaluate_policy(env, act, n_episodes, seed=seed)
        finally:
            if env is self.env:  # borrowed: learn() resets it
                self._obs = None
        seconds = time.perf_counter() - start
        returns = [e.episode_return for e in episodes]
        return summarize(episodes, n_samples=n_samples) | {"returns": returns, "time_s": seconds}

    # -- metrics, save / load ----------------------------------------------------------------

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per ``log_interval`` env steps: rewards, reward terms, losses, Q, speed."""
        return self.logger.frame()

    def metrics_to_csv(self, path: str | Path) -> None:
        self.logger.to_csv(path)

    def extra_state(self) -> dict[str, Any]:
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | Path) -> None:
        """Write ``model.safetensors`` (actor, critic, targets) and ``config.json``; no pickle.
        The replay buffer and optimizer state are not saved."""
        save_agent(self, path)

    @classmethod
    def load(cls, path: str | Path, env: str | gym.Env | VectorEnv | None = None, *,
             device: str | torch.device = "cpu") -> DDPG:
        """Rebuild an agent saved by :meth:`save`; pass ``env`` when it was not an id."""
        return load_agent(cls, path, env, device=device)

"""Mechanics every on-policy agent shares: policy construction, seeding, the rollout,
metrics, evaluation, save/load. The algorithms (``reinforce.py``, ``actor_critic.py``,
``ppo.py``) hold only their config, their loss and their learn loop.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from agents.actors import ActorPolicy
from agents.buffers import Episode, RolloutBatch, check_finite_loss, masked_mean
from agents.envs import EvaluationEnvs, make_vector_env
from agents.evaluation import (
    PASS_K,
    episode_stats,
    evaluate_policy,
    evaluate_tries,
    pass_k_summary,
    summarize,
)
from agents.features import item_embeddings
from agents.hyperparams import config_for
from agents.metrics import TIMING_METRICS, Callback, MetricsLogger
from agents.options import check_seed, resolve_device
from agents.persistence import MODEL_FILE, REFERENCE_FILE, load_agent, load_weights, save_agent
from agents.policies import LMActorCritic, MLPActorCritic, Policy, frozen_weights, is_token_observation_space
from agents.rollout import Rollout

if TYPE_CHECKING:  # pandas costs ~0.25 s to import; only ``Agent.metrics`` needs it
    import pandas as pd

__all__ = ["Agent", "Callback", "TIMING_METRICS", "make_policy"]


# ---------------------------------------------------------------------------------------
# policy construction
# ---------------------------------------------------------------------------------------


def make_policy(
    policy: str | nn.Module,
    env: VectorEnv,
    *,
    hidden_sizes: Sequence[int] = (64, 64),
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    dtype: str = "float32",
) -> Policy:
    """Build the actor-critic named by ``policy`` for ``env``.

    ``"auto"``: an MLP for vector observations, ``"tiny-shop"`` for token envs.
    ``"mlp"``: :class:`MLPActorCritic` with ``hidden_sizes`` (its recommender form where the env
    has item embeddings, see there). Any other string is an LM name
    for ``lm_envs.models.load_policy`` (``"tiny-shop"``, ``"smollm2-135m"``, a local HF
    folder). A module is used as is (a bare HF causal LM gets a value head). An LM samples
    with ``temperature``, ``top_k`` and ``top_p`` and computes in ``dtype`` (see
    :class:`~agents.options.LMOptions`); MLP policies compute in float32 only.
    """
    token_env = is_token_observation_space(env.single_observation_space)
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p)
    if isinstance(policy, (LMActorCritic, MLPActorCritic)):
        built: Policy = policy
        if isinstance(built, LMActorCritic):
            built.dtype_name = dtype
    elif isinstance(policy, nn.Module):
        built = LMActorCritic(policy, **sampling, dtype=dtype)
    elif policy == "mlp" or (policy == "auto" and not token_env):
        built = MLPActorCritic(
            env.single_observation_space, env.single_action_space, hidden_sizes=tuple(hidden_sizes),
            item_embeddings=item_embeddings(env),
        )
    elif isinstance(policy, str):
        from lm_envs.models import load_policy

        built = LMActorCritic(load_policy("tiny-shop" if policy == "auto" else policy), **sampling, dtype=dtype)
    else:
        raise TypeError(f"policy must be a name or an nn.Module; got {type(policy).__name__}")
    if dtype != "float32" and not isinstance(built, LMActorCritic):
        raise ValueError(f"dtype={dtype!r} is for LM policies; an MLP policy computes in 'float32'")
    if isinstance(built, LMActorCritic):
        _fit_lm_to_env(built, env, policy)
    return built


def _fit_lm_to_env(policy: LMActorCritic, env: VectorEnv, source: str | nn.Module) -> None:
    """Check that an LM policy can act in ``env`` and restrict its actions to the env's vocabulary.

    The env's tokenizer and the policy's (where the policy names one: a model name or folder,
    or a model loaded from a folder) must map every token to the same id; a model vocabulary
    larger than the env's (an embedding padded to a multiple of 64) has its extra logits
    dropped; and the observation window must fit the model's positions.
    """
    from lm_envs.models import vocabulary_hash

    space = env.single_action_space
    if not (is_token_observation_space(env.single_observation_space) and isinstance(space, gym.spaces.Discrete)):
        raise ValueError("an LM policy needs a token env: Dict(input_ids, attention_mask) observations and "
                         "Discrete actions")
    n_actions = int(space.n)
    if policy.vocab_size < n_actions:
        raise ValueError(f"policy vocabulary size {policy.vocab_size} < env action space size {n_actions}; "
                         "use a policy whose tokenizer is the env's tokenizer")
    env_tokenizer = _env_tokenizer(env)
    own = _policy_tokenizer(source, policy)
    if env_tokenizer is not None and own is not None and vocabulary_hash(own) != vocabulary_hash(env_tokenizer):
        raise ValueError("the env's tokenizer and the policy's tokenizer differ (the same tokens do not have the "
                         "same ids); make the env with the policy's tokenizer, e.g. env_kwargs={'tokenizer': "
                         "<the policy's model name or folder>}")
    policy.n_actions = n_actions if policy.vocab_size > n_actions else None
    window = int(env.single_observation_space["input_ids"].shape[0])
    positions = policy.max_positions
    if positions is not None and window > positions:
        raise ValueError(f"the env's observation window ({window} tokens: max_prompt_tokens + max_new_tokens) is "
                         f"longer than the policy's {positions} positions; lower max_new_tokens or max_prompt_tokens")


def _env_tokenizer(env: Any) -> Any:
    """The tokenizer of a token env: on the env, the template env of a native vector env, the
    first env of a ``SyncVectorEnv``, or inside wrappers of any of them."""
    todo = [env]
    for _ in range(16):
        if not todo:
            break
        current = todo.pop(0)
        tokenizer = getattr(getattr(current, "unwrapped", current), "tokenizer", None)
        if tokenizer is not None:
            return tokenizer
        if getattr(current, "env", None) is not None:  # a wrapper, or a native vector env's template
            todo.append(current.env)
        todo.extend((getattr(current, "envs", None) or [])[:1])  # a SyncVectorEnv's first env
    return None


def _policy_tokenizer(source: str | nn.Module, policy: LMActorCritic) -> Any:
    """The tokenizer that comes with the policy: its model name or folder's, else the folder the
    model was loaded from; ``None`` where it has none (a model built in code)."""
    from lm_envs.models import load_tokenizer

    if isinstance(source, str):
        name = "tiny-shop" if source == "auto" else source
    else:
        name = str(getattr(getattr(policy.model, "config", None), "name_or_path", "") or "")
        if not name or not Path(name).is_dir():
            return None
    try:
        return load_tokenizer(name)
    except (OSError, ValueError):  # a model folder without tokenizer files: only the sizes are checked
        return None


# ---------------------------------------------------------------------------------------
# the agent base class
# ---------------------------------------------------------------------------------------


class Agent:
    """Shared mechanics of the on-policy agents.

    Args:
        env_or_id: a gym id (``"CartPole-v1"``, ``"lm_envs/TextGeneration-v1"``), an
            env instance or a SAME_STEP vector env.
        policy: ``"auto"``, ``"mlp"``, an LM name (``"tiny-shop"``) or a module.
        config: the algorithm's config dataclass, used as is; ``None`` for the tuned
            settings of the hyperparameter table (``agents/hyperparams/<algorithm>.yml``) for
            this env and policy; or a dict of config fields that override the table's.
        seed: seeds torch, the sampler, the env resets and minibatch shuffling.
        env_kwargs: keyword arguments for ``gym.make_vec`` when ``env_or_id`` is an id.
        device: ``"cpu"``, ``"cuda"`` (``"cuda:N"``), ``"auto"`` (CUDA when present) or a
            ``torch.device``: where the policy, its sampler and the update run.
        tensorboard_log: directory for TensorBoard scalars (needs ``tensorboard``).
    """

    config_class: ClassVar[type]
    algorithm: ClassVar[str | None] = None
    """The algorithm's hyperparameter table (``agents/hyperparams/<algorithm>.yml``); ``None``:
    the config dataclass's defaults stand in for the table."""

    def __init__(
        self,
        env_or_id: str | gym.Env | VectorEnv,
        policy: str | nn.Module = "auto",
        config: Any | None = None,
        *,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        tensorboard_log: str | None = None,
    ) -> None:
        self.seed = check_seed(seed)
        self.config = config = config_for(self.algorithm, self.config_class, config, env_or_id, policy)
        self.device = resolve_device(device)
        self.env_id = env_or_id if isinstance(env_or_id, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        torch.manual_seed(self.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.shuffle_generator = torch.Generator().manual_seed(self.seed + 1)
        self.np_rng = np.random.default_rng(self.seed)
        self.env = make_vector_env(env_or_id, num_envs=config.num_envs, env_kwargs=self.env_kwargs)
        self.token_env = is_token_observation_space(self.env.single_observation_space)
        self.policy = make_policy(
            policy, self.env, hidden_sizes=config.hidden_sizes, dtype=getattr(config, "dtype", "float32"), **config.sampling
        ).to(self.device)
        self.ref_policy = self._make_reference(config.reference)
        bootstrap = getattr(config, "bootstrap_truncated", None)
        self.rollout = Rollout(
            self.env,
            self.policy,
            generator=self.generator,
            ref_policy=self.ref_policy,
            # LM envs pay the episode-end reward at truncation and the position is in
            # the observation, so the budget is part of the task (Pardo et al., 2018)
            bootstrap_truncated=(not self.token_env) if bootstrap is None else bootstrap,
            cache_mode=config.cache_mode,
        )
        self.optimizer = self._make_optimizer()
        self.num_timesteps = 0
        self.num_updates = 0
        self.logger = MetricsLogger(tensorboard_log)
        self._env_started = False
        self._evaluation_env = EvaluationEnvs(
            self.env_id, self.env_kwargs, max_rows=config.num_envs, training_env=self.env
        )

    # -- pieces the algorithms call ---------------------------------------------------------

    def _make_reference(self, kind: str) -> Policy | None:
        """The frozen copy of the initial policy that anchors the KL penalty (Ziegler et al., 2019).

        LM runs carry one unless ``kind == "none"``, because KL to the start is the first
        thing to watch; other policies only when ``kl_coef > 0``.
        """
        if kind == "none" or not (isinstance(self.policy, LMActorCritic) or self.config.kl_coef > 0):
            return None
        if kind == "bf16" and not isinstance(self.policy, LMActorCritic):
            raise ValueError("reference='bf16' is for LM policies; use reference='fp32' with an MLP policy")
        ref = copy.deepcopy(self.policy).requires_grad_(False).eval()
        if isinstance(ref, LMActorCritic):
            ref.dtype_name = "float32"  # the reference computes in its weights' precision
        if kind == "bf16":
            # half the bytes and ~1.5x faster scoring on CPUs with AMX-bf16; the value head
            # stays fp32 (it is unused); log-probs move by ~0.01 nats per token
            ref.model.to(torch.bfloat16)
        return ref

    def _param_groups(self) -> list[dict[str, Any]]:
        """The optimizer's parameter groups: one, or the value head apart at ``lr *
        critic_lr_scale`` where the config asks for it (each group keeps its ``scale``)."""
        lr, scale = self.config.learning_rate, getattr(self.config, "critic_lr_scale", 1.0)
        head = getattr(self.policy, "value_head", None)
        if scale == 1.0 or head is None:
            return [{"params": list(self.policy.parameters()), "lr": lr, "scale": 1.0}]
        critic = {id(p) for p in head.parameters()}
        rest = [p for p in self.policy.parameters() if id(p) not in critic]
        return [{"params": rest, "lr": lr, "scale": 1.0},
                {"params": list(head.parameters()), "lr": lr * scale, "scale": scale}]

    def _make_optimizer(self) -> torch.optim.Optimizer:
        # eps=1e-5 as in the PPO reference implementation (Huang et al., 2022); the fused
        # kernel updates all tensors in one call (~5x faster steps on CPU than the per-tensor loop)
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(self._param_groups(), lr=self.config.learning_rate, eps=1e-5, fused=fused or None)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("scale", 1.0)

    def _collect(self, n_steps: int) -> tuple[RolloutBatch, list[Episode]]:
        """Continue the rollout for ``n_steps`` (the first call resets with ``seed``)."""
        if not self._env_started or self.rollout.needs_reset:
            self.rollout.reset(seed=self.seed if not self._env_started else None)
            self._env_started = True
        self.policy.eval()
        return self.rollout.collect(n_steps)

    def _collect_groups(self, group_size: int, max_steps: int) -> tuple[RolloutBatch, list[Episode]]:
        """One episode per row; rows ``[0, k)``, ``[k, 2k)``, ... reset with one seed, so each
        group answers the same prompt (``group_size=1``: a seed per row)."""
        seeds = self.np_rng.integers(0, 2**31 - 1, size=self.config.num_envs // group_size)
        self.policy.eval()
        return self.rollout.collect_episodes(seed=[int(s) for s in np.repeat(seeds, group_size)], max_steps=max_steps)

    def _check_finite(self, loss: torch.Tensor, update: int) -> None:
        check_finite_loss(loss, algorithm=type(self).__name__, update=update)

    def _clip_and_step(self, loss: torch.Tensor, max_grad_norm: float | None) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.policy.parameters(), max_grad_norm if max_grad_norm else float("inf"))
        self.optimizer.step()
        return float(norm)

    def _base_metrics(
        self, episodes: list[Episode], batch: RolloutBatch, n_steps: int, seconds: float
    ) -> dict[str, Any]:
        """The metrics every on-policy update logs: progress, episode stats, speed, the
        policy's entropy, its KL to the reference (nan without one) and the learning rate."""
        row: dict[str, Any] = {"update": self.num_updates, "timesteps": self.num_timesteps, "episodes": len(episodes)}
        row.update(episode_stats(episodes))
        row["steps_per_s"] = n_steps / max(seconds, 1e-9)
        if self.token_env:  # one step of a token env writes one token per row
            row["tokens_per_s"] = row["steps_per_s"]
        row["entropy"] = float(masked_mean(batch.entropies, batch.valid))
        row["kl_ref"] = float("nan")
        if batch.ref_logprobs is not None:
            row["kl_ref"] = float(masked_mean(batch.logprobs - batch.ref_logprobs, batch.valid))
        row["learning_rate"] = self.optimizer.param_groups[0]["lr"]
        return row

    def _end_update(self, row: dict[str, Any], callback: Callback | None) -> bool:
        """Log the update's row; ``False`` when the callback asks to stop."""
        self.logger.log(row)
        return callback is None or callback(self, row) is not False

    # -- public API -------------------------------------------------------------------------

    def learn(self, total_steps: int, callback: Callback | None = None) -> Agent:  # pragma: no cover
        raise NotImplementedError

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per update: rewards, reward terms, losses, KL, entropy, speed."""
        return self.logger.frame()

    def metrics_to_csv(self, path: str | Path) -> None:
        self.logger.to_csv(path)

    @torch.no_grad()
    def evaluate(
        self, n_episodes: int = 10, *, deterministic: bool = True, seed: int | None = None, n_samples: int = 3
    ) -> dict[str, Any]:
        """Play ``n_episodes`` and summarise them (``agents.evaluation.summarize``).

        Uses its own sampler generator and env seed (``seed``, default ``self.seed +
        10_000``) so evaluating neither perturbs training nor depends on it; the env has
        ``min(n_episodes, num_envs)`` rows (see ``evaluate_policy`` for the seeding).
        ``deterministic`` takes the argmax action (greedy decoding for LMs).

        Returns:
            ``n_episodes``, ``reward_mean``, ``reward_std``, ``episode_length``,
            ``reward/<term>`` for each reward term, ``success_rate`` where the env reports
            success, ``samples``: up to ``n_samples`` ``{prompt, completion, reward}`` dicts
            (plus ``transcript`` on multi-turn envs), and ``time_s``.
        """
        seed = self.seed + 10_000 if seed is None else seed
        env = self._evaluation_env(n_episodes)
        act = ActorPolicy(
            self.policy,
            env,
            generator=torch.Generator(device=self.device).manual_seed(seed),
            deterministic=deterministic,
            cache_mode=self.config.cache_mode,
        )
        start = time.perf_counter()
        try:
            with frozen_weights(self.policy):
                episodes = evaluate_policy(env, act, n_episodes, seed=seed)
        finally:
            if env is self.env:  # borrowed: the rollout's episodes in progress are gone
                self.rollout.require_reset()
        seconds = time.perf_counter() - start
        return summarize(episodes, n_samples=n_samples) | {"time_s": seconds}

    @torch.no_grad()
    def evaluate_pass_k(
        self, n_tasks: int = 8, n_tries: int = 4, *, ks: Sequence[int] = PASS_K, seed: int | None = None,
        deterministic: bool = False,
    ) -> dict[str, Any]:
        """pass^k (tau-bench): play ``n_tasks`` tasks ``n_tries`` times each
        (``agents.evaluation.evaluate_tries``; try ``t`` samples with seed ``seed + t``) and
        estimate, for each ``k <= n_tries`` in ``ks``, the chance that ``k`` tries at a task
        all succeed (``agents.evaluation.pass_hat_k``). Needs an env that reports success.

        Returns:
            ``pass^k`` for each ``k``, ``n_tasks``, ``n_tries``, ``success_rate`` (over all
            tries) and ``successes`` (per task, per try).
        """
        seed = self.seed + 10_000 if seed is None else seed
        env = self._evaluation_env(n_tasks)

        def make_act(t: int) -> Any:
            return ActorPolicy(self.policy, env, generator=torch.Generator(device=self.device).manual_seed(seed + t),
                               deterministic=deterministic, cache_mode=self.config.cache_mode)

        try:
            with frozen_weights(self.policy):
                tasks = evaluate_tries(env, make_act, n_tasks, n_tries, seed=seed)
        finally:
            if env is self.env:
                self.rollout.require_reset()
        successes = [[e.success for e in tries] for tries in tasks]
        if any(s is None for tries in successes for s in tries):
            raise ValueError("pass^k needs an env that reports success (info['success'])")
        flat = [bool(s) for tries in successes for s in tries]
        return pass_k_summary(successes, ks) | {"n_tasks": n_tasks, "n_tries": n_tries,
                                                "success_rate": float(np.mean(flat)), "successes": successes}

    # -- save / load ------------------------------------------------------------------------

    def extra_state(self) -> dict[str, Any]:
        """Algorithm state worth restoring (e.g. the adaptive KL coefficient), JSON-able."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | Path, *, include_reference: bool = False) -> None:
        """Write ``model.safetensors`` (policy + value head) and ``config.json`` to ``path``.

        No pickle. The optimizer state is not saved. With ``include_reference`` the
        frozen KL reference is saved too (``reference.safetensors``); otherwise a
        loaded agent anchors its KL to the loaded weights.
        """
        save_agent(self, path, reference=self.ref_policy if include_reference else None)

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: str | gym.Env | VectorEnv | None = None,
        *,
        device: str | torch.device = "cpu",
    ) -> Agent:
        """Rebuild an agent saved by :meth:`save`; pass ``env`` when it was not an id
        (``device`` as the constructor's, ``"auto"`` included)."""
        agent = load_agent(cls, path, env, device=device)
        if agent.ref_policy is not None:
            ref_file = Path(path) / REFERENCE_FILE
            source = ref_file if ref_file.exists() else Path(path) / MODEL_FILE
            load_weights(agent.ref_policy, source, device=agent.device)
        return agent

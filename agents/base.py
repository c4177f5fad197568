"""Mechanics every agent shares: env and policy construction, seeding, metrics,
evaluation, save/load. The algorithms (``reinforce.py``, ``actor_critic.py``,
``ppo.py``) hold only their config, their loss and their learn loop.
"""

from __future__ import annotations

import copy
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from torch import nn

from agents.buffers import Episode, RolloutBatch
from agents.policies import LMActorCritic, MLPActorCritic, is_token_observation_space
from agents.rollout import Rollout, check_same_step

if TYPE_CHECKING:  # pandas costs ~0.25 s to import; only ``Agent.metrics`` needs it
    import pandas as pd

__all__ = ["Agent", "make_vector_env", "make_policy", "summarize_episodes", "Callback", "REFERENCES"]

Policy = LMActorCritic | MLPActorCritic
Callback = Callable[["Agent", dict[str, Any]], bool | None]
"""``callback(agent, metrics)`` after each update; return ``False`` to stop learning."""

# metrics that depend on the wall clock, left out of determinism comparisons
TIMING_METRICS = ("steps_per_s", "tokens_per_s", "time_s")


# ---------------------------------------------------------------------------------------
# config validation helpers (each config's __post_init__ calls these)
# ---------------------------------------------------------------------------------------


def _fail(name: str, rule: str, value: Any) -> None:
    raise ValueError(f"{name} must be {rule}; got {value!r}")


def check_positive(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            _fail(n, "> 0", v)


def check_non_negative(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
            _fail(n, ">= 0", v)


def check_unit_interval(cfg: Any, *names: str) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            _fail(n, "in [0, 1]", v)


def check_int(cfg: Any, *names: str, minimum: int = 1) -> None:
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= minimum):
            _fail(n, f"an int >= {minimum}", v)


REFERENCES = ("fp32", "bf16", "none")


def check_reference(cfg: Any) -> None:
    """``reference`` is one of :data:`REFERENCES`; ``"none"`` only when ``kl_coef == 0``."""
    if cfg.reference not in REFERENCES:
        _fail("reference", f"one of {', '.join(map(repr, REFERENCES))}", cfg.reference)
    if cfg.reference == "none" and cfg.kl_coef > 0:
        raise ValueError(f"reference must be 'fp32' or 'bf16' when kl_coef > 0 (the penalty needs it); got 'none' with kl_coef={cfg.kl_coef}")


def check_group_size(cfg: Any) -> None:
    """``group_size`` is an int >= 2 that divides ``num_envs`` (rows of a group share a prompt)."""
    check_int(cfg, "group_size", minimum=2)
    if cfg.num_envs % cfg.group_size:
        raise ValueError(f"group_size must divide num_envs={cfg.num_envs} for the RLOO baseline; got {cfg.group_size}")


def check_policy_options(cfg: Any) -> None:
    """temperature > 0, top_k None or int >= 0, top_p None or in (0, 1], hidden_sizes."""
    check_positive(cfg, "temperature")
    if cfg.top_k is not None:
        check_int(cfg, "top_k", minimum=0)
    if cfg.top_p is not None and not (isinstance(cfg.top_p, (int, float)) and 0.0 < cfg.top_p <= 1.0):
        _fail("top_p", "None or in (0, 1]", cfg.top_p)
    if not cfg.hidden_sizes or any(not isinstance(h, int) or h < 1 for h in cfg.hidden_sizes):
        _fail("hidden_sizes", "a non-empty sequence of positive ints", cfg.hidden_sizes)


# ---------------------------------------------------------------------------------------
# env and policy construction
# ---------------------------------------------------------------------------------------


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


def make_policy(policy: str | nn.Module, env: VectorEnv, config: Any) -> Policy:
    """Build the actor-critic named by ``policy`` for ``env``.

    ``"auto"``: an MLP for vector observations, ``"tiny-shop"`` for token envs.
    ``"mlp"``: :class:`MLPActorCritic`. Any other string is an LM name for
    ``lm_envs.models.load_policy`` (``"tiny-shop"``, ``"smollm2-135m"``, a local HF
    folder). A module is used as is (a bare HF causal LM gets a value head).
    """
    token_env = is_token_observation_space(env.single_observation_space)
    sampling = dict(temperature=config.temperature, top_k=config.top_k, top_p=config.top_p)
    if isinstance(policy, (LMActorCritic, MLPActorCritic)):
        built: Policy = policy
    elif isinstance(policy, nn.Module):
        built = LMActorCritic(policy, **sampling)
    elif policy == "mlp" or (policy == "auto" and not token_env):
        built = MLPActorCritic(
            env.single_observation_space, env.single_action_space, hidden_sizes=tuple(config.hidden_sizes)
        )
    elif isinstance(policy, str):
        from lm_envs.models import load_policy

        built = LMActorCritic(load_policy("tiny-shop" if policy == "auto" else policy), **sampling)
    else:
        raise TypeError(f"policy must be a name or an nn.Module; got {type(policy).__name__}")
    if isinstance(built, LMActorCritic):
        space = env.single_action_space
        if not (token_env and isinstance(space, gym.spaces.Discrete)):
            raise ValueError("an LM policy needs a token env: Dict(input_ids, attention_mask) observations and Discrete actions")
        if built.vocab_size != int(space.n):
            raise ValueError(
                f"policy vocabulary size {built.vocab_size} != env action space size {int(space.n)}; "
                "use a policy whose tokenizer is the env's tokenizer"
            )
    return built


def summarize_episodes(episodes: list[Episode]) -> dict[str, float]:
    """Mean return, length, each reward term and success rate of ``episodes``."""
    if not episodes:
        return {"reward_mean": float("nan"), "episode_length": float("nan")}
    out = {
        "reward_mean": float(np.mean([e.episode_return for e in episodes])),
        "reward_std": float(np.std([e.episode_return for e in episodes])),
        "episode_length": float(np.mean([e.length for e in episodes])),
    }
    for name in sorted({k for e in episodes for k in e.reward_terms}):
        out[f"reward/{name}"] = float(np.mean([e.reward_terms[name] for e in episodes if name in e.reward_terms]))
    successes = [e.success for e in episodes if e.success is not None]
    if successes:
        out["success_rate"] = float(np.mean(successes))
    return out


# ---------------------------------------------------------------------------------------
# the agent base class
# ---------------------------------------------------------------------------------------


class Agent:
    """Shared mechanics of the on-policy agents.

    Args:
        env_or_id: a gym id (``"CartPole-v1"``, ``"lm_envs/TextGeneration-v0"``), an
            env instance or a SAME_STEP vector env.
        policy: ``"auto"``, ``"mlp"``, an LM name (``"tiny-shop"``) or a module.
        config: the algorithm's config dataclass (defaults if ``None``).
        seed: seeds torch, the sampler, the env resets and minibatch shuffling.
        env_kwargs: keyword arguments for ``gym.make_vec`` when ``env_or_id`` is an id.
        device: torch device of the policy.
        tensorboard_log: directory for TensorBoard scalars (needs ``tensorboard``).
    """

    config_class: ClassVar[type]

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
        config = self.config_class() if config is None else config
        if not isinstance(config, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}; got {type(config).__name__}")
        self.config = config
        self.seed = int(seed)
        self.device = torch.device(device)
        self.env_id = env_or_id if isinstance(env_or_id, str) else None
        self.env_kwargs = dict(env_kwargs or {})
        torch.manual_seed(self.seed)
        self.generator = torch.Generator(device=self.device).manual_seed(self.seed)
        self.shuffle_generator = torch.Generator().manual_seed(self.seed + 1)
        self.np_rng = np.random.default_rng(self.seed)
        self.env = make_vector_env(env_or_id, num_envs=config.num_envs, env_kwargs=self.env_kwargs)
        self.token_env = is_token_observation_space(self.env.single_observation_space)
        self.policy = make_policy(policy, self.env, config).to(self.device)
        self.ref_policy = self._make_reference(getattr(config, "reference", "fp32"))
        bootstrap = getattr(config, "bootstrap_truncated", None)
        self.rollout = Rollout(
            self.env,
            self.policy,
            generator=self.generator,
            ref_policy=self.ref_policy,
            # LM envs pay the episode-end reward at truncation and the position is in
            # the observation, so the budget is part of the task (Pardo et al., 2018)
            bootstrap_truncated=(not self.token_env) if bootstrap is None else bootstrap,
            cache_mode=getattr(config, "cache_mode", "per_row"),
        )
        self.optimizer = self._make_optimizer()
        self.num_timesteps = 0
        self.num_updates = 0
        self._env_started = False
        self._metrics: list[dict[str, Any]] = []
        self._eval_envs: dict[int, VectorEnv] = {}
        self._tensorboard_log = tensorboard_log
        self._writer: Any = None

    # -- pieces the algorithms call ---------------------------------------------------------

    def _make_reference(self, kind: str) -> Policy | None:
        """The frozen copy of the initial policy that anchors the KL penalty (Ziegler et al., 2019).

        LM runs carry one unless ``kind == "none"``, because KL to the start is the first
        thing to watch; other policies only when ``kl_coef > 0``.
        """
        if kind == "none" or not (isinstance(self.policy, LMActorCritic) or getattr(self.config, "kl_coef", 0.0) > 0):
            return None
        if kind == "bf16" and not isinstance(self.policy, LMActorCritic):
            raise ValueError("reference='bf16' is for LM policies; use reference='fp32' with an MLP policy")
        ref = copy.deepcopy(self.policy).requires_grad_(False).eval()
        if kind == "bf16":
            # half the bytes and ~1.5x faster scoring on CPUs with AMX-bf16; the value head
            # stays fp32 (it is unused); log-probs move by ~0.01 nats per token
            ref.model.to(torch.bfloat16)
        return ref

    def _make_optimizer(self) -> torch.optim.Optimizer:
        # eps=1e-5 as in the PPO reference implementation (Huang et al., 2022); the fused
        # kernel updates all tensors in one call (~5x faster steps on CPU than the per-tensor loop)
        fused = self.device.type in ("cpu", "cuda")
        return torch.optim.Adam(self.policy.parameters(), lr=self.config.learning_rate, eps=1e-5, fused=fused or None)

    def _set_lr(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def _collect(self, n_steps: int) -> tuple[RolloutBatch, list[Episode]]:
        """Continue the rollout for ``n_steps`` (the first call resets with ``seed``)."""
        if not self._env_started or self.rollout._obs is None:
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
        if not bool(torch.isfinite(loss)):
            raise FloatingPointError(
                f"{type(self).__name__}: non-finite loss ({float(loss.detach())}) at update {update}; "
                "lower learning_rate, check the rewards for nan/inf, or clip gradients"
            )

    def _clip_and_step(self, loss: torch.Tensor, max_grad_norm: float | None) -> float:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(self.policy.parameters(), max_grad_norm if max_grad_norm else float("inf"))
        self.optimizer.step()
        return float(norm)

    def _log(self, row: dict[str, Any]) -> None:
        self._metrics.append(row)
        if self._tensorboard_log is None:
            return
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn("tensorboard is not installed (pip install tensorboard); skipping TensorBoard logs")
                self._tensorboard_log = None
                return
            self._writer = SummaryWriter(self._tensorboard_log)
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in ("update", "timesteps") and math.isfinite(value):
                self._writer.add_scalar(key, value, row["timesteps"])

    def _base_metrics(self, episodes: list[Episode], n_steps: int, seconds: float) -> dict[str, Any]:
        row: dict[str, Any] = {"update": self.num_updates, "timesteps": self.num_timesteps, "episodes": len(episodes)}
        row.update(summarize_episodes(episodes))
        row["steps_per_s"] = n_steps / max(seconds, 1e-9)
        if self.token_env:  # one step of a token env writes one token per row
            row["tokens_per_s"] = row["steps_per_s"]
        return row

    # -- public API -------------------------------------------------------------------------

    def learn(self, total_steps: int, callback: Callback | None = None) -> Agent:  # pragma: no cover
        raise NotImplementedError

    @property
    def metrics(self) -> pd.DataFrame:
        """One row per update: rewards, reward terms, losses, KL, entropy, speed."""
        import pandas as pd

        return pd.DataFrame(self._metrics)

    def metrics_to_csv(self, path: str | Path) -> None:
        self.metrics.to_csv(path, index=False)

    def _evaluation_env(self, n_episodes: int) -> VectorEnv:
        if self.env_id is None:
            # the training env is borrowed: the next rollout starts from a fresh reset
            self.rollout._obs = None
            return self.env
        n = max(1, min(n_episodes, self.config.num_envs))
        if n not in self._eval_envs:
            self._eval_envs[n] = make_vector_env(self.env_id, num_envs=n, env_kwargs=self.env_kwargs)
        return self._eval_envs[n]

    @torch.no_grad()
    def evaluate(
        self, n_episodes: int = 10, *, deterministic: bool = True, seed: int | None = None, n_samples: int = 3
    ) -> dict[str, Any]:
        """Play ``n_episodes`` and summarise them.

        Uses its own sampler generator and env seed (``seed``, default ``self.seed +
        10_000``) so evaluating neither perturbs training nor depends on it.
        ``deterministic`` takes the argmax action (greedy decoding for LMs).

        Returns:
            ``reward_mean``, ``reward_std``, ``episode_length``, ``reward/<term>`` for
            each reward term, ``success_rate`` where the env reports success, and
            ``samples``: up to ``n_samples`` ``{prompt, completion, reward}`` dicts
            (plus ``transcript`` on multi-turn envs).
        """
        if n_episodes < 1:
            raise ValueError(f"n_episodes must be >= 1; got {n_episodes}")
        seed = self.seed + 10_000 if seed is None else seed
        env = self._evaluation_env(n_episodes)
        rollout = Rollout(
            env,
            self.policy,
            generator=torch.Generator(device=self.device).manual_seed(seed),
            cache_mode=getattr(self.config, "cache_mode", "per_row"),
        )
        self.policy.eval()
        start = time.perf_counter()
        episodes = rollout.run_episodes(n_episodes, deterministic=deterministic, seed=seed)
        out: dict[str, Any] = {"n_episodes": len(episodes), **summarize_episodes(episodes)}
        out["time_s"] = time.perf_counter() - start
        # multi-turn envs carry the whole dialog in info["transcript"]; keep it with the sample
        out["samples"] = [
            {"prompt": e.prompt, "completion": e.completion, "reward": e.episode_return}
            | ({"transcript": e.info["transcript"]} if "transcript" in e.info else {})
            for e in episodes[:n_samples]
            if e.completion is not None
        ]
        return out

    # -- save / load ------------------------------------------------------------------------

    def _policy_spec(self) -> dict[str, Any]:
        if isinstance(self.policy, LMActorCritic):
            return {"kind": "lm", "hf_config": json.loads(self.policy.model.config.to_json_string())}
        return {"kind": "mlp"}

    def _extra_state(self) -> dict[str, Any]:
        """Algorithm state worth restoring (e.g. the adaptive KL coefficient)."""
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def save(self, path: str | Path, *, include_reference: bool = False) -> None:
        """Write ``model.safetensors`` (policy + value head) and ``config.json`` to ``path``.

        No pickle. The optimizer state is not saved. With ``include_reference`` the
        frozen KL reference is saved too (``reference.safetensors``); otherwise a
        loaded agent anchors its KL to the loaded weights.
        """
        from safetensors.torch import save_model

        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        save_model(self.policy, str(out / "model.safetensors"))
        if include_reference and self.ref_policy is not None:
            save_model(self.ref_policy, str(out / "reference.safetensors"))
        try:
            env_kwargs = json.loads(json.dumps(self.env_kwargs))
        except TypeError as err:
            raise ValueError(f"env_kwargs must be JSON-serialisable to save the agent: {err}") from None
        meta = {
            "algorithm": type(self).__name__,
            "config": asdict(self.config),
            "seed": self.seed,
            "env_id": self.env_id,
            "env_kwargs": env_kwargs,
            "policy": self._policy_spec(),
            "num_timesteps": self.num_timesteps,
            "num_updates": self.num_updates,
            "state": self._extra_state(),
        }
        (out / "config.json").write_text(json.dumps(meta, indent=2))

    @classmethod
    def load(
        cls,
        path: str | Path,
        env: str | gym.Env | VectorEnv | None = None,
        *,
        device: str | torch.device = "cpu",
    ) -> Agent:
        """Rebuild an agent saved by :meth:`save`; pass ``env`` when it was not an id."""
        from safetensors.torch import load_model

        src = Path(path)
        meta = json.loads((src / "config.json").read_text())
        if meta["algorithm"] != cls.__name__:
            raise ValueError(f"{src} holds a {meta['algorithm']} agent; load it with {meta['algorithm']}.load")
        names = {f.name for f in fields(cls.config_class)}
        raw = {k: v for k, v in meta["config"].items() if k in names}
        config = cls.config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
        env_or_id = env if env is not None else meta["env_id"]
        if env_or_id is None:
            raise ValueError("this agent was trained on an env instance; pass env= to load it")
        spec = meta["policy"]
        policy: str | nn.Module = "mlp"
        if spec["kind"] == "lm":
            from transformers import AutoConfig, AutoModelForCausalLM

            hf = dict(spec["hf_config"])
            policy = AutoModelForCausalLM.from_config(AutoConfig.for_model(hf.pop("model_type"), **hf))
        agent = cls(
            env_or_id,
            policy=policy,
            config=config,
            seed=meta["seed"],
            env_kwargs=meta["env_kwargs"] if env is None else None,
            device=device,
        )
        load_model(agent.policy, str(src / "model.safetensors"), device=str(agent.device))
        if agent.ref_policy is not None:
            ref_file = src / "reference.safetensors"
            source = ref_file if ref_file.exists() else src / "model.safetensors"
            load_model(agent.ref_policy, str(source), device=str(agent.device))
        agent.num_timesteps = int(meta["num_timesteps"])
        agent.num_updates = int(meta["num_updates"])
        agent._load_extra_state(meta.get("state", {}))
        return agent

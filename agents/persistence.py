"""Saving and loading agents: ``config.json`` plus safetensors weights, no pickle.

A saved agent is a folder::

    config.json          algorithm, config, seed, env_id, env_kwargs, policy, counters, state
    model.safetensors    the agent's ``policy`` module (for DDPG: actor, critic and targets)
    reference.safetensors    optional: PPO/A2C/REINFORCE's frozen KL reference

An LM policy is stored with its Hugging Face config (``policy.hf_config``), so loading
rebuilds the architecture without the original model files. The optimizer state is not saved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import gymnasium as gym
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from agents.policies import LMActorCritic

__all__ = [
    "CONFIG_FILE",
    "MODEL_FILE",
    "REFERENCE_FILE",
    "Checkpointable",
    "config_from_dict",
    "load_agent",
    "load_weights",
    "policy_spec",
    "save_agent",
]

CONFIG_FILE = "config.json"
MODEL_FILE = "model.safetensors"
REFERENCE_FILE = "reference.safetensors"


class Checkpointable(Protocol):
    """What :func:`save_agent` and :func:`load_agent` need of an agent class and instance.

    The class is built as ``cls(env_or_id, policy=..., config=..., seed=..., env_kwargs=...,
    device=...)``; ``extra_state`` is JSON-able algorithm state (e.g. PPO's adaptive KL
    coefficient) that ``load_extra_state`` restores.
    """

    config_class: ClassVar[type]
    config: Any
    seed: int
    env_id: str | None
    env_kwargs: dict[str, Any]
    policy: nn.Module
    device: torch.device
    num_timesteps: int
    num_updates: int

    def extra_state(self) -> dict[str, Any]: ...

    def load_extra_state(self, state: dict[str, Any]) -> None: ...


A = TypeVar("A", bound=Checkpointable)


def policy_spec(policy: nn.Module) -> dict[str, Any]:
    """How to rebuild ``policy`` before loading its weights: an LM's Hugging Face config, or ``mlp``."""
    if isinstance(policy, LMActorCritic):
        return {"kind": "lm", "hf_config": json.loads(policy.model.config.to_json_string())}
    return {"kind": "mlp"}


def _policy_from_spec(spec: dict[str, Any]) -> str | nn.Module:
    if spec["kind"] != "lm":
        return "mlp"
    from transformers import AutoConfig, AutoModelForCausalLM

    hf = dict(spec["hf_config"])
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(hf.pop("model_type"), **hf))


def config_from_dict(config_class: type, raw: dict[str, Any]) -> Any:
    """``config_class`` from a saved dict: unknown keys are dropped, JSON lists become tuples."""
    names = {f.name for f in fields(config_class)}
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items() if k in names})


def save_agent(agent: Checkpointable, path: str | Path, *, reference: nn.Module | None = None) -> None:
    """Write ``agent``'s policy weights (and ``reference``'s, when given) and ``config.json``."""
    from safetensors.torch import save_model

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    save_model(agent.policy, str(out / MODEL_FILE))
    if reference is not None:
        save_model(reference, str(out / REFERENCE_FILE))
    try:
        env_kwargs = json.loads(json.dumps(agent.env_kwargs))
    except TypeError as err:
        raise ValueError(f"env_kwargs must be JSON-serialisable to save the agent: {err}") from None
    meta = {
        "algorithm": type(agent).__name__,
        "config": asdict(agent.config),
        "seed": agent.seed,
        "env_id": agent.env_id,
        "env_kwargs": env_kwargs,
        "policy": policy_spec(agent.policy),
        "num_timesteps": agent.num_timesteps,
        "num_updates": agent.num_updates,
        "state": agent.extra_state(),
    }
    (out / CONFIG_FILE).write_text(json.dumps(meta, indent=2))


def load_weights(module: nn.Module, file: str | Path, *, device: torch.device) -> None:
    """Load a safetensors file written by :func:`save_agent` into ``module`` (strict)."""
    from safetensors.torch import load_model

    load_model(module, str(file), device=str(device))


def load_agent(
    cls: type[A], path: str | Path, env: str | gym.Env | VectorEnv | None = None, *, device: str | torch.device = "cpu"
) -> A:
    """Rebuild a ``cls`` agent saved by :func:`save_agent` in ``path``: config, env (``env``
    when it was not an id), policy weights, counters and extra state."""
    src = Path(path)
    meta = json.loads((src / CONFIG_FILE).read_text())
    if meta["algorithm"] != cls.__name__:
        raise ValueError(f"{src} holds a {meta['algorithm']} agent; load it with {meta['algorithm']}.load")
    config = config_from_dict(cls.config_class, meta["config"])
    env_or_id = env if env is not None else meta["env_id"]
    if env_or_id is None:
        raise ValueError("this agent was trained on an env instance; pass env= to load it")
    agent = cls(  # type: ignore[call-arg]
        env_or_id,
        policy=_policy_from_spec(meta["policy"]),
        config=config,
        seed=meta["seed"],
        env_kwargs=meta["env_kwargs"] if env is None else None,
        device=device,
    )
    load_weights(agent.policy, src / MODEL_FILE, device=agent.device)
    agent.num_timesteps = int(meta["num_timesteps"])
    agent.num_updates = int(meta["num_updates"])
    agent.load_extra_state(meta.get("state", {}))
    return agent

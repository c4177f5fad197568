"""Saving and loading agents: ``config.json`` plus safetensors weights, no pickle.

A saved agent is a folder::

    config.json          algorithm, config, seed, env_id, env_kwargs, policy, counters, state,
                         and the SHA-256 of each weights file
    model.safetensors    the agent's ``policy`` module (for DDPG: actor, critic and targets)
    reference.safetensors    optional: PPO/A2C/REINFORCE's frozen KL reference

An LM policy is stored with its Hugging Face config (``policy.hf_config``), so loading
rebuilds the architecture without the original model files. The optimizer state is not saved.

A save is atomic: the files are written and fsync'ed in a temp folder beside the target, which
then takes the target's place in one rename (an existing save is replaced only once the new
one is whole), so a failed or killed save leaves the previous save as it was. Loading checks,
before it builds anything, that each weights file has the hash ``config.json`` records, that
its header is whole, and that its tensors have the shapes the config asks for (an LM is built
on PyTorch's meta device to compare them, which allocates nothing); unknown keys in
``config.json`` are errors. A save whose ``config.json`` records no hashes loads with a warning.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import gymnasium as gym
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from agents.policies import LMActorCritic
from lm_envs.models.compress import file_sha256

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
_SAVED_FILES = (CONFIG_FILE, MODEL_FILE, REFERENCE_FILE)
_META_KEYS = ("algorithm", "config", "seed", "env_id", "env_kwargs", "policy", "num_timesteps", "num_updates",
              "state", "files")


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


def _policy_from_spec(spec: dict[str, Any], *, meta_device: bool = False) -> str | nn.Module:
    """The policy a saved ``policy`` spec describes; ``meta_device`` builds an LM without memory."""
    if spec["kind"] != "lm":
        return "mlp"
    from transformers import AutoConfig, AutoModelForCausalLM

    hf = dict(spec["hf_config"])
    config = AutoConfig.for_model(hf.pop("model_type"), **hf)
    if meta_device:
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config)
    return AutoModelForCausalLM.from_config(config)


def config_from_dict(config_class: type, raw: dict[str, Any]) -> Any:
    """``config_class`` from a saved dict (JSON lists become tuples).

    Raises:
        ValueError: a key that is not a field of ``config_class``.
    """
    names = [f.name for f in fields(config_class)]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} field {unknown[0]!r}"
                         + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
                         + f"; known: {', '.join(names)}")
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})


def _fsync(path: Path) -> None:
    """Flush a file, or a folder's entries, to disk."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if path.is_dir() else 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap folders ``a`` and ``b`` in one atomic step (Linux ``renameat2``); ``False`` where
    the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _replace_folder(new: Path, target: Path) -> None:
    """Put folder ``new`` at ``target``, replacing a previous save there once ``new`` is whole."""
    if not target.exists():
        os.rename(new, target)
        return
    if _exchange(new, target):  # target is the new save now, `new` the old one
        shutil.rmtree(new)
        return
    old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.old")
    os.rename(target, old)  # the one moment without a save at target: the old one is at `old`
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def save_agent(agent: Checkpointable, path: str | Path, *, reference: nn.Module | None = None) -> None:
    """Write ``agent``'s policy weights (and ``reference``'s, when given) and ``config.json``
    to the folder ``path``, atomically (see the module docstring).

    Raises:
        ValueError: ``env_kwargs`` is not JSON, or ``path`` is a file or a folder holding
            other files than a saved agent's (it is not replaced then).
    """
    from safetensors.torch import save_model

    out = Path(path)
    try:
        env_kwargs = json.loads(json.dumps(agent.env_kwargs))
    except TypeError as err:
        raise ValueError(f"env_kwargs must be JSON-serialisable to save the agent: {err}") from None
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; an agent is saved as a folder")
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in _SAVED_FILES)
        if others:
            raise ValueError(f"{out} holds files that are not part of a saved agent ({', '.join(others[:5])}); "
                             "save to a new or empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        save_model(agent.policy, str(tmp / MODEL_FILE))
        if reference is not None:
            save_model(reference, str(tmp / REFERENCE_FILE))
        weights = [name for name in (MODEL_FILE, REFERENCE_FILE) if (tmp / name).exists()]
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
            "files": {name: {"sha256": file_sha256(tmp / name)} for name in weights},
        }
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        for name in (*weights, CONFIG_FILE):
            _fsync(tmp / name)
        _fsync(tmp)
        _replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync(out.parent)


def load_weights(module: nn.Module, file: str | Path, *, device: torch.device) -> None:
    """Load a safetensors file written by :func:`save_agent` into ``module`` (strict).

    Raises:
        ValueError: the file is not a whole safetensors file or does not fit ``module``;
            the message names the file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_model

    try:
        load_model(module, str(file), device=str(device))
    except SafetensorError as err:
        raise ValueError(f"{file}: not a whole safetensors file ({err})") from None
    except RuntimeError as err:  # strict loading: missing, unexpected or mis-shaped tensors
        raise ValueError(f"{file}: does not fit the {type(module).__name__} ({err})") from None


def _read_meta(src: Path) -> dict[str, Any]:
    path = src / CONFIG_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{src} holds no saved agent: {CONFIG_FILE} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: a saved agent's config is a JSON object; got {type(meta).__name__}")
    unknown = [k for k in meta if k not in _META_KEYS]
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(_META_KEYS)}")
    return meta


def _check_hashes(src: Path, meta: dict[str, Any]) -> None:
    files = meta.get("files")
    if files is None:
        warnings.warn(f"{src / CONFIG_FILE} records no hashes of its weights: they are loaded unchecked "
                      "(save the agent again to add them)", UserWarning, stacklevel=4)
        return
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ValueError(f"{src / CONFIG_FILE}: 'files' must name {MODEL_FILE} and its sha256")
    for name, entry in files.items():
        if name not in (MODEL_FILE, REFERENCE_FILE) or not isinstance(entry, dict):
            raise ValueError(f"{src / CONFIG_FILE}: 'files' has an unknown entry {name!r}")
        path = src / name
        if not path.is_file():
            raise ValueError(f"{path} is missing; {CONFIG_FILE} records it")
        if file_sha256(path) != entry.get("sha256"):
            raise ValueError(f"{path} does not match the hash {CONFIG_FILE} records: the weights were changed, "
                             "cut short, or belong to another save")


def _header_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, from a safetensors file's header alone (no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except SafetensorError as err:
        raise ValueError(f"{path}: not a whole safetensors file ({err})") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror or err})") from None


def _check_shapes(src: Path, meta: dict[str, Any], config: Any) -> None:
    """Refuse weights that do not fit the model ``config.json`` describes, before building it:
    a small config could otherwise ask for a model of any size."""
    weights, config_path = src / MODEL_FILE, src / CONFIG_FILE
    shapes = _header_shapes(weights)
    if (src / REFERENCE_FILE).exists():
        _header_shapes(src / REFERENCE_FILE)
    spec = meta.get("policy")
    if not isinstance(spec, dict) or spec.get("kind") not in ("lm", "mlp"):
        raise ValueError(f"{config_path}: 'policy' must be {{'kind': 'lm', 'hf_config': ...}} or {{'kind': 'mlp'}}")
    if spec["kind"] == "lm":
        if not isinstance(spec.get("hf_config"), dict) or not isinstance(spec["hf_config"].get("model_type"), str):
            raise ValueError(f"{config_path}: an LM policy needs its hf_config with a model_type")
        model = _policy_from_spec(spec, meta_device=True)
        assert isinstance(model, nn.Module)
        persistent = set(model.state_dict())
        tensors = [(name, tensor) for name, tensor in (*model.named_parameters(remove_duplicate=False),
                                                       *model.named_buffers(remove_duplicate=False))
                   if name in persistent]
        groups: dict[int, list[str]] = {}  # tied weights are one tensor under several names; the file keeps one
        for name, tensor in tensors:
            groups.setdefault(id(tensor), []).append(name)
        needed = {id(tensor): tuple(tensor.shape) for _, tensor in tensors}
        for group, names in groups.items():
            found = [shapes[f"model.{n}"] for n in names if f"model.{n}" in shapes]
            if not found:
                raise ValueError(f"{weights}: has no tensor 'model.{names[0]}' of shape {needed[group]}, which the "
                                 f"model in {config_path} has: the weights and {CONFIG_FILE} do not belong together")
            if found[0] != needed[group]:
                raise ValueError(f"{weights}: tensor 'model.{names[0]}' has shape {found[0]}, but the model in "
                                 f"{config_path} needs {needed[group]}: the weights and {CONFIG_FILE} do not "
                                 "belong together")
        return
    # an MLP's inputs depend on the env, but its hidden layers alone need at least this many numbers
    hidden = [int(h) for h in getattr(config, "hidden_sizes", ())]
    needed = sum(hidden) + sum(a * b for a, b in itertools.pairwise(hidden))
    held = sum(int(torch.Size(shape).numel()) for shape in shapes.values())
    if needed > held:
        raise ValueError(f"{weights}: holds {held} numbers, fewer than the {needed} that hidden_sizes {hidden} in "
                         f"{config_path} need: the weights and {CONFIG_FILE} do not belong together")


def load_agent(
    cls: type[A], path: str | Path, env: str | gym.Env | VectorEnv | None = None, *, device: str | torch.device = "cpu"
) -> A:
    """Rebuild a ``cls`` agent saved by :func:`save_agent` in ``path``: config, env (``env``
    when it was not an id), policy weights, counters and extra state.

    Raises:
        FileNotFoundError: ``path`` holds no ``config.json``.
        ValueError: ``config.json`` is not a saved agent's (an unknown key or config field,
            another algorithm), a weights file does not match its recorded hash, is not a
            whole safetensors file, or does not fit the model the config describes; the
            message names the file.
    """
    src = Path(path)
    meta = _read_meta(src)
    if meta.get("algorithm") != cls.__name__:
        raise ValueError(f"{src} holds a {meta.get('algorithm')} agent; load it with {meta.get('algorithm')}.load")
    try:
        config = config_from_dict(cls.config_class, meta["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{src / CONFIG_FILE}: {err}") from None
    _check_hashes(src, meta)
    _check_shapes(src, meta, config)
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

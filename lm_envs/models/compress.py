"""Compressed policies for deployment: int8 dynamic quantisation and magnitude pruning.

```python
from lm_envs.models import load_policy
from lm_envs.models.compress import compress
compress("runs/sft", "runs/sft-int8", int8=True)         # linear layers in int8 (smoothed), the rest fp32
compress("runs/ppo/model", "runs/ppo-pruned", prune=0.3) # an RL agent's save: its LM, value head dropped
load_policy("runs/sft-int8")                             # what every agent and env loads
```

Both write a folder (config, weights, the tokenizer, ``compression.json``) that
:func:`lm_envs.models.load_policy` loads; its weights file is in the format of
:mod:`lm_envs.models.int8` (transformers alone cannot read it).

- **int8**: the transformer's linear layers (GPT-2's ``Conv1D`` included) become
  :class:`lm_envs.models.int8.Int8Linear`: int8 weights with one scale per output row, the
  input quantised to int8 at run time with one scale per token, int32 sums. The output layer,
  tied to the token embeddings, stays fp32. By default each layer's input is first smoothed
  as SmoothQuant does (Xiao et al., 2023), with scales calibrated on ``calibration``: the
  prompts of an env (default: the reset prompts of ``CustomerServiceDialog-v1`` in the
  policy's tokenizer, seeds 0 to ``calibration_samples - 1``) or texts. ``smooth=None`` turns
  it off. Both matter at 100M+ parameters: a few tokens and a few input features of a
  transformer run 10-100x larger than the rest (SmolLM2-135M after SFT resolves 0.938 of
  held-out dialogs in fp32 and 0.542 with one activation scale per call; docs/results.md).
- **prune**: ``torch.nn.utils.prune.l1_unstructured`` on every linear weight of the
  transformer (not the embeddings nor the output layer), made permanent with
  ``prune.remove``. Pruned weights are stored as a bitmask plus their nonzero entries, so the
  file shrinks with the share pruned; loading rebuilds them exactly.

The source is a Hugging Face model folder (``agents.SFT.save`` writes one), a built-in model
name, the save folder of an RL agent (``Agent.save``), or a run folder of ``lm-envs train``
(whose ``model/`` is one of those). An RL agent's save is read from its documented files alone
(``lm_envs`` does not import ``agents``): ``config.json`` with ``algorithm``, ``policy`` =
``{"kind": "lm", "hf_config": {...}}`` and ``files`` (each weights file's SHA-256), and
``model.safetensors`` holding the actor-critic, whose language model's tensors are named
``model.<name>`` (the value head's, ``value_head.*``, are dropped). Such a save holds no
tokenizer: the compressed folder gets ``tokenizer`` when given, else the agent's env's
(``env_kwargs["tokenizer"]``, or the default of the registered ``lm_envs`` env).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from lm_envs.models.int8 import (
    ACTIVATIONS,
    COMPRESSION_FILE,
    DEFAULT_SMOOTH_ALPHA,
    INT8_FILE,
    is_compressed,
    linear_names,
    load_compressed,
    quantize,
    save_compressed,
    smoothing_scales,
)
from lm_envs.models.loading import max_positions

__all__ = ["AGENT_MODEL_PREFIX", "CALIBRATION_ENV", "COMPRESSION_FILE", "agent_language_model",
           "calibration_sequences", "compress", "file_sha256", "is_compressed", "load_compressed"]

CALIBRATION_ENV = "lm_envs/CustomerServiceDialog-v1"
"""The env whose reset prompts calibrate int8 smoothing by default."""
MAX_CALIBRATION_SAMPLES = 1024
_CALIBRATION_TOKENS = 512  # a calibration sequence is cut to this many tokens (and the model's positions)

AGENT_CONFIG_FILE = "config.json"
AGENT_WEIGHTS_FILE = "model.safetensors"
AGENT_MODEL_PREFIX = "model."
"""Prefix of the language model's tensors in an RL agent's ``model.safetensors``."""
_MAX_CONFIG_BYTES = 16 << 20


def _read_json(path: Path) -> Any:
    if path.stat().st_size > _MAX_CONFIG_BYTES:
        raise ValueError(f"{path} is {path.stat().st_size} bytes, more than a model config's {_MAX_CONFIG_BYTES}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err})") from None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (the digest an agent's ``config.json`` records)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def agent_language_model(folder: str | os.PathLike[str]) -> tuple[nn.Module, dict[str, Any]]:
    """The language model of an RL agent's save folder (``Agent.save``), without its value head.

    Reads only the documented files (see the module docstring): checks ``model.safetensors``
    against the SHA-256 in ``config.json`` where it records one, and its tensors' shapes against
    the model ``hf_config`` describes before building it.

    Returns:
        ``(model, meta)``: the causal LM in eval mode and the agent's ``config.json``.

    Raises:
        ValueError: the folder is not an RL agent's save of an LM policy, or its weights do not
            match its ``config.json`` (the message names the file).
    """
    import torch
    from safetensors import SafetensorError, safe_open
    from transformers import AutoConfig, AutoModelForCausalLM

    src = Path(folder)
    config_path, weights = src / AGENT_CONFIG_FILE, src / AGENT_WEIGHTS_FILE
    meta = _read_json(config_path)
    if not isinstance(meta, dict) or not isinstance(meta.get("algorithm"), str):
        raise ValueError(f"{config_path} is not an RL agent's config (no 'algorithm')")
    spec = meta.get("policy")
    if not isinstance(spec, dict) or spec.get("kind") != "lm":
        kind = spec.get("kind") if isinstance(spec, dict) else spec
        raise ValueError(f"{src} holds a {meta['algorithm']} agent whose policy is {kind!r}, not a language model: "
                         "only language-model policies can be compressed")
    hf = spec.get("hf_config")
    if not isinstance(hf, dict) or not isinstance(hf.get("model_type"), str):
        raise ValueError(f"{config_path}: an LM policy needs its 'hf_config' with a 'model_type'")
    if not weights.is_file():
        raise ValueError(f"{src} is an RL agent's folder without its {AGENT_WEIGHTS_FILE}")
    recorded = (meta.get("files") or {}).get(AGENT_WEIGHTS_FILE) if isinstance(meta.get("files"), dict) else None
    if isinstance(recorded, dict) and file_sha256(weights) != recorded.get("sha256"):
        raise ValueError(f"{weights} does not match the hash {config_path} records: the weights were changed, cut "
                         "short, or belong to another save")
    hf = dict(hf)
    config = AutoConfig.for_model(hf.pop("model_type"), **hf)
    try:
        with safe_open(str(weights), framework="pt") as f:
            shapes = {k[len(AGENT_MODEL_PREFIX):]: tuple(f.get_slice(k).get_shape())
                      for k in f.keys() if k.startswith(AGENT_MODEL_PREFIX)}
    except SafetensorError as err:
        raise ValueError(f"{weights}: not a whole safetensors file ({err})") from None
    with torch.device("meta"):  # the shapes the config asks for, without allocating them
        skeleton = AutoModelForCausalLM.from_config(config)
    persistent = set(skeleton.state_dict())
    groups: dict[int, list[str]] = {}  # tied weights: one tensor under several names, stored once
    needed: dict[int, tuple[int, ...]] = {}
    for name, tensor in (*skeleton.named_parameters(remove_duplicate=False),
                         *skeleton.named_buffers(remove_duplicate=False)):
        if name in persistent:
            groups.setdefault(id(tensor), []).append(name)
            needed[id(tensor)] = tuple(tensor.shape)
    known = {n for names in groups.values() for n in names}
    extra = sorted(set(shapes) - known)
    if extra:
        raise ValueError(f"{weights}: tensor '{AGENT_MODEL_PREFIX}{extra[0]}' is not in the model {config_path} "
                         "describes: the weights and the config do not belong together")
    for group, names in groups.items():
        found = [shapes[n] for n in names if n in shapes]
        if not found or found[0] != needed[group]:
            raise ValueError(f"{weights}: needs tensor '{AGENT_MODEL_PREFIX}{names[0]}' of shape {needed[group]} "
                             f"(the model in {config_path}); found {found[0] if found else 'none'}")
    del skeleton
    model = AutoModelForCausalLM.from_config(config)
    state = {}
    with safe_open(str(weights), framework="pt") as f:
        for key in f.keys():
            if key.startswith(AGENT_MODEL_PREFIX):
                state[key[len(AGENT_MODEL_PREFIX):]] = f.get_tensor(key)
    model.load_state_dict(state, strict=False)  # tied names absent from the file share a loaded tensor
    return model.eval(), meta


def _agent_tokenizer(src: Path, meta: dict[str, Any]) -> str:
    """The tokenizer an RL agent's env used: its ``env_kwargs["tokenizer"]``, else the default of
    the registered ``lm_envs`` env ``env_id``."""
    import lm_envs

    kwargs = meta.get("env_kwargs")
    if isinstance(kwargs, dict) and isinstance(kwargs.get("tokenizer"), str):
        return kwargs["tokenizer"]
    env_id = meta.get("env_id")
    if isinstance(env_id, str) and env_id in lm_envs.ENV_IDS and lm_envs.is_token_env(env_id):
        import gymnasium as gym

        registered = gym.spec(env_id).kwargs.get("tokenizer")
        if isinstance(registered, str):
            return registered
        for cls in lm_envs.env_class(env_id).__mro__:  # the first __init__ that takes `tokenizer` (TokenEnv's)
            init = vars(cls).get("__init__")
            default = inspect.signature(init).parameters.get("tokenizer") if init is not None else None
            if default is not None:
                if isinstance(default.default, str):
                    return default.default
                break
    raise ValueError(f"{src} is an RL agent's save without a tokenizer, and its env ({env_id!r}) names none: "
                     "pass tokenizer=<the policy's model name or folder> (--tokenizer on the command line)")


def _source(source: str | os.PathLike[str], tokenizer: str | os.PathLike[str] | None) -> tuple[Any, Any, str]:
    """``(model, tokenizer, kind)`` of a compress source; kind is ``"hf"`` or ``"agent"``."""
    from lm_envs.models.loading import MODELS, load_policy, load_tokenizer

    if isinstance(source, str) and source in MODELS:
        return load_policy(source), load_tokenizer(tokenizer if tokenizer is not None else source), "hf"
    src = Path(source).expanduser()
    if not src.is_dir():
        if src.exists() or os.fspath(source).startswith((".", "/", "~")):
            raise FileNotFoundError(f"no policy folder at {os.fspath(source)!r}")
        name = os.fspath(source)  # a hub name in the local cache
        return load_policy(name), load_tokenizer(tokenizer if tokenizer is not None else name), "hf"
    if not (src / "config.json").is_file() and (src / "model" / "config.json").is_file():
        src = src / "model"  # a run folder of `lm-envs train`
    config_path = src / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{src} is neither a Hugging Face model folder (config.json with 'model_type'), an RL "
                         "agent's save (config.json with 'algorithm'), nor a run folder of `lm-envs train` "
                         "(model/ holding one of those)")
    if (src / COMPRESSION_FILE).is_file():
        raise ValueError(f"{src} is already compressed ({COMPRESSION_FILE}); compress the policy it was made from")
    config = _read_json(config_path)
    if isinstance(config, dict) and "algorithm" in config:
        model, meta = agent_language_model(src)
        return model, load_tokenizer(tokenizer if tokenizer is not None else _agent_tokenizer(src, meta)), "agent"
    if not (isinstance(config, dict) and isinstance(config.get("model_type"), str)):
        raise ValueError(f"{config_path} is neither a Hugging Face model config (no 'model_type') nor an RL "
                         "agent's (no 'algorithm')")
    return load_policy(src), load_tokenizer(tokenizer if tokenizer is not None else src), "hf"


def calibration_sequences(calibration: str | Sequence[str], tokenizer: Any, samples: int,
                          max_tokens: int = _CALIBRATION_TOKENS) -> list[list[int]]:
    """Token id lists that calibrate int8 smoothing.

    Args:
        calibration: a registered token env's id (its reset prompts, env seeds ``0`` to
            ``samples - 1``, made with ``tokenizer``) or texts (the first ``samples``).
        tokenizer: the policy's tokenizer.
        samples: how many sequences, in [1, 1024].
        max_tokens: each sequence is cut to its last ``max_tokens`` tokens.

    Raises:
        ValueError: ``samples`` is out of range, the env id is unknown or not a token env,
            or the texts are empty.
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= MAX_CALIBRATION_SAMPLES:
        raise ValueError(f"calibration_samples must be an int in [1, {MAX_CALIBRATION_SAMPLES}]; got {samples!r}")
    if isinstance(calibration, str):
        import gymnasium as gym

        import lm_envs  # noqa: F401  (registers the ids)

        try:
            env = gym.make(calibration, tokenizer=tokenizer)
        except gym.error.Error as err:
            raise ValueError(f"calibration env {calibration!r}: {err}") from None
        except TypeError as err:
            raise ValueError(f"calibration env {calibration!r} takes no tokenizer (not a token env): {err}") from None
        try:
            sequences = []
            for seed in range(samples):
                obs, _ = env.reset(seed=seed)
                if not isinstance(obs, dict) or "input_ids" not in obs:
                    raise ValueError(f"calibration env {calibration!r} does not observe token ids")
                ids = obs["input_ids"][obs["attention_mask"].astype(bool)].tolist()
                sequences.append([int(i) for i in ids[-max_tokens:]])
        finally:
            env.close()
        return sequences
    texts = [str(text) for text in list(calibration)[:samples]]
    sequences = [tokenizer.encode(text, add_special_tokens=False)[-max_tokens:] for text in texts]
    if not sequences or not all(sequences):
        raise ValueError("calibration texts must be a non-empty list of non-empty texts")
    return sequences


def compress(source: str | os.PathLike[str], out: str | os.PathLike[str], *, int8: bool = False,
             prune: float | None = None, tokenizer: str | os.PathLike[str] | None = None,
             smooth: float | None = DEFAULT_SMOOTH_ALPHA, calibration: str | Sequence[str] = CALIBRATION_ENV,
             calibration_samples: int = 32) -> Path:
    """Write a compressed copy of the policy ``source`` to the folder ``out``.

    Args:
        source: a built-in model name, a Hugging Face model folder (``agents.SFT.save`` writes
            one), the save folder of an RL agent with a language-model policy (``Agent.save``:
            its value head is dropped), or a run folder of ``lm-envs train`` whose ``model/``
            is one of those.
        out: the new folder (replaced if it exists; written beside it and moved into place).
        int8: quantise the linear layers to int8.
        prune: the share in (0, 1) of each linear weight's smallest-magnitude entries set to 0.
        tokenizer: the tokenizer to write with the model (a model name or folder); by default
            the source's (an RL agent's: its env's).
        smooth: with ``int8``, SmoothQuant's migration strength in [0, 1]
            (:data:`lm_envs.models.int8.DEFAULT_SMOOTH_ALPHA`); ``None``: plain dynamic int8.
        calibration: what calibrates the smoothing: a registered token env's id (its reset
            prompts in the policy's tokenizer) or a list of texts.
        calibration_samples: prompts (or texts) used, in [1, 1024].

    Returns:
        ``out`` as a path.

    Raises:
        ValueError: neither ``int8`` nor ``prune`` is asked for, ``prune`` is outside (0, 1),
            ``smooth`` outside [0, 1], ``source`` is none of the above or already compressed,
            the tokenizer has more tokens than the model, or the calibration is unusable
            (:func:`calibration_sequences`).
        FileNotFoundError: ``source`` looks like a path but no such folder exists.
    """
    from torch.nn.utils import prune as torch_prune

    if not int8 and prune is None:
        raise ValueError("compress needs int8=True, prune=<share>, or both")
    if prune is not None and (isinstance(prune, bool) or not isinstance(prune, (int, float)) or not 0.0 < prune < 1.0):
        raise ValueError(f"prune must be a share in (0, 1); got {prune!r}")
    if smooth is not None and (isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or
                               not 0.0 <= smooth <= 1.0):
        raise ValueError(f"smooth must be SmoothQuant's alpha in [0, 1] or None; got {smooth!r}")
    model, tok, kind = _source(source, tokenizer)
    vocab = model.get_input_embeddings().weight.shape[0]
    if len(tok) > vocab:
        raise ValueError(f"the tokenizer has {len(tok)} tokens but the model's vocabulary only {vocab}: pass the "
                         "policy's own tokenizer")
    names = linear_names(model)
    if prune is not None:
        for layer in names:
            module = model.get_submodule(layer)
            torch_prune.l1_unstructured(module, "weight", amount=float(prune))
            torch_prune.remove(module, "weight")
    smoothing: dict[str, Any] = {}
    if int8 and smooth is not None:
        positions = max_positions(model) or _CALIBRATION_TOKENS
        sequences = calibration_sequences(calibration, tok, calibration_samples, min(_CALIBRATION_TOKENS, positions))
        smoothing = {"smooth_alpha": float(smooth), "calibration": calibration if isinstance(calibration, str)
                     else f"{len(sequences)} texts", "calibration_samples": len(sequences)}
        scales = smoothing_scales(model, names, sequences, float(smooth))
    if int8:
        quantize(model, names, smooth=scales if smoothing else None)
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tok.save_pretrained(tmp)
        model.config.save_pretrained(tmp)
        sparse = save_compressed(model, tmp / INT8_FILE, layers=names if int8 else [],
                                 sparse_layers=names if prune is not None else [])
        meta = {"source": os.fspath(source), "source_kind": kind, "int8": bool(int8), "prune": prune,
                "activations": ACTIVATIONS if int8 else None,
                "per_channel": bool(int8), "layers": names if int8 else [], "sparse": sparse} | smoothing
        (tmp / COMPRESSION_FILE).write_text(json.dumps(meta, indent=2))
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target

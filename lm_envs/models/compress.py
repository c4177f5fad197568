"""Compressed policies for deployment: int8 dynamic quantisation and magnitude pruning.

```python
from lm_envs.models import load_policy
from lm_envs.models.compress import compress
compress("runs/sft", "runs/sft-int8", int8=True)         # linear layers in int8, the rest fp32
compress("runs/sft", "runs/sft-pruned", prune=0.3)       # 30% smallest-magnitude weights set to 0
load_policy("runs/sft-int8")                             # what every agent and env loads
```

Both write a Hugging Face folder (config, weights, the tokenizer) plus ``compression.json``.

- **int8**: the transformer's linear layers (GPT-2's ``Conv1D`` included, made ``nn.Linear``)
  become ``torch.ao.quantization`` dynamic int8 linears (per-tensor weights, activations
  quantised on the fly, CPU only). ``model.safetensors`` stores their int8 weights with scale
  and zero point; :func:`lm_envs.models.load_policy` rebuilds the quantised modules from
  them. The output layer (tied to the token embeddings) stays fp32.
- **prune**: ``torch.nn.utils.prune.l1_unstructured`` on every linear weight of the
  transformer (not the embeddings nor the output layer), made permanent with
  ``prune.remove``. The zeros are stored densely: the file keeps its size.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lm_envs.models.int8 import (
    COMPRESSION_FILE,
    INT8_FILE,
    is_compressed,
    linear_names,
    load_compressed,
    quantize,
    save_int8,
)

__all__ = ["COMPRESSION_FILE", "compress", "is_compressed", "load_compressed"]


def compress(source: str | os.PathLike[str], out: str | os.PathLike[str], *, int8: bool = False,
             prune: float | None = None) -> Path:
    """Write a compressed copy of the policy ``source`` to the folder ``out``.

    Args:
        source: anything :func:`lm_envs.models.load_policy` loads (a built-in name, a Hugging
            Face folder such as one written by ``agents.SFT.save``), or a run folder of
            ``lm-envs train`` whose ``model/`` is such a folder.
        out: the new folder (replaced if it exists).
        int8: quantise the linear layers to int8 (dynamic quantisation).
        prune: the share in (0, 1) of each linear weight's smallest-magnitude entries set to 0.

    Returns:
        ``out`` as a path. Raises ``ValueError`` when neither ``int8`` nor ``prune`` is asked for,
        or ``prune`` is outside (0, 1).
    """
    from torch.nn.utils import prune as torch_prune

    from lm_envs.models.loading import load_policy, load_tokenizer

    if not int8 and prune is None:
        raise ValueError("compress needs int8=True, prune=<share>, or both")
    if prune is not None and not (isinstance(prune, (int, float)) and 0.0 < prune < 1.0):
        raise ValueError(f"prune must be a share in (0, 1); got {prune!r}")
    src = Path(source)
    if src.is_dir() and not (src / "config.json").is_file() and (src / "model" / "config.json").is_file():
        src = src / "model"
    name: str | Path = src if src.is_dir() else str(source)
    model = load_policy(name)
    if src.is_dir() and (src / "config.json").is_file() and "algorithm" in json.loads((src / "config.json").read_text()):
        raise ValueError(f"{src} is an RL agent's folder, not a Hugging Face model folder; compress an SFT folder "
                         "or export the policy with model.save_pretrained first")
    tokenizer = load_tokenizer(name)
    names = linear_names(model)
    if prune is not None:
        for layer in names:
            module = model.get_submodule(layer)
            torch_prune.l1_unstructured(module, "weight", amount=float(prune))
            torch_prune.remove(module, "weight")
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer.save_pretrained(tmp)
    if int8:
        model.config.save_pretrained(tmp)
        quantize(model, names)
        save_int8(model, names, tmp / INT8_FILE)
    else:
        model.save_pretrained(tmp, safe_serialization=True)
    meta = {"source": str(source), "int8": bool(int8), "prune": prune, "layers": names if int8 else []}
    (tmp / COMPRESSION_FILE).write_text(json.dumps(meta, indent=2))
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    return target



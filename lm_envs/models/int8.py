"""The int8 format of compressed policies: dynamic int8 linear layers, saved as int8
safetensors and rebuilt on load (``lm_envs.models.compress`` writes it, ``load_policy`` reads it)."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["COMPRESSION_FILE", "INT8_FILE", "is_compressed", "linear_names", "load_compressed", "quantize", "save_int8"]

COMPRESSION_FILE = "compression.json"
"""Marks a compressed folder and says how it was compressed."""
INT8_FILE = "model.safetensors"


def linear_names(model: nn.Module) -> list[str]:
    """Dotted names of the transformer's linear layers (``nn.Linear`` or GPT-2's ``Conv1D``),
    the output layer excluded."""
    head = model.get_output_embeddings()
    names = []
    for name, module in model.named_modules():
        if module is head:
            continue
        if isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D":
            names.append(name)
    return names


def _as_linear(module: nn.Module) -> nn.Linear:
    """An ``nn.Linear`` computing what ``module`` (a Linear or GPT-2's Conv1D) computes."""
    if isinstance(module, nn.Linear):
        return module
    weight = module.weight.data  # Conv1D: (in, out), y = x @ W + b
    linear = nn.Linear(weight.shape[0], weight.shape[1], bias=module.bias is not None)
    linear.weight.data = weight.t().contiguous()
    if module.bias is not None:
        linear.bias.data = module.bias.data.clone()
    return linear


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def quantize(model: nn.Module, names: list[str]) -> nn.Module:
    """Replace the named layers by dynamic int8 linears, in place."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    for name in names:
        _set(model, name, _as_linear(model.get_submodule(name)))
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, dict.fromkeys(names, default_dynamic_qconfig), dtype=torch.qint8, inplace=True)


def is_compressed(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` was written by :func:`compress` with ``int8`` (it needs :func:`load_compressed`)."""
    path = Path(folder) / COMPRESSION_FILE
    return path.is_file() and bool(json.loads(path.read_text()).get("int8"))


def save_int8(model: nn.Module, names: list[str], path: Path) -> None:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    quantized = set(names)
    for layer in names:
        module = model.get_submodule(layer)
        weight, bias = module._weight_bias()
        tensors[f"{layer}.weight_int8"] = weight.int_repr().contiguous()
        tensors[f"{layer}.weight_scale"] = torch.tensor([weight.q_scale()], dtype=torch.float64)
        tensors[f"{layer}.weight_zero_point"] = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
        if bias is not None:
            tensors[f"{layer}.bias"] = bias.detach().contiguous()
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is model.get_input_embeddings().weight
    for name, tensor in model.state_dict().items():
        owner = name.rpartition(".")[0]
        if owner in quantized or not isinstance(tensor, torch.Tensor) or tensor.is_quantized:
            continue
        if tied and head is not None and name.startswith(_name_of(model, head)):
            continue  # tied to the input embeddings: stored once
        tensors[name] = tensor.detach().contiguous()
    save_file(tensors, str(path), metadata={"format": "lm-envs-int8"})


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def load_compressed(folder: str | os.PathLike[str]) -> nn.Module:
    """The int8 model of a folder written by :func:`compress` (what ``load_policy`` returns for it)."""
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(folder)
    meta: dict[str, Any] = json.loads((path / COMPRESSION_FILE).read_text())
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config).eval()  # quantize_dynamic converts eval-mode modules
    names = list(meta["layers"])
    quantize(model, names)
    tensors = load_file(str(path / INT8_FILE))
    for layer in names:
        weight = torch._make_per_tensor_quantized_tensor(
            tensors.pop(f"{layer}.weight_int8"), float(tensors.pop(f"{layer}.weight_scale")),
            int(tensors.pop(f"{layer}.weight_zero_point")))
        model.get_submodule(layer).set_weight_bias(weight, tensors.pop(f"{layer}.bias", None))
    # the remaining (fp32) tensors, one by one: the quantised modules take no state_dict keys
    expected = {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()}
    head = model.get_output_embeddings()
    if head is not None and head.weight is model.get_input_embeddings().weight:
        expected -= {f"{_name_of(model, head)}.weight"}
    unexpected = sorted(set(tensors) - expected)
    missing = sorted(n for n in expected - set(tensors) if n.rpartition(".")[0] not in set(names))
    if missing or unexpected:
        raise ValueError(f"{path / INT8_FILE} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            owner, _, attr = name.rpartition(".")
            getattr(model.get_submodule(owner) if owner else model, attr).copy_(tensor)
    return model.eval()

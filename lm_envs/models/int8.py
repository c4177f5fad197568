"""The on-disk format of compressed policies (``lm_envs.models.compress`` writes it,
``load_policy`` reads it): dynamic int8 linear layers and bit-packed sparse weights in one
safetensors file, rebuilt on load.

A compressed folder holds the model's ``config.json``, the tokenizer, ``compression.json``
(how it was compressed: the int8 layers, the sparse tensors) and
``model.safetensors`` (metadata ``format``: ``lm-envs-compressed``), whose tensors are:

- ``<layer>.weight_int8`` (int8), ``<layer>.weight_scale`` (float64) and
  ``<layer>.weight_zero_point`` (int64) for each int8 layer: one scale per output row
  (per-channel) or a single one (per-tensor, folders written before per-channel), plus
  ``<layer>.bias`` in fp32.
- ``<layer>.smooth_scale`` (fp32, one entry per input feature) for each int8 layer of a
  folder whose ``compression.json`` has ``smooth_alpha``: the layer's input is divided by it
  before quantisation and its int8 weight already holds the columns multiplied by it
  (:class:`SmoothedInt8Linear`).
- ``<name>.sparse_mask`` (uint8, the tensor's nonzero pattern packed 8 entries a byte,
  row-major, most significant bit first as :func:`numpy.packbits`) and ``<name>.sparse_values``
  (its nonzero entries in row-major order) for each tensor named in ``sparse`` (pruned weights,
  int8 or fp32); the dense tensor is rebuilt exactly on load.
- every other tensor of the model, dense, under its ``state_dict`` name.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["COMPRESSION_FILE", "DEFAULT_SMOOTH_ALPHA", "INT8_FILE", "SmoothedInt8Linear", "is_compressed",
           "linear_names", "load_compressed", "pack_sparse", "quantize", "save_compressed", "smoothing_scales",
           "unpack_sparse"]

COMPRESSION_FILE = "compression.json"
"""Marks a compressed folder and says how it was compressed."""
INT8_FILE = "model.safetensors"
FORMAT = "lm-envs-compressed"
"""``model.safetensors`` metadata ``format`` of a compressed folder (transformers refuses to read it)."""
_MASK, _VALUES = ".sparse_mask", ".sparse_values"
_SMOOTH = ".smooth_scale"
DEFAULT_SMOOTH_ALPHA = 0.8
"""SmoothQuant's migration strength: the share of an input channel's range moved into the
weight. 0.8 gave SmolLM2-135M after SFT the smallest KL to fp32 of 0.5, 0.65, 0.8 and 0.9 on
held-out oracle dialogs (docs/results.md, "Compressed policies")."""
_MIN_SCALE = 1e-5


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


def _qconfig(per_channel: bool) -> Any:
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    return per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig


class SmoothedInt8Linear(nn.Module):
    """A dynamic int8 linear layer whose input is divided by per-feature scales first.

    SmoothQuant (Xiao et al., 2023, "SmoothQuant: Accurate and Efficient Post-Training
    Quantization for Large Language Models"): ``W x = (W diag(s)) (x / s)``. A few input
    features of a transformer's linear layers run 10-100x larger than the rest, and dynamic
    int8 quantises each input with one scale for all its features, so those few set the step
    and the rest lose their precision. Dividing feature ``j`` by ``s_j`` (and multiplying the
    weight's column ``j`` by it, which changes nothing in exact arithmetic) moves part of the
    range into the weight, which has one scale per output row.
    """

    def __init__(self, int8: nn.Module, smooth_scale: torch.Tensor) -> None:
        super().__init__()
        self.int8 = int8
        self.register_buffer("smooth_scale", smooth_scale.detach().to(torch.float32).contiguous())
        self.register_buffer("inverse_scale", 1.0 / self.smooth_scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.int8(x * self.inverse_scale)

    def _weight_bias(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.int8._weight_bias()

    def set_weight_bias(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        self.int8.set_weight_bias(weight, bias)

    @property
    def in_features(self) -> int:
        return int(self.int8.in_features)

    @property
    def out_features(self) -> int:
        return int(self.int8.out_features)


@torch.no_grad()
def smoothing_scales(model: nn.Module, names: list[str], sequences: list[list[int]],
                     alpha: float = DEFAULT_SMOOTH_ALPHA) -> dict[str, torch.Tensor]:
    """SmoothQuant's per-input-feature scales of the named layers, calibrated on ``sequences``.

    ``s_j = max|x_j| ** alpha / max|W_:,j| ** (1 - alpha)`` (Xiao et al., 2023, eq. 4), with
    ``max|x_j|`` over every token of the sequences (each run through ``model`` alone).

    Args:
        model: the fp32 model, its named layers still ``nn.Linear`` or GPT-2's ``Conv1D``.
        names: the layers (:func:`linear_names`).
        sequences: token id lists, each at most the model's positions.
        alpha: the migration strength in [0, 1] (0: no smoothing of the input's range).

    Raises:
        ValueError: ``alpha`` is outside [0, 1] or there are no sequences.
    """
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"the smoothing alpha must be in [0, 1]; got {alpha!r}")
    if not sequences or not all(sequences):
        raise ValueError("smoothing needs calibration sequences, none of them empty")
    input_max: dict[str, torch.Tensor] = {}

    def record(name: str, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].detach()
        largest = x.reshape(-1, x.shape[-1]).abs().amax(0).float()
        input_max[name] = torch.maximum(input_max[name], largest) if name in input_max else largest

    hooks = [model.get_submodule(name).register_forward_pre_hook(lambda _, inputs, name=name: record(name, inputs))
             for name in names]
    was_training = model.training
    model.eval()
    try:
        for ids in sequences:
            model(input_ids=torch.tensor([ids], dtype=torch.long))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    scales = {}
    for name in names:
        weight = _as_linear(model.get_submodule(name)).weight.detach().float()
        weight_max = weight.abs().amax(0).clamp(min=_MIN_SCALE)
        scale = input_max[name].clamp(min=_MIN_SCALE) ** alpha / weight_max ** (1.0 - alpha)
        scales[name] = scale.clamp(min=_MIN_SCALE)
    return scales


def quantize(model: nn.Module, names: list[str], *, per_channel: bool = True,
             smooth: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Replace the named layers by dynamic int8 linears (one weight scale per output row with
    ``per_channel``, else one per layer), in place; the layers in ``smooth`` (name -> input
    scales, :func:`smoothing_scales`) become :class:`SmoothedInt8Linear`."""
    from torch.ao.quantization import quantize_dynamic

    smooth = smooth or {}
    for name in names:
        linear = _as_linear(model.get_submodule(name))
        if name in smooth:
            if smooth[name].shape != (linear.in_features,):
                raise ValueError(f"{name}: {tuple(smooth[name].shape)} smoothing scales for {linear.in_features} "
                                 "input features")
            linear.weight.data = linear.weight.data * smooth[name].to(linear.weight.dtype)[None, :]
        _set(model, name, linear)
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
        warnings.simplefilter("ignore")
        quantize_dynamic(model, dict.fromkeys(names, _qconfig(per_channel)), dtype=torch.qint8, inplace=True)
    for name, scale in smooth.items():
        _set(model, name, SmoothedInt8Linear(model.get_submodule(name), scale))
    return model


def pack_sparse(tensor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mask, values)``: ``tensor``'s nonzero pattern packed 8 entries a byte (uint8) and its
    nonzero entries in row-major order; :func:`unpack_sparse` inverts it exactly."""
    flat = tensor.detach().reshape(-1)
    nonzero = flat != 0
    mask = torch.from_numpy(np.packbits(nonzero.numpy()))
    return mask, flat[nonzero].contiguous()


def unpack_sparse(mask: torch.Tensor, values: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """The dense tensor of ``shape`` that :func:`pack_sparse` gave ``(mask, values)`` for.

    Raises:
        ValueError: ``mask`` or ``values`` does not fit ``shape``.
    """
    numel = int(torch.Size(shape).numel())
    if mask.dtype != torch.uint8 or mask.dim() != 1 or mask.numel() != (numel + 7) // 8 or values.dim() != 1:
        raise ValueError(f"a sparse mask of {tuple(mask.shape)} {mask.dtype} does not fit a tensor of shape "
                         f"{tuple(shape)}")
    nonzero = torch.from_numpy(np.unpackbits(mask.numpy(), count=numel).astype(bool))
    if int(nonzero.sum()) != values.numel():
        raise ValueError(f"a sparse mask marks {int(nonzero.sum())} nonzero entries but {values.numel()} values "
                         f"are stored (shape {tuple(shape)})")
    dense = torch.zeros(numel, dtype=values.dtype)
    dense[nonzero] = values
    return dense.reshape(shape)


def is_compressed(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` was written by ``compress`` in this module's format (int8 layers or
    sparse weights; it needs :func:`load_compressed`). A pruned folder of the first format
    (a plain Hugging Face folder with dense zeros) is not: transformers loads it."""
    path = Path(folder) / COMPRESSION_FILE
    if not path.is_file():
        return False
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not JSON ({err})") from None
    return isinstance(meta, dict) and (bool(meta.get("int8")) or bool(meta.get("sparse")))


def _int8_tensors(prefix: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        scale = weight.q_per_channel_scales().to(torch.float64)
        zero_point = weight.q_per_channel_zero_points().to(torch.int64)
    else:
        scale = torch.tensor([weight.q_scale()], dtype=torch.float64)
        zero_point = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
    return {f"{prefix}.weight_int8": weight.int_repr().contiguous(), f"{prefix}.weight_scale": scale.contiguous(),
            f"{prefix}.weight_zero_point": zero_point.contiguous()}


def save_compressed(model: nn.Module, path: Path, *, layers: list[str], sparse_layers: list[str]) -> list[str]:
    """Write ``model`` to the safetensors file ``path`` in this module's format.

    Args:
        model: the model, its ``layers`` already int8 (:func:`quantize`).
        path: the file.
        layers: the int8 layers.
        sparse_layers: the layers whose weight is stored bit-packed (the pruned ones).

    Returns:
        The names of the tensors stored sparse (for ``compression.json``).
    """
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    quantized = set(layers)
    for layer in layers:
        module = model.get_submodule(layer)
        weight, bias = module._weight_bias()
        tensors |= _int8_tensors(layer, weight)
        if bias is not None:
            tensors[f"{layer}.bias"] = bias.detach().contiguous()
        if isinstance(module, SmoothedInt8Linear):
            tensors[layer + _SMOOTH] = module.smooth_scale.detach().contiguous()
    embeddings = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    output_name = _name_of(model, output) if output is not None else None
    tied = output is not None and output.weight is embeddings
    for name, tensor in model.state_dict().items():
        owner = name.rpartition(".")[0]
        inside = owner in quantized or owner.rpartition(".")[0] in quantized  # a SmoothedInt8Linear's int8 layer
        if inside or not isinstance(tensor, torch.Tensor) or tensor.is_quantized:
            continue
        if tied and name == f"{output_name}.weight":
            continue  # the output layer's weight is the input embedding: stored once
        tensors[name] = tensor.detach().contiguous()
    sparse = []
    for layer in sparse_layers:
        name = f"{layer}.weight_int8" if layer in quantized else f"{layer}.weight"
        mask, values = pack_sparse(tensors.pop(name))
        tensors[name + _MASK], tensors[name + _VALUES] = mask, values
        sparse.append(name)
    save_file(tensors, str(path), metadata={"format": FORMAT})
    return sparse


def _name_of(model: nn.Module, module: nn.Module) -> str:
    return next(name for name, m in model.named_modules() if m is module)


def _quantized_weight(tensors: dict[str, torch.Tensor], prefix: str, file: Path) -> torch.Tensor:
    try:
        values = tensors.pop(f"{prefix}.weight_int8")
        scale = tensors.pop(f"{prefix}.weight_scale").to(torch.float64)
        zero_point = tensors.pop(f"{prefix}.weight_zero_point").to(torch.int64)
    except KeyError as err:
        raise ValueError(f"{file} has no tensor {err.args[0]!r}, which its {COMPRESSION_FILE} needs") from None
    if values.dtype != torch.int8 or values.dim() != 2 or scale.shape != zero_point.shape or scale.numel() not in (
            1, values.shape[0]):
        raise ValueError(f"{file}: the int8 weight of {prefix} and its scales do not fit together")
    if scale.numel() == 1:
        return torch._make_per_tensor_quantized_tensor(values, float(scale), int(zero_point))
    return torch._make_per_channel_quantized_tensor(values, scale, zero_point, 0)


def load_compressed(folder: str | os.PathLike[str]) -> nn.Module:
    """The model of a folder written by ``lm_envs.models.compress`` (what ``load_policy``
    returns for it): int8 layers rebuilt from their int8 weights, sparse weights made dense.

    Raises:
        ValueError: ``model.safetensors`` does not match ``config.json`` and ``compression.json``,
            or ``compression.json`` is not a JSON object (the message names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    path = Path(folder)
    file = path / INT8_FILE
    if not is_compressed(path):
        raise ValueError(f"{path / COMPRESSION_FILE}: names neither int8 layers nor sparse tensors")
    meta: dict[str, Any] = json.loads((path / COMPRESSION_FILE).read_text(encoding="utf-8"))
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config).eval()  # quantize_dynamic converts eval-mode modules
    per_channel = bool(meta.get("per_channel", False))
    names = [str(n) for n in meta.get("layers", [])]
    try:
        tensors = load_file(str(file))
    except SafetensorError as err:
        raise ValueError(f"{file}: not a whole safetensors file ({err})") from None
    smooth = {}
    if meta.get("smooth_alpha") is not None:
        missing_scales = [layer for layer in names if layer + _SMOOTH not in tensors]
        if missing_scales:
            raise ValueError(f"{file} has no smoothing scales for {missing_scales[:3]}, which its {COMPRESSION_FILE} "
                             "says were smoothed")
        smooth = {layer: tensors.pop(layer + _SMOOTH) for layer in names}
    if names:
        try:
            quantize(model, names, per_channel=per_channel, smooth=smooth)
        except ValueError as err:
            raise ValueError(f"{file}: {err}") from None
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items() if isinstance(t, torch.Tensor)}
    for layer in names:
        module = model.get_submodule(layer)
        shapes[f"{layer}.weight_int8"] = (module.out_features, module.in_features)
    for name in meta.get("sparse", []):
        if name not in shapes or name + _MASK not in tensors or name + _VALUES not in tensors:
            raise ValueError(f"{file}: the sparse tensor {name!r} that {COMPRESSION_FILE} names is missing or not "
                             "in the model")
        try:
            tensors[name] = unpack_sparse(tensors.pop(name + _MASK), tensors.pop(name + _VALUES), shapes[name])
        except ValueError as err:
            raise ValueError(f"{file}: {name}: {err}") from None
    for layer in names:
        weight = _quantized_weight(tensors, layer, file)
        model.get_submodule(layer).set_weight_bias(weight, tensors.pop(f"{layer}.bias", None))
    # the remaining (fp32) tensors, one by one: the quantised modules take no state_dict keys, and
    # non-persistent buffers (Llama's rotary frequencies) are built by the model, not stored
    persistent = model.state_dict().keys()
    expected = {name for name, _ in model.named_parameters()} | {name for name, _ in model.named_buffers()
                                                                 if name in persistent}
    output = model.get_output_embeddings()
    if output is not None and output.weight is model.get_input_embeddings().weight:
        expected -= {f"{_name_of(model, output)}.weight"}
    unexpected = sorted(set(tensors) - expected)
    missing = sorted(n for n in expected - set(tensors) if n.rpartition(".")[0] not in set(names))
    if missing or unexpected:
        raise ValueError(f"{file} does not match its config: missing {missing[:5]}, unexpected {unexpected[:5]}")
    with torch.no_grad():
        for name, tensor in tensors.items():
            owner, _, attr = name.rpartition(".")
            target = getattr(model.get_submodule(owner) if owner else model, attr)
            if tuple(target.shape) != tuple(tensor.shape):
                raise ValueError(f"{file}: tensor {name!r} has shape {tuple(tensor.shape)}, the model needs "
                                 f"{tuple(target.shape)}")
            target.copy_(tensor)
    return model.eval()

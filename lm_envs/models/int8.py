"""The on-disk format of compressed policies (``lm_envs.models.compress`` writes it,
``load_policy`` reads it): int8 linear layers and bit-packed sparse weights in one safetensors
file, rebuilt on load.

An int8 layer (:class:`Int8Linear`) holds its weight in int8 with one scale per output row and
quantises its input at run time with one scale per token (row), both symmetric, and multiplies
them in int8 with int32 sums (``torch._int_mm``, the kernel torchao's dynamic int8 uses). One
scale per token matters: a few tokens of a transformer (the first, delimiters) carry
activations 100x larger than the rest, and one scale for the whole input
(``torch.ao.quantization``'s dynamic int8, which folders written before ``activations`` use)
lets them take every other token's precision. Optionally the input is also smoothed first
(SmoothQuant): see :func:`smoothing_scales`.

A compressed folder holds the model's ``config.json``, the tokenizer, ``compression.json``
(how it was compressed: the int8 layers, the sparse tensors) and
``model.safetensors`` (metadata ``format``: ``lm-envs-compressed``), whose tensors are:

- ``<layer>.weight_int8`` (int8), ``<layer>.weight_scale`` (float64) and
  ``<layer>.weight_zero_point`` (int64, zeros for :class:`Int8Linear`) for each int8 layer:
  one scale per output row (per-channel) or a single one (per-tensor, folders written before
  per-channel), plus ``<layer>.bias`` in fp32. ``compression.json``'s ``activations`` says how
  the input is quantised: ``"per-token"`` (:class:`Int8Linear`), or absent for folders of
  ``torch.ao.quantization`` dynamic int8 layers (one scale per input).
- ``<layer>.smooth_scale`` (fp32, one entry per input feature) for each int8 layer of a
  folder whose ``compression.json`` has ``smooth_alpha``: the layer's input is divided by it
  before quantisation and its int8 weight already holds the columns multiplied by it.
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

__all__ = ["ACTIVATIONS", "COMPRESSION_FILE", "DEFAULT_SMOOTH_ALPHA", "INT8_FILE", "Int8Linear", "is_compressed",
           "linear_names", "load_compressed", "pack_sparse", "quantize", "save_compressed", "smoothing_scales",
           "unpack_sparse"]

COMPRESSION_FILE = "compression.json"
"""Marks a compressed folder and says how it was compressed."""
INT8_FILE = "model.safetensors"
FORMAT = "lm-envs-compressed"
"""``model.safetensors`` metadata ``format`` of a compressed folder (transformers refuses to read it)."""
_MASK, _VALUES = ".sparse_mask", ".sparse_values"
_SMOOTH = ".smooth_scale"
ACTIVATIONS = "per-token"
"""``compression.json``'s ``activations`` for folders of :class:`Int8Linear` layers."""
DEFAULT_SMOOTH_ALPHA = 0.8
"""SmoothQuant's migration strength: the share of an input feature's range moved into the
weight (``python -m benchmarks.perf smoothing`` compares alphas; docs/results.md, "Compressed
policies")."""
_INT8_MAX = 127
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


class Int8Linear(nn.Module):
    """A linear layer computed in int8: ``y = (q(x / s) @ Q^T) * scale_x * scale_w + b``.

    ``Q`` is the weight (its columns multiplied by ``s``, the smoothing scales, when there are
    any) rounded to int8 with one scale per output row; ``q(x / s)`` rounds each token's input
    to int8 with that token's own scale (its largest magnitude / 127), computed on every call.
    Both are symmetric, so int8 x int8 products summed in int32 (``torch._int_mm``) are exact
    and need no zero points. Smoothing is SmoothQuant (Xiao et al., 2023, "SmoothQuant:
    Accurate and Efficient Post-Training Quantization for Large Language Models"):
    ``W x = (W diag(s)) (x / s)`` moves part of an outlier input feature's range into the
    weight, which has one scale per output row.
    """

    def __init__(self, weight_int8: torch.Tensor, weight_scale: torch.Tensor, bias: torch.Tensor | None = None,
                 smooth_scale: torch.Tensor | None = None) -> None:
        super().__init__()
        out_features, in_features = weight_int8.shape
        if weight_int8.dtype != torch.int8 or weight_scale.shape != (out_features,):
            raise ValueError(f"an int8 weight of {tuple(weight_int8.shape)} {weight_int8.dtype} needs one scale per "
                             f"output row; got scales of shape {tuple(weight_scale.shape)}")
        if smooth_scale is not None and smooth_scale.shape != (in_features,):
            raise ValueError(f"{tuple(smooth_scale.shape)} smoothing scales for {in_features} input features")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.register_buffer("weight_int8", weight_int8.contiguous())
        self.register_buffer("weight_scale", weight_scale.detach().to(torch.float32).contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().to(torch.float32).contiguous())
        self.register_buffer("smooth_scale", None if smooth_scale is None else
                             smooth_scale.detach().to(torch.float32).contiguous())
        self.register_buffer("inverse_scale", None if smooth_scale is None else 1.0 / self.smooth_scale,
                             persistent=False)

    @classmethod
    def from_linear(cls, linear: nn.Linear, smooth_scale: torch.Tensor | None = None) -> Int8Linear:
        """The int8 layer of ``linear``'s weight (times ``smooth_scale`` per column, if given)."""
        weight = linear.weight.detach().float()
        if smooth_scale is not None:
            if smooth_scale.shape != (weight.shape[1],):
                raise ValueError(f"{tuple(smooth_scale.shape)} smoothing scales for {weight.shape[1]} input features")
            weight = weight * smooth_scale.float()[None, :]
        scale = weight.abs().amax(1).clamp(min=torch.finfo(torch.float32).tiny) / _INT8_MAX
        weight_int8 = torch.round(weight / scale[:, None]).clamp(-_INT8_MAX, _INT8_MAX).to(torch.int8)
        return cls(weight_int8, scale, linear.bias, smooth_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features).float()
        if self.inverse_scale is not None:
            rows = rows * self.inverse_scale
        token_scale = rows.abs().amax(1, keepdim=True).clamp(min=torch.finfo(torch.float32).tiny) / _INT8_MAX
        rows_int8 = torch.round(rows / token_scale).to(torch.int8)
        y = torch._int_mm(rows_int8, self.weight_int8.t()).float() * token_scale * self.weight_scale
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, " \
               f"smoothed={self.smooth_scale is not None}"


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


def quantize(model: nn.Module, names: list[str], *, smooth: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """Replace the named layers by :class:`Int8Linear` layers, in place; those in ``smooth``
    (name -> input scales, :func:`smoothing_scales`) smoothed."""
    smooth = smooth or {}
    for name in names:
        try:
            _set(model, name, Int8Linear.from_linear(_as_linear(model.get_submodule(name)), smooth.get(name)))
        except ValueError as err:
            raise ValueError(f"{name}: {err}") from None
    return model


def _quantize_per_tensor_input(model: nn.Module, names: list[str], *, per_channel: bool) -> nn.Module:
    """``torch.ao.quantization`` dynamic int8 layers (one scale for each call's whole input; one
    weight scale per output row with ``per_channel``): what folders without ``activations`` hold."""
    from torch.ao.quantization import quantize_dynamic

    for name in names:
        _set(model, name, _as_linear(model.get_submodule(name)))
    with warnings.catch_warnings():  # torch.ao.quantization's deprecation notice
        warnings.simplefilter("ignore")
        return quantize_dynamic(model, dict.fromkeys(names, _qconfig(per_channel)), dtype=torch.qint8, inplace=True)


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


def _int8_tensors(prefix: str, module: nn.Module) -> dict[str, torch.Tensor]:
    if isinstance(module, Int8Linear):
        tensors = {f"{prefix}.weight_int8": module.weight_int8, f"{prefix}.weight_scale": module.weight_scale.double(),
                   f"{prefix}.weight_zero_point": torch.zeros(module.out_features, dtype=torch.int64)}
        if module.bias is not None:
            tensors[f"{prefix}.bias"] = module.bias
        if module.smooth_scale is not None:
            tensors[prefix + _SMOOTH] = module.smooth_scale
        return {name: tensor.detach().contiguous() for name, tensor in tensors.items()}
    weight, bias = module._weight_bias()
    tensors = {f"{prefix}.bias": bias.detach().contiguous()} if bias is not None else {}
    if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        scale = weight.q_per_channel_scales().to(torch.float64)
        zero_point = weight.q_per_channel_zero_points().to(torch.int64)
    else:
        scale = torch.tensor([weight.q_scale()], dtype=torch.float64)
        zero_point = torch.tensor([weight.q_zero_point()], dtype=torch.int64)
    return tensors | {f"{prefix}.weight_int8": weight.int_repr().contiguous(), f"{prefix}.weight_scale": scale.contiguous(),
            f"{prefix}.weight_zero_point": zero_point.contiguous()}


def save_compressed(model: nn.Module, path: Path, *, layers: list[str], sparse_layers: list[str]) -> list[str]:
    """Write ``model`` to the safetensors file ``path`` in this module's format.

    Args:
        model: the model, its ``layers`` already int8 (:func:`quantize`, or ``torch.ao`` dynamic int8).
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
        tensors |= _int8_tensors(layer, model.get_submodule(layer))
    embeddings = model.get_input_embeddings().weight
    output = model.get_output_embeddings()
    output_name = _name_of(model, output) if output is not None else None
    tied = output is not None and output.weight is embeddings
    for name, tensor in model.state_dict().items():
        owner = name.rpartition(".")[0]
        if owner in quantized or not isinstance(tensor, torch.Tensor) or tensor.is_quantized:
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


def _int8_parts(tensors: dict[str, torch.Tensor], prefix: str, file: Path) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
    """The int8 weight of layer ``prefix``, its scales (float64) and zero points (int64), checked."""
    try:
        values = tensors.pop(f"{prefix}.weight_int8")
        scale = tensors.pop(f"{prefix}.weight_scale").to(torch.float64)
        zero_point = tensors.pop(f"{prefix}.weight_zero_point").to(torch.int64)
    except KeyError as err:
        raise ValueError(f"{file} has no tensor {err.args[0]!r}, which its {COMPRESSION_FILE} needs") from None
    if values.dtype != torch.int8 or values.dim() != 2 or scale.shape != zero_point.shape or scale.numel() not in (
            1, values.shape[0]):
        raise ValueError(f"{file}: the int8 weight of {prefix} and its scales do not fit together")
    return values, scale, zero_point


def _quantized_weight(values: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """A ``torch.ao`` dynamic int8 layer's weight (folders without ``activations``)."""
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
    names = [str(n) for n in meta.get("layers", [])]
    per_token = meta.get("activations") == ACTIVATIONS
    if meta.get("activations") not in (None, ACTIVATIONS):
        raise ValueError(f"{path / COMPRESSION_FILE}: unknown activations {meta['activations']!r} (this version "
                         f"reads {ACTIVATIONS!r})")
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
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items() if isinstance(t, torch.Tensor)}
    for layer in names:
        module = _as_linear(model.get_submodule(layer))
        shapes[f"{layer}.weight_int8"] = (module.out_features, module.in_features)
    if names and not per_token:
        _quantize_per_tensor_input(model, names, per_channel=bool(meta.get("per_channel", False)))
    for name in meta.get("sparse", []):
        if name not in shapes or name + _MASK not in tensors or name + _VALUES not in tensors:
            raise ValueError(f"{file}: the sparse tensor {name!r} that {COMPRESSION_FILE} names is missing or not "
                             "in the model")
        try:
            tensors[name] = unpack_sparse(tensors.pop(name + _MASK), tensors.pop(name + _VALUES), shapes[name])
        except ValueError as err:
            raise ValueError(f"{file}: {name}: {err}") from None
    for layer in names:
        values, scale, zero_point = _int8_parts(tensors, layer, file)
        bias = tensors.pop(f"{layer}.bias", None)
        if not per_token:
            model.get_submodule(layer).set_weight_bias(_quantized_weight(values, scale, zero_point), bias)
            continue
        if shapes[f"{layer}.weight_int8"] != tuple(values.shape) or scale.numel() != values.shape[0] or \
                bool(zero_point.any()):
            raise ValueError(f"{file}: the int8 weight of {layer} is not {shapes[f'{layer}.weight_int8']} with one "
                             "symmetric scale per output row")
        try:
            int8 = Int8Linear(values, scale.float(), bias, smooth.get(layer))
        except ValueError as err:
            raise ValueError(f"{file}: {layer}: {err}") from None
        _set(model, layer, int8)
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

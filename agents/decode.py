"""The policy's forward passes without transformers' per-call machinery, for GPT-2 and Llama.

A decode step feeds one new token per row (a few in a multi-turn env) through the KV cache,
and a prefill a few prompts. On a small model much of such a call is not arithmetic:
transformers' forward builds its mask, dispatches through its attention interface, wraps
outputs in dataclasses, and GPT-2's ``gelu_new`` is eight elementwise ops. The functions here
run the same blocks directly on the model's own modules (embeddings, norms, projections,
MLPs, rotary embedding), with ``torch.nn.functional.scaled_dot_product_attention`` and an
explicit boolean mask, so compressed (int8) projections and bf16 autocast work as they do in
``model(...)``: :func:`cached_forward` for prefills and decode steps through the rollout's
cache layers, :func:`packed_forward` for the update's teacher-forced forward over packed rows
(with gradients). They equal transformers' forward to float rounding
(``tests/agents/test_decode.py``); on tiny-shop a call takes about 0.8 of its time
(``python -m benchmarks.perf forward``: 1.20-1.26x).

Only what :func:`covers` accepts runs this way (GPT-2 and Llama configurations without
cross-attention, layer-index scaling, reordered attention or sliding windows, in eval mode);
everything else runs through ``model(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cached_forward", "covers", "lean_decoder", "packed_forward", "segment_mask", "step_mask"]

LeanForward = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor, Any], torch.Tensor]


def step_mask(attention_mask: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """The ``(N, 1, K, S + K)`` boolean attention mask of ``K`` new tokens after ``S`` cached
    columns: a query sees the unmasked keys up to its own column, and always itself, so a
    hole (a row or slot with nothing to feed, whose output is discarded) attends to something
    and stays finite; a NaN there would reach the cache and poison later steps."""
    n, total = attention_mask.shape
    seen = attention_mask.bool()[:, None, None, :].expand(n, 1, new_tokens, total)
    if new_tokens == 1:
        mask = seen.clone()
        mask[..., -1] = True
        return mask
    cached = total - new_tokens
    causal = torch.ones(new_tokens, total, dtype=torch.bool, device=attention_mask.device).tril(cached)
    mask = seen & causal
    own = torch.arange(new_tokens, device=attention_mask.device)
    mask[:, :, own, cached + own] = True
    return mask


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    # SDPA turns a boolean mask into this at every call; once per forward serves every layer
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))


def _compute_dtype(hidden: torch.Tensor) -> torch.dtype:
    # under autocast the attention runs in the autocast dtype, and its mask must match
    if torch.is_autocast_enabled(hidden.device.type):
        return torch.get_autocast_dtype(hidden.device.type)
    return hidden.dtype


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    n, k, _ = x.shape
    return x.view(n, k, heads, -1).transpose(1, 2)


def _kv(cache: Any | None, i: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return (key, value) if cache is None else cache.layers[i].update(key, value)


def _gpt2(model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor,
          cache: Any | None) -> torch.Tensor:  # fmt: skip
    n, k = input_ids.shape
    heads = model.config.n_head
    hidden = model.wte(input_ids) + model.wpe(position_ids)
    mask = _additive(mask, _compute_dtype(hidden))
    for i, block in enumerate(model.h):
        query, key, value = block.attn.c_attn(block.ln_1(hidden)).split(model.config.n_embd, dim=2)
        keys, values = _kv(cache, i, _split_heads(key, heads), _split_heads(value, heads))
        attended = F.scaled_dot_product_attention(_split_heads(query, heads), keys, values, attn_mask=mask)
        hidden = hidden + block.attn.c_proj(attended.transpose(1, 2).reshape(n, k, -1))
        mlp = block.mlp
        # gelu_new is GELU's tanh approximation (Hendrycks & Gimpel, 2016), one fused op here
        hidden = hidden + mlp.c_proj(F.gelu(mlp.c_fc(block.ln_2(hidden)), approximate="tanh"))
    return model.ln_f(hidden)


def _llama(model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor,
           cache: Any | None) -> torch.Tensor:  # fmt: skip
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    n, k = input_ids.shape
    hidden = model.embed_tokens(input_ids)
    mask = _additive(mask, _compute_dtype(hidden))
    cos, sin = model.rotary_emb(hidden, position_ids)
    for i, block in enumerate(model.layers):
        attn = block.self_attn
        x = block.input_layernorm(hidden)
        shape = (n, k, -1, attn.head_dim)
        query = attn.q_proj(x).view(shape).transpose(1, 2)
        key = attn.k_proj(x).view(shape).transpose(1, 2)
        value = attn.v_proj(x).view(shape).transpose(1, 2)
        query, key = apply_rotary_pos_emb(query, key, cos, sin)
        keys, values = _kv(cache, i, key, value)
        attended = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=attn.scaling,
                                                  enable_gqa=keys.shape[1] != query.shape[1])  # fmt: skip
        hidden = hidden + attn.o_proj(attended.transpose(1, 2).reshape(n, k, -1))
        hidden = hidden + block.mlp(block.post_attention_layernorm(hidden))
    return model.norm(hidden)


def lean_decoder(model: nn.Module) -> LeanForward | None:
    """The lean blocks for the base decoder ``model`` (``causal_lm.base_model``), or ``None``
    where its configuration needs transformers' own forward."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind == "gpt2":
        plain = (
            not config.add_cross_attention and config.scale_attn_weights
            and not config.scale_attn_by_inverse_layer_idx and not config.reorder_and_upcast_attn
            and config.activation_function in ("gelu_new", "gelu_pytorch_tanh")
        )  # fmt: skip
        return _gpt2 if plain else None
    if kind == "llama":
        plain = getattr(config, "sliding_window", None) is None and not getattr(config, "pretraining_tp", 1) > 1
        return _llama if plain else None
    return None


def covers(model: nn.Module) -> bool:
    """Whether the lean blocks run ``model`` now: a configuration :func:`lean_decoder` knows,
    in eval mode (the blocks apply no dropout)."""
    return lean_decoder(model) is not None and not model.training


def cached_forward(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                   cache: Any | None) -> tuple[torch.Tensor, Any] | None:  # fmt: skip
    """``(hidden, cache)``: the ``(N, K, H)`` last hidden states of the tokens ``input_ids``
    fed through ``cache`` (updated in place; a new ``DynamicCache`` when ``None``), or ``None``
    when ``model`` or ``cache`` needs transformers' forward.

    Args:
        model: the base decoder (in eval mode).
        input_ids: ``(N, K)`` new tokens (left-padded per row; holes are masked).
        attention_mask: ``(N, S + K)`` over the cached and the new columns (0 = hole).
        position_ids: ``(N, K)`` positions of the new tokens.
        cache: a transformers ``Cache`` of layers with ``update(keys, values)``, holding ``S``
            columns, or ``None`` for a prefill.
    """
    if not covers(model):
        return None
    if cache is None:
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache(config=model.config)
    if not getattr(cache, "layers", None) or len(cache.layers) != model.config.num_hidden_layers:
        return None
    forward = lean_decoder(model)
    return forward(model, input_ids, step_mask(attention_mask, input_ids.shape[1]), position_ids, cache), cache


def segment_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """The ``(R, 1, W, W)`` boolean mask of packed rows ``(R, W)`` whose segments start where
    the positions restart at 0: causal within a segment, nothing across segments (the mask
    transformers builds for its padding-free layout)."""
    segment = (position_ids == 0).cumsum(-1)
    same = segment[:, :, None] == segment[:, None, :]
    width = position_ids.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool, device=position_ids.device).tril()
    return (same & causal)[:, None]


def packed_forward(model: nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor,
                   mask: torch.Tensor | None = None) -> torch.Tensor | None:  # fmt: skip
    """The ``(R, W, H)`` last hidden states of packed rows, with gradients (the update's
    teacher-forced forward; no cache), or ``None`` when ``model`` needs transformers' forward.
    ``mask``: ``(R, 1, W, W)`` boolean, default :func:`segment_mask`."""
    if not covers(model):
        return None
    forward = lean_decoder(model)
    return forward(model, input_ids, segment_mask(position_ids) if mask is None else mask, position_ids, None)

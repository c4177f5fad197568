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
(``tests/agents/test_decode.py``); on tiny-shop a decode step or an update forward + backward
takes about 0.8 of its time (``python -m benchmarks.perf forward``: 1.22x and 1.20x at
``4e71f62``; a prefill of prompts that share openings 1.37x; docs/results.md).

In prefills and decode steps the tokens run flat, ``(T, hidden)``, through every matmul; only
attention groups them into rows (the update's packed rows keep transformers' layout, see
``_Attention``). So one call can hold more than one group: a prefill runs each distinct prefix of its
prompts once (:class:`PrefixNodes`) and gathers them into the rows only for attention, and a
decode step can carry the prompts of rows that start new episodes (:class:`NewPrompts`).

Only what :func:`covers` accepts runs this way (GPT-2 and Llama configurations without
cross-attention, layer-index scaling, reordered attention or sliding windows, in eval mode);
everything else runs through ``model(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["NewPrompts", "PrefixNodes", "cached_forward", "covers", "lean_decoder", "packed_forward", "prefix_nodes", "segment_mask", "step_mask"]

LeanForward = Callable[[nn.Module, torch.Tensor, torch.Tensor, "_Attention"], torch.Tensor]


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


class NewPrompts(NamedTuple):
    """Prompts that start new episodes in some cache rows, run in the same forward as a decode
    step: the step's tokens and the prompts' share every matmul, the prompts attend only to
    themselves, and their keys/values are written into the cache before the step's tokens
    attend to it (a row's first action then sees its whole prompt). A separate prefill per
    step with resets would cost a whole forward's fixed overhead for a few tokens.

    Attributes:
        input_ids: ``(U, P)`` distinct prompts, left-padded.
        attention_mask: ``(U, P)``, 0 at padding.
        rows: ``(R,)`` the cache rows that start one of them.
        source: ``(R,)`` the prompt (row of ``input_ids``) each of ``rows`` starts.
        first: the cache column of the prompts' first column: they fill ``[first, first + P)``
            of the cache as it is before the step.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    rows: torch.Tensor
    source: torch.Tensor
    first: int


class PrefixNodes(NamedTuple):
    """The distinct prefixes of a prefill's left-padded rows ``(N, P)``, one token each: a
    prefix shared by several prompts (a template's opening words, a prompt repeated in an
    RLOO group) is one node, as in a radix-tree prompt cache (Zheng et al., 2024, SGLang).

    Attributes:
        input_ids: ``(T,)`` each node's last token.
        position_ids: ``(T,)`` its position (depth in the tree).
        index: ``(N, P)`` the node at each slot of the rows (0 at padding).
        representative: ``(T,)`` a flat slot ``n * P + p`` that holds each node.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    index: torch.Tensor
    representative: torch.Tensor


def prefix_nodes(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> PrefixNodes | None:
    """The :class:`PrefixNodes` of left-padded rows, or ``None`` where the rows are not
    right-aligned (a hole between real tokens) or share too little (under 10% of the slots)
    to pay for the gathers."""
    n, width = input_ids.shape
    lengths = attention_mask.long().sum(-1)
    columns = torch.arange(width, device=input_ids.device)
    if not torch.equal(attention_mask.bool(), columns[None, :] >= width - lengths[:, None]):
        return None
    nodes: dict[tuple[int, int], int] = {}  # (parent node, token) -> node
    tokens: list[int] = []
    positions: list[int] = []
    representative: list[int] = []
    index = [[0] * width for _ in range(n)]
    for r, (row, length) in enumerate(zip(input_ids.tolist(), lengths.tolist())):
        parent = -1
        for c in range(width - length, width):
            node = nodes.setdefault((parent, row[c]), len(nodes))
            if node == len(tokens):
                tokens.append(row[c])
                positions.append(c - width + length)
                representative.append(r * width + c)
            index[r][c] = parent = node
    if len(tokens) > 0.9 * n * width:
        return None
    device = input_ids.device
    return PrefixNodes(*(torch.tensor(x, device=device) for x in (tokens, positions, index, representative)))


class _Attention:
    """The attention of one forward, in one of two layouts.

    - Flat (prefills and decode steps): ``(T, heads, head_dim)`` in, ``(T, heads * head_dim)``
      out. First the step's ``(N, K)`` tokens (through the cache when there is one; or a
      prefill's :class:`PrefixNodes`, gathered into the rows' slots for attention and read back
      from them), then any :class:`NewPrompts`' ``(U, P)`` tokens.
    - Rows (the update's packed rows, with gradients): ``(R, heads, W, head_dim)`` in, as
      transformers lays them out, ``(R, W, heads * head_dim)`` out. With the flat layout there,
      glibc kept about 200 MiB more heap through a SmolLM2-135M update (the live tensors were
      the same; ``python -m benchmarks.perf memory``).
    """

    def __init__(self, step_shape: torch.Size, mask: torch.Tensor, cache: Any | None, prompts: NewPrompts | None,
                 nodes: PrefixNodes | None = None) -> None:  # fmt: skip
        self.step_shape, self.mask, self.cache, self.prompts, self.nodes = step_shape, mask, cache, prompts, nodes
        self.step_tokens = step_shape[0] * step_shape[1] if nodes is None else nodes.input_ids.shape[0]
        self.prompt_mask = None if prompts is None else step_mask(prompts.attention_mask, prompts.input_ids.shape[1])

    def __call__(self, i: int, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, **sdpa: Any) -> torch.Tensor:
        """Layer ``i``'s ``(T, heads * head_dim)`` attention outputs; ``sdpa``: keyword arguments
        of :func:`torch.nn.functional.scaled_dot_product_attention`."""
        if i == 0:  # under autocast the attention runs in its dtype, and the masks must match
            device = query.device.type
            dtype = torch.get_autocast_dtype(device) if torch.is_autocast_enabled(device) else query.dtype
            self.mask = _additive(self.mask, dtype)
            if self.prompt_mask is not None:
                self.prompt_mask = _additive(self.prompt_mask, dtype)
        if query.dim() == 4:  # rows
            attended = F.scaled_dot_product_attention(query, key, value, attn_mask=self.mask, **sdpa)
            return attended.transpose(1, 2).reshape(query.shape[0], query.shape[2], -1)
        split = self.step_tokens
        out = []
        if self.prompts is not None:
            shape = self.prompts.input_ids.shape
            q, k, v = (_grouped(x[split:], shape) for x in (query, key, value))
            layer, first = self.cache.layers[i], self.prompts.first
            columns = slice(first, first + shape[1])
            layer.keys[self.prompts.rows, :, columns] = k[self.prompts.source]
            layer.values[self.prompts.rows, :, columns] = v[self.prompts.source]
            out.append(F.scaled_dot_product_attention(q, k, v, attn_mask=self.prompt_mask, **sdpa))
        if self.nodes is None:
            q, k, v = (_grouped(x[:split], self.step_shape) for x in (query, key, value))
        else:  # every row's slots from the nodes: (N, P, heads, head_dim) -> (N, heads, P, head_dim)
            q, k, v = (x[self.nodes.index].transpose(1, 2) for x in (query, key, value))
        keys, values = (k, v) if self.cache is None else self.cache.layers[i].update(k, v)
        out.insert(0, F.scaled_dot_product_attention(q, keys, values, attn_mask=self.mask, **sdpa))
        flat = [o.transpose(1, 2).reshape(-1, o.shape[1] * o.shape[3]) for o in out]
        if self.nodes is not None:  # a node attends to its own prefix only: any slot holding it will do
            flat[0] = flat[0][self.nodes.representative]
        return flat[0] if len(flat) == 1 else torch.cat(flat)


def _grouped(x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Flat ``(rows * width, heads, head_dim)`` -> ``(rows, heads, width, head_dim)``."""
    return x.view(shape[0], shape[1], x.shape[1], x.shape[2]).transpose(1, 2)


def _heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Projections ``(T, H)`` -> ``(T, heads, head_dim)``; packed rows ``(R, W, H)`` ->
    ``(R, heads, W, head_dim)`` (see :class:`_Attention`)."""
    split = x.view(*x.shape[:-1], -1, head_dim)
    return split.transpose(1, 2) if x.dim() == 3 else split


def _gpt2(model: nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor, attend: _Attention) -> torch.Tensor:
    head_dim = model.config.n_embd // model.config.n_head
    hidden = model.wte(input_ids) + model.wpe(position_ids)
    for i, block in enumerate(model.h):
        qkv = block.attn.c_attn(block.ln_1(hidden)).split(model.config.n_embd, dim=-1)
        attended = attend(i, *(_heads(x, head_dim) for x in qkv))
        hidden = hidden + block.attn.c_proj(attended)
        mlp = block.mlp
        # gelu_new is GELU's tanh approximation (Hendrycks & Gimpel, 2016), one fused op here
        hidden = hidden + mlp.c_proj(F.gelu(mlp.c_fc(block.ln_2(hidden)), approximate="tanh"))
    return model.ln_f(hidden)


def _llama(model: nn.Module, input_ids: torch.Tensor, position_ids: torch.Tensor, attend: _Attention) -> torch.Tensor:
    from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

    hidden = model.embed_tokens(input_ids)
    if hidden.dim() == 3:  # packed rows: (R, W, head_dim) cos and sin
        cos, sin = model.rotary_emb(hidden, position_ids)
    else:  # flat: (T, head_dim)
        cos, sin = (x[0] for x in model.rotary_emb(hidden[None], position_ids[None]))
    for i, block in enumerate(model.layers):
        attn = block.self_attn
        x = block.input_layernorm(hidden)
        query, key, value = (_heads(proj(x), attn.head_dim) for proj in (attn.q_proj, attn.k_proj, attn.v_proj))
        query, key = apply_rotary_pos_emb(query, key, cos, sin)  # cos broadcasts over the heads (dim 1)
        attended = attend(i, query, key, value, scale=attn.scaling, enable_gqa=attn.num_key_value_groups > 1)
        hidden = hidden + attn.o_proj(attended)
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
                   cache: Any | None, new_prompts: NewPrompts | None = None) -> tuple[torch.Tensor, Any] | None:  # fmt: skip
    """``(hidden, cache)``: the ``(N, K, H)`` last hidden states of the tokens ``input_ids``
    fed through ``cache`` (updated in place; a new ``DynamicCache`` when ``None``), or ``None``
    when ``model`` or ``cache`` needs transformers' forward.

    Args:
        model: the base decoder (in eval mode).
        input_ids: ``(N, K)`` new tokens (left-padded per row; holes are masked).
        attention_mask: ``(N, S + K)`` over the cached and the new columns (0 = hole); the
            columns that ``new_prompts`` fill already count as seen.
        position_ids: ``(N, K)`` positions of the new tokens.
        cache: a transformers ``Cache`` of layers with ``update(keys, values)``, holding ``S``
            columns, or ``None`` for a prefill.
        new_prompts: prompts to run in the same forward and write into ``cache`` (which
            must then be given) before the step's tokens attend to it.
    """
    if not covers(model):
        return None
    fresh = cache is None
    if fresh:
        if new_prompts is not None:
            raise ValueError("new_prompts are written into a cache; pass the cache they go to")
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache(config=model.config)
    if not getattr(cache, "layers", None) or len(cache.layers) != model.config.num_hidden_layers:
        return None
    # a prefill's shared prefixes run once (the matmuls are most of its time); not where the
    # caller's positions are not those of right-aligned rows
    nodes = prefix_nodes(input_ids, attention_mask) if fresh else None
    if nodes is not None and not torch.equal(nodes.position_ids[nodes.index], position_ids.masked_fill(attention_mask == 0, 0)):
        nodes = None
    attend = _Attention(input_ids.shape, step_mask(attention_mask, input_ids.shape[1]), cache, new_prompts, nodes)
    ids, positions = input_ids.reshape(-1), position_ids.reshape(-1)
    if nodes is not None:
        ids, positions = nodes.input_ids, nodes.position_ids
    if new_prompts is not None:
        prompt_positions = (new_prompts.attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        ids = torch.cat([ids, new_prompts.input_ids.reshape(-1)])
        positions = torch.cat([positions, prompt_positions.reshape(-1)])
    hidden = lean_decoder(model)(model, ids, positions, attend)
    if nodes is not None:
        return hidden[nodes.index], cache
    return hidden[: attend.step_tokens].view(*input_ids.shape, -1), cache


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
    attend = _Attention(input_ids.shape, segment_mask(position_ids) if mask is None else mask, None, None)
    return lean_decoder(model)(model, input_ids, position_ids, attend)

"""Actor-critic policies: an MLP for vector observations and a causal LM with a value head.

The MLP has a recommender form, chosen from the observation space: when the observation
has an ``item_ids`` history and the env gives item embeddings, items enter as their
embeddings (`agents.features.ObsEncoder`) and item actions are scored through them by a
two-tower head (:class:`TwoTowerHead`).

Both expose the same two methods to the algorithms:

- ``evaluate_actions(batch, idx) -> (logprobs, entropies, values)`` re-scores the
  actions of the flat samples ``idx`` of a :class:`~agents.buffers.RolloutBatch`
  with gradients, and
- ``is_sequence_model`` tells the minibatcher whether samples come in segments.

Acting goes through an :class:`agents.actors.Actor`, which for the LM keeps a KV cache
(:mod:`agents.kv_cache`).
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from agents.buffers import RolloutBatch
from agents.decode import NewPrompts, cached_forward, covers, packed_forward
from agents.features import ObsEncoder
from agents.sampling import log_prob_entropy, process_logits, sample_log_prob_entropy

__all__ = [
    "RECOMMENDER_INIT_LOG_STD",
    "LMActorCritic",
    "MLPActorCritic",
    "Policy",
    "TwoTowerHead",
    "autocast",
    "forward_with_cache",
    "frozen_weights",
    "is_token_observation_space",
    "pack_rows",
]

COMPUTE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def autocast(device: torch.device | str, dtype: str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 on ``device`` for ``dtype == "bfloat16"``, else a no-op.

    Matmuls run in bf16 while the weights stay fp32 (the optimizer's master weights), and
    norms, softmax and losses stay fp32 (autocast's op lists).
    """
    if dtype == "float32":
        return contextlib.nullcontext()
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(map(repr, COMPUTE_DTYPES))}; got {dtype!r}")
    return torch.autocast(device_type=torch.device(device).type, dtype=COMPUTE_DTYPES[dtype])


def frozen_weights(policy: Any) -> contextlib.AbstractContextManager:
    """A scope for many forward passes while the weights do not change (a rollout, an
    evaluation): the policy's autocast held open around them.

    Autocast keeps its bf16 copies of the weights until the outermost ``torch.autocast``
    exits, so inside this scope each weight is cast once, not at every decode step (on
    SmolLM2-135M the per-step casts took more time than the bf16 matmuls saved). Nothing may
    change the weights inside it: the copies would go stale. A no-op in float32 and for
    policies without ``autocast``.
    """
    scope = getattr(policy, "autocast", None)
    return scope() if scope is not None else contextlib.nullcontext()


def _lpt(lengths: list[int], n_rows: int) -> tuple[list[int], list[int], list[int]]:
    # longest first, each to the row filled least so far (LPT scheduling)
    fill = [0] * n_rows
    row, offset = [0] * len(lengths), [0] * len(lengths)
    heap = [(0, r) for r in range(n_rows)]
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        f, r = heapq.heappop(heap)
        row[i], offset[i] = r, f
        fill[r] = f + lengths[i]
        heapq.heappush(heap, (fill[r], r))
    return row, offset, fill


def pack_rows(lengths: list[int], max_width: float) -> tuple[list[int], list[int], list[int]]:
    """Deal segments of ``lengths`` into packed rows: each row count from
    ``ceil(sum / max_width)`` up is dealt longest first to the least-filled row (LPT
    scheduling), and the count whose rows, padded to the longest, hold the fewest slots wins
    (ties: more, shorter rows). The slots left at the rows' ends are all the padding there is.

    Returns ``(row, offset, fill)``: each segment's row and start within it, and each row's
    filled length. ``max_width`` bounds the attention: rows hold about that many tokens or
    fewer (or one segment longer than it).
    """
    if not lengths:
        return [], [], [0]
    total, longest = sum(lengths), max(lengths)
    lo = max(1, min(len(lengths), math.ceil(total / max(max_width, 1.0))))
    hi = min(len(lengths), max(lo, math.ceil(total / longest) + 1))
    best, best_slots = None, None
    for n_rows in range(hi, lo - 1, -1):
        packed = _lpt(lengths, n_rows)
        slots = n_rows * max(packed[2])
        if best_slots is None or slots < best_slots:
            best, best_slots = packed, slots
        if slots == total:
            break
    return best


def shared_prefix_layout(
    contexts: torch.Tensor, lengths: torch.Tensor, prefix: torch.Tensor, max_width: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Packed rows where segments that begin with the same ``prefix`` tokens hold them once.

    Segment ``b`` is ``contexts[b, :lengths[b]]``; its first ``prefix[b]`` tokens are the part
    it may share (a prompt that several samples answer: an RLOO / GRPO group). Segments with
    the same prefix form a unit: the prefix, then each one's remaining tokens, which attend to
    the prefix and to their own earlier tokens only (a tree mask), at the positions they have in
    their own segment, so every hidden state equals the one of the segment packed alone. Units
    are dealt into rows by :func:`pack_rows`; a unit of one segment is packed as it is.

    Returns ``(ids, position_ids, index, mask)``: ``(R, W)`` token and position ids, ``(B, L)``
    the flat ``R * W`` slot of each segment token, and the ``(R, 1, W, W)`` boolean mask.
    """
    dev = contexts.device
    lens, cut = lengths.tolist(), prefix.tolist()
    rows_ids = contexts.tolist()
    units: dict[tuple[int, ...], list[int]] = {}
    for b, p in enumerate(cut):
        units.setdefault(tuple(rows_ids[b][:p]), []).append(b)
    members = list(units.values())
    unit_len = [cut[m[0]] + sum(lens[b] - cut[b] for b in m) for m in members]
    row, offset, fill = pack_rows(unit_len, max_width)
    n_rows, width = len(fill), max(fill)
    start, suffix_at, unit_of, branch_of = [0] * len(lens), [0] * len(lens), [0] * len(lens), [0] * len(lens)
    for u, m in enumerate(members):
        at = row[u] * width + offset[u]
        suffix = cut[m[0]]  # each member's remaining tokens follow the prefix and the members before it
        for k, b in enumerate(m):
            start[b], suffix_at[b], unit_of[b], branch_of[b] = at, suffix, u, k + 1
            suffix += lens[b] - cut[b]
    col = torch.arange(contexts.shape[1], device=dev)[None, :]
    real = col < lengths[:, None]
    shared = col < prefix[:, None]

    def column(values: list[int]) -> torch.Tensor:
        return torch.tensor(values, device=dev)[:, None]

    index = column(start) + torch.where(shared, col, column(suffix_at) + col - prefix[:, None])
    index = torch.where(real, index, 0)
    # slots after a row's fill: a unit of their own per row, counting positions 0, 1, ...
    slots = n_rows * width
    ids = torch.zeros(slots, dtype=contexts.dtype, device=dev)
    position_ids = (torch.arange(width, device=dev)[None, :] - torch.tensor(fill, device=dev)[:, None]).clamp(min=0).reshape(-1)
    unit = (len(members) + torch.arange(n_rows, device=dev)).repeat_interleave(width)
    branch = torch.zeros(slots, dtype=torch.long, device=dev)
    target = index[real]
    ids[target] = contexts[real]
    position_ids[target] = col.expand_as(contexts)[real]
    unit[target] = column(unit_of).expand_as(contexts)[real]
    branch[target] = torch.where(shared, 0, column(branch_of))[real]
    unit, branch = unit.view(n_rows, width), branch.view(n_rows, width)
    visible = (unit[:, :, None] == unit[:, None, :]) & ((branch[:, None, :] == 0) | (branch[:, None, :] == branch[:, :, None]))
    causal = torch.ones(width, width, dtype=torch.bool, device=dev).tril()
    return ids.view(n_rows, width), position_ids.view(n_rows, width), index, (visible & causal)[:, None]


def forward_with_cache(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor,
    cache: Any | None,
    *,
    use_cache: bool = True,
) -> tuple[torch.Tensor, Any | None]:
    """One forward pass of a Hugging Face decoder through its KV cache.

    The single place that knows the transformers 5.x cache keyword: the forward
    argument is ``cache=`` and the output field is ``out.cache``
    (``past_key_values=`` is deprecated).

    Args:
        model: the *base* decoder (``causal_lm.base_model``), whose output has
            ``last_hidden_state``.
        input_ids: ``(N, K)`` new tokens.
        attention_mask: ``(N, S + K)`` mask over cached and new tokens (0 = hole/pad), or
            ``None`` for packed rows without cache: the segments start where ``position_ids``
            restart (transformers' padding-free collator layout, a block-diagonal causal mask).
        position_ids: ``(N, K)`` positions of the new tokens; explicit because pads
            and holes make them differ from the cache index.
        cache: a ``transformers`` ``Cache`` holding ``S`` positions, or ``None``.

    Returns:
        ``(hidden, cache)``: ``(N, K, H)`` last hidden states and the updated cache.
    """
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,  # None with packed rows: the model reads the segments off position_ids
        position_ids=position_ids,
        cache=cache,
        use_cache=use_cache,
    )
    return out.last_hidden_state, getattr(out, "cache", None)


def is_token_observation_space(space: spaces.Space) -> bool:
    """True for the token-env observation ``Dict(input_ids, attention_mask)``."""
    return isinstance(space, spaces.Dict) and {"input_ids", "attention_mask"} <= set(space.spaces)


def _disable_dropout(model: nn.Module) -> None:
    # Dropout would make the log-probs of the rollout and of the update disagree
    # (TRL disables it for the same reason); RL fine-tuning runs with p = 0.
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    cfg = getattr(model, "config", None)
    for name in ("attn_pdrop", "resid_pdrop", "embd_pdrop", "attention_dropout", "hidden_dropout"):
        if cfg is not None and hasattr(cfg, name):
            setattr(cfg, name, 0.0)


# ---------------------------------------------------------------------------------------
# LM actor-critic
# ---------------------------------------------------------------------------------------


class LMActorCritic(nn.Module):
    """A Hugging Face causal LM plus a scalar value head on the last hidden state.

    The policy distribution is ``process_logits(lm_logits, temperature, top_k, top_p,
    action_mask)``; the same processing is used when acting and when re-scoring, so
    the importance ratio of PPO compares like with like.

    Teacher-forced scoring (the update's forward and backward) runs on packed rows: the
    segments' real tokens back to back, the segments told apart by their position ids
    (:meth:`score_positions`).

    Args:
        model: a ``transformers`` causal LM (``AutoModelForCausalLM``).
        temperature, top_k, top_p: sampling distribution, see :func:`process_logits`.
        dtype: compute precision, ``"float32"`` or ``"bfloat16"`` (autocast in the rollout's
            and the update's forwards alike; the weights stay as they are).
        packed: score on packed rows (``False``: one right-padded row per segment, the
            layout before packing; both give the same log-probs to float rounding).
        lean: run the forward passes through :mod:`agents.decode`'s lean blocks where they
            cover the model (``False``: transformers' ``model(...)`` everywhere, as before
            them; both give the same log-probs to float rounding).
        disable_dropout: set the model's dropout to 0 (RL fine-tuning, see ``_disable_dropout``);
            ``False`` leaves a model someone else trains as it is (the TRL rollout wraps the
            trainer's model and acts in eval mode, where dropout is off anyway).
    """

    is_sequence_model = True
    pack_width = 2.0
    """Packed rows hold at most about ``pack_width`` times the longest segment (attention cost
    grows with the row; :func:`pack_rows` picks the row count that leaves the fewest slots);
    on tiny-shop (fwd + bwd, 16-32 segments of 30-110 tokens, 23-27% padding when
    right-padded) rows of 1.5-2x ran 20-25% faster than the padded batch, 4x less so."""

    def __init__(
        self,
        model: nn.Module,
        *,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        dtype: str = "float32",
        packed: bool = True,
        lean: bool = True,
        disable_dropout: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        if disable_dropout:
            _disable_dropout(model)
        head = model.get_output_embeddings()
        if head is None:
            raise ValueError(f"{type(model).__name__} has no output embeddings; pass a causal LM")
        hidden = head.weight.shape[1]
        self.value_head = nn.Linear(hidden, 1)
        # zero init: the critic starts at V = 0 instead of a random offset
        nn.init.zeros_(self.value_head.weight)
        nn.init.zeros_(self.value_head.bias)
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = top_p
        if dtype not in COMPUTE_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(map(repr, COMPUTE_DTYPES))}; got {dtype!r}")
        self.dtype_name = dtype
        self.packed = bool(packed)
        self.lean = bool(lean)
        self.n_actions: int | None = None
        """The env's vocabulary size where the model's is larger (an embedding padded to a
        multiple of 64, say): logits beyond it are dropped, so those ids are never chosen."""
        self.model.eval()

    def autocast(self) -> contextlib.AbstractContextManager:
        """The compute precision's autocast on the policy's device (a no-op in float32)."""
        return autocast(self.device, self.dtype_name)

    def train(self, mode: bool = True) -> LMActorCritic:
        super().train(mode)
        self.model.eval()  # dropout stays off, see _disable_dropout
        return self

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary size (rows of its output embedding)."""
        return int(self.model.get_output_embeddings().weight.shape[0])

    @property
    def max_positions(self) -> int | None:
        """The longest context the model takes (``n_positions`` / ``max_position_embeddings``)."""
        from lm_envs.models.loading import max_positions

        return max_positions(self.model)

    @property
    def device(self) -> torch.device:
        return self.value_head.weight.device

    @property
    def base(self) -> nn.Module:
        return self.model.base_model

    @property
    def runs_lean(self) -> bool:
        """Whether the forward passes run :mod:`agents.decode`'s lean blocks now (``lean`` and
        a model they cover); only they run :class:`~agents.decode.NewPrompts` in a step."""
        return self.lean and covers(self.base)

    def heads(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(..., H)`` hidden states -> ``(..., V)`` float logits (``V``: the env's vocabulary)
        and ``(...)`` values."""
        logits = self.model.get_output_embeddings()(hidden).float()
        if self.n_actions is not None:
            logits = logits[..., : self.n_actions]
        if self.dtype_name == "float32":
            return logits, self.value_head(hidden.float()).squeeze(-1)
        with torch.autocast(device_type=hidden.device.type, enabled=False):  # the critic's one layer in fp32
            return logits, self.value_head(hidden.float()).squeeze(-1)

    def distribution_logits(self, logits: torch.Tensor, action_mask: torch.Tensor | None = None) -> torch.Tensor:
        return process_logits(
            logits, temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, action_mask=action_mask
        )

    # -- acting through the KV cache ----------------------------------------------------

    def prefill(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Run a left-padded batch ``(N, P)``; returns last-position logits ``(N, V)``,
        values ``(N,)`` and the cache."""
        position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        with self.autocast():
            hidden, cache = self._cached_forward(input_ids, attention_mask, position_ids, None)
            logits, values = self.heads(hidden[:, -1])
        return logits, values, cache

    def extend(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        cache: Any,
        new_prompts: NewPrompts | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """Feed ``(N, K)`` new tokens (left-padded per row) through ``cache``;
        ``attention_mask`` is ``(N, S + K)``. Returns last-position logits, values, cache.
        ``new_prompts`` (only where :attr:`runs_lean`) run in the same forward and fill their
        cache rows first, see :func:`agents.decode.cached_forward`."""
        with self.autocast():
            hidden, cache = self._cached_forward(input_ids, attention_mask, position_ids, cache, new_prompts)
            logits, values = self.heads(hidden[:, -1])
        return logits, values, cache

    def _cached_forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                        cache: Any | None, new_prompts: NewPrompts | None = None) -> tuple[torch.Tensor, Any]:  # fmt: skip
        # the lean blocks of agents.decode where they cover the model, else transformers' forward
        lean = cached_forward(self.base, input_ids, attention_mask, position_ids, cache, new_prompts) if self.lean else None
        if lean is not None:
            return lean
        if new_prompts is not None:
            raise ValueError("new_prompts run only in agents.decode's lean blocks over a cache of the model's layers")
        return forward_with_cache(self.base, input_ids, attention_mask, position_ids, cache)

    # -- teacher-forced scoring ------------------------------------------------------------

    def score_positions(
        self,
        contexts: torch.Tensor,
        lengths: torch.Tensor,
        seq_index: torch.Tensor,
        positions: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced forward over the segments ``contexts[b, :lengths[b]]`` (``contexts``
        ``(B, L)`` right-padded); returns logits ``(M, V)`` and values ``(M,)`` at
        ``(seq_index, positions)``.

        Packed (the default): the segments' real tokens go back to back into near-equal rows
        of about ``pack_width`` times the longest segment (:func:`pack_rows`), position ids
        restarting at 0 per segment and no attention mask, so the model builds the
        block-diagonal causal mask of transformers' padding-free layout; the only padding is
        the few slots at the rows' ends (a segment of its own that no real token attends to).
        Unpacked: one right-padded ``(B, max length)`` forward, the layout before packing.
        """
        with self.autocast():
            if not self.packed:
                width = int(lengths.max())
                ids = contexts[:, :width]
                mask = (torch.arange(width, device=ids.device)[None, :] < lengths[:, None]).long()
                position_ids = torch.arange(width, device=ids.device).expand_as(ids)
                hidden, _ = forward_with_cache(self.base, ids, mask, position_ids, None, use_cache=False)
                # lm_head only at the M gathered positions: (B, L, V) logits would not fit for big vocabs
                return self.heads(hidden[seq_index, positions])
            if self.runs_lean:  # agents.decode's lean blocks take any mask
                # a segment shares what precedes its first scored action with the segments
                # that begin alike (the prompt of an RLOO / GRPO group): that prefix runs once
                first = torch.full_like(lengths, contexts.shape[1]).scatter_reduce(0, seq_index, positions, "amin")
                ids, position_ids, index, mask = shared_prefix_layout(
                    contexts, lengths, (first + 1).clamp(max=lengths), self.pack_width * int(lengths.max())
                )
                hidden = packed_forward(self.base, ids, position_ids, mask)
                return self.heads(hidden.reshape(-1, hidden.shape[-1])[index[seq_index, positions]])
            ids, position_ids, starts = self.pack(contexts, lengths)
            hidden, _ = forward_with_cache(self.base, ids, None, position_ids, None, use_cache=False)
            return self.heads(hidden.reshape(-1, hidden.shape[-1])[starts[seq_index] + positions])

    def pack(self, contexts: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Packed ``(R, W)`` token ids and position ids of the segments ``contexts[b, :lengths[b]]``,
        and ``(B,)`` each segment's start in the flattened ``R * W`` layout."""
        lens = lengths.tolist()  # one device sync per minibatch, for the row layout
        width = max(lens)
        row, offset, fill = pack_rows(lens, self.pack_width * width)
        n_rows, row_width = len(fill), max(fill)
        dev = contexts.device
        starts = torch.tensor(row, device=dev) * row_width + torch.tensor(offset, device=dev)
        col = torch.arange(width, device=dev)
        real = col[None, :] < lengths[:, None]
        target = (starts[:, None] + col[None, :])[real]
        ids = torch.zeros(n_rows * row_width, dtype=contexts.dtype, device=dev)
        ids[target] = contexts[:, :width][real]
        # the slots after a row's fill count 0, 1, ... as a segment of their own
        position_ids = (torch.arange(row_width, device=dev)[None, :] - torch.tensor(fill, device=dev)[:, None]).clamp(min=0)
        position_ids = position_ids.reshape(-1)
        position_ids[target] = col.expand(len(lens), width)[real]
        return ids.reshape(n_rows, row_width), position_ids.reshape(n_rows, row_width), starts

    def evaluate_actions(
        self, batch: RolloutBatch, idx: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Re-score samples ``idx`` of ``batch`` with one forward per segment.

        Within an episode the context only grows, so every step's context is a prefix
        of the episode's latest context in the batch: one teacher-forced pass over
        that context gives the logits of all its steps.
        """
        if batch.obs_len is None:
            raise ValueError("LMActorCritic needs a batch from a token env (obs_len is None)")
        n_envs = batch.num_envs
        t = idx // n_envs
        rows = idx % n_envs
        eps = batch.episode_ids[t, rows]
        key = rows * (int(batch.episode_ids.max()) + 1) + eps
        uniq, inverse = torch.unique(key, return_inverse=True)
        latest_t = torch.full((uniq.numel(),), -1, dtype=torch.long).scatter_reduce(
            0, inverse, t, reduce="amax"
        )
        seg_rows = torch.zeros(uniq.numel(), dtype=torch.long).scatter(0, inverse, rows)
        contexts = batch.obs[latest_t, seg_rows].to(self.device)
        lengths = batch.obs_len[latest_t, seg_rows].to(self.device)
        positions = (batch.obs_len[t, rows] - 1).to(self.device)
        logits, values = self.score_positions(contexts, lengths, inverse.to(self.device), positions)
        masks = None if batch.action_masks is None else batch.action_masks[t, rows].to(self.device)
        logp, entropy = log_prob_entropy(self.distribution_logits(logits, masks), batch.actions[t, rows].to(self.device))
        return logp, entropy, values

    @torch.no_grad()
    def context_values(self, contexts: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Values ``(B,)`` of left-packed contexts ``(B, L)`` at their last token."""
        b = torch.arange(contexts.shape[0], device=contexts.device)
        _, values = self.score_positions(contexts, lengths, b, lengths - 1)
        return values


# ---------------------------------------------------------------------------------------
# MLP actor-critic
# ---------------------------------------------------------------------------------------


def _flat_dim(space: spaces.Space) -> int:
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.MultiBinary):
        return int(np.prod(space.shape))
    if isinstance(space, spaces.Dict):
        return sum(_flat_dim(s) for s in space.spaces.values())
    raise ValueError(
        f"MLPActorCritic supports Box, Discrete, MultiBinary and Dict of those observations; got {space}"
    )


def _flatten_obs(space: spaces.Space, obs: Any, device: torch.device) -> torch.Tensor:
    if isinstance(space, spaces.Dict):
        return torch.cat([_flatten_obs(s, obs[k], device) for k, s in space.spaces.items()], dim=-1)
    x = torch.as_tensor(np.asarray(obs), device=device)
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot((x.long() - int(space.start)).reshape(-1), int(space.n)).float()
    return x.reshape(x.shape[0], -1).float()


def _layer(in_dim: int, out_dim: int, std: float) -> nn.Linear:
    # orthogonal init with these gains is one of the PPO details that matter
    # (Engstrom et al., 2020; Huang et al., 2022 "The 37 implementation details of PPO")
    layer = nn.Linear(in_dim, out_dim)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, 0.0)
    return layer


def _body(in_dim: int, hidden_sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden_sizes:
        layers += [_layer(in_dim, h, np.sqrt(2)), nn.Tanh()]
        in_dim = h
    return nn.Sequential(*layers)


class TwoTowerHead(nn.Module):
    """Item logits as dot products of a state tower and an item tower.

    ``logit[n, s, j] = <W h[n] + c, e_j>_s + b_j`` for slate position ``s`` and item ``j``,
    with ``e_j`` the env's (fixed) embedding of item ``j``, one query ``W h + c`` of size
    ``d`` per position, and a learned bias ``b_j`` per item. What the policy learns about
    one item moves the logits of items with similar embeddings (the two-tower retrieval
    model, Yi et al., 2019, "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item
    Recommendations"), which a logit per item id never does.

    With ``recency_weight``, ``+ w * recency_j`` (``agents.features.recency``: how recently
    item ``j`` was shown), one learned scalar ``w``: repeat fatigue applies to every item
    alike, so one weight learns it for all.

    Args:
        in_dim: size of the hidden state ``h``.
        item_embeddings: ``(n_items, d)``.
        slots: slate positions (1 for a ``Discrete`` action).
        std: orthogonal-init gain of ``W``; 0.01 starts near the uniform policy.
        recency_weight: add the learned recency term (``forward`` then needs ``recency``).
    """

    def __init__(self, in_dim: int, item_embeddings: np.ndarray, *, slots: int = 1, std: float = 0.01,
                 recency_weight: bool = False) -> None:
        super().__init__()
        n_items, d = item_embeddings.shape
        self.slots, self.n_items = slots, n_items
        self.query = _layer(in_dim, slots * d, std)
        self.item_bias = nn.Parameter(torch.zeros(n_items))
        # fixed inputs, rebuilt from the env: not part of the saved weights
        self.register_buffer("items", torch.as_tensor(np.asarray(item_embeddings, np.float32)), persistent=False)
        self.recency_weight = nn.Parameter(torch.zeros(())) if recency_weight else None

    def forward(self, hidden: torch.Tensor, recency: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, in_dim)`` hidden states (and ``(N, n_items)`` recency) -> ``(N, slots * n_items)``
        logits, position-major (the ``MultiDiscrete`` layout)."""
        q = self.query(hidden).reshape(len(hidden), self.slots, -1)
        logits = q @ self.items.T + self.item_bias
        if self.recency_weight is not None:
            logits = logits + self.recency_weight * recency[:, None, :]
        return logits.reshape(len(hidden), -1)


RECOMMENDER_INIT_LOG_STD = -1.0
"""Initial log std of a proto-action in the item-embedding space ``[-1, 1]^d``: around the
centre at std 1, 97% of the samples (``d = 9``) leave the box in some coordinate and are
clipped onto its faces; at ``e^-1 ~ 0.37``, PPO on ProductRecommendationContinuous-v0 (the
quick preset's budget, 3 seeds) scores 0.47 normalised instead of 0.33, A2C 0.24 instead of
0.13."""


def _item_slots(action_space: spaces.Space, n_items: int) -> int:
    """Slate positions of an item action space over ``n_items`` items, or 0 for another space."""
    if isinstance(action_space, spaces.Discrete) and int(action_space.n) == n_items and int(action_space.start) == 0:
        return 1
    if (isinstance(action_space, spaces.MultiDiscrete) and action_space.nvec.ndim == 1
            and (action_space.nvec == n_items).all() and not np.any(action_space.start)):
        return len(action_space.nvec)
    return 0


class MLPActorCritic(nn.Module):
    """Separate tanh MLPs for actor and critic over flattened observations.

    Observations: Box, Discrete (one-hot), MultiBinary, or a Dict of those.
    Actions: Discrete and MultiDiscrete (categorical heads, with action masks: for
    MultiDiscrete one block per position) or Box
    (diagonal Gaussian with a state-independent log std; the env receives the action
    clipped to the bounds, the log-prob is of the unclipped sample).

    Recommender form, chosen when ``item_embeddings`` ``(n_items, d)`` is given and the
    observation is a ``Dict`` with an ``item_ids`` history (`ProductRecommendation-v0` and
    its continuous twin): the observation goes through `agents.features.ObsEncoder` (each
    history id as its item's embedding, small integer fields one-hot, plus the recency of
    every item), and item actions (``Discrete(n_items)``, or a ``MultiDiscrete`` slate of
    them) are scored by a :class:`TwoTowerHead`. A ``Box`` proto-action keeps the Gaussian
    head. Without item embeddings nothing changes.

    ``init_log_std``: the Gaussian's initial log std; ``None``: 0, or
    ``RECOMMENDER_INIT_LOG_STD`` in the recommender form.
    """

    is_sequence_model = False

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        hidden_sizes: Sequence[int] = (64, 64),
        item_embeddings: np.ndarray | None = None,
        init_log_std: float | None = None,
    ) -> None:
        super().__init__()
        self.observation_space = observation_space
        self.action_space = action_space
        recommender = (item_embeddings is not None and isinstance(observation_space, spaces.Dict)
                       and "item_ids" in observation_space.spaces)
        self.encoder = ObsEncoder(observation_space, item_embeddings, item_recency=True) if recommender else None
        in_dim = self.encoder.dim if self.encoder is not None else _flat_dim(observation_space)
        last = hidden_sizes[-1] if hidden_sizes else in_dim
        slots = _item_slots(action_space, len(item_embeddings)) if recommender else 0
        if isinstance(action_space, spaces.Discrete):
            out_dim = int(action_space.n)
        elif isinstance(action_space, spaces.MultiDiscrete):
            if action_space.nvec.ndim != 1:
                raise ValueError(f"MultiDiscrete actions must be 1-D; got nvec shape {action_space.nvec.shape}")
            out_dim = int(action_space.nvec.sum())
        elif isinstance(action_space, spaces.Box):
            out_dim = int(np.prod(action_space.shape))
            if init_log_std is None:
                init_log_std = RECOMMENDER_INIT_LOG_STD if recommender else 0.0
            self.log_std = nn.Parameter(torch.full((out_dim,), float(init_log_std)))
        else:
            raise ValueError(f"MLPActorCritic supports Discrete, MultiDiscrete and Box actions; got {action_space}")
        self.actor_body = _body(in_dim, hidden_sizes)
        if slots:
            self.action_head: nn.Module = TwoTowerHead(last, item_embeddings, slots=slots, recency_weight=True)
        else:
            self.action_head = _layer(last, out_dim, 0.01)
        self.critic_body = _body(in_dim, hidden_sizes)
        self.value_head = _layer(last, 1, 1.0)

    @property
    def recommender(self) -> bool:
        """True for the recommender form (items as embeddings)."""
        return self.encoder is not None

    def action_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` encoded observations -> the action head's raw output (logits or means)."""
        hidden = self.actor_body(x)
        if isinstance(self.action_head, TwoTowerHead):
            return self.action_head(hidden, x[:, self.encoder.recency_slice])
        return self.action_head(hidden)

    @property
    def device(self) -> torch.device:
        return self.value_head.weight.device

    def obs_to_tensor(self, obs: Any) -> torch.Tensor:
        """Batched observations ``(N, ...)`` (array or dict of arrays) -> ``(N, D)`` float."""
        if self.encoder is not None:
            return torch.as_tensor(self.encoder(obs), device=self.device)
        return _flatten_obs(self.observation_space, obs, self.device)

    def value(self, x: torch.Tensor) -> torch.Tensor:
        return self.value_head(self.critic_body(x)).squeeze(-1)

    def _logp_entropy_sample(
        self,
        x: torch.Tensor,
        actions: torch.Tensor | None,
        action_mask: torch.Tensor | None,
        generator: torch.Generator | None,
        deterministic: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.action_logits(x)
        space = self.action_space
        if isinstance(space, spaces.Discrete):
            logits = process_logits(out, action_mask=action_mask)
            if actions is None:
                return sample_log_prob_entropy(logits, generator=generator, deterministic=deterministic)
            logp, ent = log_prob_entropy(logits, actions)
            return actions, logp, ent
        if isinstance(space, spaces.MultiDiscrete):
            # a mask is one block per position (sb3-contrib's MaskablePPO layout, as the slate env gives it)
            masks = [None] * len(space.nvec) if action_mask is None else torch.split(action_mask, space.nvec.tolist(), dim=-1)
            parts = [process_logits(p, action_mask=m) for p, m in zip(torch.split(out, space.nvec.tolist(), dim=-1), masks)]
            if actions is None:
                drawn = [sample_log_prob_entropy(p, generator=generator, deterministic=deterministic) for p in parts]
                return torch.stack([a for a, _, _ in drawn], dim=-1), sum(lp for _, lp, _ in drawn), sum(e for _, _, e in drawn)
            lp_ent = [log_prob_entropy(p, actions[:, i]) for i, p in enumerate(parts)]
            return actions, sum(lp for lp, _ in lp_ent), sum(e for _, e in lp_ent)
        std = self.log_std.exp().expand_as(out)
        if actions is None:
            noise = torch.randn(out.shape, generator=generator, device=out.device)
            actions = out if deterministic else out + std * noise.detach()
            actions = actions.detach()
        dist = torch.distributions.Normal(out, std)
        return actions, dist.log_prob(actions).sum(-1), dist.entropy().sum(-1)

    def act(
        self,
        x: torch.Tensor,
        *,
        action_mask: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        deterministic: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample actions for ``(N, D)`` observations: ``(actions, logprobs, entropies, values)``."""
        actions, logp, ent = self._logp_entropy_sample(x, None, action_mask, generator, deterministic)
        return actions, logp, ent, self.value(x)

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        """Actions as the vector env expects them (Box actions clipped to the bounds)."""
        a = actions.cpu().numpy()
        if isinstance(self.action_space, spaces.Box):
            a = np.clip(a.reshape(-1, *self.action_space.shape), self.action_space.low, self.action_space.high)
            return a.astype(self.action_space.dtype)
        if isinstance(self.action_space, spaces.Discrete):
            return a + int(self.action_space.start)
        return a + self.action_space.start

    def evaluate_actions(
        self, batch: RolloutBatch, idx: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = batch.flat(batch.obs)[idx].to(self.device)
        actions = batch.flat(batch.actions)[idx].to(self.device)
        masks = None if batch.action_masks is None else batch.flat(batch.action_masks)[idx].to(self.device)
        _, logp, ent = self._logp_entropy_sample(x, actions, masks, None, False)
        return logp, ent, self.value(x)


Policy = LMActorCritic | MLPActorCritic
"""The actor-critics the on-policy agents train."""

"""The KV-cached LM actor: acting token by token through an in-place KV cache.

For an :class:`~agents.policies.LMActorCritic` on a token env, the prompts are prefilled
once as a left-padded batch, then each step feeds only the new tokens
``input_ids[n_cached:n_now]`` of every row through the KV cache (normally just the sampled
action; a multi-turn env may append the other speaker's tokens). When a row's episode ends,
SAME_STEP autoreset has already put the next prompt in the observation; only that row is
re-prefilled and spliced into the batch cache (``cache_mode="per_row"``); where
:mod:`agents.decode` runs the model, its prompt runs in the forward of the step that first
acts on it (:class:`~agents.decode.NewPrompts`) instead of a prefill of its own.
``cache_mode="rebuild"`` re-prefills the whole batch instead; it is the fallback for caches
that cannot be spliced (sliding window).

The cache catches up lazily: a step only records the observation and which rows reset,
and the forward passes run when the next action (or the batch's last values) is asked
for. The rows that reset are re-prefilled together, and prompts that no action follows
(after the last step of an episodic collection or an evaluation, or of a ``collect`` for
rows that ended on it) are never prefilled.

The batch cache is one tensor per layer with a shared length ``S``. Rows keep their
tokens right-aligned; shorter rows, per-step padding and replaced rows leave holes that
the attention mask hides. Positions are passed explicitly, so holes do not shift them.
Leading columns that are a hole in every row are cropped after each step. In ``per_row``
mode each layer is an :class:`InPlaceLayer`: a window of buffers with spare room, so a
step writes its new columns in place and cropping moves the window's start; transformers'
``DynamicLayer`` instead copies the whole cache (``torch.cat``) every step.

Measured on CPU (1 thread, a 1.7M-parameter GPT-2 with tiny-shop's vocab, TextGeneration,
64 steps): 16 rows x 48 new tokens: per_row 2,060 tokens/s, rebuild 1,630, no cache (full
forward each step) 440; 64 rows x 16 new tokens: per_row 1,270, rebuild 430, no cache 250.
Rebuilding re-runs every row's prompt whenever any row resets, which with many short
episodes is almost every step; hence ``per_row`` is the default.

:class:`LMActor` implements the :class:`agents.actors.Actor` protocol; its state is its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers.cache_utils import DynamicLayer

from agents.decode import NewPrompts
from agents.options import check_cache_mode
from agents.policies import LMActorCritic
from agents.sampling import sample_log_prob_entropy

__all__ = ["InPlaceLayer", "LMActor", "left_pad", "step_block"]

_PROMPT_KV_ROWS = 1024  # prompt rows whose KV one collect call may keep for reuse (bounds memory)
_MIN_ROOM = 64  # spare KV columns: a reallocation every ~64 steps instead of a copy per step


def _token_obs(obs: dict[str, np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.as_tensor(np.asarray(obs["input_ids"]), dtype=torch.long, device=device)
    lens = torch.as_tensor(np.asarray(obs["attention_mask"]), device=device).long().sum(-1)
    if bool((lens < 1).any()):
        raise ValueError("a token observation has an empty context; prompts need at least one token")
    return ids, lens


def left_pad(ids: torch.Tensor, lens: torch.Tensor, start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``ids[i, start_i:lens_i]`` right-aligned in a ``(N, max_len)`` block + mask."""
    start = torch.zeros_like(lens) if start is None else start
    k = lens - start
    width = max(int(k.max()), 1)
    col = torch.arange(width, device=ids.device)[None, :]
    src = (start + k)[:, None] - width + col  # source column for each block column
    mask = src >= start[:, None]
    block = ids.gather(1, src.clamp(min=0, max=ids.shape[1] - 1)) * mask
    return block, mask.long()


def step_block(ids: torch.Tensor, lens: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The inputs of one cached step: :func:`left_pad`'s block and mask of the tokens
    ``ids[i, start_i:lens_i]``, and their positions ``(N, K)`` (right-aligned, so the real
    tokens of row ``i`` sit at positions ``start_i, start_i + 1, ...``; holes get
    clamped positions that the mask hides).

    When no row feeds more than one token (the usual step: just the sampled action),
    the block is a single gathered column, without :func:`left_pad`'s index arithmetic;
    the result is the same.
    """
    fed = lens > start
    if not bool((lens - start > 1).any()):
        last = (lens - 1).clamp(min=0)[:, None]
        mask = fed[:, None]
        return ids.gather(1, last.clamp(max=ids.shape[1] - 1)) * mask, mask.long(), last
    block, mask = left_pad(ids, lens, start=start)
    positions = (lens[:, None] - block.shape[1] + torch.arange(block.shape[1], device=ids.device)[None, :]).clamp(min=0)
    return block, mask, positions


def _only_none(value: Any) -> None:
    if value is not None:
        raise NotImplementedError("the rollout's KV cache is edited through update/drop_front/grow_front")


class InPlaceLayer(DynamicLayer):
    """A ``DynamicLayer`` whose keys/values are the window ``[start, end)`` of buffers
    with spare room: a step writes its columns in place instead of ``torch.cat``-ing the
    whole cache (a copy of every layer's cache per step), and cropping the leading
    columns only moves ``start``. The buffers are reallocated when the room runs out."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
        super().__init__()
        self.room = room
        self.device = keys.device
        self.is_initialized = True
        self._place(keys, values, left=0, right=room)

    def _place(self, keys: torch.Tensor, values: torch.Tensor, *, left: int, right: int) -> None:
        n, h, s, _ = keys.shape
        self._k = keys.new_empty((n, h, left + s + right, keys.shape[-1]))
        self._v = values.new_empty((n, h, left + s + right, values.shape[-1]))
        for buffer, kept in ((self._k, keys), (self._v, values)):
            buffer[:, :, left : left + s] = kept
            # the left room becomes holes (grow_front) that attention reads: zeros keep them
            # finite (a NaN times a 0 weight is NaN); the right room is written before it is read
            buffer[:, :, :left].zero_()
        self.start, self.end = left, left + s

    @property
    def keys(self) -> torch.Tensor:
        return self._k[:, :, self.start : self.end]

    @keys.setter
    def keys(self, value: None) -> None:
        _only_none(value)  # CacheLayerMixin.__init__ and reset() assign None

    @property
    def values(self) -> torch.Tensor:
        return self._v[:, :, self.start : self.end]

    @values.setter
    def values(self, value: None) -> None:
        _only_none(value)

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        k = key_states.shape[-2]
        if self.end + k > self._k.shape[-2]:
            self._place(self.keys, self.values, left=0, right=k + self.room)
        self._k[:, :, self.end : self.end + k] = key_states
        self._v[:, :, self.end : self.end + k] = value_states
        self.end += k
        return self.keys, self.values

    def drop_front(self, n: int) -> None:
        self.start += n

    def select_rows(self, idx: torch.Tensor) -> None:
        """Keep only the batch rows ``idx`` (rows that left the decode batch)."""
        self._k, self._v = self._k[idx], self._v[idx]

    def grow_front(self, n: int) -> None:
        """Add ``n`` leading columns (holes: the caller masks them)."""
        if n > self.start:
            self._place(self.keys, self.values, left=n, right=self.room)
        self.start -= n


class LMActor:
    """The :class:`~agents.actors.Actor` of an LM policy: acting through a KV cache, with
    lazy re-prefill.

    ``observe`` only records the new observation and which rows reset; the cache is
    brought up to date when the next action or the last values are asked for. Rows that
    reset are then re-prefilled together in one batched call, and work that nobody asks
    for (the new episodes' prompts after the last step of ``collect_episodes``, or of a
    ``collect`` whose rows all ended) is never done.

    ``prefill_tokens``, ``step_tokens``, ``reprefilled_rows`` and ``reused_prompts`` count
    the work done, for performance reports.
    """

    def __init__(self, policy: LMActorCritic, cache_mode: str) -> None:
        check_cache_mode(cache_mode)
        self.policy = policy
        self.cache_mode = cache_mode
        self.cache: Any = None
        self.cache_mask: torch.Tensor | None = None  # (N, S)
        self.n_cached: torch.Tensor | None = None  # (N,) context tokens in the cache
        self.logits: torch.Tensor | None = None  # (N, V) for the next action
        self.values: torch.Tensor | None = None
        self.ids: torch.Tensor | None = None
        self.lens: torch.Tensor | None = None
        self.stale = False  # observe() was called and the cache has not caught up
        self.pending: torch.Tensor | None = None  # (N,) bool: rows whose new episode is not prefilled yet
        # rows in the cache (the decode batch): all rows, until retire() drops some; the
        # cache, cache_mask and the model's inputs have len(live) rows, the rest N rows
        self.live: torch.Tensor | None = None  # (L,) row indices; None: every row
        self.slot: torch.Tensor | None = None  # (N,) row -> cache row, -1 for retired rows
        self.prefill_tokens = 0  # prompt tokens run through the model (for perf reports)
        self.step_tokens = 0
        self.reprefilled_rows = 0  # new episodes prefilled after a reset (for perf reports)
        self.reused_prompts = 0  # of those, rows whose prompt KV was copied, not recomputed
        # prompt (all but its last token) -> (per-layer keys/values, row, end column): KV of
        # prompts already run in this collect call, while the weights cannot change
        self.prompt_kv: dict[tuple[int, ...], tuple[list[tuple[torch.Tensor, torch.Tensor]], int, int]] = {}
        self.prompt_kv_rows = 0
        self.weights_key: tuple[tuple[int, int], ...] = ()
        # new prompts left to the next step's forward, their distinct prompts and a cache row of each
        self.deferred: tuple[NewPrompts, list[tuple[int, ...]], torch.Tensor] | None = None

    @property
    def device(self) -> torch.device:
        return self.policy.device

    def start(self, obs: dict[str, np.ndarray]) -> None:
        self.ids, self.lens = _token_obs(obs, self.device)
        self.stale, self.pending, self.deferred = False, None, None
        self.live, self.slot = None, None
        self._prefill_all()

    def retire(self, rows: torch.Tensor) -> None:
        """Rows ``rows`` (an ``(N,)`` bool mask) need no more actions that count: they
        leave the decode batch for good (until the next ``start``). They are never
        re-prefilled; ``act`` still returns actions for them (the env steps every row),
        sampled from their last logits."""
        rows = rows.to(self.device)
        n = self.lens.shape[0]
        live = torch.arange(n, device=self.device) if self.live is None else self.live
        keep = ~rows[live]
        if bool(keep.all()):
            return
        idx = torch.nonzero(keep).flatten()
        self.live = live[idx]
        self.slot = torch.full((n,), -1, dtype=torch.long, device=self.device)
        self.slot[self.live] = torch.arange(self.live.numel(), device=self.device)
        if self.pending is not None:
            self.pending = self.pending & ~rows
            if not bool(self.pending.any()):
                self.pending = None
        if self.live.numel() == 0:
            self.cache, self.cache_mask, self.stale = None, None, False
            return
        for layer in self.cache.layers:
            if isinstance(layer, InPlaceLayer):
                layer.select_rows(idx)
            else:
                layer.keys, layer.values = layer.keys[idx], layer.values[idx]
        self.cache_mask = self.cache_mask[idx]
        self._compact()

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """The live rows of an ``(N, ...)`` tensor."""
        return x if self.live is None else x[self.live]

    def _set_live(self, name: str, new: torch.Tensor, where: torch.Tensor | None = None) -> None:
        """Write live-row results ``new`` into the ``(N, ...)`` attribute ``name``
        (only rows with ``where``, when given)."""
        old = getattr(self, name)
        if where is not None:
            new = torch.where(where.view(-1, *([1] * (new.dim() - 1))), new, self._rows(old))
        if self.live is None:
            setattr(self, name, new)
        else:
            old = old.clone()
            old[self.live] = new.to(old.dtype)
            setattr(self, name, old)

    def prefill_unique(self, block: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
        """``policy.prefill`` of a left-padded block, running each distinct row once (RLOO
        groups repeat every prompt k times) and copying its keys/values/logits/value to the
        rows that repeat it."""
        key = block.masked_fill(mask == 0, -1)  # a padding hole differs from a real token 0
        uniq, inverse = torch.unique(key, dim=0, return_inverse=True)
        if uniq.shape[0] < block.shape[0]:
            logits, values, cache = self.policy.prefill(uniq.clamp(min=0), (uniq >= 0).long())
            layers = getattr(cache, "layers", None)
            if layers and all(type(layer) is DynamicLayer and isinstance(layer.keys, torch.Tensor) for layer in layers):
                self.prefill_tokens += uniq.numel()
                for layer in layers:
                    layer.keys, layer.values = layer.keys[inverse], layer.values[inverse]
                return logits[inverse], values[inverse], cache
        self.prefill_tokens += block.numel()
        return self.policy.prefill(block, mask)

    def check_weights(self) -> None:
        """Drop the remembered prompt KV if the weights changed since it was computed
        (an optimizer step or ``load_state_dict`` bumps the parameters' version counters)."""
        key = tuple((p.data_ptr(), p._version) for p in self.policy.parameters())
        if key != self.weights_key:
            self.prompt_kv, self.prompt_kv_rows, self.weights_key = {}, 0, key

    def _remember(self, kv: list[tuple[torch.Tensor, torch.Tensor]], prompts: list[tuple[int, ...]], end: int) -> None:
        # row j of the (n, H, S, D) tensors in kv holds prompts[j] in columns [end - len, end);
        # views, not copies: these tensors are never written again
        if self.prompt_kv_rows >= _PROMPT_KV_ROWS:
            return
        self.prompt_kv_rows += len(prompts)
        for j, prompt in enumerate(prompts):
            if prompt:
                self.prompt_kv.setdefault(prompt, (kv, j, end))

    def _prefill_all(self) -> None:
        ids, lens = self._rows(self.ids), self._rows(self.lens)
        block, mask = left_pad(ids, lens)
        logits, values, self.cache = self.prefill_unique(block, mask)
        if self.live is None:
            self.logits, self.values = logits, values
        else:
            self._set_live("logits", logits)
            self._set_live("values", values)
        self.cache_mask = mask
        self.n_cached = self.lens.clone()
        if self.cache_mode == "per_row":
            if not self._spliceable():
                self.cache_mode = "rebuild"
            else:
                kv = [(layer.keys, layer.values) for layer in self.cache.layers]
                self._remember(kv, [tuple(r[: n - 1]) for r, n in zip(ids.tolist(), lens.tolist())], block.shape[1] - 1)
                room = max(_MIN_ROOM, block.shape[1])
                self.cache.layers = [InPlaceLayer(layer.keys, layer.values, room) for layer in self.cache.layers]

    def _spliceable(self) -> bool:
        layers = getattr(self.cache, "layers", None)
        return bool(layers) and all(
            type(layer) in (DynamicLayer, InPlaceLayer) and isinstance(layer.keys, torch.Tensor) for layer in layers
        )

    def _replace_rows(self, rows: torch.Tensor) -> None:
        """Re-prefill ``rows`` (new episodes) up to their second-to-last prompt token and
        splice them into the batch cache; their last prompt token goes with the step.
        Prompts already run in this collect call are copied instead of recomputed."""
        sub_lens = self.lens[rows] - 1
        slots = rows if self.slot is None else self.slot[rows]  # their rows in the cache
        width = int(sub_lens.max())
        seq = self.cache_mask.shape[1]
        if width > seq:  # grow the batch cache on the left with holes
            for layer in self.cache.layers:
                layer.grow_front(width - seq)
            self.cache_mask = torch.nn.functional.pad(self.cache_mask, (width - seq, 0))
            seq = width
        self.cache_mask[slots] = 0
        prompts = [tuple(r[:n]) for r, n in zip(self.ids[rows].tolist(), sub_lens.tolist())]
        known = [bool(p) and p in self.prompt_kv for p in prompts]
        for row, prompt in zip(slots.tolist(), (p for p, k in zip(prompts, known) if k)):
            kv, j, end = self.prompt_kv[prompt]
            n = len(prompt)
            for layer, (keys, values) in zip(self.cache.layers, kv, strict=True):
                layer.keys[row, :, seq - n :] = keys[j, :, end - n : end]
                layer.values[row, :, seq - n :] = values[j, :, end - n : end]
            self.cache_mask[row, seq - n :] = 1
        self.reused_prompts += sum(known)
        todo = [bool(p) and not k for p, k in zip(prompts, known)]
        if any(todo):
            new = torch.as_tensor(todo, device=self.device)
            new_rows, new_slots = rows[new], slots[new]
            block, mask = left_pad(self.ids[new_rows], sub_lens[new])
            first = seq - block.shape[1]
            self.cache_mask[new_slots, first:] = mask
            new_prompts = [p for p, t in zip(prompts, todo) if t]
            if self.policy.runs_lean:  # they run in the step's forward, see agents.decode.NewPrompts
                self._defer(block, mask, new_slots, first, new_prompts)
            else:
                _, _, sub = self.prefill_unique(block, mask)
                for layer, sub_layer in zip(self.cache.layers, sub.layers, strict=True):
                    layer.keys[new_slots, :, first:] = sub_layer.keys
                    layer.values[new_slots, :, first:] = sub_layer.values
                kv = [(layer.keys, layer.values) for layer in sub.layers]
                self._remember(kv, new_prompts, block.shape[1])
        self.n_cached[rows] = sub_lens
        self.reprefilled_rows += rows.numel()

    def _defer(self, block: torch.Tensor, mask: torch.Tensor, slots: torch.Tensor, first: int,
               prompts: list[tuple[int, ...]]) -> None:  # fmt: skip
        """Leave the prompts ``block`` of cache rows ``slots`` to the next step's forward (each
        distinct prompt runs once; RLOO groups repeat them)."""
        index: dict[tuple[int, ...], int] = {}  # distinct prompt -> its row in the block
        source, firsts = [], []
        for j, prompt in enumerate(prompts):
            if prompt not in index:
                index[prompt] = len(index)
                firsts.append(j)
            source.append(index[prompt])
        firsts = torch.as_tensor(firsts, device=self.device)
        self.deferred = (
            NewPrompts(block[firsts], mask[firsts], slots, torch.as_tensor(source, device=self.device), first),
            list(index),
            slots[firsts],
        )
        self.prefill_tokens += firsts.numel() * block.shape[1]

    def _remember_deferred(self) -> None:
        new_prompts, prompts, slots = self.deferred
        self.deferred = None
        if self.prompt_kv_rows >= _PROMPT_KV_ROWS:
            return
        # copies, not views: these cache rows are written again when their episodes end
        columns = slice(new_prompts.first, new_prompts.first + new_prompts.input_ids.shape[1])
        kv = [(layer.keys[slots, :, columns], layer.values[slots, :, columns]) for layer in self.cache.layers]
        self._remember(kv, prompts, new_prompts.input_ids.shape[1])

    def observe(self, obs: dict[str, np.ndarray], reset_rows: np.ndarray) -> None:
        self.ids, self.lens = _token_obs(obs, self.device)
        reset = torch.as_tensor(np.asarray(reset_rows, dtype=bool), device=self.device)
        if self.slot is not None:
            reset = reset & (self.slot >= 0)  # retired rows never catch up
        grew = (self.lens > self.n_cached) | reset
        if self.slot is not None:
            grew = grew | (self.slot < 0)
        if not bool(grew.all()):
            rows = torch.nonzero(~grew).flatten().tolist()
            raise RuntimeError(
                f"the context of rows {rows} did not grow after a step; a token env must append the action"
            )
        self.stale = True
        self.pending = reset if bool(reset.any()) else None

    def _catch_up(self, *, with_resets: bool) -> None:
        """Feed the tokens observed since the last forward; with ``with_resets``, first
        re-prefill the pending rows (all at once), else leave them pending."""
        if not self.stale:
            return
        if with_resets and self.pending is not None:
            if self.cache_mode == "rebuild":
                self.reprefilled_rows += int(self.pending.sum())
                self._prefill_all()
                self.stale, self.pending = False, None
                return
            self._replace_rows(torch.nonzero(self.pending).flatten())
            self.pending = None
        waiting = self.pending if self.pending is not None else torch.zeros_like(self.lens, dtype=torch.bool)
        if self.slot is not None:
            waiting = waiting | (self.slot < 0)  # retired rows feed nothing, ever
        start = torch.where(waiting, self.lens, self.n_cached)  # a waiting row feeds nothing
        fed = self.lens > start
        if bool(fed.any()) or self.deferred is not None:
            self._extend(self._rows(start), self._rows(fed))
        self.n_cached = torch.where(waiting, self.n_cached, self.lens)
        self.stale = self.pending is not None

    def _extend(self, start: torch.Tensor, fed: torch.Tensor) -> None:
        """Feed the live rows' tokens from ``start`` (both ``(L,)``, live rows only)."""
        # a row with nothing to feed gets an all-hole block and keeps its logits and values
        block, mask, positions = step_block(self._rows(self.ids), self._rows(self.lens), start)
        full_mask = torch.cat([self.cache_mask, mask], dim=1)
        new_prompts = None if self.deferred is None else self.deferred[0]
        logits, values, self.cache = self.policy.extend(block, full_mask, positions, self.cache, new_prompts)
        if self.deferred is not None:
            self._remember_deferred()
        every = bool(fed.all())
        self._set_live("logits", logits, None if every else fed)
        self._set_live("values", values, None if every else fed)
        self.step_tokens += block.numel()
        self.cache_mask = full_mask
        self._compact()

    def _compact(self) -> None:
        if self.cache_mode != "per_row":
            return
        if bool(self.cache_mask[:, 0].any()):  # the usual case: nothing to crop
            return
        used = self.cache_mask.any(dim=0)
        first = int(torch.argmax(used.long()))
        if first > 0:
            for layer in self.cache.layers:
                layer.drop_front(first)
            self.cache_mask = self.cache_mask[:, first:]

    def act(self, mask: torch.Tensor | None, generator: torch.Generator, deterministic: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        self._catch_up(with_resets=True)
        logits = self.policy.distribution_logits(self.logits, mask)
        actions, logp, ent = sample_log_prob_entropy(logits, generator=generator, deterministic=deterministic)
        return actions, logp, ent, self.values

    def current_values(self) -> torch.Tensor:
        """Values of the current observations; 0 for rows whose episode just ended (GAE
        does not bootstrap across a done, so their new episodes are not prefilled here)."""
        if self.pending is not None and bool(self.pending.all()):
            return torch.zeros_like(self.values)
        self._catch_up(with_resets=False)
        return self.values if self.pending is None else self.values.masked_fill(self.pending, 0.0)

    def record(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids, self.lens

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        return actions.cpu().numpy()

    def values_of(self, obs_rows: list[dict[str, np.ndarray]]) -> torch.Tensor:
        stacked = {k: np.stack([o[k] for o in obs_rows]) for k in ("input_ids", "attention_mask")}
        ids, lens = _token_obs(stacked, self.device)
        return self.policy.context_values(ids, lens)


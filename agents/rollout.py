"""Batched rollouts of a policy in a Gymnasium vector env (``AutoresetMode.SAME_STEP``).

For an :class:`~agents.policies.LMActorCritic` on a token env the rollout is cached
and token by token: the prompts are prefilled once as a left-padded batch, then each
step feeds only the new tokens ``input_ids[n_cached:n_now]`` of every row through the
KV cache (normally just the sampled action; a multi-turn env may append the other
speaker's tokens). When a row's episode ends, SAME_STEP autoreset has already put the
next prompt in the observation; only that row is re-prefilled and spliced into the
batch cache (``cache_mode="per_row"``). ``cache_mode="rebuild"`` re-prefills the whole
batch instead; it is the fallback for caches that cannot be spliced (sliding window).

The cache catches up lazily: a step only records the observation and which rows reset,
and the forward passes run when the next action (or the batch's last values) is asked
for. The rows that reset are re-prefilled together, and prompts that no action follows
(after the last step of ``collect_episodes`` or ``run_episodes``, or of a ``collect``
for rows that ended on it) are never prefilled.

The batch cache is one tensor per layer with a shared length ``S``. Rows keep their
tokens right-aligned; shorter rows, per-step padding and replaced rows leave holes that
the attention mask hides. Positions are passed explicitly, so holes do not shift them.
Leading columns that are a hole in every row are cropped after each step. In ``per_row``
mode each layer is an :class:`_InPlaceLayer`: a window of buffers with spare room, so a
step writes its new columns in place and cropping moves the window's start; transformers'
``DynamicLayer`` instead copies the whole cache (``torch.cat``) every step.

Measured on CPU (1 thread, a 1.7M-parameter GPT-2 with tiny-shop's vocab, TextGeneration,
64 steps): 16 rows x 48 new tokens: per_row 2,060 tokens/s, rebuild 1,630, no cache (full
forward each step) 440; 64 rows x 16 new tokens: per_row 1,270, rebuild 430, no cache 250.
Rebuilding re-runs every row's prompt whenever any row resets, which with many short
episodes is almost every step; hence ``per_row`` is the default.

For an :class:`~agents.policies.MLPActorCritic` the same loop runs without a cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from transformers.cache_utils import DynamicLayer

from agents.buffers import Episode, RolloutBatch, episode_ids, minibatch_indices
from agents.policies import LMActorCritic, MLPActorCritic, is_token_observation_space
from agents.sampling import log_prob_entropy, sample

__all__ = ["Rollout", "row_info", "check_same_step"]

Policy = LMActorCritic | MLPActorCritic
_PROMPT_KV_ROWS = 1024  # prompt rows whose KV one collect call may keep for reuse (bounds memory)
_MIN_ROOM = 64  # spare KV columns: a reallocation every ~64 steps instead of a copy per step
_ActOut = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]  # actions, logprobs, entropies, values


def check_same_step(env: VectorEnv) -> None:
    """Raise unless ``env`` autoresets in the same step (the rollout relies on it)."""
    mode = env.metadata.get("autoreset_mode")
    if mode is not None and not isinstance(mode, AutoresetMode):
        mode = AutoresetMode(mode)
    if mode != AutoresetMode.SAME_STEP:
        raise ValueError(
            f"the rollout needs a vector env with autoreset_mode=AutoresetMode.SAME_STEP; got {mode}. "
            "Create it with gym.make_vec(id, vector_kwargs={'autoreset_mode': AutoresetMode.SAME_STEP}) "
            "or pass an env id."
        )


def row_info(info: dict[str, Any] | list[dict[str, Any]], i: int) -> dict[str, Any]:
    """Row ``i`` of a vectorized info dict (arrays with ``_key`` presence masks).

    A list or tuple of per-row dicts is accepted too.
    """
    if isinstance(info, (list, tuple)):
        return dict(info[i] or {})
    out: dict[str, Any] = {}
    for key, value in info.items():
        if key.startswith("_"):
            continue
        present = info.get("_" + key)
        if present is not None and not bool(np.asarray(present)[i]):
            continue
        if isinstance(value, dict):
            out[key] = row_info(value, i)
        elif isinstance(value, (list, tuple, np.ndarray)):
            v = value[i]
            out[key] = v.item() if isinstance(v, np.generic) else v
        else:
            out[key] = value
    return out


def _episode(env_index: int, ret: float, length: int, info: dict[str, Any]) -> Episode:
    # Envs that pay per step (the recommender) total their terms over the episode in
    # "episode_reward_terms"; token envs report the finished episode's "reward_terms".
    terms_info = info.get("episode_reward_terms") or info.get("reward_terms") or {}
    terms = {k: float(v) for k, v in terms_info.items()}
    success = info.get("success", info.get("is_success"))
    return Episode(
        env_index=env_index,
        episode_return=float(ret),
        length=int(length),
        reward_terms=terms,
        success=None if success is None else float(success),
        prompt=info.get("prompt"),
        completion=info.get("completion"),
        info=info,
    )


def _token_obs(obs: dict[str, np.ndarray], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.as_tensor(np.asarray(obs["input_ids"]), dtype=torch.long, device=device)
    lens = torch.as_tensor(np.asarray(obs["attention_mask"]), device=device).long().sum(-1)
    if bool((lens < 1).any()):
        raise ValueError("a token observation has an empty context; prompts need at least one token")
    return ids, lens


def _left_pad(ids: torch.Tensor, lens: torch.Tensor, start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``ids[i, start_i:lens_i]`` right-aligned in a ``(N, max_len)`` block + mask."""
    start = torch.zeros_like(lens) if start is None else start
    k = lens - start
    width = max(int(k.max()), 1)
    col = torch.arange(width, device=ids.device)[None, :]
    src = (start + k)[:, None] - width + col  # source column for each block column
    mask = src >= start[:, None]
    block = ids.gather(1, src.clamp(min=0, max=ids.shape[1] - 1)) * mask
    return block, mask.long()


# ---------------------------------------------------------------------------------------
# actors: what the rollout loop needs from a policy at each step
# ---------------------------------------------------------------------------------------


class _MLPActor:
    def __init__(self, policy: MLPActorCritic) -> None:
        self.policy = policy
        self.x: torch.Tensor | None = None

    def start(self, obs: Any) -> None:
        self.x = self.policy.obs_to_tensor(obs)

    def check_weights(self) -> None:
        pass

    def retire(self, rows: torch.Tensor) -> None:
        pass

    def observe(self, obs: Any, reset_rows: np.ndarray) -> None:
        self.x = self.policy.obs_to_tensor(obs)

    def act(self, mask: torch.Tensor | None, generator: torch.Generator, deterministic: bool) -> _ActOut:
        return self.policy.act(self.x, action_mask=mask, generator=generator, deterministic=deterministic)

    def current_values(self) -> torch.Tensor:
        return self.policy.value(self.x)

    def record(self) -> tuple[torch.Tensor, None]:
        return self.x, None

    def env_actions(self, actions: torch.Tensor) -> np.ndarray:
        return self.policy.env_actions(actions)

    def values_of(self, obs_rows: list[Any]) -> torch.Tensor:
        if isinstance(obs_rows[0], dict):
            stacked: Any = {k: np.stack([o[k] for o in obs_rows]) for k in obs_rows[0]}
        else:
            stacked = np.stack(obs_rows)
        return self.policy.value(self.policy.obs_to_tensor(stacked))


def _only_none(value: Any) -> None:
    if value is not None:
        raise NotImplementedError("the rollout's KV cache is edited through update/drop_front/grow_front")


class _InPlaceLayer(DynamicLayer):
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
        self._k = keys.new_zeros((n, h, left + s + right, keys.shape[-1]))  # zeros: holes stay finite
        self._v = values.new_zeros((n, h, left + s + right, values.shape[-1]))
        self._k[:, :, left : left + s] = keys
        self._v[:, :, left : left + s] = values
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


class _LMActor:
    """Acting through a KV cache, with lazy re-prefill.

    ``observe`` only records the new observation and which rows reset; the cache is
    brought up to date when the next action or the last values are asked for. Rows that
    reset are then re-prefilled together in one batched call, and work that nobody asks
    for (the new episodes' prompts after the last step of ``collect_episodes``, or of a
    ``collect`` whose rows all ended) is never done.
    """

    def __init__(self, policy: LMActorCritic, cache_mode: str) -> None:
        if cache_mode not in ("per_row", "rebuild"):
            raise ValueError(f"cache_mode must be 'per_row' or 'rebuild'; got {cache_mode!r}")
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

    @property
    def device(self) -> torch.device:
        return self.policy.device

    def start(self, obs: dict[str, np.ndarray]) -> None:
        self.ids, self.lens = _token_obs(obs, self.device)
        self.stale, self.pending = False, None
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
            if isinstance(layer, _InPlaceLayer):
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

    def _prefill_unique(self, block: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
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
        block, mask = _left_pad(ids, lens)
        logits, values, self.cache = self._prefill_unique(block, mask)
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
                self.cache.layers = [_InPlaceLayer(layer.keys, layer.values, room) for layer in self.cache.layers]

    def _spliceable(self) -> bool:
        layers = getattr(self.cache, "layers", None)
        return bool(layers) and all(
            type(layer) in (DynamicLayer, _InPlaceLayer) and isinstance(layer.keys, torch.Tensor) for layer in layers
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
            block, mask = _left_pad(self.ids[new_rows], sub_lens[new])
            _, _, sub = self._prefill_unique(block, mask)
            first = seq - block.shape[1]
            for layer, sub_layer in zip(self.cache.layers, sub.layers, strict=True):
                layer.keys[new_slots, :, first:] = sub_layer.keys
                layer.values[new_slots, :, first:] = sub_layer.values
            self.cache_mask[new_slots, first:] = mask
            kv = [(layer.keys, layer.values) for layer in sub.layers]
            self._remember(kv, [p for p, t in zip(prompts, todo) if t], block.shape[1])
        self.n_cached[rows] = sub_lens
        self.reprefilled_rows += rows.numel()

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
        if bool(fed.any()):
            self._extend(self._rows(start), self._rows(fed))
        self.n_cached = torch.where(waiting, self.n_cached, self.lens)
        self.stale = self.pending is not None

    def _extend(self, start: torch.Tensor, fed: torch.Tensor) -> None:
        """Feed the live rows' tokens from ``start`` (both ``(L,)``, live rows only)."""
        lens = self._rows(self.lens)
        block, mask = _left_pad(self._rows(self.ids), lens, start=start)
        # real tokens of row i sit at positions n_cached_i, n_cached_i + 1, ... (right-aligned);
        # a row with nothing to feed gets an all-hole block and keeps its logits and values
        positions = (lens[:, None] - block.shape[1] + torch.arange(block.shape[1], device=self.device)[None, :]).clamp(min=0)
        full_mask = torch.cat([self.cache_mask, mask], dim=1)
        logits, values, self.cache = self.policy.extend(block, full_mask, positions, self.cache)
        every = bool(fed.all())
        self._set_live("logits", logits, None if every else fed)
        self._set_live("values", values, None if every else fed)
        self.step_tokens += block.numel()
        self.cache_mask = full_mask
        self._compact()

    def _compact(self) -> None:
        if self.cache_mode != "per_row":
            return
        used = self.cache_mask.any(dim=0)
        first = int(torch.argmax(used.long()))
        if first > 0:
            for layer in self.cache.layers:
                layer.drop_front(first)
            self.cache_mask = self.cache_mask[:, first:]

    def act(self, mask: torch.Tensor | None, generator: torch.Generator, deterministic: bool) -> _ActOut:
        self._catch_up(with_resets=True)
        logits = self.policy.distribution_logits(self.logits, mask)
        actions = sample(logits, generator=generator, deterministic=deterministic)
        logp, ent = log_prob_entropy(logits, actions)
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


# ---------------------------------------------------------------------------------------
# the rollout
# ---------------------------------------------------------------------------------------


@dataclass
class _Step:
    obs: torch.Tensor
    obs_len: torch.Tensor | None
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    entropies: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    bootstrap_values: torch.Tensor
    action_masks: torch.Tensor | None
    episodes: list[Episode]


class Rollout:
    """Collects experience from a SAME_STEP vector env; keeps env and cache state.

    Args:
        env: a Gymnasium vector env with ``autoreset_mode = SAME_STEP``.
        policy: an :class:`LMActorCritic` (token envs) or :class:`MLPActorCritic`.
        generator: the only source of sampling randomness.
        ref_policy: frozen reference policy; when given, batches carry ``ref_logprobs``.
        bootstrap_truncated: add ``V(final_obs)`` of truncated steps to the batch.
        cache_mode: ``"per_row"`` or ``"rebuild"`` (LM policies), see module docstring.
    """

    def __init__(
        self,
        env: VectorEnv,
        policy: Policy,
        *,
        generator: torch.Generator,
        ref_policy: Policy | None = None,
        bootstrap_truncated: bool = False,
        cache_mode: str = "per_row",
    ) -> None:
        check_same_step(env)
        self.env = env
        self.policy = policy
        self.ref_policy = ref_policy
        self.generator = generator
        self.bootstrap_truncated = bootstrap_truncated
        self.num_envs = env.num_envs
        if isinstance(policy, LMActorCritic):
            if not is_token_observation_space(env.single_observation_space):
                raise ValueError("LMActorCritic needs a token env (observation Dict with input_ids, attention_mask)")
            self.actor: _LMActor | _MLPActor = _LMActor(policy, cache_mode)
        else:
            self.actor = _MLPActor(policy)
        self._obs: Any = None
        self._info: dict[str, Any] = {}
        self._mask_source: str | None = None
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.steps = 0

    # -- env plumbing -----------------------------------------------------------------------

    def reset(self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None) -> None:
        """Reset every row (new episodes) and prefill the policy state."""
        self._obs, self._info = self.env.reset(seed=seed, options=options)
        self._returns[:] = 0.0
        self._lengths[:] = 0
        self._mask_source = self._find_mask_source(self._info)
        with torch.no_grad():
            self.actor.check_weights()
            self.actor.start(self._obs)

    def _find_mask_source(self, info: dict[str, Any]) -> str | None:
        if "action_mask" in info:
            return "info"
        if callable(getattr(self.env, "action_masks", None)):  # a native vector env: (N, n) at once
            return "method"
        try:
            self.env.call("action_masks")
        except (AttributeError, NotImplementedError):
            return None
        return "call"

    def _action_masks(self) -> torch.Tensor | None:
        if self._mask_source == "info":
            masks = np.stack([np.asarray(m, dtype=bool) for m in self._info["action_mask"]])
        elif self._mask_source == "method":
            masks = np.asarray(self.env.action_masks(), dtype=bool)
        elif self._mask_source == "call":
            masks = np.stack([np.asarray(m, dtype=bool) for m in self.env.call("action_masks")])
        else:
            return None
        return torch.as_tensor(masks, device=self.policy.device)

    @torch.no_grad()
    def _step(self, deterministic: bool) -> _Step:
        if self._obs is None:
            raise RuntimeError("call Rollout.reset() before collecting")
        masks = self._action_masks()
        obs_rec, obs_len = self.actor.record()
        actions, logp, ent, values = self.actor.act(masks, self.generator, deterministic)
        obs, rewards, terminated, truncated, info = self.env.step(self.actor.env_actions(actions))
        self.steps += self.num_envs
        rewards = np.asarray(rewards, dtype=np.float64)
        done = np.logical_or(terminated, truncated)
        self._returns += rewards
        self._lengths += 1
        episodes: list[Episode] = []
        bootstrap = torch.zeros(self.num_envs)
        if done.any():
            final_info = info.get("final_info", {})
            for i in np.flatnonzero(done):
                episodes.append(_episode(int(i), self._returns[i], self._lengths[i], row_info(final_info, int(i))))
            if self.bootstrap_truncated and truncated.any():
                rows = np.flatnonzero(np.logical_and(truncated, ~np.asarray(terminated)))
                if rows.size:
                    final_obs = [self._final_obs_row(info, int(i)) for i in rows]
                    bootstrap[torch.as_tensor(rows)] = self.actor.values_of(final_obs).float().cpu()
            self._returns[done] = 0.0
            self._lengths[done] = 0
        self._obs, self._info = obs, info
        self.actor.observe(obs, done)
        return _Step(
            obs=obs_rec,
            obs_len=obs_len,
            actions=actions,
            logprobs=logp,
            values=values,
            entropies=ent,
            rewards=torch.as_tensor(rewards, dtype=torch.float32),
            terminated=torch.as_tensor(np.asarray(terminated, dtype=bool)),
            truncated=torch.as_tensor(np.asarray(truncated, dtype=bool)),
            bootstrap_values=bootstrap,
            action_masks=masks,
            episodes=episodes,
        )

    @staticmethod
    def _final_obs_row(info: dict[str, Any], i: int) -> Any:
        final_obs = info["final_obs"]
        if isinstance(final_obs, dict):  # dict of arrays (a native vector env may batch them)
            return {k: np.asarray(v[i]) for k, v in final_obs.items() if not k.startswith("_")}
        return final_obs[i]

    # -- collection -------------------------------------------------------------------------

    def _batch(self, steps: list[_Step], valid: torch.Tensor, *, need_last_value: bool = True) -> RolloutBatch:
        def stack(name: str) -> torch.Tensor:
            return torch.stack([getattr(s, name).cpu() for s in steps])

        terminated, truncated = stack("terminated"), stack("truncated")
        if need_last_value:
            with torch.no_grad():
                last_value = self.actor.current_values().float().cpu()
        else:
            last_value = torch.zeros(self.num_envs)
        batch = RolloutBatch(
            obs=stack("obs"),
            obs_len=None if steps[0].obs_len is None else stack("obs_len"),
            actions=stack("actions"),
            logprobs=stack("logprobs").float(),
            values=stack("values").float(),
            entropies=stack("entropies").float(),
            rewards=stack("rewards"),
            terminated=terminated,
            truncated=truncated,
            bootstrap_values=stack("bootstrap_values"),
            valid=valid,
            episode_ids=episode_ids(terminated | truncated),
            last_value=last_value,
            action_masks=None if steps[0].action_masks is None else stack("action_masks"),
        )
        if self.ref_policy is not None:
            batch = batch._replace(ref_logprobs=self.score(self.ref_policy, batch))
        return batch

    @torch.no_grad()
    def score(self, policy: Policy, batch: RolloutBatch, *, tokens_per_chunk: int = 512) -> torch.Tensor:
        """``(T, N)`` log-probs of the batch's actions under ``policy`` (0 where invalid)."""
        out = torch.zeros(batch.num_steps * batch.num_envs)
        n_chunks = max(1, math.ceil(int(batch.valid.sum()) / tokens_per_chunk))
        chunks = minibatch_indices(
            batch, n_chunks, generator=torch.Generator().manual_seed(0), by_segment=policy.is_sequence_model
        )
        for idx in chunks:
            logp, _, _ = policy.evaluate_actions(batch, idx)
            out[idx] = logp.float().cpu()
        return out.reshape(batch.num_steps, batch.num_envs)

    def collect(self, n_steps: int, *, deterministic: bool = False) -> tuple[RolloutBatch, list[Episode]]:
        """``n_steps`` steps of every row, continuing the episodes in progress.

        Returns the ``(T, N)`` batch and the episodes that finished during it. The
        batch's ``last_value`` is 0 for rows whose last step ended an episode (GAE does
        not bootstrap across a done; the new episodes are prefilled when next needed).
        """
        self.actor.check_weights()
        if self._obs is None:
            self.reset()
        steps = [self._step(deterministic) for _ in range(n_steps)]
        valid = torch.ones(n_steps, self.num_envs, dtype=torch.bool)
        return self._batch(steps, valid), [e for s in steps for e in s.episodes]

    def collect_episodes(
        self,
        *,
        seed: int | list[int] | None = None,
        options: dict[str, Any] | None = None,
        deterministic: bool = False,
        max_steps: int = 100_000,
    ) -> tuple[RolloutBatch, list[Episode]]:
        """Reset, then step until every row has finished one episode.

        Steps after a row's first episode are marked invalid (the row keeps acting
        because a vector env steps all rows). Returns the batch and exactly one
        episode per row, in row order. ``last_value`` is all 0: no row's last valid
        step needs it.
        """
        self.reset(seed=seed, options=options)
        finished = torch.zeros(self.num_envs, dtype=torch.bool)
        firsts: dict[int, Episode] = {}
        steps: list[_Step] = []
        valid_rows: list[torch.Tensor] = []
        while not bool(finished.all()):
            if len(steps) >= max_steps:
                raise RuntimeError(f"episodes did not finish within max_steps={max_steps}")
            valid_rows.append(~finished)
            step = self._step(deterministic)
            steps.append(step)
            for ep in step.episodes:
                if not finished[ep.env_index]:
                    firsts[ep.env_index] = ep
            finished |= step.terminated | step.truncated
            with torch.no_grad():
                self.actor.retire(finished)  # no more prefills or decode steps for them
        # every row's last valid step ends its episode: GAE never bootstraps from last_value
        batch = self._batch(steps, torch.stack(valid_rows), need_last_value=False)
        self._obs = None  # the next collect() starts from a fresh reset
        return batch, [firsts[i] for i in range(self.num_envs)]

    def run_episodes(
        self, n_episodes: int, *, deterministic: bool = False, seed: int | None = None
    ) -> list[Episode]:
        """Play ``n_episodes`` full episodes without recording a batch (evaluation).

        Row ``i`` contributes ``(n_episodes + i) // N`` episodes, so short episodes
        are not over-represented (as in stable-baselines3's ``evaluate_policy``).
        """
        self.reset(seed=seed)
        targets = np.array([(n_episodes + i) // self.num_envs for i in range(self.num_envs)])
        counts = np.zeros(self.num_envs, dtype=np.int64)
        episodes: list[Episode] = []
        while (counts < targets).any():
            for ep in self._step(deterministic).episodes:
                if counts[ep.env_index] < targets[ep.env_index]:
                    episodes.append(ep)
                    counts[ep.env_index] += 1
        self._obs = None
        return episodes

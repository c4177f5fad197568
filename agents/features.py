"""Observation features the MLP agents share: items as their embeddings, not their ids.

A recommender observation names the recently shown items by id (``item_ids``); an id fed
to a network as a float says nothing about the item, and nothing learned about one item
carries over to a similar one. `ObsEncoder` replaces each id by its item's embedding (the
env's ``item_embeddings``) and one-hot codes the small integer fields; `recency` and
`candidate_features` say how recently each item was shown, which is what the simulated
user's repeat fatigue depends on. `agents.policies.MLPActorCritic` (its recommender form)
and `agents.ddpg` both encode observations with these.

```python
encoder = ObsEncoder(env.observation_space, item_embeddings(env))
x = encoder(batched_obs)          # (N, encoder.dim) float32
```
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["RECENCY_DECAY", "ObsEncoder", "candidate_features", "item_embeddings", "recency"]

RECENCY_DECAY = 0.8
"""Weight of history slot ``j`` (0 = most recent) in `recency`: ``RECENCY_DECAY ** j``. The
simulated user's exposure counts decay by the same 0.8 per step
(``UserModel.exposure_decay``), so with one item per step the recency of an item is its
exposure up to the history's horizon."""


def item_embeddings(env: Any) -> np.ndarray | None:
    """``(n_items, d)`` float32 item embeddings of ``env`` (or of the first row of a vector
    env), or ``None`` when it has none."""
    value = getattr(env, "item_embeddings", None)
    if value is None and hasattr(env, "get_attr"):
        try:
            value = env.get_attr("item_embeddings")[0]
        except AttributeError:
            value = None
    return None if value is None else np.asarray(value, np.float32)


def recency(history: np.ndarray, n_items: int) -> np.ndarray:
    """``(N, n_items)`` float32: how recently each item was shown, from the ``(N, H)``
    history ids (most recent first; ids ``>= n_items`` are padding): the sum over the slots
    ``j`` holding the item of ``RECENCY_DECAY ** j``."""
    n, h = history.shape
    weights = np.broadcast_to(RECENCY_DECAY ** np.arange(h, dtype=np.float32), (n, h))
    out = np.zeros((n, n_items + 1), np.float32)
    rows = np.broadcast_to(np.arange(n)[:, None], (n, h))
    np.add.at(out, (rows, np.minimum(history, n_items)), weights)
    return out[:, :n_items]


def candidate_features(history: np.ndarray | None, candidates: np.ndarray) -> np.ndarray:
    """``(N, K, 2)`` for candidate items ``(N, K)``: the item's `recency` in the history
    ``(N, H)`` and whether it was the latest item (zeros without a history).

    A critic cannot easily see "this item was just shown" from concatenated embeddings;
    these two numbers make repeat fatigue learnable (plain feature engineering on the
    observation, nothing hidden).
    """
    if history is None:
        return np.zeros((*candidates.shape, 2), dtype=np.float32)
    weights = RECENCY_DECAY ** np.arange(history.shape[1])
    match = history[:, None, :] == candidates[:, :, None]  # (N, K, H)
    recent = (match * weights).sum(axis=2)
    latest = match[:, :, 0]
    return np.stack([recent, latest], axis=2).astype(np.float32)


class ObsEncoder:
    """A fixed (parameter-free) map from batched observations to ``(N, D)`` float32.

    Each entry of a ``Dict`` observation (in the space's key order), or the single space:

    - ``Discrete``: one-hot;
    - the integer ``Box`` named ``item_ids`` when item embeddings are given: each id becomes
      its item's embedding (the pad id, ``n_items``, a zero vector);
    - another integer ``Box`` with at most 8 values per entry: one-hot per entry;
    - any other ``Box``: scaled to [-1, 1] by its bounds when finite, else as is.

    With ``item_recency`` (needs ``item_ids`` and embeddings) the last ``n_items`` columns
    are the `recency` of every item; ``recency_slice`` says where they are.
    """

    def __init__(self, space: spaces.Space, item_embeddings: np.ndarray | None = None, *,
                 item_recency: bool = False) -> None:
        self.space = space
        self.parts: list[tuple[str | None, str, Any]] = []
        self.embeddings = None
        if item_embeddings is not None:
            pad = np.zeros((1, item_embeddings.shape[1]), dtype=np.float32)
            self.embeddings = np.concatenate([np.asarray(item_embeddings, np.float32), pad])
        subspaces = space.spaces.items() if isinstance(space, spaces.Dict) else [(None, space)]
        self.dim = 0
        for key, sub in subspaces:
            kind, size = self._kind(key, sub)
            self.parts.append((key, kind, sub))
            self.dim += size
        self.history_key = "item_ids" if any(key == "item_ids" and kind == "embed" for key, kind, _ in self.parts) else None
        self.n_items = 0 if self.embeddings is None else len(self.embeddings) - 1
        self.item_recency = bool(item_recency)
        if self.item_recency and self.history_key is None:
            raise ValueError("item_recency needs an item_ids observation and item embeddings")
        self.recency_slice = slice(self.dim, self.dim + self.n_items) if self.item_recency else slice(self.dim, self.dim)
        self.dim += self.recency_slice.stop - self.recency_slice.start

    def _kind(self, key: str | None, sub: spaces.Space) -> tuple[str, int]:
        if isinstance(sub, spaces.Discrete):
            return "onehot", int(sub.n)
        if not isinstance(sub, spaces.Box):
            raise ValueError(f"ObsEncoder supports Box, Discrete and Dict of those; got {sub}")
        size = int(np.prod(sub.shape))
        if np.issubdtype(sub.dtype, np.integer):
            if key == "item_ids" and self.embeddings is not None:
                return "embed", size * self.embeddings.shape[1]
            span = int(np.max(sub.high) - np.min(sub.low)) + 1
            if span <= 8:
                return "onehot_box", size * span
        return "scale", size

    def __call__(self, obs: Any) -> np.ndarray:
        pieces = []
        for key, kind, sub in self.parts:
            x = np.asarray(obs if key is None else obs[key])
            n = x.shape[0]
            if kind == "onehot":
                pieces.append(np.eye(int(sub.n), dtype=np.float32)[x.reshape(n).astype(np.int64) - int(sub.start)])
            elif kind == "embed":
                pieces.append(self.embeddings[x.reshape(n, -1)].reshape(n, -1))
            elif kind == "onehot_box":
                low = int(np.min(sub.low))
                span = int(np.max(sub.high)) - low + 1
                pieces.append(np.eye(span, dtype=np.float32)[x.reshape(n, -1).astype(np.int64) - low].reshape(n, -1))
            else:
                x = x.reshape(n, -1).astype(np.float32)
                low, high = sub.low.reshape(-1), sub.high.reshape(-1)
                finite = np.isfinite(low) & np.isfinite(high) & (high > low)
                scaled = np.where(finite, 2.0 * (x - np.where(finite, low, 0)) / np.where(finite, high - low, 1) - 1.0, x)
                pieces.append(scaled.astype(np.float32))
        if self.item_recency:
            pieces.append(recency(self.history(obs), self.n_items))
        return np.concatenate(pieces, axis=1)

    def history(self, obs: Any) -> np.ndarray | None:
        """``(N, H)`` recent item ids (most recent first) when the observation has them."""
        return None if self.history_key is None else np.asarray(obs[self.history_key]).astype(np.int64)

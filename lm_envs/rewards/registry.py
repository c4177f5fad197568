"""Reward registry and composition: configuration is data, parsed and checked, never eval'd.

```python
reward = make_reward({"sentiment": 1.0, "repetition": -0.5})
reward = make_reward([{"name": "sentiment", "weight": 1.0, "kwargs": {"target": "negative"}}])
totals, terms = reward.score(prompts, completions, **task_fields)   # (B,), {key: (B,)}
reward(prompts, completions, **task_fields)                         # list[float], for TRL
```
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, overload

import numpy as np

from lm_envs.rewards.base import RewardFunction, check_texts

__all__ = [
    "REWARDS",
    "CompositeReward",
    "RewardFactory",
    "RewardSpec",
    "make_reward",
    "register_reward",
    "reward_names",
]

RewardFactory = Callable[..., RewardFunction]
"""``factory(**kwargs) -> RewardFunction``; options are keyword-only."""

RewardSpec = Any
"""A name, ``{name: weight}``, a list of ``{"name", "weight", "kwargs"}`` dicts, or a CompositeReward."""

REWARDS: dict[str, RewardFactory] = {}
"""Registered reward factories by name. Add to it with :func:`register_reward`."""

_ENTRY_KEYS = ("name", "weight", "kwargs")
_F = TypeVar("_F", bound=RewardFactory)


@overload
def register_reward(name: str) -> Callable[[_F], _F]: ...
@overload
def register_reward(name: str, factory: _F) -> _F: ...
def register_reward(name: str, factory: RewardFactory | None = None) -> Any:
    """Register ``factory`` under ``name``; use it as a call or as a decorator.

    ```python
    @register_reward("shouting")
    def shouting(*, threshold: float = 0.5) -> RewardFunction: ...
    ```

    Raises:
        ValueError: ``name`` is empty, not a str, or already registered.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a reward name must be a non-empty str, got {name!r}")

    def add(fn: _F) -> _F:
        if not callable(fn):
            raise ValueError(f"reward {name!r}: the factory must be callable, got {type(fn).__name__}")
        if name in REWARDS:
            raise ValueError(
                f"reward {name!r} is already registered (by {_qualname(REWARDS[name])}); pick another name"
            )
        REWARDS[name] = fn
        return fn

    return add if factory is None else add(factory)


class CompositeReward:
    """A weighted sum of named reward terms, made by :func:`make_reward`.

    Attributes:
        names: the term keys, in spec order. When one reward appears more than once (say, with
            different kwargs), later copies are keyed ``name_2``, ``name_3``, ...
        weights: one float per term.
        functions: the reward functions, one per term.
    """

    def __init__(self, terms: Sequence[tuple[str, float, RewardFunction]]):
        if not terms:
            raise ValueError("a CompositeReward needs at least one term")
        self.names: tuple[str, ...] = tuple(name for name, _, _ in terms)
        self.weights: tuple[float, ...] = tuple(float(weight) for _, weight, _ in terms)
        self.functions: tuple[RewardFunction, ...] = tuple(fn for _, _, fn in terms)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"term names must be unique, got {list(self.names)}")
        # TRL logs each reward function under its __name__.
        self.__name__ = "+".join(self.names)

    def score(
        self, prompts: Sequence[str], completions: Sequence[str], **task_fields: Any
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Score a batch.

        Returns:
            totals: float64 (B,), the weighted sum of the terms.
            terms: {key: float64 (B,)}, the raw (unweighted) value of each term.

        Raises:
            ValueError: prompts, completions or a task field the terms read differ in length,
                or a term returned something other than B finite floats (the error names it).
        """
        prompts, completions = check_texts(prompts, completions)
        batch = len(completions)
        totals = np.zeros(batch, dtype=np.float64)
        terms: dict[str, np.ndarray] = {}
        for name, weight, fn in zip(self.names, self.weights, self.functions):
            raw = fn(prompts, completions, **task_fields)
            try:
                values = np.asarray(raw, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"reward {name!r} returned {_preview(raw)}, which is not {batch} floats ({err}); "
                                 "a reward returns one float per completion") from None
            if values.shape != (batch,):
                raise ValueError(f"reward {name!r} returned shape {values.shape}, expected ({batch},)")
            if not np.all(np.isfinite(values)):
                bad = np.flatnonzero(~np.isfinite(values)).tolist()
                raise ValueError(f"reward {name!r} returned non-finite values at rows {bad}; rewards must be finite")
            terms[name] = values
            totals += weight * values
        return totals, terms

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], **task_fields: Any) -> list[float]:
        """The weighted total per sample, as TRL expects from a reward function."""
        return self.score(prompts, completions, **task_fields)[0].tolist()

    def __repr__(self) -> str:
        terms = ", ".join(f"{name!r}: {weight:g}" for name, weight in zip(self.names, self.weights))
        return f"CompositeReward({{{terms}}})"


def make_reward(spec: RewardSpec) -> CompositeReward:
    """Build a :class:`CompositeReward` from a spec.

    Args:
        spec: one of
            - ``"sentiment"``: one term, weight 1;
            - ``{"sentiment": 1.0, "repetition": -0.5}``: name -> weight;
            - ``[{"name": "sentiment", "weight": 1.0, "kwargs": {"target": "negative"}}, ...]``;
              ``weight`` defaults to 1 and ``kwargs`` to ``{}``; a bare name may stand for an entry;
            - a CompositeReward, returned unchanged.

    Raises:
        ValueError: an unknown name (the message lists the known ones), a weight that is not a
            finite number, an entry with unknown keys, or kwargs the factory rejects.
    """
    if isinstance(spec, CompositeReward):
        return spec
    entries = _entries(spec)
    terms: list[tuple[str, float, RewardFunction]] = []
    for name, weight, kwargs in entries:
        _check_name(name)
        weight = _check_weight(name, weight)
        fn = _build(name, kwargs)
        key, copy = name, 1
        while key in (t[0] for t in terms):  # a second "sentiment" becomes "sentiment_2"
            copy += 1
            key = f"{name}_{copy}"
        terms.append((key, weight, fn))
    return CompositeReward(terms)


def reward_names(spec: RewardSpec) -> list[str]:
    """The registered names a reward spec refers to, in order (none for a CompositeReward,
    which is already built).

    Raises:
        ValueError: a malformed spec or an unknown name, as :func:`make_reward` says.
    """
    if isinstance(spec, CompositeReward):
        return []
    names = [name for name, _, _ in _entries(spec)]
    for name in names:
        _check_name(name)
    return list(dict.fromkeys(names))


# --- parsing helpers -------------------------------------------------------------------


def _entries(spec: RewardSpec) -> list[tuple[Any, Any, dict[str, Any]]]:
    """``(name, weight, kwargs)`` per term of a spec, unchecked but for its shape."""
    if isinstance(spec, str):
        entries = [(spec, 1.0, {})]
    elif isinstance(spec, Mapping):
        entries = [(name, weight, {}) for name, weight in spec.items()]
    elif isinstance(spec, Sequence) and not isinstance(spec, bytes):
        entries = [_parse_entry(entry, i) for i, entry in enumerate(spec)]
    else:
        raise ValueError(
            "a reward spec is a name, a dict {name: weight}, a list of {'name', 'weight', 'kwargs'} "
            f"dicts or a CompositeReward; got {type(spec).__name__}"
        )
    if not entries:
        raise ValueError(f"empty reward spec {spec!r}; known rewards: {_known()}")
    return entries


def _parse_entry(entry: Any, index: int) -> tuple[str, Any, dict[str, Any]]:
    if isinstance(entry, str):
        return entry, 1.0, {}
    if not isinstance(entry, Mapping):
        raise ValueError(
            f"reward spec entry {index} must be a dict with keys {list(_ENTRY_KEYS)} or a name, "
            f"got {type(entry).__name__}"
        )
    unknown = sorted(set(entry) - set(_ENTRY_KEYS), key=str)
    if unknown:
        raise ValueError(
            f"reward spec entry {index} has unknown key(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(_ENTRY_KEYS)}"
        )
    if "name" not in entry:
        raise ValueError(f"reward spec entry {index} has no 'name'; known rewards: {_known()}")
    kwargs = entry.get("kwargs")
    kwargs = {} if kwargs is None else kwargs
    if not isinstance(kwargs, Mapping) or not all(isinstance(k, str) for k in kwargs):
        raise ValueError(f"reward spec entry {index}: 'kwargs' must be a dict with str keys, got {kwargs!r:.80}")
    return entry["name"], entry.get("weight", 1.0), dict(kwargs)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or name not in REWARDS:
        raise ValueError(f"unknown reward {name!r}; known: {_known()}")


def _build(name: str, kwargs: dict[str, Any]) -> RewardFunction:
    factory = REWARDS[name]
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # some builtins have no signature; let the call decide
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = sorted(n for n, p in params.items() if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ValueError(
                f"reward {name!r} got unknown kwarg(s) {', '.join(map(repr, unknown))}; "
                f"accepted: {', '.join(accepted) or 'none'}"
            )
        missing = sorted(
            n for n, p in params.items()
            if p.default is p.empty and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and n not in kwargs
        )
        if missing:
            raise ValueError(f"reward {name!r} needs kwarg(s) {', '.join(map(repr, missing))}")
    try:
        fn = factory(**kwargs)
    except TypeError as err:
        raise ValueError(f"reward {name!r} rejected kwargs {kwargs!r:.200}: {err}") from err
    if not callable(fn):
        raise ValueError(f"reward {name!r}: the factory returned {type(fn).__name__}, not a callable")
    return fn


def _check_weight(name: str, weight: Any) -> float:
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(float(weight)):
        raise ValueError(f"reward {name!r} has weight {weight!r}; a weight must be a finite number")
    return float(weight)


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _known() -> str:
    return ", ".join(sorted(REWARDS))


def _qualname(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"

"""What a reward function is, and the two checks every built-in shares.

A reward function is batch-first and has the signature of TRL's reward functions::

    fn(prompts: list[str], completions: list[str], **task_fields) -> list[float]

``task_fields`` are per-sample lists (one entry per row, as TRL passes dataset columns).
A function reads the fields it knows and ignores every other keyword: TRL also passes
columns and objects (``trainer_state``, ``log_extra``, ...) that mean nothing to it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["RewardFunction", "as_text_list", "check_texts", "task_field", "text_lists"]


@runtime_checkable
class RewardFunction(Protocol):
    """``fn(prompts, completions, **task_fields) -> list[float]``: B finite floats."""

    def __call__(self, prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]: ...


def check_texts(prompts: Sequence[str], completions: Sequence[str]) -> tuple[list[str], list[str]]:
    """Return ``prompts`` and ``completions`` as lists of str, checking they match.

    Raises:
        ValueError: the two lengths differ.
        TypeError: an element is not a ``str``.
    """
    prompts, completions = _as_list(prompts, "prompts"), _as_list(completions, "completions")
    if len(prompts) != len(completions):
        raise ValueError(
            f"got {len(prompts)} prompts but {len(completions)} completions; pass one prompt per completion"
        )
    for what, texts in (("prompts", prompts), ("completions", completions)):
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{what}[{i}] is a {type(text).__name__}, not a str; rewards score plain text")
    return prompts, completions


def task_field(fields: Mapping[str, Any], name: str, batch_size: int) -> list[Any] | None:
    """The per-sample list ``fields[name]``, or ``None`` when the field is absent or ``None``.

    Raises:
        ValueError: the field is not a list/tuple/array of length ``batch_size``.
    """
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (Sequence, np.ndarray)):
        raise ValueError(
            f"task field {name!r} must be a per-sample list of length {batch_size}, got {type(value).__name__}"
        )
    if len(value) != batch_size:
        raise ValueError(f"task field {name!r} has {len(value)} entries but the batch has {batch_size} completions")
    return list(value)


def _as_list(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{what} must be a list of str (one per sample), got a single {type(texts).__name__}")
    return list(texts)


def text_lists(fields: Mapping[str, Any], name: str, batch_size: int) -> list[list[str] | None] | None:
    """Read a field whose entries are each a str or a list of str (``keywords``, ``references``).

    Returns ``None`` when the field is absent; otherwise one entry per sample: ``None`` where
    the sample's entry is ``None``, else a list of str (a lone str becomes a one-item list).

    Raises:
        ValueError: wrong length, or an entry that is neither a str nor a list of str.
    """
    column = task_field(fields, name, batch_size)
    if column is None:
        return None
    return [as_text_list(entry, f"task field {name!r}[{i}]") for i, entry in enumerate(column)]


def as_text_list(value: Any, what: str) -> list[str] | None:
    """``None`` -> ``None``; a str -> ``[str]``; a list/tuple/array of str -> list of str."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, bytes):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return items
    raise ValueError(f"{what} must be a str or a list of str, got {value!r:.80}")

"""Draws from a numpy ``Generator`` that the world's generators and texts share.

Every function draws only from the ``rng`` it is given, so a seeded generator gives the
same draws in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["pick", "sample"]

T = TypeVar("T")


def pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    """One element of ``options``; ``rng.choice`` would turn strings into a numpy array."""
    return options[int(rng.integers(len(options)))]


def sample(rng: np.random.Generator, options: Sequence[T], k: int) -> list[T]:
    """``k`` distinct elements of ``options`` (``k`` is clipped to ``len(options)``)."""
    k = min(k, len(options))
    return [options[int(i)] for i in rng.choice(len(options), size=k, replace=False)]

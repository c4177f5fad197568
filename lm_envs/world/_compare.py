"""Value equality for frozen dataclasses that hold numpy arrays.

The generated ``__eq__`` of a dataclass compares field tuples, and ``array == array`` inside
a tuple comparison raises "truth value of an array is ambiguous". Records that carry arrays
mix this in and declare ``@dataclass(frozen=True, eq=False)``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np


def readonly_float32(values: Any) -> np.ndarray:
    """A float32 copy of ``values`` that cannot be written to.

    Worlds are cached and shared by ``make_world``; a read-only array turns an accidental
    in-place edit by one env into an error instead of a silent change seen by every env.
    """
    array = np.array(values, dtype=np.float32)
    array.flags.writeable = False
    return array


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    return bool(a == b)


class ArrayRecordMixin:
    """``__eq__`` field by field (arrays by value) and a hash of the non-array fields."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        names = [f.name for f in fields(self)]  # type: ignore[arg-type]
        return all(_values_equal(getattr(self, n), getattr(other, n)) for n in names)

    def __hash__(self) -> int:
        # hashing a subset of the compared fields keeps "equal => same hash"
        values = [getattr(self, f.name) for f in fields(self)]  # type: ignore[arg-type]
        return hash(tuple(v for v in values if not isinstance(v, np.ndarray)))

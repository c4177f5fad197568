"""Wording helpers without randomness: lists, prices, dates and agreement with a category."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lm_envs.world.categories import CategorySpec

__all__ = ["format_date", "format_price", "grammar", "join_words"]


def join_words(words: Sequence[str]) -> str:
    """``["a"]`` -> ``"a"``; ``["a", "b"]`` -> ``"a and b"``; three -> ``"a, b and c"``."""
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def format_price(amount: float) -> str:
    """``1234.5`` -> ``"$1,234.50"``."""
    return f"${amount:,.2f}"


def format_date(day: date) -> str:
    """``date(2026, 1, 5)`` -> ``"January 5, 2026"``."""
    return f"{day:%B} {day.day}, {day.year}"


def grammar(spec: CategorySpec) -> dict[str, str]:
    """Words that agree with one item of the category: headphones "are", a laptop "is"."""
    if spec.plural:
        return {"it": "they", "It": "They", "obj": "them", "is": "are", "has": "have",
                "this": "these", "its": "their", "s": "", "was": "were"}
    return {"it": "it", "It": "It", "obj": "it", "is": "is", "has": "has", "this": "this",
            "its": "its", "s": "s", "was": "was"}

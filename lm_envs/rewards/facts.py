"""Fact rewards: ``facts`` (required facts present, minus contradicted ones) and ``wrong_facts``.

A sample's truth is its ``facts`` task field: a list of dicts, one per fact::

    {"name": "order_id", "value": "ORD-10234", "kind": "order_id"}
    {"name": "delivery_date", "value": "2026-01-20", "kind": "date"}
    {"name": "total", "value": 79.99, "kind": "money"}
    {"name": "status", "value": "shipped", "kind": "text", "wrong": ["delivered", "cancelled"]}
    {"name": "refund_window", "value": 5, "kind": "days", "required": False}

Keys: ``name`` (str, for reports), ``value``, ``kind`` (below); optional ``required``
(default True: the fact must be stated; False: the value is merely allowed, so stating it is
no contradiction), ``aliases`` (other surface forms that count as stating the fact) and, for
``text`` facts, ``wrong`` (phrases that contradict it).

Kinds, how a value is written in text and how it is normalised before comparing:

| kind | written as | normalised to |
|---|---|---|
| ``order_id`` | ``ORD-10234``, ``ord 10234``, ``ORD#10234`` | ``ORD-10234`` |
| ``tracking`` | ``1Z4RT5X00123456789`` (UPS) or 10-22 digits | upper case |
| ``email`` | ``priya.patel@example.com`` | lower case |
| ``money`` | ``$79.99``, ``$ 1,234``, ``79.99 dollars``, ``80 USD`` | cents |
| ``date`` | ``January 20, 2026``, ``Jan 20``, ``20 January 2026``, ``2026-01-20``, ``01/20/2026`` | (year or None, month, day) |
| ``days`` | ``30 days``, ``5 business days``, ``30-day`` | int |
| ``months`` | ``12 months``, ``12-month``, ``2 years`` (= 24 months) | int |
| ``percent`` | ``10%``, ``10 percent`` | float |
| ``text`` | the phrase itself, any case and spacing, on word boundaries | casefolded words |

Numbers inside a true ``text`` fact's phrase (the "7 days" of "24 hours a day, 7 days a
week") are not read as ids, amounts or durations.

A *contradiction* is a value of a kind the truth speaks about (at least one fact of that kind)
that the text states and that matches no true value of that kind: a wrong order number, a
wrong date, a wrong amount. A date without a year matches a true date on the same day and
month. ``text`` facts are contradicted only by their ``wrong`` phrases. Kinds the truth does
not mention are not judged: a "$5" in the answer to a question about a delivery date is
neither right nor wrong.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from lm_envs.rewards.base import RewardFunction, check_texts, task_field
from lm_envs.rewards.registry import register_reward

__all__ = ["FACT_KINDS", "FactCheck", "check_facts", "facts", "normalize_fact", "validate_facts", "wrong_facts"]

FACT_KINDS = ("order_id", "tracking", "email", "money", "date", "days", "months", "percent", "text")
"""The kinds a fact may have; see the module docstring for their formats."""

_FACT_KEYS = frozenset({"name", "value", "kind", "required", "aliases", "wrong"})

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
            ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
            ("oct", "october"), ("nov", "november"), ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"([0-9]{1,2})(?:st|nd|rd|th)?"
_YEAR = r"([0-9]{4})"
# ASCII digits only: str.isdigit-style unicode digits are not how shop facts are written.
_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "order_id": (re.compile(r"(?<![A-Za-z0-9])ORD\s?[-#]?\s?([0-9]{3,})(?![0-9])", re.IGNORECASE),),
    "tracking": (
        re.compile(r"(?<![A-Za-z0-9])(1Z[0-9A-Z]{16})(?![A-Za-z0-9])", re.IGNORECASE),
        re.compile(r"(?<![A-Za-z0-9\-])([0-9]{10,22})(?![A-Za-z0-9])"),
    ),
    "email": (re.compile(r"(?<![\w.+-])([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.ASCII),),
    "money": (
        re.compile(r"\$\s?([0-9][0-9,]*(?:\.[0-9]{1,2})?)(?![0-9])"),
        re.compile(r"(?<![0-9.,$])([0-9][0-9,]*(?:\.[0-9]{1,2})?)\s?(?:dollars?|usd)\b", re.IGNORECASE),
    ),
    "date": (
        re.compile(rf"(?<![A-Za-z]){_MONTH}\s+{_DAY}(?![0-9])(?:,?\s+{_YEAR}(?![0-9]))?", re.IGNORECASE),
        re.compile(rf"(?<![0-9]){_DAY}\s+(?:of\s+)?{_MONTH}(?![A-Za-z])(?:,?\s+{_YEAR}(?![0-9]))?", re.IGNORECASE),
        re.compile(r"(?<![0-9])([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?![0-9])"),
        re.compile(r"(?<![0-9/])([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})(?![0-9/])"),
    ),
    "days": (re.compile(r"(?<![0-9.])([0-9]+)[\s-]*(?:(?:business|calendar|working)[\s-]+)?days?\b", re.IGNORECASE),),
    "months": (re.compile(r"(?<![0-9.])([0-9]+)[\s-]*(months?|years?)\b", re.IGNORECASE),),
    "percent": (re.compile(r"(?<![0-9.])([0-9]+(?:\.[0-9]+)?)\s?(?:%|percent\b)", re.IGNORECASE),),
}


# --- normalisation ---------------------------------------------------------------------


def normalize_fact(kind: str, value: Any) -> Any:
    """The canonical form of a true ``value`` of ``kind`` (what extracted mentions compare to).

    ``money`` -> int cents; ``date`` (a ``datetime.date`` or a str in any format of the table)
    -> ``(year, month, day)``; ``days``/``months``/``percent`` -> number; ids and emails ->
    their canonical case; ``text`` -> casefolded words joined by one space.

    Raises:
        ValueError: unknown kind, or a value that cannot be read as that kind.
    """
    if kind not in FACT_KINDS:
        raise ValueError(f"unknown fact kind {kind!r}; known: {', '.join(FACT_KINDS)}")
    if kind == "text":
        if not isinstance(value, str) or not value.split():
            raise ValueError(f"a text fact needs a non-blank str value, got {value!r}")
        return " ".join(value.casefold().split())
    if kind == "date" and isinstance(value, date):
        return (value.year, value.month, value.day)
    if kind in ("money", "days", "months", "percent") and isinstance(value, numbers.Real) and not isinstance(value, bool):
        if not np.isfinite(float(value)):
            raise ValueError(f"a {kind} fact needs a finite number, got {value!r}")
        return _number(kind, float(value))
    if isinstance(value, str):
        found = _mentions(kind, value)
        if len(found) == 1:
            return next(iter(found))
        if kind == "money":  # "79.99" without a currency sign
            plain = value.strip().replace(",", "")
            if re.fullmatch(r"[0-9]+(?:\.[0-9]{1,2})?", plain):
                return _number(kind, float(plain))
        if kind in ("days", "months", "percent") and re.fullmatch(r"[0-9]+(?:\.[0-9]+)?", value.strip()):
            return _number(kind, float(value))
        if kind == "order_id" and re.fullmatch(r"[0-9]{3,}", value.strip()):
            return f"ORD-{int(value.strip())}"
    raise ValueError(f"cannot read {value!r} as a {kind} fact")


def _number(kind: str, amount: float) -> Any:
    if kind == "money":
        return int(round(amount * 100))
    if kind == "percent":
        return float(amount)
    return int(round(amount))


@functools.lru_cache(maxsize=8192)
def _mentions(kind: str, text: str) -> frozenset[Any]:
    """Normalised values of ``kind`` that ``text`` states (not for ``text`` facts)."""
    found: set[Any] = set()
    for pattern in _PATTERNS[kind]:
        for match in pattern.finditer(text):
            value = _read(kind, match)
            if value is not None:
                found.add(value)
    return frozenset(found)


def _read(kind: str, match: re.Match[str]) -> Any:
    groups = match.groups()
    if kind == "order_id":
        return f"ORD-{int(groups[0])}"
    if kind == "tracking":
        return groups[0].upper()
    if kind == "email":
        return groups[0].rstrip(".").lower()
    if kind == "money":
        return _number("money", float(groups[0].replace(",", "")))
    if kind in ("days", "percent"):
        return _number(kind, float(groups[0]))
    if kind == "months":
        n = int(groups[0])
        return n * 12 if groups[1].lower().startswith("year") else n
    # dates: month-name forms (two orders), ISO, US
    if match.re is _PATTERNS["date"][0]:
        month, day, year = _MONTHS[groups[0].lower()], int(groups[1]), groups[2]
    elif match.re is _PATTERNS["date"][1]:
        day, month, year = int(groups[0]), _MONTHS[groups[1].lower()], groups[2]
    elif match.re is _PATTERNS["date"][2]:
        year, month, day = groups[0], int(groups[1]), int(groups[2])
    else:
        month, day, year = int(groups[0]), int(groups[1]), groups[2]
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return (int(year) if year else None, month, day)


def _same(kind: str, mention: Any, truth: Any) -> bool:
    if kind == "date":
        return mention[1:] == truth[1:] and (mention[0] is None or truth[0] is None or mention[0] == truth[0])
    return mention == truth


@functools.lru_cache(maxsize=4096)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    words = phrase.split()
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.IGNORECASE)


def _says(text: str, phrase: str) -> bool:
    return _phrase_pattern(phrase).search(text) is not None


# --- checking one answer ---------------------------------------------------------------


@dataclass(frozen=True)
class _Fact:
    name: str
    kind: str
    values: tuple[Any, ...]  # the normalised value and its aliases
    required: bool
    wrong: tuple[str, ...]


@dataclass(frozen=True)
class FactCheck:
    """What one text gets right and wrong against its facts (see :func:`check_facts`)."""

    present: tuple[str, ...]
    """Names of the required facts the text states."""
    missing: tuple[str, ...]
    """Names of the required facts it does not state."""
    wrong: tuple[str, ...]
    """The contradicting mentions, as ``"kind: value"`` (e.g. ``"order_id: ORD-99999"``)."""
    n_required: int

    @property
    def recall(self) -> float:
        """Fraction of the required facts stated (1.0 when none are required)."""
        return len(self.present) / self.n_required if self.n_required else 1.0

    def score(self, penalty: float = 1.0) -> float:
        """``(present - penalty * contradictions) / max(required, 1)``, clipped to [-1, 1]."""
        value = (len(self.present) - penalty * len(self.wrong)) / max(self.n_required, 1)
        return float(min(1.0, max(-1.0, value)))


def validate_facts(facts: Any, what: str = "facts") -> tuple[_Fact, ...]:
    """Parse a ``facts`` entry (a list of fact dicts), raising a ValueError that says what is wrong."""
    if facts is None:
        return ()
    if isinstance(facts, (str, bytes, Mapping)) or not isinstance(facts, (Sequence, np.ndarray)):
        raise ValueError(f"{what} must be a list of fact dicts, got {type(facts).__name__}")
    parsed = []
    for i, fact in enumerate(facts):
        if not isinstance(fact, Mapping):
            raise ValueError(f"{what}[{i}] must be a dict with keys name, value, kind; got {fact!r:.80}")
        unknown = sorted(set(fact) - _FACT_KEYS, key=str)
        if unknown:
            raise ValueError(f"{what}[{i}] has unknown key(s) {unknown}; allowed: {', '.join(sorted(_FACT_KEYS))}")
        for key in ("value", "kind"):
            if key not in fact:
                raise ValueError(f"{what}[{i}] has no {key!r}: {fact!r:.80}")
        kind = fact["kind"]
        if kind not in FACT_KINDS:
            raise ValueError(f"{what}[{i}]: unknown fact kind {kind!r}; known: {', '.join(FACT_KINDS)}")
        try:
            values = (normalize_fact(kind, fact["value"]),) + tuple(
                normalize_fact(kind, alias) for alias in (fact.get("aliases") or ())
            )
        except ValueError as err:
            raise ValueError(f"{what}[{i}] ({fact.get('name', kind)!r}): {err}") from None
        wrong = fact.get("wrong") or ()
        if isinstance(wrong, str) or not all(isinstance(w, str) and w.split() for w in wrong):
            raise ValueError(f"{what}[{i}]: 'wrong' must be a list of non-blank str, got {wrong!r:.80}")
        if wrong and kind != "text":
            raise ValueError(f"{what}[{i}]: 'wrong' phrases are for text facts; a {kind} fact is contradicted by any other {kind}")
        parsed.append(
            _Fact(
                name=str(fact.get("name", kind)),
                kind=kind,
                values=values,
                required=bool(fact.get("required", True)),
                wrong=tuple(" ".join(w.casefold().split()) for w in wrong),
            )
        )
    return tuple(parsed)


def check_facts(text: str, facts: Any) -> FactCheck:
    """Which required facts ``text`` states, and which of its mentions contradict the truth.

    ``facts`` is a list of fact dicts (see the module docstring) or an already parsed tuple.

    >>> check_facts("Order ORD-10234 arrives on Jan 20.", [
    ...     {"name": "order", "value": "ORD-10234", "kind": "order_id"},
    ...     {"name": "date", "value": "2026-01-20", "kind": "date"}]).present
    ('order', 'date')
    """
    parsed = facts if isinstance(facts, tuple) and all(isinstance(f, _Fact) for f in facts) else validate_facts(facts)
    # A true text fact may hold numbers of its own ("24 hours a day, 7 days a week"): blank
    # it out before looking for ids, amounts and durations, so they are not judged twice.
    scrubbed = text
    for fact in parsed:
        if fact.kind == "text":
            for value in fact.values:
                scrubbed = _phrase_pattern(value).sub(" ", scrubbed)
    present, missing, wrong = [], [], []
    for fact in parsed:
        if fact.kind == "text":
            stated = any(_says(text, value) for value in fact.values)
            wrong += [f"text: {phrase}" for phrase in fact.wrong if _says(text, phrase)]
        else:
            mentions = _mentions(fact.kind, scrubbed)
            stated = any(_same(fact.kind, m, v) for m in mentions for v in fact.values)
        if fact.required:
            (present if stated else missing).append(fact.name)
    for kind in dict.fromkeys(f.kind for f in parsed if f.kind != "text"):
        truths = [v for f in parsed if f.kind == kind for v in f.values]
        for mention in sorted(_mentions(kind, scrubbed), key=repr):
            if not any(_same(kind, mention, truth) for truth in truths):
                wrong.append(f"{kind}: {_show(kind, mention)}")
    return FactCheck(tuple(present), tuple(missing), tuple(dict.fromkeys(wrong)), sum(f.required for f in parsed))


def _show(kind: str, value: Any) -> str:
    if kind == "money":
        return f"${value / 100:,.2f}"
    if kind == "date":
        year, month, day = value
        return f"{year or '????'}-{month:02d}-{day:02d}"
    return str(value)


# --- the rewards -----------------------------------------------------------------------


def _fact_column(task_fields: Mapping[str, Any], batch: int) -> list[tuple[_Fact, ...]]:
    column = task_field(task_fields, "facts", batch)
    if column is None:
        return [()] * batch
    return [validate_facts(entry, f"task field 'facts'[{i}]") for i, entry in enumerate(column)]


def _check_penalty(reward: str, penalty: Any) -> float:
    if isinstance(penalty, bool) or not isinstance(penalty, numbers.Real) or not np.isfinite(penalty) or penalty < 0:
        raise ValueError(f"{reward} reward: kwarg 'penalty' must be a finite number >= 0, got {penalty!r}")
    return float(penalty)


@register_reward("facts")
def facts(*, penalty: float = 1.0) -> RewardFunction:
    """Required facts the completion states, minus the facts it contradicts, per required fact.

    ``(present - penalty * contradictions) / max(n_required, 1)``, clipped to [-1, 1]; see
    the module docstring for the fact format, the normalisation of ids, amounts and dates, and
    what counts as a contradiction (a wrong order number, date, amount, ...).

    Kwargs:
        penalty: weight of each contradiction (>= 0); 0 scores recall only.

    Task fields:
        facts: per sample, a list of ``{"name", "value", "kind"}`` dicts (optional keys
            ``required``, ``aliases``, ``wrong``), or None.

    Returns:
        In [-1, 1]. A sample without facts scores 0.0.
    """
    penalty = _check_penalty("facts", penalty)

    def facts_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        column = _fact_column(task_fields, len(completions))
        return [check_facts(text, truth).score(penalty) if truth else 0.0 for text, truth in zip(completions, column)]

    return facts_reward


@register_reward("wrong_facts")
def wrong_facts(*, cap: int = 5) -> RewardFunction:
    """How many facts the completion contradicts (wrong ids, dates, amounts, ...): a penalty.

    Give it a negative weight, e.g. ``{"wrong_facts": -0.25}``. The same contradictions as
    :func:`facts` counts, without its normalisation by the number of facts.

    Kwargs:
        cap: the count is capped here (>= 1), so one babbling answer cannot dominate a batch.

    Task fields:
        facts: as for ``facts``.

    Returns:
        In [0, cap]; 0.0 for a sample without facts.
    """
    if isinstance(cap, bool) or not isinstance(cap, numbers.Integral) or cap < 1:
        raise ValueError(f"wrong_facts reward: kwarg 'cap' must be an int >= 1, got {cap!r}")

    def wrong_facts_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        column = _fact_column(task_fields, len(completions))
        return [float(min(cap, len(check_facts(text, truth).wrong))) if truth else 0.0 for text, truth in zip(completions, column)]

    return wrong_facts_reward

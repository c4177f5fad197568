"""Question-answer records for the customer-service QA env: the Bitext CSV or any QA table.

The Bitext customer-support sample (``../shared/data/bitext-customer-support/
customer_support.csv``, CDLA-Sharing-1.0, read in place and never copied) has the columns
``context, role, instruction, intent, entity_type, entity_value, start_offset, end_offset,
category, tags, response``. Its responses hold placeholders such as ``{{Order Number}}``;
:func:`placeholder_slot` says which shop fact a placeholder stands for (an order id, the
support hours, a number of days, ...), so the env can fill it from its world and check the
agent's answer against the same fact.

Any other CSV/TSV/JSONL/JSON file, list of dicts, DataFrame or ``datasets.Dataset`` works when
it has a question and an answer column; the column names are arguments.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lm_envs.data.tables import DataError, load_records, require_columns, shared_data_dir

__all__ = [
    "BITEXT_COLUMNS",
    "PLACEHOLDER",
    "QARecord",
    "bitext_path",
    "load_qa_records",
    "placeholder_slot",
]

BITEXT_COLUMNS = (
    "context", "role", "instruction", "intent", "entity_type", "entity_value",
    "start_offset", "end_offset", "category", "tags", "response",
)
"""The columns of the Bitext customer-support CSV."""

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
"""A Bitext placeholder, ``{{Order Number}}``; group 1 is its name."""


@dataclass(frozen=True)
class QARecord:
    """One question with its reference answer and optional labels."""

    question: str
    answer: str
    context: str = ""
    """Text the agent may read before the question (a knowledge-base snippet), or ""."""
    intent: str = ""
    category: str = ""
    entity: tuple[str, str, int, int] | None = None
    """Bitext's annotated entity in the question: (type, value, start, end) offsets."""
    facts: tuple[dict[str, Any], ...] = ()
    """Facts given by the file itself (a ``facts`` column of fact dicts)."""


def bitext_path() -> Path:
    """The Bitext CSV in ``../shared/data`` (or under ``LM_ENVS_DATA``).

    Raises:
        DataError: the file is not there; the message says how to point at it.
    """
    shared = shared_data_dir()
    path = None if shared is None else shared / "bitext-customer-support" / "customer_support.csv"
    if path is None or not path.is_file():
        raise DataError(
            "the Bitext customer-support CSV was not found in ../shared/data/bitext-customer-support/; "
            "pass data='PATH/customer_support.csv' or set LM_ENVS_DATA to the folder holding it"
        )
    return path


# Placeholder name (lower case, "anonymized" dropped) -> slot. Slots that are shop facts are
# checked by the ``facts`` reward; "shop_*" slots are constants of the shop (its name, phone,
# e-mail, web address), and every other placeholder is a UI label written without braces.
_SLOT_RULES: tuple[tuple[str, str], ...] = (
    (r"^[0-9]{5,}$", "order_id"),  # a few rows leak the raw order number into the braces
    (r"\b(order|purchase) (number|id)\b", "order_id"),
    (r"\btracking number\b", "tracking_number"),
    (r"\b(invoice|bill) (number|id)\b", "invoice_id"),
    (r"\bpurchase date\b", "order_date"),
    (r"^(number of days|refund period|refund timeframe)$", "return_window_days"),
    (r"^refund processing time( frame)?$", "refund_days"),
    (r"\b(hours|availability)\b(?!.*\b(start|end) time\b)", "support_hours"),
    (r"\bphone number\b|^phone$", "shop_phone"),
    (r"\b(support|service|complaint|feedback) email\b|^email address$", "shop_email"),
    (r"^(website|company|website/app|service website|company website)( name)?$|^mobile app name$", "shop_name"),
    (r"^website name$|^website or app$", "shop_name"),
    (r"\bwebsite url\b", "shop_url"),
)


def placeholder_slot(name: str) -> str | None:
    """The slot a Bitext placeholder name stands for, or None for a UI label.

    Slots: ``order_id``, ``tracking_number``, ``invoice_id``, ``order_date``,
    ``return_window_days``, ``refund_days``, ``support_hours`` (shop facts), and
    ``shop_phone``, ``shop_email``, ``shop_name``, ``shop_url`` (shop constants).

    >>> placeholder_slot("Order Number Anonymized"), placeholder_slot("Live Chat")
    ('order_id', None)
    """
    key = " ".join(name.lower().replace("anonymized", " ").split())
    for pattern, slot in _SLOT_RULES:
        if re.search(pattern, key):
            return slot
    return None


def _text(value: Any, label: str, position: int, column: str, *, required: bool) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN from pandas
        if required:
            raise DataError(f"{label}: record {position} has an empty {column!r}")
        return ""
    if not isinstance(value, str):
        if required:
            raise DataError(f"{label}: record {position} has a non-text {column!r} ({value!r:.60})")
        return str(value)
    if required and not value.strip():
        raise DataError(f"{label}: record {position} has an empty {column!r}")
    return value


def _facts(value: Any, label: str, position: int, column: str) -> tuple[dict[str, Any], ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise DataError(f"{label}: record {position}: {column!r} is not a JSON list of fact dicts ({error.msg})") from None
    if not isinstance(value, list) or not all(isinstance(f, dict) for f in value):
        raise DataError(f"{label}: record {position}: {column!r} must be a list of fact dicts, got {value!r:.80}")
    from lm_envs.rewards.facts import validate_facts

    try:
        validate_facts(value, f"{label}: record {position}: {column!r}")
    except ValueError as error:
        raise DataError(str(error)) from None
    return tuple(value)


def _pick(records: list[dict[str, Any]], given: str | None, defaults: tuple[str, ...], label: str, what: str) -> str:
    if given is not None:
        require_columns(records, [given], label)
        return given
    for name in defaults:
        if name in records[0]:
            return name
    present = ", ".join(map(str, records[0].keys()))
    raise DataError(
        f"{label}: no {what} column (looked for {' or '.join(map(repr, defaults))}); "
        f"name it with {what}_column=...; columns present: {present}"
    )


def _optional(records: list[dict[str, Any]], given: str | None, default: str, label: str) -> str | None:
    if given is not None:
        require_columns(records, [given], label)
        return given
    return default if default in records[0] else None


def load_qa_records(
    source: Any,
    *,
    question_column: str | None = None,
    answer_column: str | None = None,
    context_column: str | None = None,
    intent_column: str | None = None,
    category_column: str | None = None,
    facts_column: str | None = None,
) -> list[QARecord]:
    """Read question-answer records from the Bitext CSV or any QA table.

    Args:
        source: ``"bitext"`` (the CSV in ``../shared/data``), a CSV/TSV/JSONL/JSON path, a
            list of dicts, a DataFrame or a ``datasets.Dataset``.
        question_column: default ``"instruction"`` (Bitext) or else ``"question"``.
        answer_column: default ``"response"`` (Bitext) or else ``"answer"``.
        context_column: a knowledge-base text shown before the question; default none
            (Bitext's own ``context`` column only says "customer support").
        intent_column, category_column: default ``"intent"`` / ``"category"`` when present.
        facts_column: a column of fact lists (JSON text in a CSV); default ``"facts"`` when
            present. See `lm_envs.rewards.facts` for the fact format.

    A column named explicitly must exist. Bitext's entity columns (``entity_type``,
    ``entity_value``, ``start_offset``, ``end_offset``) are read when present.

    Raises:
        DataError: the file is missing or unreadable, has no records, lacks a column (the
            message names the column and the file), or holds an empty or non-text question
            or answer.
    """
    if isinstance(source, str) and source == "bitext":
        source = bitext_path()
    records, label = load_records(source, name="QA data")
    if not records:
        raise DataError(f"{label}: contains no records")
    q_col = _pick(records, question_column, ("instruction", "question"), label, "question")
    a_col = _pick(records, answer_column, ("response", "answer"), label, "answer")
    c_col = context_column
    i_col = _optional(records, intent_column, "intent", label)
    k_col = _optional(records, category_column, "category", label)
    f_col = _optional(records, facts_column, "facts", label)
    entity_cols = ("entity_type", "entity_value", "start_offset", "end_offset")
    has_entities = all(column in records[0] for column in entity_cols)
    require_columns(records, [c for c in (q_col, a_col, c_col, i_col, k_col, f_col) if c is not None], label)

    out = []
    for position, record in enumerate(records):
        entity = None
        if has_entities and record.get("entity_type"):
            try:
                entity = (
                    str(record["entity_type"]), str(record["entity_value"]),
                    int(record["start_offset"]), int(record["end_offset"]),
                )
            except (TypeError, ValueError):
                entity = None  # an unusable annotation only loses the question rewrite
        out.append(
            QARecord(
                question=_text(record[q_col], label, position, q_col, required=True),
                answer=_text(record[a_col], label, position, a_col, required=True),
                context=_text(record[c_col], label, position, c_col, required=False) if c_col else "",
                intent=_text(record[i_col], label, position, i_col, required=False) if i_col else "",
                category=_text(record[k_col], label, position, k_col, required=False) if k_col else "",
                entity=entity,
                facts=_facts(record[f_col], label, position, f_col) if f_col else (),
            )
        )
    return out

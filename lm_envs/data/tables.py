"""Read user-supplied records (prompts, QA pairs, ratings) from lists, files or datasets.

Every loader here returns plain ``list[dict]`` so env families do not care where the data came
from, and every error names the file and the missing or malformed field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["DataError", "load_records", "require_columns", "shared_data_dir"]


class DataError(ValueError):
    """A data file or table that cannot be used, with the file and field named."""


def shared_data_dir() -> Path | None:
    """The real-data folder ``../shared/data`` beside the project root, if present.

    ``LM_ENVS_DATA`` overrides it. The data is read in place, never copied into the project.
    """
    env = os.environ.get("LM_ENVS_DATA")
    if env:
        return Path(env) if Path(env).is_dir() else None
    root = Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); save it as UTF-8") from None
    except OSError as error:
        raise DataError(f"{path}: cannot be read ({error.strerror or error})") from None


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for line_number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: line {line_number} is not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: line {line_number} is a {type(record).__name__}, expected a JSON object")
        records.append(record)
    return records


def _read_file(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        raise DataError(f"{path} is a folder, not a data file")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return _read_jsonl(path)
    if suffix == ".json":
        try:
            data = json.loads(_read_text(path))
        except json.JSONDecodeError as error:
            raise DataError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise DataError(f"{path}: expected a JSON list of objects")
        return data
    if suffix in (".csv", ".tsv"):
        import pandas as pd

        try:
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
            raise DataError(f"{path}: cannot be read as {suffix[1:].upper()} ({error})") from None
        return frame.to_dict(orient="records")
    raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv, .jsonl or .json")


def load_records(source: Any, *, name: str = "data") -> tuple[list[dict[str, Any]], str]:
    """Records from a path, a list of dicts or strings, a dict of columns, a pandas DataFrame
    or a HF ``Dataset``.

    Returns the records and a label for error messages (the file path, or ``name``).
    A list of plain strings becomes records with a single ``prompt`` column; a dict is a table
    of columns (``{"prompt": [...], "keywords": [...]}``, lists of one length), as
    ``pandas.DataFrame(dict)`` reads it.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        return _read_file(path), str(path)
    if isinstance(source, Mapping):
        return _columns(source, name), name
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # pandas DataFrame
        return source.to_dict(orient="records"), name
    if hasattr(source, "column_names") and hasattr(source, "__getitem__"):  # datasets.Dataset
        return [dict(row) for row in source], name
    if isinstance(source, Iterable):
        records = []
        for position, item in enumerate(source):
            if isinstance(item, str):
                records.append({"prompt": item})
            elif isinstance(item, dict):
                records.append(dict(item))
            else:
                raise DataError(f"{name}: item {position} is a {type(item).__name__}; expected a string or a dict")
        return records, name
    raise DataError(f"{name}: expected a file path, a list, a DataFrame or a datasets.Dataset, got {type(source).__name__}")


def _columns(table: Mapping[Any, Any], name: str) -> list[dict[str, Any]]:
    """The records of a dict of columns (column name -> list of values, all of one length)."""
    hint = 'a dict is read as a table of columns: {"prompt": [...], "other column": [...]}, lists of one length'
    lengths = {}
    for column, values in table.items():
        if not isinstance(column, str) or isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise DataError(f"{name}: column {column!r} holds {type(values).__name__} {values!r:.60}; {hint}")
        lengths[column] = len(values)
    if len(set(lengths.values())) > 1:
        sizes = ", ".join(f"{column!r}: {n}" for column, n in lengths.items())
        raise DataError(f"{name}: the columns differ in length ({sizes}); {hint}")
    n_rows = next(iter(lengths.values()), 0)
    return [{column: table[column][row] for column in table} for row in range(n_rows)]


def require_columns(records: Sequence[dict[str, Any]], columns: Sequence[str], label: str) -> None:
    """Raise a DataError naming the file and the first missing column."""
    if not records:
        raise DataError(f"{label}: contains no records")
    for column in columns:
        for position, record in enumerate(records):
            if column not in record:
                where = "" if position == 0 else f" (record {position})"
                present = ", ".join(map(str, record.keys()))
                raise DataError(f"{label}: missing column {column!r}{where}; columns present: {present}")

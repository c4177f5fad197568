"""Results on disk: the output folder's lock, atomic writes, per-run result files, and the
run metadata.

Every file is written atomically (a temp file in the same folder, fsync, ``os.replace``,
fsync of the folder), so a reader, or a rerun deciding what is finished, sees either the
old file or the whole new one; temp files start with ``.`` and end with ``.tmp`` and are
never taken for a result. One process at a time writes an output folder: it holds the
folder's lock (:func:`lock_out_dir`).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.runs import RunSpec, utc_timestamp

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: folders are not locked
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_FILE",
    "OutputError",
    "atomic_save_figure",
    "atomic_write_text",
    "clean_temp_files",
    "environment_metadata",
    "is_finished",
    "json_text",
    "load_curve",
    "load_results",
    "lock_out_dir",
    "prepare_out_dir",
    "read_checked_json",
    "read_json",
    "record_problem",
    "result_path",
    "write_result",
]

log = logging.getLogger("lm_envs.bench")

LOCK_FILE = ".lm-envs.lock"
"""The lock file of an output folder; while a process holds it, it names that process."""

# ---------------------------------------------------------------------------------------
# the output folder: created, writable, one writer at a time
# ---------------------------------------------------------------------------------------


class OutputError(Exception):
    """An output folder that cannot be used: a file in its place, no permission to write, or
    another process holding its lock."""


def prepare_out_dir(path: str | Path) -> Path:
    """Create the output folder ``path`` if missing, or raise :class:`OutputError` saying why not."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file, not a folder; pass a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder {out}: {err.strerror or err}") from None
    return out


_held: dict[Path, list[int]] = {}  # folder -> [lock file descriptor, nesting depth]


@contextmanager
def lock_out_dir(path: str | Path) -> Iterator[Path]:
    """Hold the lock of output folder ``path`` (created if missing) for the ``with`` block.

    The lock is ``fcntl.flock`` on ``path/.lm-envs.lock``: the kernel drops it when its holder
    exits, however it dies, so a stale lock never blocks a rerun. It is re-entrant within a
    process. Another process holding it is an :class:`OutputError` that names that process
    (pid, host, command, start time); nothing in the folder is touched. Without ``fcntl``
    (Windows) folders are not locked.

    Raises:
        OutputError: the folder cannot be created or written, or another process holds it.
    """
    out = prepare_out_dir(path)
    key = out.resolve()
    if fcntl is None:
        yield out
        return
    if key in _held:  # this process holds it already
        _held[key][1] += 1
        try:
            yield out
        finally:
            _held[key][1] -= 1
        return
    try:
        fd = os.open(out / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise OutputError(f"cannot write in {out}: {err.strerror or err}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _lock_holder(fd)
        os.close(fd)
        raise OutputError(f"{out} is in use by another lm-envs process ({holder}); wait for it to end, "
                          "or pass another output folder") from None
    info = {"pid": os.getpid(), "host": socket.gethostname(), "argv": sys.argv, "started_at": utc_timestamp()}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    _held[key] = [fd, 1]
    try:
        yield out
    finally:
        _held[key][1] -= 1
        if _held[key][1] == 0:
            del _held[key]
            os.ftruncate(fd, 0)
            os.close(fd)  # closing the last descriptor releases the lock


def _lock_holder(fd: int) -> str:
    """Who holds the lock, as its holder wrote it into the lock file."""
    try:
        info = json.loads(os.pread(fd, 65536, 0).decode("utf-8"))
        return (f"pid {info['pid']} on {info['host']}, started {info['started_at']}: "
                + " ".join(map(str, info["argv"])))
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not yet said who it is"

# ---------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one.

    A temp file in the same folder (so ``os.replace`` is a rename on one filesystem) is
    written, fsync'ed and renamed over ``path``; the folder is fsync'ed so the rename
    survives a crash. Temp names start with ``.`` and end with ``.tmp``: never a result.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def atomic_save_figure(fig: Any, path: str | Path, *, dpi: int = 110) -> None:
    """Save a matplotlib figure to ``path`` so that a reader never sees half an image:
    written to a temp file beside it, then renamed over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _json_default(value: Any) -> Any:
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(value)


def json_text(data: Any, *, indent: int | None = None) -> str:
    """``data`` as JSON; numpy scalars and arrays become numbers and lists, NaN stays NaN."""
    return json.dumps(data, default=_json_default, allow_nan=True, indent=indent)


def read_json(path: str | Path) -> Any:
    """The JSON in ``path``, or ``None`` when the file is missing or not (yet) whole JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


# ---------------------------------------------------------------------------------------
# results on disk
# ---------------------------------------------------------------------------------------


def result_path(out_dir: str | Path, spec: RunSpec) -> Path:
    return Path(out_dir) / "runs" / f"{spec.key}.json"


def write_result(out_dir: str | Path, record: dict[str, Any]) -> Path:
    """Curve first, then the result: a result file always has its curve beside it."""
    runs = Path(out_dir) / "runs"
    curve = record.get("curve", [])
    atomic_write_text(runs / f"{record['key']}.curve.jsonl", "".join(json_text(row) + "\n" for row in curve))
    lean = {k: v for k, v in record.items() if k != "curve"}
    path = runs / f"{record['key']}.json"
    atomic_write_text(path, json_text(lean, indent=1))
    return path


def load_results(out_dir: str | Path) -> list[dict[str, Any]]:
    """Every result record in ``out_dir/runs``; temp files are passed over, and a file that is
    unreadable, not JSON or not shaped like a result is skipped with a warning naming it."""
    records = []
    for path in sorted((Path(out_dir) / "runs").glob("*.json")):
        if path.name.startswith("."):
            continue
        record, problem = _read_checked(path, lambda data, key=path.stem: record_problem(data, key))
        if problem is not None:
            log.warning("skipping %s: %s", path, problem)
            continue
        records.append(record)
    return records


def load_curve(out_dir: str | Path, key: str) -> list[dict[str, Any]]:
    """The curve rows of run ``key`` (``[]`` when it has none); a file that is unreadable or
    holds a line that is not a curve row is skipped with a warning naming it."""
    path = Path(out_dir) / "runs" / f"{key}.curve.jsonl"
    if not path.exists():
        return []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        log.warning("skipping %s: %s", path, err)
        return []
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            row = None
        if not (isinstance(row, dict) and isinstance(row.get("kind"), str) and _is_int(row.get("step"))
                and (row["kind"] != "eval" or _is_number(row.get("return")))):
            log.warning("skipping %s: line %d is not a curve row", path, number)
            return []
        rows.append(row)
    return rows


def read_checked_json(path: str | Path, check: Any) -> Any:
    """The JSON in ``path`` if ``check(data)`` finds no problem, else ``None``: a missing file
    silently, any other problem with a warning naming the file."""
    path = Path(path)
    if not path.exists():
        return None
    data, problem = _read_checked(path, check)
    if problem is not None:
        log.warning("ignoring %s: %s", path, problem)
        return None
    return data


def _read_checked(path: Path, check: Any) -> tuple[Any, str | None]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"not readable as JSON ({err})"
    return data, check(data)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _evaluation_problem(name: str, ev: Any) -> str | None:
    if ev is None:
        return None
    if not isinstance(ev, dict):
        return f"{name} is not a mapping"
    bad = [k for k, v in ev.items() if str(k).startswith("reward_mean") and not _is_number(v)]
    if bad:
        return f"{name}.{bad[0]} is not a number"
    samples = ev.get("samples", [])
    if not isinstance(samples, list) or not all(isinstance(x, dict) for x in samples):
        return f"{name}.samples is not a list of mappings"
    return None


def record_problem(record: Any, key: str) -> str | None:
    """What makes ``record`` unusable as the result of run ``key`` (``None``: nothing): the
    fields the report reads must have their types."""
    if not isinstance(record, dict):
        return f"a result is a mapping; got {type(record).__name__}"
    if record.get("key") != key:
        return f"its key {record.get('key')!r} is not the file's name {key!r}"
    if record.get("status") not in ("ok", "failed"):
        return f"status {record.get('status')!r} is neither 'ok' nor 'failed'"
    spec = record.get("spec")
    if not (isinstance(spec, dict) and isinstance(spec.get("agent"), str) and isinstance(spec.get("env_id"), str)
            and _is_int(spec.get("seed"))):
        return "its spec lacks agent, env_id or seed"
    for field in ("steps", "eval_every"):
        if field in spec and not _is_int(spec[field]):
            return f"spec.{field} is not an int"
    if record["status"] == "ok" and not _is_number(record.get("final_return")):
        return "final_return is not a number"
    for field in ("final_return", "final_sampled", "final_greedy", "wall_time_s", "train_steps"):
        if record.get(field) is not None and not _is_number(record[field]):
            return f"{field} is not a number"
    if not isinstance(record.get("error", ""), str):
        return "error is not text"
    for name in ("first", "last", "last_other"):
        problem = _evaluation_problem(name, record.get(name))
        if problem is not None:
            return problem
    return None


def is_finished(out_dir: str | Path, spec: RunSpec) -> bool:
    """Whether ``out_dir`` holds an ``ok`` result of this very spec (same digest): a rerun skips it."""
    record = read_json(result_path(out_dir, spec))
    return isinstance(record, dict) and record.get("status") == "ok" and record.get("digest") == spec.digest()


def clean_temp_files(out_dir: str | Path) -> None:
    """Remove the temp files of writes a killed driver left in ``out_dir/runs``."""
    for tmp in (Path(out_dir) / "runs").glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------
# metadata: versions, commit, hardware, seeds, wall times
# ---------------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def _git_commit() -> dict[str, Any]:
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(dirty.stdout.strip())}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_metadata() -> dict[str, Any]:
    import lm_envs

    packages = ("torch", "transformers", "gymnasium", "numpy", "scipy", "pandas", "matplotlib", "tokenizers", "ray")
    hardware: dict[str, Any] = {"cpu": _cpu_model(), "cpu_count": os.cpu_count(), "machine": platform.machine()}
    try:
        hardware["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        pass
    try:
        import torch

        if torch.cuda.is_available():
            hardware["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except ImportError:  # pragma: no cover
        pass
    return {
        "lm_envs": lm_envs.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in packages},
        "git": _git_commit(),
        "hardware": hardware,
        "host": socket.gethostname(),
    }

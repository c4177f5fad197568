"""The benchmark runner: agents x envs x seeds, checked up front, run in parallel, resumable.

```python
from benchmarks.suite import plan, run_suite
from benchmarks.presets import get_preset
specs = plan(get_preset("smoke"))          # validates everything; raises ConfigError
run_suite(get_preset("smoke"), "results/smoke", workers=2)
```

A run is a :class:`RunSpec`; :func:`benchmarks.runs.execute` trains it (evaluating every
``eval_every`` steps for the learning curve), evaluates it a last time and returns a
JSON-able result; it never raises: a crash is a ``"failed"`` result with its traceback.
Configs are checked and expanded by :mod:`benchmarks.config` (:func:`plan`, also
importable from here); this module drives the runs. The driver writes each result
atomically (temp file in the same folder, fsync, ``os.replace``) to
``RESULTS_DIR/runs/<env>__<agent>__seed<k>.json`` with the curve beside it
(``.curve.jsonl``), so a rerun skips finished runs and a killed run leaves nothing that
reads as a result (``benchmarks.results``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.config import BenchConfig, EnvEntry, Score, parse_config, plan, resolve_config
from benchmarks.presets import ConfigError
from benchmarks.ray_backend import run_ray
from benchmarks.results import (
    atomic_write_text,
    clean_temp_files,
    environment_metadata,
    is_finished,
    json_text,
    load_results,
    read_json,
    result_path,
    write_result,
)
from benchmarks.runs import (
    AGENTS,
    AgentEntry,
    ProgressSink,
    RunSpec,
    execute,
    failed_record,
    init_worker,
    progress_bars,
    utc_timestamp,
)

__all__ = [
    "AGENTS",
    "AgentEntry",
    "BenchConfig",
    "ConfigError",
    "EnvEntry",
    "ProgressSink",
    "RunSpec",
    "Score",
    "atomic_write_text",
    "default_workers",
    "execute",
    "init_worker",
    "load_results",
    "parse_config",
    "plan",
    "resolve_config",
    "result_path",
    "run_suite",
    "write_result",
]

log = logging.getLogger("lm_envs.bench")


# ---------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------


def default_workers() -> int:
    """The CPU cores this process may use: one worker process each."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def run_suite(
    config: dict[str, Any],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    backend: str = "local",
    address: str | None = None,
    quiet: bool = False,
    report: bool = True,
    argv: list[str] | None = None,
) -> dict[str, Any]:
    """Run every spec of ``config`` not already finished in ``out_dir``; write the report.

    Args:
        config: a preset or config dict (checked by :func:`plan` first).
        out_dir: RESULTS_DIR; created if missing.
        workers: local worker processes (default: the usable CPU cores); 0 runs every
            spec in this process, one after another (for debugging).
        backend: ``"local"`` (a spawn-context process pool) or ``"ray"``.
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``); ``None``
            starts or joins a local Ray instance.
        quiet: no progress bars, warnings only.
        report: write the CSVs, plots, ``report.md`` and ``report.html`` at the end.

    A run counts as finished when ``runs/<key>.json`` holds ``status: ok`` for the same
    spec (same digest); failed runs and runs whose spec changed are run again.

    Returns:
        A summary: ``n_runs``, ``n_skipped``, ``n_ok``, ``n_failed``, ``wall_time_s``.
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; known: local, ray")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers must be >= 0 (0: run in this process); got {workers}")
    specs = plan(config)
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    clean_temp_files(out)
    atomic_write_text(out / "config.json", json_text(config, indent=1))
    todo = [s for s in specs if not is_finished(out, s)]
    skipped = len(specs) - len(todo)
    if skipped:
        log.info("skipping %d finished runs of %d (results in %s)", skipped, len(specs), out / "runs")
    started = time.time()
    meta_path = out / "metadata.json"
    meta = read_json(meta_path) or {}
    invocation = {
        "started_at": utc_timestamp(),
        "argv": argv if argv is not None else sys.argv,
        "backend": backend,
        "address": address,
        "workers": default_workers() if workers is None else workers,
        "n_runs": len(specs),
        "n_skipped": skipped,
    }
    meta.update(environment_metadata())
    meta["config_name"] = config.get("name")
    meta["seeds"] = sorted({s.seed for s in specs})
    meta.setdefault("invocations", []).append(invocation)
    atomic_write_text(meta_path, json_text(meta, indent=1))

    counts = {"ok": 0, "failed": 0}

    def on_result(record: dict[str, Any]) -> None:
        write_result(out, record)
        counts[record["status"]] = counts.get(record["status"], 0) + 1
        if record["status"] == "failed":
            log.warning("run %s failed: %s", record["key"], record.get("error"))
        else:
            log.info("run %s: final return %.4f (%.1f s)", record["key"], record["final_return"], record["wall_time_s"])

    if todo:
        if backend == "ray":
            run_ray(todo, on_result=on_result, address=address, quiet=quiet)
        elif workers == 0:
            _run_serial(todo, on_result=on_result, quiet=quiet)
        else:
            _run_local(todo, on_result=on_result, workers=workers or default_workers(), quiet=quiet)

    invocation["finished_at"] = utc_timestamp()
    invocation["wall_time_s"] = time.time() - started
    invocation["n_ok"], invocation["n_failed"] = counts["ok"], counts["failed"]
    atomic_write_text(meta_path, json_text(meta, indent=1))
    if report:
        from benchmarks.report import write_report  # pandas and scipy take a second to import: only here

        write_report(out)
    return {"n_runs": len(specs), "n_skipped": skipped, "n_ok": counts["ok"], "n_failed": counts["failed"],
            "wall_time_s": invocation["wall_time_s"]}


def _run_serial(specs: list[RunSpec], *, on_result: Callable[[dict[str, Any]], None], quiet: bool) -> None:
    runs_bar, steps_bar = progress_bars(specs, quiet=quiet)
    init_worker(ProgressSink(steps_bar))
    try:
        for spec in specs:
            on_result(execute(spec))
            runs_bar.update(1)
    finally:
        init_worker(None)
        runs_bar.close()
        steps_bar.close()


def _run_local(specs: list[RunSpec], *, on_result: Callable[[dict[str, Any]], None], workers: int, quiet: bool) -> None:
    """A spawn-context process pool (fork would copy torch's threads and locks); each worker
    runs with one torch thread, and reports steps on a queue for the progress bar."""
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    progress = ctx.Queue()
    runs_bar, steps_bar = progress_bars(specs, quiet=quiet)

    def drain() -> None:
        while True:
            try:
                _, n = progress.get_nowait()
            except (queue_mod.Empty, OSError, ValueError):
                return
            steps_bar.update(n)

    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(specs)), mp_context=ctx, initializer=init_worker,
                                 initargs=(progress,)) as pool:
            futures = {pool.submit(execute, s.to_dict()): s for s in specs}
            pending = set(futures)
            try:
                _wait_all(pending, futures, on_result, runs_bar, drain)
            except KeyboardInterrupt:
                # finished runs are on disk already; drop the queue instead of waiting for it
                pool.shutdown(wait=False, cancel_futures=True)
                raise
        drain()
    finally:
        runs_bar.close()
        steps_bar.close()
        progress.close()


def _wait_all(
    pending: set[Any],
    futures: dict[Any, RunSpec],
    on_result: Callable[[dict[str, Any]], None],
    runs_bar: Any,
    drain: Callable[[], None],
) -> None:
    """Hand each result to ``on_result`` as its future completes, draining step reports."""
    from concurrent.futures import FIRST_COMPLETED, wait

    while pending:
        done, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
        drain()
        for future in done:
            spec = futures[future]
            try:
                record = future.result()
            except Exception as err:  # the worker process died (e.g. out of memory)
                record = failed_record(spec, err)
            on_result(record)
            runs_bar.update(1)
            runs_bar.set_postfix_str(spec.key, refresh=False)

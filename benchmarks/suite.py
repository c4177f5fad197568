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
importable from here); this module drives the runs. The driver holds the output folder's
lock for the whole bench and writes each result atomically (temp file in the same folder,
fsync, ``os.replace``) to ``RESULTS_DIR/runs/<env>__<agent>__seed<k>.json`` with the curve
beside it (``.curve.jsonl``), so a rerun skips finished runs and a killed run leaves nothing
that reads as a result (``benchmarks.results``).

Local workers are spawned processes that run one spec at a time. A worker that dies (killed,
out of memory) fails only the run it had, and a fresh worker takes the next one; a worker
exits when the driver dies, even by SIGKILL. Custom rewards (registered with
``lm_envs.rewards.register_reward``) reach the workers through the modules that registered
them, which each worker imports first; a reward that does not exist in a worker stops the
bench before any run starts.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
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
    lock_out_dir,
    read_json,
    result_path,
    write_result,
)
from benchmarks.runs import (
    AGENTS,
    AgentEntry,
    ProgressSink,
    RunSpec,
    check_device,
    execute,
    failed_record,
    init_worker,
    progress_bars,
    utc_timestamp,
    worker_main,
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
    "WorkerDied",
    "atomic_write_text",
    "custom_rewards",
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
    device: str = "cpu",
) -> dict[str, Any]:
    """Run every spec of ``config`` not already finished in ``out_dir``; write the report.

    Args:
        config: a preset or config dict (checked by :func:`plan` first).
        out_dir: RESULTS_DIR; created if missing, and locked while the bench runs.
        workers: local worker processes (default: the usable CPU cores); 0 runs every
            spec in this process, one after another (for debugging).
        backend: ``"local"`` (a spawn-context process pool) or ``"ray"``.
        address: Ray cluster address (``"auto"``, ``"ray://host:10001"``); ``None``
            starts or joins a local Ray instance.
        quiet: no progress bars, warnings only.
        report: write the CSVs, plots, ``report.md`` and ``report.html`` at the end.
        device: where every run trains (``cpu``, ``cuda``, ``cuda:N``, ``auto``), resolved in
            the worker process or Ray task that runs it; local workers share this machine's
            GPU, a Ray task on CUDA asks Ray for a share of one
            (``benchmarks.ray_backend.GPUS_PER_RUN``). Not part of a run's digest: results
            made on another device count as finished.

    A run counts as finished when ``runs/<key>.json`` holds ``status: ok`` for the same
    spec (same digest); failed runs and runs whose spec changed are run again.

    Returns:
        A summary: ``n_runs``, ``n_skipped``, ``n_ok``, ``n_failed``, ``wall_time_s``.

    Raises:
        ConfigError: the config cannot run, a custom reward it uses does not exist in the
            worker processes (found before any run starts), or ``device`` is not a device
            name, or (local backend) names a CUDA device this machine lacks.
        OutputError: ``out_dir`` is a file or not writable, or another process holds its
            lock (``benchmarks.results.lock_out_dir``); nothing in it is touched then.
    """
    if backend not in ("local", "ray"):
        raise ConfigError(f"unknown backend {backend!r}; known: local, ray")
    if workers is not None and workers < 0:
        raise ConfigError(f"--workers must be >= 0 (0: run in this process); got {workers}")
    try:  # a Ray cluster's GPUs are not visible here: there only the name is checked
        check_device(device, here=backend == "local")
    except ValueError as err:
        raise ConfigError(str(err)) from None
    specs = [dataclasses.replace(spec, device=device) for spec in plan(config)]
    rewards, modules = custom_rewards(specs)
    with lock_out_dir(out_dir) as out:
        (out / "runs").mkdir(exist_ok=True)
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
            "device": device,
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
                log.info("run %s: final return %.4f (%.1f s)", record["key"], record["final_return"],
                         record["wall_time_s"])

        if todo:
            if backend == "ray":
                run_ray(todo, on_result=on_result, address=address, quiet=quiet, imports=modules)
            elif workers == 0:
                _run_serial(todo, on_result=on_result, quiet=quiet)
            else:
                _run_local(todo, on_result=on_result, workers=workers or default_workers(), quiet=quiet,
                           imports=modules, rewards=rewards)

        invocation["finished_at"] = utc_timestamp()
        invocation["wall_time_s"] = time.time() - started
        invocation["n_ok"], invocation["n_failed"] = counts["ok"], counts["failed"]
        atomic_write_text(meta_path, json_text(meta, indent=1))
        if report:
            from benchmarks.report import write_report  # pandas and scipy take a second to import: only here

            write_report(out)
    return {"n_runs": len(specs), "n_skipped": skipped, "n_ok": counts["ok"], "n_failed": counts["failed"],
            "wall_time_s": invocation["wall_time_s"]}


def custom_rewards(specs: list[RunSpec]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The rewards of ``specs`` that lm-envs does not define, and the modules that registered
    them: a worker process imports those modules, so the rewards exist there too."""
    from lm_envs import is_token_env
    from lm_envs.rewards import REWARDS, reward_names

    names: dict[str, None] = {}
    modules: dict[str, None] = {}
    for spec in specs:
        if "reward" not in spec.env_kwargs or not is_token_env(spec.env_id):  # the recommender's are terms
            continue
        for name in reward_names(spec.env_kwargs["reward"]):
            module = getattr(REWARDS[name], "__module__", None)
            if isinstance(module, str) and module.partition(".")[0] == "lm_envs":
                continue
            names[name] = None
            # a script's own module is run again in each spawned worker (as __mp_main__)
            if isinstance(module, str) and module not in ("__main__", "__mp_main__"):
                modules[module] = None
    return tuple(names), tuple(modules)


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


class WorkerDied(RuntimeError):
    """The worker process running a spec died (killed, out of memory) before sending its result."""


class _Worker:
    """One spawned worker process and the pipe to it; ``spec`` is the run it has, if any."""

    def __init__(self, ctx: Any, imports: tuple[str, ...], rewards: tuple[str, ...]) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=worker_main, args=(child, os.getpid(), imports, rewards),
                                   name="lm-envs-worker")
        self.process.start()
        child.close()
        self.spec: RunSpec | None = None

    def give(self, spec: RunSpec) -> bool:
        """Send ``spec`` to the worker; ``False`` when it is gone (its pipe is closed)."""
        try:
            self.conn.send(spec.to_dict())
        except OSError:
            return False
        self.spec = spec
        return True

    def messages(self) -> list[tuple[str, Any]]:
        """Everything the worker has sent so far; stops at a closed pipe (a dead worker)."""
        out = []
        try:
            while self.conn.poll():
                out.append(self.conn.recv())
        except (EOFError, OSError):
            pass
        return out

    def death(self) -> WorkerDied:
        self.process.join(timeout=5)
        code = self.process.exitcode
        how = f"exit code {code}"
        if code is not None and code < 0:
            try:
                how = f"signal {signal.Signals(-code).name}"
            except ValueError:
                pass
        return WorkerDied(f"the worker process (pid {self.process.pid}) died ({how}) while it had this run, "
                          "before it sent a result (killed, or out of memory?); rerun the same command to retry it")

    def stop(self, *, now: bool = False) -> None:
        if not now:
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _run_local(specs: list[RunSpec], *, on_result: Callable[[dict[str, Any]], None], workers: int, quiet: bool,
               imports: tuple[str, ...] = (), rewards: tuple[str, ...] = ()) -> None:
    """Spawned worker processes (fork would copy torch's threads and locks), one torch
    thread each, one spec at a time each. A worker that dies fails the run it had and a
    fresh worker takes its place; the others go on. Each worker first imports ``imports``
    (the modules of the custom rewards ``rewards``) and checks that those rewards exist.

    Raises:
        ConfigError: a custom reward does not exist in the workers (no run has started).
    """
    from multiprocessing import connection, get_context

    ctx = get_context("spawn")
    todo = list(reversed(specs))  # pop() takes them in order
    runs_bar, steps_bar = progress_bars(specs, quiet=quiet)
    pool: list[_Worker] = []

    def start_run(worker: _Worker | None) -> None:
        """Give the next spec to ``worker``, or to a fresh worker where it is gone. A fresh
        worker that is gone too keeps the spec: the loop below fails that run as its death."""
        if worker is not None and not worker.give(todo[-1]):
            worker.stop(now=True)
            pool.remove(worker)
            worker = None
        if worker is None:
            worker = _Worker(ctx, imports, rewards)
            pool.append(worker)
            if not worker.give(todo[-1]):
                worker.spec = todo[-1]
        todo.pop()

    clean = False
    try:
        for _ in range(min(workers, len(specs))):
            start_run(None)
        while pool:
            connection.wait([w.conn for w in pool] + [w.process.sentinel for w in pool])
            for worker in list(pool):
                record = None
                for kind, payload in worker.messages():
                    if kind == "progress":
                        steps_bar.update(payload[1])
                    elif kind == "result":
                        record = payload
                    elif kind == "missing":
                        raise ConfigError(_missing_rewards_message(payload))
                    elif kind == "import_failed":
                        raise ConfigError(f"a worker process cannot import {payload}, which registers the custom "
                                          f"rewards {', '.join(rewards)}; make it importable there (installed, or "
                                          "on PYTHONPATH), or run the bench in this process (--workers 0)")
                if record is None and worker.spec is not None and not worker.process.is_alive():
                    record = failed_record(worker.spec, worker.death())
                    worker.stop(now=True)
                    pool.remove(worker)
                    if todo:
                        start_run(None)
                elif record is not None:
                    worker.spec = None
                    if todo:
                        start_run(worker)
                    else:
                        worker.stop()
                        pool.remove(worker)
                if record is not None:
                    on_result(record)
                    runs_bar.update(1)
                    runs_bar.set_postfix_str(record["key"], refresh=False)
        clean = True
    finally:
        for worker in pool:  # an error or Ctrl-C: finished runs are on disk already
            worker.stop(now=not clean)
        runs_bar.close()
        steps_bar.close()


def _missing_rewards_message(missing: list[str]) -> str:
    from lm_envs.rewards import REWARDS

    where = ", ".join(f"{name!r} (registered by {getattr(REWARDS.get(name), '__module__', '?')})"
                      for name in missing)
    return (f"custom reward {where} does not exist in the worker processes: a worker registers a reward by "
            "importing the module that registered it here, so call register_reward at the top level of an "
            "importable module (not inside a function or under `if __name__ == \"__main__\"`), or run the "
            "bench in this process (--workers 0, or workers=0)")

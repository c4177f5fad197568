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
This module checks configs (:func:`plan`) and drives the runs; the driver writes
each result atomically (temp file in the same folder, fsync, ``os.replace``) to
``RESULTS_DIR/runs/<env>__<agent>__seed<k>.json`` with the curve beside it
(``.curve.jsonl``), so a rerun skips finished runs and a killed run leaves nothing that
reads as a result (``benchmarks.results``).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from benchmarks.presets import ConfigError, get_preset, load_config
from benchmarks.results import (
    _clean_temp_files,
    _dumps,
    _finished,
    atomic_write_text,
    environment_metadata,
    load_results,
    result_path,
    write_result,
)
from benchmarks.runs import (
    AGENTS,
    RECOMMENDER_ENVS,
    RESULT_SCHEMA,
    AgentEntry,
    EnvInfo,
    ProgressSink,
    RunSpec,
    _make_config,
    _now,
    execute,
    init_worker,
)

__all__ = [
    "AGENTS",
    "AgentEntry",
    "ConfigError",
    "ProgressSink",
    "RunSpec",
    "atomic_write_text",
    "execute",
    "init_worker",
    "load_results",
    "plan",
    "resolve_config",
    "result_path",
    "run_suite",
    "write_result",
]

log = logging.getLogger("lm_envs.bench")


# ---------------------------------------------------------------------------------------
# config checking
# ---------------------------------------------------------------------------------------


_TOP_KEYS = ("name", "description", "seeds", "steps", "eval_every", "eval_episodes", "deterministic", "baselines", "agents", "envs")
_ENV_KEYS = ("id", "kwargs", "agents", "steps", "eval_every", "eval_episodes", "agent_config", "score")
_DEFAULTS = {"steps": 2048, "eval_every": 512, "eval_episodes": 16, "deterministic": False}


def _check_keys(where: str, data: dict[str, Any], known: Iterable[str], errors: list[str]) -> None:
    for key in data:
        if key not in known:
            errors.append(f"{where}: unknown key {key!r}; known: {', '.join(known)}")


def _check_int(where: str, value: Any, errors: list[str], minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        errors.append(f"{where} must be an int >= {minimum}; got {value!r}")


def _unknown(kind: str, name: Any, known: Iterable[str]) -> str:
    return f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}"


def _env_info(env_id: str, kwargs: dict[str, Any]) -> EnvInfo:
    """Make the env once (cheap: no policy is loaded) to learn its spaces and check kwargs."""
    import gymnasium as gym

    from agents.policies import is_token_observation_space

    env = gym.make(env_id, **kwargs)
    try:
        return EnvInfo(
            env_id=env_id,
            token_env=is_token_observation_space(env.observation_space),
            action_space=type(env.action_space).__name__,
            recommender=env_id in RECOMMENDER_ENVS,
        )
    finally:
        env.close()


def _is_token_env(env_id: str) -> bool:
    """Whether the id's env class is a TokenEnv (its reward is a ``make_reward`` spec)."""
    import gymnasium as gym

    from lm_envs.core import TokenEnv

    entry_point = gym.spec(env_id).entry_point
    if not isinstance(entry_point, str):
        return isinstance(entry_point, type) and issubclass(entry_point, TokenEnv)
    module, _, attr = entry_point.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(cls, type) and issubclass(cls, TokenEnv)


def _agent_config(entry: AgentEntry, raw: dict[str, Any], where: str, errors: list[str]) -> None:
    """Check a learner's hyperparameters by building its config dataclass."""
    if not isinstance(raw, dict):
        errors.append(f"{where} must be a mapping of hyperparameters; got {type(raw).__name__}")
        return
    if entry.kind == "baseline":
        allowed = {"policy"} if entry.name == "initial" else set()
        for key in raw:
            if key not in allowed:
                errors.append(f"{where}: baseline {entry.name!r} takes no option {key!r}" + (f"; known: {', '.join(sorted(allowed))}" if allowed else ""))
        return
    try:
        cls = entry.load()
    except Exception as err:
        errors.append(f"{where}: agent {entry.name!r} cannot be imported ({type(err).__name__}: {err})")
        return
    config_cls = cls.config_class
    names = [f.name for f in dataclasses.fields(config_cls)]
    options = {k: v for k, v in raw.items() if k != "policy"}
    bad = [k for k in options if k not in names]
    for key in bad:
        errors.append(f"{where}: unknown {entry.name} hyperparameter {key!r}; known: policy, {', '.join(names)}")
    if bad:
        return
    try:
        _make_config(config_cls, options)
    except (TypeError, ValueError) as err:
        errors.append(f"{where}: {err}")


def resolve_config(preset: str | None = None, config: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """The config named by ``preset`` or read from ``config`` (a path or a dict)."""
    if (preset is None) == (config is None):
        raise ConfigError("give exactly one of a preset (--preset) and a config file (--config)")
    if preset is not None:
        return get_preset(preset)
    if isinstance(config, dict):
        return json.loads(json.dumps(config))
    return load_config(config)  # type: ignore[arg-type]


def plan(config: dict[str, Any]) -> list[RunSpec]:
    """Check a whole config and expand it into run specs, before anything runs.

    Every problem is collected, so one error message names all bad keys, agents, envs,
    rewards and hyperparameters, each with the valid choices.

    Raises:
        ConfigError: the config cannot run as given.
    """
    import lm_envs
    from lm_envs.rewards import make_reward

    errors: list[str] = []
    if not isinstance(config, dict):
        raise ConfigError(f"a benchmark config must be a mapping; got {type(config).__name__}")
    _check_keys("config", config, _TOP_KEYS, errors)
    seeds = config.get("seeds", 3)
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        _check_int("seeds", seeds, errors)
        seed_list = list(range(max(seeds, 0)))
    elif isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        seed_list = list(dict.fromkeys(seeds))
    else:
        errors.append(f"seeds must be a positive int or a non-empty list of ints >= 0; got {seeds!r}")
        seed_list = []
    defaults = {k: config.get(k, v) for k, v in _DEFAULTS.items()}
    for k in ("steps", "eval_every", "eval_episodes"):
        _check_int(k, defaults[k], errors)
    if not isinstance(defaults["deterministic"], bool):
        errors.append(f"deterministic must be true or false; got {defaults['deterministic']!r}")

    agents_cfg = config.get("agents", {})
    if not isinstance(agents_cfg, dict):
        errors.append(f"agents must be a mapping of agent name -> hyperparameters; got {type(agents_cfg).__name__}")
        agents_cfg = {}
    for name in agents_cfg:
        if name not in AGENTS:
            errors.append(_unknown("agent", name, AGENTS) + " (in agents)")
        else:
            _agent_config(AGENTS[name], agents_cfg[name] or {}, f"agents.{name}", errors)
    baselines = config.get("baselines", [])
    if not isinstance(baselines, list):
        errors.append(f"baselines must be a list of names; got {baselines!r}")
        baselines = []
    for name in baselines:
        if name not in AGENTS or AGENTS[name].kind != "baseline":
            errors.append(_unknown("baseline", name, [n for n, e in AGENTS.items() if e.kind == "baseline"]))

    envs = config.get("envs")
    if not isinstance(envs, list) or not envs:
        errors.append("envs must be a non-empty list of env entries ({id = ..., kwargs = {...}})")
        envs = []
    specs: list[RunSpec] = []
    for index, entry in enumerate(envs):
        where = f"envs[{index}]"
        if not isinstance(entry, dict) or "id" not in entry:
            errors.append(f"{where} must be a mapping with an 'id'; got {entry!r}")
            continue
        _check_keys(where, entry, _ENV_KEYS, errors)
        env_id = entry["id"]
        if env_id not in lm_envs.ENV_IDS:
            errors.append(f"{where}: " + _unknown("env", env_id, lm_envs.ENV_IDS))
            continue
        where = f"envs[{index}] ({env_id})"
        kwargs = entry.get("kwargs", {}) or {}
        if not isinstance(kwargs, dict):
            errors.append(f"{where}.kwargs must be a mapping; got {kwargs!r}")
            continue
        names = entry.get("agents")
        if names is not None and not isinstance(names, list):
            errors.append(f"{where}.agents must be a list of agent names; got {names!r}")
            names = []
        for name in names or []:
            if name not in AGENTS:
                errors.append(f"{where}.agents: " + _unknown("agent", name, AGENTS))
        if "reward" in kwargs and _is_token_env(env_id):
            try:
                make_reward(kwargs["reward"])
            except (TypeError, ValueError) as err:
                errors.append(f"{where}.kwargs.reward: {err}")
                continue
        try:
            info = _env_info(env_id, kwargs)
        except Exception as err:  # a bad kwarg: each env raises its own error type
            errors.append(f"{where}.kwargs: {type(err).__name__}: {err}")
            continue
        local = {k: entry.get(k, defaults[k]) for k in _DEFAULTS}
        for k in ("steps", "eval_every", "eval_episodes"):
            if k in entry:
                _check_int(f"{where}.{k}", entry[k], errors)
        overrides = entry.get("agent_config", {}) or {}
        if not isinstance(overrides, dict):
            errors.append(f"{where}.agent_config must be a mapping of agent name -> hyperparameters")
            overrides = {}
        if names is None:
            names = [n for n in (*agents_cfg, *baselines) if n in AGENTS and AGENTS[n].applies(info)]
        for name in overrides:
            if name not in AGENTS:
                errors.append(f"{where}.agent_config: " + _unknown("agent", name, AGENTS))
        score = entry.get("score", {}) or {}
        if not isinstance(score, dict) or any(k not in ("low", "high") for k in score):
            errors.append(f"{where}.score must be a mapping with keys low and high; got {score!r}")
        else:
            for side, ref in score.items():
                if isinstance(ref, str) and ref not in AGENTS:
                    errors.append(f"{where}.score.{side}: " + _unknown("agent", ref, AGENTS))
                elif not isinstance(ref, (str, int, float)) or isinstance(ref, bool):
                    errors.append(f"{where}.score.{side} must be an agent name or a number; got {ref!r}")
        for name in dict.fromkeys(names):
            if name not in AGENTS:
                continue  # reported above
            agent = AGENTS[name]
            if not agent.applies(info):
                errors.append(f"{where}: agent {name!r} does not apply to {env_id} ({info.action_space} actions"
                              f"{', token env' if info.token_env else ''})")
                continue
            merged = {**(agents_cfg.get(name) or {}), **(overrides.get(name) or {})}
            if name == "initial" and "policy" not in merged:
                # the baseline is the learners' starting point: the LM they fine-tune here
                policies = [({**(agents_cfg.get(n) or {}), **(overrides.get(n) or {})}).get("policy")
                            for n in names if n in AGENTS and AGENTS[n].kind == "learner"]
                merged["policy"] = next((p for p in policies if p not in (None, "auto", "mlp")), "tiny-shop")
            if name in overrides:
                _agent_config(agent, merged, f"{where}.agent_config.{name}", errors)
            elif agent.kind == "learner" and name not in agents_cfg:
                _agent_config(agent, merged, f"{where}.agents.{name}", errors)
            for seed in seed_list:
                specs.append(
                    RunSpec(
                        agent=name,
                        env_id=env_id,
                        seed=int(seed),
                        steps=int(local["steps"]) if agent.kind == "learner" else 0,
                        eval_every=int(local["eval_every"]),
                        eval_episodes=int(local["eval_episodes"]),
                        deterministic=bool(local["deterministic"]),
                        agent_config=merged,
                        env_kwargs=kwargs,
                    )
                )
    keys = [s.key for s in specs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        errors.append(f"the same (env, agent, seed) appears twice: {', '.join(duplicates)}; "
                      "list each env once (put variants in a separate config)")
    if errors:
        raise ConfigError("invalid benchmark config:\n  " + "\n  ".join(dict.fromkeys(errors)))
    if not specs:
        raise ConfigError("the config expands to no runs (no agent applies to any env)")
    return specs


# ---------------------------------------------------------------------------------------
# the driver
# ---------------------------------------------------------------------------------------


def default_workers() -> int:
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
    _clean_temp_files(out)
    atomic_write_text(out / "config.json", _dumps(config, indent=1))
    todo = [s for s in specs if not _finished(out, s)]
    skipped = len(specs) - len(todo)
    if skipped:
        log.info("skipping %d finished runs of %d (results in %s)", skipped, len(specs), out / "runs")
    started = time.time()
    meta_path = out / "metadata.json"
    meta = _read_json(meta_path) or {}
    invocation = {
        "started_at": _now(),
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
    atomic_write_text(meta_path, _dumps(meta, indent=1))

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
            from benchmarks.ray_backend import run_ray

            run_ray(todo, on_result=on_result, address=address, quiet=quiet)
        elif workers == 0:
            _run_serial(todo, on_result=on_result, quiet=quiet)
        else:
            _run_local(todo, on_result=on_result, workers=workers or default_workers(), quiet=quiet)

    invocation["finished_at"] = _now()
    invocation["wall_time_s"] = time.time() - started
    invocation["n_ok"], invocation["n_failed"] = counts["ok"], counts["failed"]
    atomic_write_text(meta_path, _dumps(meta, indent=1))
    if report:
        from benchmarks.report import write_report

        write_report(out)
    return {"n_runs": len(specs), "n_skipped": skipped, "n_ok": counts["ok"], "n_failed": counts["failed"],
            "wall_time_s": invocation["wall_time_s"]}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _bars(specs: list[RunSpec], quiet: bool) -> tuple[Any, Any]:
    from tqdm.auto import tqdm

    total_steps = sum(s.steps for s in specs)
    runs = tqdm(total=len(specs), desc="runs", unit="run", disable=quiet, position=0)
    steps = tqdm(total=total_steps, desc="steps", unit="step", disable=quiet or total_steps == 0, position=1,
                 unit_scale=True)
    return runs, steps


def _failed_record(spec: RunSpec, err: BaseException) -> dict[str, Any]:
    return {
        "schema": RESULT_SCHEMA, "key": spec.key, "digest": spec.digest(), "spec": spec.to_dict(),
        "status": "failed", "error": f"{type(err).__name__}: {err}",
        "traceback": "".join(traceback.format_exception(type(err), err, err.__traceback__)),
        "final_return": float("nan"), "curve": [], "wall_time_s": float("nan"), "finished_at": _now(),
    }


def _run_serial(specs: list[RunSpec], *, on_result: Callable[[dict[str, Any]], None], quiet: bool) -> None:
    runs_bar, steps_bar = _bars(specs, quiet)
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
    runs_bar, steps_bar = _bars(specs, quiet)

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
                record = _failed_record(spec, err)
            on_result(record)
            runs_bar.update(1)
            runs_bar.set_postfix_str(spec.key, refresh=False)

"""Run benchmark specs as Ray tasks: ``lm-envs bench --backend ray [--address ADDR]``.

Each run is one task (``num_cpus=1``) executing :func:`benchmarks.runs.execute`; the
driver writes each result atomically as its task finishes, exactly as the local backend
does, so resuming works the same. Without ``--address`` Ray joins the instance this
process already started (tests call ``ray.init(num_cpus=2)`` themselves), else an
instance named by ``RAY_ADDRESS``, else it starts a local one. On a cluster every node
needs lm-envs installed (``pip install 'lm-envs[ray]'``) and the model files it uses.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from benchmarks.runs import RunSpec, execute, failed_record, progress_bars

__all__ = ["run_ray"]

log = logging.getLogger("lm_envs.bench")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("the Ray backend needs Ray: pip install 'lm-envs[ray]' (or pip install ray)") from None
    return ray


def run_ray(
    specs: list[RunSpec],
    *,
    on_result: Callable[[dict[str, Any]], None],
    address: str | None = None,
    quiet: bool = False,
    imports: tuple[str, ...] = (),
) -> None:
    """Dispatch ``specs`` as Ray tasks and call ``on_result`` with each record as it lands;
    each task first imports ``imports`` (the modules that register the runs' custom rewards)."""
    ray = _import_ray()
    started_here = False
    if not ray.is_initialized():
        env_vars = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "LM_ENVS_CACHE",
                                                "LM_ENVS_DATA") if k in os.environ}
        env_vars.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
        ray.init(address=address, include_dashboard=False, log_to_driver=not quiet,
                 runtime_env={"env_vars": env_vars}, logging_level=logging.WARNING if quiet else logging.INFO)
        started_here = True
    elif address is not None:
        log.warning("Ray is already initialised in this process; ignoring --address %s", address)
    task = ray.remote(num_cpus=1, max_retries=0)(_execute_task)
    runs_bar, _ = progress_bars(specs, quiet=quiet)
    try:
        pending = {task.remote(spec.to_dict(), imports): spec for spec in specs}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    record = ray.get(ref)
                except Exception as err:  # the worker died or the task could not be scheduled
                    record = failed_record(spec, err)
                on_result(record)
                runs_bar.update(1)
                runs_bar.set_postfix_str(spec.key, refresh=False)
    finally:
        runs_bar.close()
        if started_here:
            ray.shutdown()


def _execute_task(spec_data: dict[str, Any], imports: tuple[str, ...] = ()) -> dict[str, Any]:
    for module in imports:
        importlib.import_module(module)
    return execute(spec_data)

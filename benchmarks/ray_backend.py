"""Run benchmark specs as Ray tasks: ``lm-envs bench --backend ray [--address ADDR]``.

Each run is one task (``num_cpus=1``) executing :func:`benchmarks.runs.execute`; the
driver writes each result atomically as its task finishes, exactly as the local backend
does, so resuming works the same. Without ``--address`` Ray joins the instance this
process already started (tests call ``ray.init(num_cpus=2)`` themselves), else an
instance named by ``RAY_ADDRESS``, else it starts a local one. On a cluster every node
needs lm-envs installed (``pip install 'lm-envs[ray]'``) and the model files it uses.

A run on CUDA (``--device cuda``, or ``auto`` on a cluster with GPUs) asks Ray for
``GPUS_PER_RUN`` of a GPU, so Ray places it on a GPU node and makes that GPU visible to it
(Ray hides every GPU from a task that asks for none).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable
from typing import Any

from benchmarks.runs import RunSpec, execute, failed_record, progress_bars

__all__ = ["GPUS_PER_RUN", "run_ray"]

GPUS_PER_RUN = 0.25
"""The share of one GPU a Ray task on CUDA asks for: four runs share a GPU."""

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
        gpus = {device: _gpu_share(device, ray) for device in {spec.device for spec in specs}}
        pending = {task.options(num_gpus=gpus[spec.device]).remote(spec.to_dict(), imports): spec for spec in specs}
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


def _gpu_share(device: str, ray: Any) -> float:
    """The GPUs a task asks Ray for to run on ``device``: none on the CPU, ``GPUS_PER_RUN`` on CUDA
    (with ``auto``: where the cluster has a GPU).

    Raises:
        ConfigError: CUDA asked for where the cluster has no GPU (its tasks would wait for
            ever), or ``cuda:N`` (Ray picks each task's GPU: give ``cuda`` or ``auto``).
    """
    from benchmarks.presets import ConfigError

    if device == "cpu":
        return 0.0
    has_gpu = ray.cluster_resources().get("GPU", 0) > 0
    if device == "auto":
        return GPUS_PER_RUN if has_gpu else 0.0
    if device != "cuda":
        raise ConfigError(f"--device {device}: on the Ray backend give cuda or auto; Ray picks each task's GPU")
    if not has_gpu:
        raise ConfigError("--device cuda: the Ray cluster has no GPU (ray.cluster_resources() lists none); "
                          "use cpu, or auto")
    return GPUS_PER_RUN

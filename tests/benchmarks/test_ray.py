"""The Ray backend: the smoke preset as Ray tasks on a local instance the test starts."""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.presets import get_preset
from benchmarks.suite import load_results, plan, run_suite
from bench_helpers import ROOT

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'lm-envs[ray]'")


@pytest.fixture
def local_ray(monkeypatch):
    # Ray's worker processes inherit the driver's environment: make the checkout importable
    # and keep everything offline, as a cluster node with lm-envs installed would be
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_smoke_preset_on_local_ray(local_ray, tmp_path):
    config = get_preset("smoke")
    summary = run_suite(config, tmp_path, backend="ray", quiet=True)
    assert summary["n_failed"] == 0 and summary["n_ok"] == len(plan(config))
    records = load_results(tmp_path)
    assert all(r["status"] == "ok" for r in records)
    assert len({r["pid"] for r in records}) >= 2  # Ray tasks ran in Ray's worker processes
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["invocations"][-1]["backend"] == "ray"
    assert (tmp_path / "report.html").is_file()
    # resuming through Ray skips everything that finished
    assert run_suite(config, tmp_path, backend="ray", quiet=True, report=False)["n_skipped"] == len(records)

"""``--device`` on ``lm-envs train`` and ``bench``, the learning benchmarks and ``perf trl`` / ``serve``:
checked up front with errors naming the flag and value, carried by the run spec to where the run
executes, and left out of the run's digest (saved results keep theirs)."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os

import pytest
import torch
from bench_helpers import rec_config

import benchmarks.runs
from benchmarks.cli import main
from benchmarks.presets import ConfigError
from benchmarks.results import load_results
from benchmarks.runs import RunSpec, check_device

NO_CUDA = not torch.cuda.is_available()
REC = "lm_envs/ProductRecommendation-v0"
TINY_TRAIN = ["--agent", "ppo", "--env", REC, "--steps", "64", "--eval-episodes", "4", "--quiet",
              "--env-kwargs", json.dumps({"max_steps": 5}),
              "--agent-config", json.dumps({"num_envs": 4, "n_steps": 16, "minibatch_size": 32, "update_epochs": 1})]


def _error(capsys, command: str) -> str:
    err = capsys.readouterr().err
    return next(line for line in err.splitlines() if line.startswith(f"lm-envs {command}: error:"))


@pytest.mark.parametrize("value", ["gpu", "mps", "", " cpu", "cuda:x", "tpu0"])
def test_check_device_refuses_a_bad_name_naming_the_flag_and_value(value):
    with pytest.raises(ValueError, match=rf"--dev must be one of cpu, cuda, auto or cuda:N; got {value!r}"):
        check_device(value, flag="--dev")
    with pytest.raises(ValueError, match="--dev must be"):
        check_device(value, flag="--dev", here=False)  # the name is checked even for other machines


def test_check_device_resolves_here_and_only_names_elsewhere():
    assert check_device("cpu") == torch.device("cpu")
    assert check_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert check_device("cuda", here=False) is None and check_device("cuda:3", here=False) is None


@pytest.mark.skipif(not NO_CUDA, reason="checks the error where torch sees no CUDA device")
def test_check_device_cuda_without_a_gpu():
    with pytest.raises(ValueError, match=r"^--device cuda: .*sees no CUDA device"):
        check_device("cuda")


def test_digest_leaves_the_device_out_and_keeps_saved_digests():
    spec = RunSpec(agent="ppo", env_id=REC, seed=3, steps=64, eval_every=32, eval_episodes=4,
                   agent_config={"policy": "mlp"}, env_kwargs={"max_steps": 5})
    assert spec.device == "cpu" and spec.to_dict()["device"] == "cpu"
    before = {k: v for k, v in spec.to_dict().items() if k != "device"}  # a spec as saved before the field
    assert spec.digest() == hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:16]
    assert RunSpec.from_dict(before) == spec  # a saved spec without the field reads as cpu
    assert dataclasses.replace(spec, device="cuda").digest() == spec.digest()
    assert dataclasses.replace(spec, seed=4).digest() != spec.digest()


def test_train_on_cpu_end_to_end_names_the_device(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--out", str(out), "--device", "cpu"]) == 0
    (record,) = load_results(out)
    assert record["status"] == "ok" and record["device"] == "cpu" and record["spec"]["device"] == "cpu"
    assert "(seed 0, cpu)" in capsys.readouterr().err


@pytest.mark.parametrize(("value", "message"), [
    ("gpu", "--device must be one of cpu, cuda, auto or cuda:N; got 'gpu'"),
    pytest.param("cuda", "--device cuda: device 'cuda' asked for, but torch", marks=pytest.mark.skipif(
        not NO_CUDA, reason="checks the error where torch sees no CUDA device")),
])
def test_train_refuses_a_bad_device_before_training(tmp_path, capsys, monkeypatch, value, message):
    monkeypatch.setattr(benchmarks.runs, "execute", lambda *a, **k: pytest.fail("trained"))
    assert main(["train", *TINY_TRAIN, "--out", str(tmp_path / "run"), "--device", value]) == 2
    assert message in _error(capsys, "train")
    assert not (tmp_path / "run").exists()


def test_bench_device_reaches_the_runs_and_does_not_change_their_identity(tmp_path, capsys):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(rec_config(steps=64, agents=["ppo", "random"])))
    out = tmp_path / "out"
    args = ["bench", "--config", str(config), "--out", str(out), "--workers", "0", "--quiet"]
    assert main([*args, "--device", "cpu"]) == 0
    records = load_results(out)
    assert {r["device"] for r in records} == {"cpu"} and {r["spec"]["device"] for r in records} == {"cpu"}
    # a rerun on another device skips the finished runs: the device is not part of a run's identity
    assert main([*args, "--device", "auto"]) == 0
    assert "0 ok, 0 failed, 2 already done" in capsys.readouterr().out
    invocations = json.loads((out / "metadata.json").read_text())["invocations"]
    assert [i["device"] for i in invocations] == ["cpu", "auto"]


@pytest.mark.parametrize(("value", "message"), [
    ("gpu", "--device must be one of cpu, cuda, auto or cuda:N; got 'gpu'"),
    pytest.param("cuda", "--device cuda: device 'cuda' asked for, but torch", marks=pytest.mark.skipif(
        not NO_CUDA, reason="checks the error where torch sees no CUDA device")),
])
def test_bench_refuses_a_bad_device_before_creating_anything(tmp_path, capsys, value, message):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(rec_config(agents=["random"])))
    out = tmp_path / "out"
    assert main(["bench", "--config", str(config), "--out", str(out), "--workers", "0", "--quiet",
                 "--device", value]) == 2
    assert message in _error(capsys, "bench")
    assert not out.exists()


def test_run_suite_checks_the_device_too(tmp_path):
    from benchmarks.suite import run_suite

    with pytest.raises(ConfigError, match="--device must be one of"):
        run_suite(rec_config(agents=["random"]), tmp_path / "out", workers=0, device="gpu")
    assert not (tmp_path / "out").exists()


class _FakeRay:
    def __init__(self, gpus: float) -> None:
        self.gpus = gpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 8.0, "GPU": self.gpus} if self.gpus else {"CPU": 8.0}


def test_ray_tasks_ask_for_a_gpu_share_only_on_cuda():
    from benchmarks.ray_backend import GPUS_PER_RUN, _gpu_share

    assert _gpu_share("cpu", _FakeRay(0)) == _gpu_share("cpu", _FakeRay(2)) == 0.0
    assert _gpu_share("auto", _FakeRay(0)) == 0.0 and _gpu_share("auto", _FakeRay(2)) == GPUS_PER_RUN
    assert _gpu_share("cuda", _FakeRay(2)) == GPUS_PER_RUN
    with pytest.raises(ConfigError, match="--device cuda: the Ray cluster has no GPU"):
        _gpu_share("cuda", _FakeRay(0))
    with pytest.raises(ConfigError, match="--device cuda:1: on the Ray backend give cuda or auto"):
        _gpu_share("cuda:1", _FakeRay(2))


@pytest.mark.parametrize("module", ["text", "customer_service", "dialog", "defaults", "recommendation", "cartpole",
                                    "perf.trl", "perf.serve"])
def test_scripts_refuse_a_bad_device_naming_the_flag(module, capsys):
    name = module if module.startswith("perf.") else f"learning.{module}"
    script = importlib.import_module(f"benchmarks.{name}")
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exit_info:
            script.main(["--device", "gpu"])
    finally:
        torch.set_num_threads(threads)
    assert exit_info.value.code == 2
    assert "--device must be one of cpu, cuda, auto or cuda:N; got 'gpu'" in capsys.readouterr().err


def test_perf_trl_runs_the_trainers_on_the_device(tmp_path):
    pytest.importorskip("trl", reason="TRL is an optional extra: pip install 'lm-envs[trl]'")
    import argparse

    from benchmarks.perf.trl import grpo_config

    args = argparse.Namespace(batch=4, group=2, max_new_tokens=6, lr=1e-5, steps=1, device_type="cpu")
    assert grpo_config(args, str(tmp_path)).use_cpu is True
    if not NO_CUDA:
        assert grpo_config(argparse.Namespace(**{**vars(args), "device_type": "cuda"}), str(tmp_path)).use_cpu is False


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_train_on_cuda(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY_TRAIN, "--out", str(out), "--device", "cuda"]) == 0
    (record,) = load_results(out)
    assert record["status"] == "ok" and record["device"].startswith("cuda:0") and record["spec"]["device"] == "cuda"
    assert (out / "model").is_dir()


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA device")
def test_bench_on_cuda_in_worker_processes(tmp_path):
    config = tmp_path / "c.json"
    config.write_text(json.dumps(rec_config(steps=64, agents=["ppo", "random"])))
    out = tmp_path / "out"
    assert main(["bench", "--config", str(config), "--out", str(out), "--workers", "2", "--quiet",
                 "--device", "cuda"]) == 0
    records = load_results(out)
    assert all(r["status"] == "ok" and r["device"].startswith("cuda:0") for r in records)


@pytest.mark.slow
def test_bench_device_reaches_ray_tasks(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'lm-envs[ray]'")
    from bench_helpers import ROOT

    from benchmarks.suite import run_suite

    # Ray's worker processes inherit the driver's environment: make the checkout importable
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_suite(rec_config(steps=64, agents=["ppo", "random"]), tmp_path, backend="ray", quiet=True,
                            report=False, device="auto")
        gpus = ray.cluster_resources().get("GPU", 0)
    finally:
        ray.shutdown()
    assert summary["n_ok"] == 2
    records = load_results(tmp_path)
    assert {r["spec"]["device"] for r in records} == {"auto"}
    # auto asks Ray for a GPU share only where the cluster has a GPU; without one the tasks see none
    assert all(r["device"].startswith("cuda:") if gpus else r["device"] == "cpu" for r in records)

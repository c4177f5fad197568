"""The runner: atomic result files, failed runs recorded, SIGKILL mid-way then resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pandas as pd
import pytest

from bench_helpers import cli, rec_config
from benchmarks.results import atomic_save_figure, clean_temp_files
from benchmarks.runs import failed_record
from benchmarks.suite import atomic_write_text, execute, load_results, plan, run_suite


def test_atomic_write_replaces_whole_files_and_leaves_no_temp(tmp_path):
    path = tmp_path / "runs" / "a.json"
    atomic_write_text(path, '{"v": 1}')
    atomic_write_text(path, '{"v": 2}')
    assert json.loads(path.read_text()) == {"v": 2}
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_crash_during_the_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    atomic_write_text(path, '{"v": 1}')

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, '{"v": 2}')
    assert json.loads(path.read_text()) == {"v": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_a_figure_is_saved_whole_or_not_at_all(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = tmp_path / "curves.png"
    fig = plt.figure()
    atomic_save_figure(fig, path)
    first = path.read_bytes()
    assert first.startswith(b"\x89PNG") and sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", crash)
    with pytest.raises(OSError, match="disk full"):
        atomic_save_figure(fig, path)
    plt.close(fig)
    assert path.read_bytes() == first and sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]


def test_leftover_temp_files_are_never_results(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / ".x__ppo__seed0.json.abc.tmp").write_text('{"status": "ok", "key": "half')  # a killed write
    assert load_results(tmp_path) == []
    clean_temp_files(tmp_path)
    assert list(runs.iterdir()) == []


def test_execute_records_curve_samples_and_crashes():
    ok_spec, random_spec, _ = plan(rec_config(steps=128))
    record = execute(ok_spec)
    assert record["status"] == "ok", record.get("traceback")
    evals = [r for r in record["curve"] if r["kind"] == "eval"]
    assert [r["step"] for r in evals][0] == 0 and evals[-1]["step"] >= 128
    assert record["final_return"] == evals[-1]["return"] == record["last"]["reward_mean"]
    assert any(r["kind"] == "train" for r in record["curve"])
    assert record["digest"] == ok_spec.digest()

    bad = plan(rec_config(ppo={"policy": "/no/such/model"}))[0]
    record = execute(bad)  # never raises
    assert record["status"] == "failed"
    assert "Traceback" in record["traceback"] and record["error"]


def test_a_run_that_crashes_and_a_worker_that_dies_leave_the_same_record():
    spec = plan(rec_config(ppo={"policy": "/no/such/model"}))[0]
    crashed = execute(spec)
    try:
        raise RuntimeError("worker died")
    except RuntimeError as err:
        died = failed_record(spec, err)
    # host, pid, start time and the device the run resolved are known only where it ran
    assert set(crashed) - set(died) == {"host", "pid", "started_at", "device"} and set(died) <= set(crashed)
    assert died["status"] == "failed" and died["error"] == "RuntimeError: worker died"
    assert died["key"] == spec.key and died["digest"] == spec.digest() and died["spec"] == spec.to_dict()
    assert "Traceback" in died["traceback"] and died["curve"] == [] and died["final_return"] != died["final_return"]


def test_failed_runs_are_recorded_and_the_others_go_on(tmp_path):
    config = rec_config(ppo={"policy": "/no/such/model"})
    summary = run_suite(config, tmp_path, workers=0, quiet=True)
    assert summary == {**summary, "n_runs": 3, "n_ok": 2, "n_failed": 1}
    failed = json.loads((tmp_path / "runs" / "ProductRecommendation-v0__ppo__seed0.json").read_text())
    assert failed["status"] == "failed" and "Traceback" in failed["traceback"]
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(runs.status) == ["failed", "ok", "ok"]
    assert "## Failed runs" in (tmp_path / "report.md").read_text()
    # a rerun retries the failed run only
    summary = run_suite(config, tmp_path, workers=0, quiet=True, report=False)
    assert summary["n_skipped"] == 2 and summary["n_failed"] == 1


def test_a_changed_spec_is_rerun(tmp_path):
    config = rec_config(agents=["random"])
    assert run_suite(config, tmp_path, workers=0, quiet=True, report=False)["n_ok"] == 1
    assert run_suite(config, tmp_path, workers=0, quiet=True, report=False)["n_skipped"] == 1
    config["eval_episodes"] = 4
    assert run_suite(config, tmp_path, workers=0, quiet=True, report=False)["n_skipped"] == 0


@pytest.mark.slow
def test_sigkill_midway_then_resume(tmp_path, subprocess_env):
    config = rec_config(seeds=3, steps=1200, agents=["ppo"])
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    command = cli("bench", "--config", str(path), "--out", str(out), "--workers", "1", "--quiet")
    # a new session: the kill takes the worker processes down too
    proc = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    runs = out / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(runs.glob("*seed*.json"))) < 1:
        assert proc.poll() is None, proc.stdout.read().decode()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    before = {p.name: p.read_bytes() for p in runs.glob("*.json")}
    assert 1 <= len(before) < 3, "the benchmark finished before it was killed: make the runs longer"
    for name, data in before.items():
        assert json.loads(data)["status"] == "ok", name  # every file that looks like a result is one

    done = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(before)} already done" in done.stdout
    for name, data in before.items():
        assert (runs / name).read_bytes() == data  # finished runs were not rerun
    records = load_results(out)
    assert len(records) == 3 and all(r["status"] == "ok" for r in records)
    assert not list(runs.glob(".*.tmp"))
    meta = json.loads((out / "metadata.json").read_text())
    assert len(meta["invocations"]) == 2 and meta["invocations"][1]["n_skipped"] == len(before)


def test_train_saves_a_model_and_its_result(tmp_path, subprocess_env):
    out = tmp_path / "ppo"
    proc = subprocess.run(
        cli("train", "--agent", "ppo", "--env", "lm_envs/ProductRecommendation-v0", "--steps", "128",
            "--env-kwargs", '{"max_steps": 5}', "--reward", '{"click": 1.0, "purchase": 2.0}',
            "--agent-config", '{"num_envs": 4, "n_steps": 16, "minibatch_size": 32}', "--eval-episodes", "4",
            "--out", str(out)),
        env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "model" / "model.safetensors").exists() and (out / "model" / "config.json").exists()
    (record,) = load_results(out)
    assert record["status"] == "ok" and record["spec"]["env_kwargs"]["reward"] == {"click": 1.0, "purchase": 2.0}
    assert (out / "runs" / f"{record['key']}.curve.jsonl").exists()


@pytest.mark.slow
def test_train_sft_saves_a_policy_folder(tmp_path, subprocess_env):
    out = tmp_path / "sft"
    proc = subprocess.run(
        cli("train", "--agent", "sft", "--env", "lm_envs/CustomerServiceDialog-v1", "--steps", "40",
            "--env-kwargs", '{"max_new_tokens": 48, "customers": "train"}', "--policy", "tiny-shop",
            "--agent-config", '{"n_demonstrations": 2, "batch_size": 2, "num_envs": 2}', "--eval-episodes", "2",
            "--out", str(out)),
        env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    folder = out / "model"
    assert {"sft.json", "model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    (record,) = load_results(out)
    assert record["status"] == "ok" and record["train_steps"] >= 40 and "pass^1" in record["pass_k"]
    from lm_envs.models import load_policy, load_tokenizer

    assert load_policy(str(folder)).config.vocab_size == len(load_tokenizer(str(folder)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reward", "{'sentiment': 1}"], "--reward must be JSON"),
        (["--reward", "__import__('os')"], "--reward must be JSON"),
        (["--agent", "random"], "'random' is a baseline"),
        (["--agent", "dqn"], "unknown agent 'dqn'; known: a2c, ddpg"),
    ],
)
def test_train_refuses_bad_input(tmp_path, subprocess_env, args, message):
    base = {"--agent": "ppo", "--env": "lm_envs/ProductRecommendation-v0", "--steps": "8", "--out": str(tmp_path / "x")}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    proc = subprocess.run(cli("train", *argv), env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_dialog_run_records_pass_k_and_the_report_shows_it(tmp_path):
    from benchmarks.report import build_tables
    from benchmarks.results import write_result
    from benchmarks.runs import RunSpec, execute

    env_kwargs = {"max_new_tokens": 24, "max_turn_tokens": 8}
    spec = RunSpec("initial", "lm_envs/CustomerServiceDialog-v1", 0, 0, 1, 8, env_kwargs=env_kwargs,
                   agent_config={"policy": "tiny-shop"})
    record = execute(spec)
    assert record["status"] == "ok", record.get("traceback")
    assert set(record["pass_k"]) == {"pass^1", "pass^2", "pass^4", "n_tasks", "n_tries"}
    assert record["pass_k"]["n_tasks"] == 2 and record["pass_k"]["n_tries"] == 4
    assert 0 <= record["pass_k"]["pass^4"] <= record["pass_k"]["pass^2"] <= record["pass_k"]["pass^1"] <= 1
    write_result(tmp_path, record)
    summary = build_tables(tmp_path)["summary"]
    assert summary["pass^1"].iloc[0] == record["pass_k"]["pass^1"]

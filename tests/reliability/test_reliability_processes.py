"""Processes and output folders of `lm-envs bench`: no orphans, one dead worker fails one run,
one bench per output folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import pytest
from reliability_helpers import (
    alive,
    children,
    cli,
    descendants,
    is_worker,
    kill_all,
    rec_config,
    wait_for,
)

from benchmarks.cli import main
from benchmarks.results import load_results
from benchmarks.suite import run_suite

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads processes from /proc")


@pytest.mark.slow
def test_sigkill_of_the_bench_leaves_no_process_of_the_run(tmp_path, subprocess_env):
    # a run long enough to be in progress when the bench dies
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rec_config(steps=10**8, agents=["ppo"])))
    command = cli("bench", "--config", str(path), "--out", str(tmp_path / "out"), "--workers", "1", "--quiet")
    proc = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: set[int] = set()
    try:
        assert wait_for(lambda: any(is_worker(p) for p in descendants(proc.pid)), timeout=120), "no worker started"
        seen.update(descendants(proc.pid))  # the worker and multiprocessing's resource tracker
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert wait_for(lambda: not any(alive(p) for p in seen), timeout=30, every=0.2), \
            f"still running after the bench died: {[p for p in seen if alive(p)]}"
    finally:
        kill_all([proc.pid, *seen])
        proc.wait(timeout=30)


@pytest.mark.slow
def test_a_dead_worker_fails_only_the_run_it_was_running(tmp_path):
    config = rec_config(agents=["ppo", "random", "oracle"])  # ppo runs first
    killed: list[int] = []
    stop = threading.Event()

    def kill_the_first_worker() -> None:
        while not stop.is_set() and not killed:
            for pid in children(os.getpid()):
                if is_worker(pid):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
            stop.wait(0.01)

    killer = threading.Thread(target=kill_the_first_worker, daemon=True)
    killer.start()
    try:
        summary = run_suite(config, tmp_path, workers=1, quiet=True, report=False)
    finally:
        stop.set()
        killer.join(timeout=10)
    assert killed, "no worker was seen"
    status = {r["key"]: r["status"] for r in load_results(tmp_path)}
    assert status == {"ProductRecommendation-v0__ppo__seed0": "failed",
                      "ProductRecommendation-v0__random__seed0": "ok",
                      "ProductRecommendation-v0__oracle__seed0": "ok"}
    (failed,) = [r for r in load_results(tmp_path) if r["status"] == "failed"]
    assert "worker" in failed["error"] and str(killed[0]) in failed["error"]
    assert summary["n_failed"] == 1 and summary["n_ok"] == 2
    # a rerun retries the failed run only
    again = run_suite(config, tmp_path, workers=1, quiet=True, report=False)
    assert again["n_skipped"] == 2 and again["n_ok"] == 1


def test_a_second_bench_on_a_locked_folder_stops_without_touching_it(tmp_path, subprocess_env, capsys):
    out = tmp_path / "out"
    (out / "runs").mkdir(parents=True)
    temp = out / "runs" / ".ProductRecommendation-v0__random__seed0.json.abc.tmp"  # the holder's write in progress
    temp.write_text("{")
    config = tmp_path / "c.json"
    config.write_text(json.dumps(rec_config(agents=["random"])))
    holder_code = ("import sys; from benchmarks.results import lock_out_dir\n"
                   "with lock_out_dir(sys.argv[1]):\n    print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", holder_code, str(out)], env=subprocess_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked", holder.stderr.read()
        before = sorted(p.relative_to(out) for p in out.rglob("*"))
        code = main(["bench", "--config", str(config), "--out", str(out), "--workers", "0", "--quiet"])
        err = capsys.readouterr().err
        assert code != 0
        assert "lm-envs bench: error:" in err and f"pid {holder.pid}" in err and str(out) in err
        assert temp.read_text() == "{"
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    finally:
        holder.stdin.close()
        kill_all([holder.pid])
        holder.wait(timeout=30)
    # once the holder is gone the folder is free again
    assert main(["bench", "--config", str(config), "--out", str(out), "--workers", "0", "--quiet"]) == 0


@pytest.mark.slow
def test_a_worker_whose_first_run_is_a_baseline_on_a_token_env_finds_the_env(tmp_path):
    config = {"name": "first", "seeds": 1, "eval_episodes": 2, "baselines": ["random"],
              "envs": [{"id": "lm_envs/TextGeneration-v1", "kwargs": {"max_new_tokens": 4}}]}
    run_suite(config, tmp_path, workers=1, quiet=True, report=False)
    (record,) = load_results(tmp_path)
    assert record["status"] == "ok", record.get("error")


@pytest.mark.slow
def test_a_worker_that_dies_before_it_gets_its_first_run_fails_only_that_run(tmp_path, monkeypatch):
    import benchmarks.suite

    give = benchmarks.suite._Worker.give
    killed: list[int] = []

    def die_first(worker, spec):  # the first worker dies (out of memory, say) just before its first run reaches it
        if not killed:
            killed.append(worker.process.pid)
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.join(timeout=30)
        return give(worker, spec)

    monkeypatch.setattr(benchmarks.suite._Worker, "give", die_first)
    summary = run_suite(rec_config(agents=["random", "oracle"]), tmp_path, workers=1, quiet=True, report=False)
    status = {r["key"]: r["status"] for r in load_results(tmp_path)}
    assert status == {"ProductRecommendation-v0__random__seed0": "failed",
                      "ProductRecommendation-v0__oracle__seed0": "ok"}
    (failed,) = [r for r in load_results(tmp_path) if r["status"] == "failed"]
    assert str(killed[0]) in failed["error"] and "SIGKILL" in failed["error"]
    assert summary["n_failed"] == 1 and summary["n_ok"] == 1

"""`lm-envs bench --preset smoke`: the whole pipeline on the real envs and the tiny LM."""

from __future__ import annotations

import json
import subprocess
import time

import pandas as pd
import pytest

from bench_helpers import cli
from benchmarks.presets import get_preset
from benchmarks.suite import plan


@pytest.mark.slow
def test_smoke_preset_end_to_end(tmp_path, subprocess_env):
    out = tmp_path / "smoke"
    start = time.monotonic()
    proc = subprocess.run(cli("bench", "--preset", "smoke", "--out", str(out), "--workers", "2"),
                          env=subprocess_env, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # the preset is sized for < 60 s on 2 cores; leave room for a machine shared with others
    assert wall < 120, f"smoke preset took {wall:.0f} s"
    n = len(plan(get_preset("smoke")))
    assert "| TextGeneration-v1" in proc.stdout and f"{n} ok, 0 failed" in proc.stdout
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == n and set(runs.status) == {"ok"}
    assert {"TextGeneration-v1", "ProductRecommendation-v0"} <= set(runs.env)
    # learners have a learning curve with several evaluations and text samples
    key = "TextGeneration-v1__ppo__seed0"
    curve = [json.loads(line) for line in (out / "runs" / f"{key}.curve.jsonl").read_text().splitlines()]
    assert len([r for r in curve if r["kind"] == "eval"]) >= 2
    record = json.loads((out / "runs" / f"{key}.json").read_text())
    assert record["first"]["samples"] and record["last"]["samples"]
    report = (out / "report.md").read_text()
    assert "## Samples and transcripts" in report and "PROMPT:" in report
    assert (out / "learning_curves.png").stat().st_size > 10_000

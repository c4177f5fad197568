"""examples/trl_grpo.py runs end to end: GRPOTrainer trains on CustomerServiceQA-v0 for one step."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="TRL is an optional extra: pip install 'lm-envs[trl]'")

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_example_trains_and_prints_the_eval_reward(tmp_path):
    argv = ["--max-steps", "1", "--batch", "4", "--group", "2", "--eval-prompts", "2", "--max-new-tokens", "12",
            "--threads", "1", "--out", str(tmp_path / "model")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(ROOT),
           "TRL_EXPERIMENTAL_SILENCE": "1"}  # the checkout's packages, offline
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "trl_grpo.py"), *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "eval reward (2 held-out questions x 2 answers):" in proc.stdout and "after 1 steps" in proc.stdout
    assert (tmp_path / "model" / "model.safetensors").exists()

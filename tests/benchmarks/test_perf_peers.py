"""`python -m benchmarks.perf peers` prints both sides and the ratios (tiny sizes)."""

from __future__ import annotations

import importlib.util
import re

import pytest
import torch

from benchmarks.perf.__main__ import main


def _run(args: list[str]) -> None:
    threads = torch.get_num_threads()
    try:
        assert main(["peers", *args, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count


@pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install -e '.[trl]')")
def test_perf_peers_trl_prints_both_sides_and_ratio(capsys):
    _run(["--skip-sb3", "--updates", "2", "--batch", "4", "--group", "2", "--max-new-tokens", "4"])
    out = capsys.readouterr().out
    assert re.search(r"ours REINFORCE-RLOO\s+[\d,]+\s+[\d.]+", out), out
    assert re.search(r"TRL [\d.]+ RLOOTrainer\s+[\d,]+\s+[\d.]+", out), out
    assert re.search(r"ratio ours / TRL: tokens/s \d+\.\d+", out), out
    assert "TRL PPOTrainer:" in out


def test_perf_peers_sb3_prints_both_sides_and_ratio(capsys):
    _run(["--skip-trl", "--classic-steps", "256", "--classic-envs", "CartPole-v1", "--eval-episodes", "2"])
    out = capsys.readouterr().out
    for algo in ("PPO", "A2C"):
        assert re.search(rf"CartPole-v1\s+{algo}\s+[\d,]+\s+[\d,]+\s+\d+\.\d+\s+[-\d.]+\s+[-\d.]+\s+goal", out), out

"""`python -m benchmarks.perf peers` prints both sides and the ratios (tiny sizes)."""

from __future__ import annotations

import argparse
import importlib.util
import re

import pytest
import torch

from benchmarks.perf import peers
from benchmarks.perf.__main__ import main

needs_trl = pytest.mark.skipif(importlib.util.find_spec("trl") is None, reason="TRL is not installed (pip install -e '.[trl]')")


def _run(args: list[str]) -> None:
    threads = torch.get_num_threads()
    try:
        assert main(["peers", *args, "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count


@needs_trl
def test_perf_peers_trl_prints_both_sides_and_ratio(capsys):
    _run(["--skip-sb3", "--updates", "2", "--batch", "4", "--group", "2", "--max-new-tokens", "4", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "same prompts, same order: yes (4 prompts x 2" in out, out  # 2 updates x 2 groups
    assert "in each of 1 rounds" in out, out
    assert "prompt token ids: identical" in out, out
    assert re.search(r"ours REINFORCE-RLOO\s+[\d,]+\s+[\d.]+", out), out
    assert re.search(r"TRL [\d.]+ RLOOTrainer\s+[\d,]+\s+[\d.]+", out), out
    assert re.search(r"ratio ours / TRL, tokens/s: \d+\.\d+ \(min-max [\d.]+-[\d.]+ over 1 alternating rounds", out), out
    assert re.search(r"^machine: .+dtype float32$", out, re.MULTILINE), out
    # every setting is printed for both sides, and where TRL cannot match, the line says so
    for setting in ("device / precision", "stop tokens", "KL", "batch / group", "completion length", "sampling"):
        assert re.search(rf"^  {re.escape(setting)}\s+\S", out, re.MULTILINE), (setting, out)
    assert re.search(r"^  generation\s+.+CANNOT MATCH: model\.generate", out, re.MULTILINE), out
    assert "TRL gradient checkpointing off" in out
    assert "KL coefficient 0 (TRL beta), our reference none" in out  # TRL with beta 0 loads no reference
    assert "TRL PPOTrainer:" in out
    assert "{'loss'" not in out  # TRL's per-step log dicts are not printed


@needs_trl
def test_trl_reward_sees_our_prompts_and_task_fields_in_order():
    args = argparse.Namespace(batch=4, group=2, max_new_tokens=3, updates=2, lr=2e-5, trl_gradient_checkpointing=False, our_reference=None,
                              dtype="float32", device="cpu")
    torch.manual_seed(0)
    rows, prompts = peers.run_ours_rloo(args)
    assert len(rows) == 2 and len(prompts) == 4  # updates x (batch / group)
    assert all(fields.get("sentiment_target") in ("positive", "negative") for _, fields in prompts)
    _, received = peers.run_trl_rloo(args, prompts)
    assert received[: len(prompts)] == prompts
    assert peers.same_prompts(prompts, received, 2).startswith("yes")


def test_same_prompts_reports_the_first_difference():
    ours = [("a\n", {"sentiment_target": "positive"}), ("b\n", {"sentiment_target": "negative"})]
    assert peers.same_prompts(ours, list(ours), 4).startswith("yes (2 prompts x 4")
    assert peers.same_prompts(ours, [ours[0], ("b\n", {"sentiment_target": "positive"})], 4).startswith("NO: group 1")
    assert peers.same_prompts(ours, [ours[1], ours[0]], 4).startswith("NO: group 0")
    assert peers.same_prompts(ours, ours[:1], 4).startswith("NO: TRL scored 1")


def test_perf_peers_sb3_prints_both_sides_and_ratio(capsys):
    _run(["--skip-trl", "--classic-steps", "256", "--classic-envs", "CartPole-v1", "--eval-episodes", "2", "--seeds", "0", "1"])
    out = capsys.readouterr().out
    assert "seeds 0, 1" in out and "a round per seed, the sides alternating" in out
    for algo in ("PPO", "A2C"):
        assert re.search(
            rf"CartPole-v1\s+{algo}\s+[\d,]+\s+[\d,]+\s+\d+\.\d+\s+[\d.]+-[\d.]+\s+[-\d.e+]+ ± [\d.e+]+\s+[-\d.e+]+ ± [\d.e+]+\s+goal", out
        ), out


def test_our_reference_is_none_at_kl_0_unless_asked():
    assert peers.KL_COEF == 0
    assert peers.our_reference(argparse.Namespace(our_reference=None)) == "none"
    assert peers.our_reference(argparse.Namespace()) == "none"
    assert peers.our_reference(argparse.Namespace(our_reference="fp32")) == "fp32"
    with pytest.raises(SystemExit):
        peers.main(["--our-reference", "fp16", "--skip-trl", "--skip-sb3"])


def test_group_must_divide_batch():
    with pytest.raises(SystemExit):
        peers.main(["--batch", "6", "--group", "4", "--skip-trl", "--skip-sb3"])

"""`python -m benchmarks.learning dialog`: the verdict on hand-made results, and a tiny run end to end."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.learning import dialog
from benchmarks.learning.__main__ import main

MEASURES = ("success", "pass^2", "pass^4", "greedy_success", "reward")


def _result(success: float) -> dict[str, float]:
    return {k: success for k in MEASURES}


def _results(sft: list[float], ppo: list[float], reinforce: list[float]) -> dict:
    jobs = [{"tier": "none", "seed": s, "sft": _result(a), "sft+ppo": _result(b), "sft+reinforce": _result(c)}
            for s, (a, b, c) in enumerate(zip(sft, ppo, reinforce))]
    fixed = {"none": {"oracle": _result(1.0), "untrained": _result(0.0)}}
    return {"tiers": ["none"], "fixed": fixed, "jobs": jobs,
            "settings": {"eval_tasks": 8, "demonstrations": 16, "rl_steps": 100, "seeds": [0, 1, 2]}}


def test_the_verdict_needs_a_separated_gain_of_a_tenth_and_a_learner_at_one_half():
    good = dialog.summarize(_results([0.30, 0.32, 0.31], [0.55, 0.57, 0.56], [0.30, 0.31, 0.33]))["verdict"]
    assert good["rl_gain_pass"] and good["half_pass"]
    assert good["gains"]["sft+ppo"]["separated"] and not good["gains"]["sft+reinforce"]["separated"]
    assert good["gains"]["sft+ppo"]["gain"] == pytest.approx(0.25)
    # a gain of 0.1 whose CIs overlap (one seed far off) does not count
    noisy = dialog.summarize(_results([0.30, 0.32, 0.31], [0.20, 0.60, 0.50], [0.3, 0.3, 0.3]))["verdict"]
    assert not noisy["rl_gain_pass"] and noisy["half_pass"] is False
    text = dialog.format_table(_results([0.3, 0.32, 0.31], [0.55, 0.57, 0.56], [0.3, 0.31, 0.33]),
                               dialog.summarize(_results([0.3, 0.32, 0.31], [0.55, 0.57, 0.56], [0.3, 0.31, 0.33])))
    assert "| none | sft+ppo | 0.560 [" in text and "Required >= +0.1 with separated CIs: PASS" in text


@pytest.mark.slow
def test_a_tiny_run_writes_the_table_plot_and_results(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["dialog", "--quick", "--seeds", "0", "--demonstrations", "2", "--rl-steps", "1",
                     "--eval-tasks", "2", "--noise-blocks", "2", "--demo-curve", "1", "--out", str(tmp_path)])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    assert "| none | oracle | 1.000 |" in out and "Noise floor" in out and "| 1 |" in out
    results = json.loads((tmp_path / "results.json").read_text())
    job = results["jobs"][0]
    assert set(job) >= {"sft", "sft+ppo", "sft+reinforce", "noise_floor", "demo_curve", "demo_customers"}
    # demonstrations never met an evaluation customer
    from lm_envs.envs.customer_dialog import held_out_customers
    from lm_envs.world import make_world

    assert not set(job["demo_customers"]) & held_out_customers(make_world(seed=0))
    assert (tmp_path / "dialog.png").stat().st_size > 0 and (tmp_path / "table.md").is_file()

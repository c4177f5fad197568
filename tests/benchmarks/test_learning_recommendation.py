"""The recommendation benchmark runs end to end (tiny budget) and prints its table."""

from __future__ import annotations

import json

from benchmarks.learning import recommendation


def test_benchmark_smoke(tmp_path, capsys):
    code = recommendation.main(["--steps", "256", "--seeds", "0", "--eval-episodes", "2", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    for label in ("ours: DDPG (Wolpertinger)", "ours: DDPG (plain)", "ours: PPO", "SB3 DDPG", "SB3 PPO",
                  "myopic oracle", "planner", "random", "most popular"):
        assert label in out
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {r["algo"] for r in saved["results"]} == set(recommendation.ALGOS)
    assert all(len(r["returns"]) == 2 and r["steps_per_s"] > 0 for r in saved["results"])
    assert (tmp_path / "table.md").read_text().startswith("ProductRecommendation-v0")

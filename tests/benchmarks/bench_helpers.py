"""Helpers of the benchmark tests: small configs that run in seconds, the CLI command."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rec_config(*, seeds: int = 1, steps: int = 256, agents: list[str] | None = None, ppo: dict | None = None) -> dict:
    """A recommender-only config (numpy env, MLP policies): no language model needed."""
    return {
        "name": "rec-test",
        "seeds": seeds,
        "steps": steps,
        "eval_every": max(steps // 2, 1),
        "eval_episodes": 8,
        "agents": {"ppo": {"num_envs": 4, "n_steps": 16, "minibatch_size": 32, "update_epochs": 1, **(ppo or {})}},
        "envs": [
            {
                "id": "lm_envs/ProductRecommendation-v0",
                "kwargs": {"max_steps": 5},
                "agents": agents or ["ppo", "random", "oracle"],
                "score": {"low": "random", "high": "oracle"},
            }
        ],
    }


def cli(*args: str) -> list[str]:
    """The `lm-envs` console script, run through this interpreter (works without install)."""
    return [sys.executable, "-c", "import sys; from benchmarks.cli import main; sys.exit(main())", *args]

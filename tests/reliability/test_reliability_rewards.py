"""Custom rewards: they reach the bench's worker processes, or the bench refuses before any run
starts; a reward that returns something other than floats is named."""

from __future__ import annotations

import pytest
import reliability_rewards  # noqa: F401  registers "reliability_shouting"

from benchmarks.presets import ConfigError
from benchmarks.results import load_results
from benchmarks.suite import run_suite
from lm_envs.rewards import REWARDS, make_reward, register_reward


def _text_config(reward: dict) -> dict:
    return {"name": "rewards", "seeds": 1, "eval_episodes": 2, "baselines": ["random"],
            "envs": [{"id": "lm_envs/TextGeneration-v1", "kwargs": {"reward": reward, "max_new_tokens": 4}}]}


@pytest.mark.slow
def test_a_reward_registered_in_an_importable_module_works_in_the_workers(tmp_path):
    summary = run_suite(_text_config({"reliability_shouting": 1.0}), tmp_path, workers=1, quiet=True, report=False)
    (record,) = load_results(tmp_path)
    assert record["status"] == "ok", record.get("error")
    assert summary["n_ok"] == 1 and "reward/reliability_shouting" in record["last"]


@pytest.mark.slow
def test_a_reward_the_workers_cannot_see_stops_the_bench_before_any_run(tmp_path):
    def whispering():  # registered by a call at run time: importing this module does not register it
        return lambda prompts, completions, **kw: [0.0] * len(completions)

    register_reward("reliability_whispering", whispering)
    try:
        with pytest.raises(ConfigError, match="'reliability_whispering'.*top level of an importable module"):
            run_suite(_text_config({"reliability_whispering": 1.0}), tmp_path, workers=1, quiet=True, report=False)
    finally:
        del REWARDS["reliability_whispering"]
    assert load_results(tmp_path) == []


def test_a_reward_returning_strings_is_named():
    register_reward("reliability_chatty", lambda: (lambda prompts, completions, **kw: ["great"] * len(completions)))
    try:
        reward = make_reward({"reliability_chatty": 1.0})
        with pytest.raises(ValueError, match="reward 'reliability_chatty' returned"):
            reward.score(["p"], ["c"])
    finally:
        del REWARDS["reliability_chatty"]

"""`python -m benchmarks.perf serve`: a small load run on loopback, and its isolation check can fail."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("openenv", reason="the server is an optional extra: pip install 'lm-envs[serve]'")

from benchmarks.perf.serve import Session, main, replay

DIALOG = "lm_envs/CustomerServiceDialog-v1"


@pytest.mark.slow
def test_perf_serve_small_run_prints_rates_latencies_and_isolation(capsys):
    argv = ["--clients", "4", "--steps", "3", "--overhead-steps", "2", "--env-kwargs", '{"max_new_tokens": 64}']
    assert main(argv) == 0  # 0 only with no error and every session equal to its in-process replay
    out = capsys.readouterr().out
    for phase in ("text", "tokens"):
        row = re.search(rf"^{phase}\s+12\s+\d+\s+[\d.]+\s+\d+\s+[\d.]+\s+[\d.]+\s+0\s+4/4 ", out, re.MULTILINE)
        assert row, out
    assert re.search(r"ratio served/in-process \d+\.\d+ \(per-pair min-max", out), out
    assert "own episodes (observations and rewards equal to an in-process replay" in out and "errors: 0" in out


def test_replay_catches_a_session_that_saw_other_text():
    import gymnasium as gym
    import numpy as np

    env = gym.make(DIALOG)
    obs, _ = env.reset(seed=7)
    ids = np.asarray(obs["input_ids"])[np.asarray(obs["attention_mask"]) == 1].tolist()
    own = Session(0, seeds=[7], actions=[{}], seen=[(ids, None, False)])
    assert replay(DIALOG, {}, own)[0]
    other = Session(1, seeds=[8], actions=[{}], seen=[(ids, None, False)])  # seed 8's episode, seed 7's text
    assert not replay(DIALOG, {}, other)[0]

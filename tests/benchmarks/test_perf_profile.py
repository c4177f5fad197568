"""`python -m benchmarks.perf profile`: the phase timer, and both modes at tiny sizes."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest
import torch

from benchmarks.perf import profile
from benchmarks.perf.__main__ import main


def test_phase_timer_excludes_nested_phases():
    timer = profile.PhaseTimer()
    with timer.phase("outer"):
        time.sleep(0.01)
        with timer.phase("inner"):
            time.sleep(0.02)
    assert timer.calls == {"outer": 1, "inner": 1}
    assert 0.02 <= timer.seconds["inner"] < timer.seconds["inner"] + timer.seconds["outer"]
    assert timer.seconds["outer"] < 0.02  # the inner 0.02 s is not counted twice


def test_wrap_inside_only_times_direct_calls():
    timer = profile.PhaseTimer()
    f = timer.wrap(lambda: 1, "sampling", inside="rollout")
    assert f() == 1 and "sampling" not in timer.calls  # not inside "rollout"
    with timer.phase("rollout"):
        f()
    with timer.phase("update"):
        f()
    assert timer.calls["sampling"] == 1


@pytest.fixture
def tiny_setups(monkeypatch):
    """The benchmark's envs at a few tokens, so a run takes seconds."""
    real = profile.env_setups

    def small():
        out = {}
        for name, (env_id, cfg, env_kwargs) in real().items():
            cfg = dataclasses.replace(cfg, num_envs=4, n_steps=4, minibatch_size=8, update_epochs=1)
            out[name] = (env_id, cfg, {**env_kwargs, "max_new_tokens": 4})
        return out

    monkeypatch.setattr(profile, "env_setups", small)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the script sets the process-wide thread count


@pytest.mark.slow
def test_profile_prints_every_phase_per_env(capsys, tiny_setups):
    assert main(["profile", "--updates", "1"]) == 0
    out = capsys.readouterr().out
    for env in ("text", "customer_service"):
        section = out.split(f"\n{env}: ", 1)[1].split("\n\n", 1)[0]
        assert "4 rows x 4 tokens" in section
        for phase in profile.PHASES:
            assert re.search(rf"^  {re.escape(phase)}\s+[\d.]+\s+[\d.]+%$", section, re.MULTILINE), (phase, section)
        assert re.search(r"update forward runs [\d.]+ tokens per action scored \(prompts included\), \d+% of them padding", section)
    # the CustomerServiceQA reward runs MiniLM, so its time is measured, not zero
    cs = out.split("\ncustomer_service: ", 1)[1]
    assert float(re.search(r"^  reward\s+([\d.]+)", cs, re.MULTILINE).group(1)) > 0


@pytest.mark.slow
def test_compare_prints_each_fix_with_a_ratio(capsys, tiny_setups):
    assert main(["profile", "--compare", "--rounds", "1", "--envs", "customer_service"]) == 0
    out = capsys.readouterr().out
    for variant, phase in [("padded", "update forward"), ("bf16", "update forward"), ("loop-adam", "optimizer"),
                           ("bf16-minilm", "reward"), ("bf16-ref", "reference scoring")]:  # fmt: skip
        speedup = r"[\d.]+x \([\d.]+-[\d.]+\)"  # median (min-max) over rounds
        assert re.search(rf"^  {variant}\s+[\d.]+ {phase}\s+[\d.]+\s+{speedup}\s+{speedup}", out, re.MULTILINE), (variant, out)
    assert re.search(r"^  shipped: update forward ran [\d.]+ tokens per action scored, \d+% of them padding", out, re.MULTILINE), out
    assert re.search(r"^machine: ", out, re.MULTILINE), out
    # the customer-service PPO has a KL term (kl_coef 0.05), so dropping its reference does not apply
    assert not re.search(r"^  no-ref", out, re.MULTILINE), out
    assert re.search(r"bf16 reference log-probs vs fp32 on one batch: mean \|diff\| [\d.]+", out), out
    assert re.search(r"import agents: [\d.]+ s with pandas imported lazily", out), out


def test_compare_skips_variants_that_do_not_apply():
    assert profile.variant_agent("text", "bf16-minilm", "tiny-shop") is None  # no MiniLM in its reward
    # no-ref applies exactly where the setup has no KL term to a reference
    text_config = profile.env_setups()["text"][1]
    assert (profile.variant_agent("text", "no-ref", "tiny-shop") is None) == (text_config.kl_coef > 0)
    assert profile.variant_agent("customer_service", "no-ref", "tiny-shop") is None  # so does this one

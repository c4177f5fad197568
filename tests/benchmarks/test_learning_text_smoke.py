"""`python -m benchmarks.learning text --quick`: all three agents train, and the report prints."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks.learning.__main__ import main


def test_learning_text_quick_prints_runs_samples_table_and_verdict(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["text", "--quick", "--seeds", "0", "1"]) == 0  # --quick never fails on the verdict
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    for name in ("reinforce", "a2c", "ppo"):
        for seed in (0, 1):
            assert re.search(rf"^{name}\s+seed {seed}: reward [+-]\d\.\d+ -> [+-]\d\.\d+ .*in exchange format "
                             rf"\d+% -> \d+%.*KL to ref", out, re.M), out
    # three before/after samples per agent, for the same prompts
    assert out.count("  PROMPT: ") == 9
    assert out.count("    before (") == 9 and out.count("    after  (") == 9
    # the markdown table: header, separator, one row per agent with CIs over the two seeds
    assert "| agent | start reward [95% CI] | end reward [95% CI] | final KL | wall s |" in out
    for label in ("REINFORCE (RLOO)", "A2C", "PPO"):
        assert re.search(rf"^\| {re.escape(label)} \| [+-]\d\.\d{{3}}( \[[^]]+\])? \| [+-]\d\.\d{{3}} \[[+-]\d\.\d{{3}}, [+-]\d\.\d{{3}}\] \| ", out, re.M), out
    # the reward on each target's prompts, per agent: one sentiment for every prompt fails one half
    assert len(re.findall(r"^\|   (positive|negative) prompts \| ", out, re.M)) == 6, out
    assert "Student-t" in out
    assert re.search(r"^result: (PASS|FAIL)$", out, re.M), out


def test_learning_text_takes_a_tiny_shop_folder(capsys):
    from pathlib import Path

    import lm_envs.models

    folder = str(Path(lm_envs.models.__file__).parent / "tiny_shop")
    threads = torch.get_num_threads()
    try:
        assert main(["text", "--quick", "--seeds", "0", "--agents", "reinforce", "--tiny-shop", folder]) == 0
        try:
            main(["text", "--tiny-shop", folder + "_nope"])
        except SystemExit as exit_:
            assert exit_.code == 2
        else:
            raise AssertionError("a missing --tiny-shop folder was accepted")
    finally:
        torch.set_num_threads(threads)
    captured = capsys.readouterr()
    assert f"policy {folder}," in captured.out and "reinforce seed 0: reward" in captured.out
    assert f"--tiny-shop {folder}_nope: no such folder" in captured.err


def test_learning_text_trains_in_the_dtype_asked_for(capsys, monkeypatch):
    from benchmarks.learning import text

    trained_in = []

    class SpyPPO(text.PPO):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trained_in.append(self.config.dtype)

    monkeypatch.setitem(text.AGENTS, "ppo", SpyPPO)
    threads = torch.get_num_threads()
    try:
        assert main(["text", "--quick", "--seeds", "0", "--agents", "ppo", "--dtype", "bfloat16"]) == 0
        with pytest.raises(SystemExit) as exit_:
            main(["text", "--dtype", "float16"])
    finally:
        torch.set_num_threads(threads)
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert trained_in == ["bfloat16"]
    assert "device cpu, dtype bfloat16" in captured.out
    assert "--dtype: invalid choice: 'float16'" in captured.err

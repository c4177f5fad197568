"""`python -m benchmarks.learning defaults`: agents built with no config train and report."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks.learning.__main__ import main


def test_defaults_prints_each_run_and_the_verdict(capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["defaults", "--agents", "reinforce", "--envs", "lm_envs/TextGeneration-v1", "--seeds", "0",
                     "--steps", "64", "--eval-episodes", "4"])
    finally:
        torch.set_num_threads(threads)
    out = capsys.readouterr().out
    assert re.search(r"^lm_envs/TextGeneration-v1 reinforce\s+seed 0: [+-]\d\.\d{3} -> [+-]\d\.\d{3} .*learning rate "
                     r"0\.0001", out, re.M), out  # the table's TextGeneration-v1 entry, not a classic-control default
    assert re.search(r"^result: (PASS|FAIL)$", out, re.M) and code == (0 if "PASS" in out else 1)


@pytest.mark.parametrize("args", [["--steps", "0"], ["--eval-episodes", "100000"], ["--agents", "dqn"]])
def test_defaults_refuses_bad_sizes(args):
    with pytest.raises(SystemExit):
        main(["defaults", *args])

"""`python -m benchmarks.perf forward`: the lean forward against transformers' (tiny sizes)."""

from __future__ import annotations

import re

import pytest
import torch

from benchmarks.perf.__main__ import main


def test_perf_forward_prints_each_call_and_its_ratio(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["forward", "--batch", "3", "--prompt", "6", "--tokens", "2", "--calls", "2", "--rounds", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    assert "tiny-shop: batch 3, prompts of 3-6 tokens (left-padded), 2 scored tokens per update segment" in out, out
    differ = float(re.search(r"largest logit difference between the sides ([\d.e+-]+)", out).group(1))
    assert differ < 1e-4, out  # the two sides compute the same function
    for label in ("prefill", "decode step", "update forward \\+ backward"):
        assert re.search(rf"^{label}\s+transformers\s+[\d.]+ ms\s+lean\s+[\d.]+ ms per call", out, re.MULTILINE), out
        assert re.search(rf"ratio transformers / lean \(time per call\), {label}: [\d.]+ \(min-max", out), out


def test_perf_forward_bounds_its_sizes():
    with pytest.raises(SystemExit):
        main(["forward", "--batch", "0"])
    with pytest.raises(SystemExit):
        main(["forward", "--prompt", "400", "--tokens", "200"])  # beyond tiny-shop's 512 positions

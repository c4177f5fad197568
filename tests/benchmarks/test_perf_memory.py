"""`python -m benchmarks.perf memory` measures in a child process and prints the table (tiny sizes)."""

from __future__ import annotations

import re

import pytest

from benchmarks.perf.__main__ import main


@pytest.mark.slow
def test_perf_memory_prints_peak_rss(capsys):
    args = ["memory", "--models", "tiny-shop", "--references", "none", "bf16"]
    assert main([*args, "--num-envs", "2", "--n-steps", "4", "--minibatch-size", "8", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "batch 2 x 4 tokens" in out
    for reference in ("none", "bf16"):
        row = re.search(rf"tiny-shop\s+{reference}\s+packed\s+1\.7M\s+(\d+)Mi\s+(\d+)Mi\s+(\d+)Mi", out)
        assert row, out
        base, _, peak = map(int, row.groups())
        assert 0 < base <= peak, out

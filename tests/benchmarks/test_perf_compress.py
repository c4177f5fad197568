"""`python -m benchmarks.perf compress` on a tiny budget: the three versions, the table and the target line."""

from __future__ import annotations

import pytest
import torch

from benchmarks.perf.__main__ import main


@pytest.mark.slow
def test_compress_benchmark_prints_the_three_versions(capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["compress", "--policy", "tiny-shop", "--rounds", "1", "--tokens", "8", "--episodes", "2",
                     "--batch", "2"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| version")]
    assert [r.split(" | ")[0] for r in rows] == ["| fp32", "| int8", "| pruned 0.3"]
    assert "| int8 | 3.00 |" in out or "| int8 | 2." in out  # the int8 file is about half of fp32's 6.7 MB
    assert "Target: int8 keeps >= 95% of the reward" in out

"""`python -m benchmarks.perf rollout` runs and prints both sides and their ratio (tiny sizes)."""

from __future__ import annotations

import re

import torch

from benchmarks.perf.__main__ import main


def test_perf_rollout_prints_both_sides_and_ratio(capsys):
    threads = torch.get_num_threads()
    try:
        assert main(["rollout", "--batch", "4", "--max-new-tokens", "6", "--rounds", "3"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    assert "tiny-shop: batch 4, 6 generated tokens per row" in out
    assert re.search(r"ours: agents\.rollout \+ native vector env\s+[\d,]+ tokens/s", out), out
    assert re.search(r"model\.generate \(do_sample, use_cache\)\s+[\d,]+ tokens/s", out), out
    ratio = re.search(r"ratio ours / generate \(tokens/s\): (\d+\.\d+) \(min-max (\d+\.\d+)-(\d+\.\d+) over 3 alternating rounds", out)
    assert ratio and 0 < float(ratio.group(2)) <= float(ratio.group(1)) <= float(ratio.group(3)), out
    assert re.search(r"^machine: .+, torch .+, device cpu, dtype float32$", out, re.MULTILINE), out

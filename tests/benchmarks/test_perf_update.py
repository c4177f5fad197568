"""`python -m benchmarks.perf update`: the padded fp32 path against the packed and bf16 ones (tiny sizes)."""

from __future__ import annotations

import re

import torch

from benchmarks.perf.__main__ import main


def test_perf_update_prints_each_variant_and_its_speedup(capsys):
    threads = torch.get_num_threads()
    try:
        args = ["update", "--model", "tiny-shop", "--batch", "2", "--tokens", "4", "--minibatch-size", "8", "--epochs", "1"]
        assert main([*args, "--rounds", "1"]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    assert "with tiny-shop: 2 rows x 4 tokens, minibatch 8, 1 epoch(s)" in out, out
    for variant in ("padded fp32", "packed fp32", "packed bf16"):
        assert re.search(rf"^  {variant}\s+[\d.]+\s+[\d.]+\s+\d+%", out, re.MULTILINE), (variant, out)
    for variant in ("packed fp32", "packed bf16"):
        assert re.search(rf"^{variant} vs padded fp32, whole update \(before / after\): [\d.]+ \(min-max", out, re.MULTILINE), out
        assert "goal >= 1.5" in out


def test_the_before_variant_runs_the_padded_layout_through_transformers_forward():
    import argparse

    from benchmarks.perf.update import VARIANTS, build

    args = argparse.Namespace(model="tiny-shop", batch=2, tokens=4, minibatch_size=8, epochs=1)
    for name, (packed, dtype) in VARIANTS.items():
        policy = build(args, packed, dtype, torch.device("cpu")).policy
        assert (policy.packed, policy.lean, policy.dtype_name) == (name != "padded fp32", name != "padded fp32", dtype)

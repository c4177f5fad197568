"""`python -m benchmarks.perf scale` prints the table and saves the PNG (tiny sizes)."""

from __future__ import annotations

import re

import torch

from benchmarks.perf.__main__ import main


def test_perf_scale_prints_table_and_saves_plot(capsys, tmp_path):
    out_png = tmp_path / "scale.png"
    threads = torch.get_num_threads()
    try:
        args = ["--envs", "1", "2", "--lengths", "4", "8", "--base-length", "4", "--base-envs", "2"]
        assert main(["scale", *args, "--rounds", "1", "--env-steps", "16", "--threads", "1", "--out", str(out_png)]) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    assert re.search(r"^\s+2\s+8\s+[\d,]+\s+[\d,]+\s+[\d.]+\s+[\d.]+\s+1$", out, re.M), out
    assert "cost per token, 8 vs 4 tokens at 2 rows" in out
    assert out_png.stat().st_size > 0

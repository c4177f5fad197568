"""`python -m benchmarks.perf compress` and `smoothing` on a tiny budget: the versions, the tables and the target line."""

from __future__ import annotations

import pytest
import torch

from benchmarks.perf.__main__ import main


@pytest.mark.slow
def test_compress_benchmark_prints_the_four_versions(capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["compress", "--policy", "tiny-shop", "--rounds", "1", "--tokens", "8", "--episodes", "2",
                     "--batch", "2"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| version")]
    assert all(len(r.split(" | ")) == 8 for r in rows), rows  # size, rollout, its ratio, decode ratio, reward, share, success
    assert [r.split(" | ")[0] for r in rows] == ["| fp32", "| int8", "| int8 plain", "| pruned 0.3"]
    sizes = {r.split(" | ")[0][2:]: float(r.split(" | ")[1]) for r in rows}
    assert sizes["int8"] < 0.5 * 6.69 and sizes["int8 plain"] < sizes["int8"] and sizes["pruned 0.3"] < 0.85 * 6.69  # tiny-shop's fp32 file: 6.69 MB
    assert "Target: int8 keeps >= 95% of the reward" in out and "on the same tokens" in out


def test_compress_benchmark_bounds_the_decode_by_the_models_positions(capsys):
    threads = torch.get_num_threads()
    try:
        with pytest.raises(SystemExit) as exit_:  # tiny-shop has 512 positions: 200 + 400 do not fit
            main(["compress", "--policy", "tiny-shop", "--decode-tokens", "400", "--rounds", "1"])
    finally:
        torch.set_num_threads(threads)
    assert exit_.value.code == 2
    assert "--decode-tokens 400: the decode's 200-token prefill plus 400 steps exceeds the model's 512 positions" in (
        capsys.readouterr().err)


def test_smoothing_benchmark_prints_plain_and_each_alpha(capsys):
    threads = torch.get_num_threads()
    try:
        code = main(["smoothing", "--policy", "tiny-shop", "--alphas", "0.5", "0.8", "--dialogs", "2"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines()
            if line.startswith("| ") and not line.startswith("| version")]
    assert [r[0] for r in rows] == ["| fp32", "| int8 plain", "| int8 smoothed, alpha 0.5", "| int8 smoothed, alpha 0.8"]
    assert float(rows[0][1]) == 0.0 and float(rows[0][2]) == 1.0  # fp32 against itself
    assert all(float(r[1]) > 0.0 for r in rows[1:])
    with pytest.raises(SystemExit):
        main(["smoothing", "--policy", "tiny-shop", "--alphas", "1.5"])

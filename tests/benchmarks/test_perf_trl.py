"""`python -m benchmarks.perf trl` runs both GRPOTrainer sides and prints their ratio (tiny sizes)."""

from __future__ import annotations

import re

import pytest
import torch

pytest.importorskip("trl", reason="TRL is an optional extra: pip install 'lm-envs[trl]'")

from benchmarks.perf.__main__ import main


@pytest.mark.slow
def test_perf_trl_prints_both_sides_and_the_ratio(capsys, monkeypatch):
    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    threads = torch.get_num_threads()
    try:
        argv = ["trl", "--rounds", "3", "--steps", "1", "--batch", "4", "--group", "2", "--max-new-tokens", "6"]
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)  # the script sets the process-wide thread count
    out = capsys.readouterr().out
    assert "prompt token ids: identical" in out
    rows = re.findall(r"^[AB]\d\s+(ours|trl)\s+[\d,]+\s", out, re.MULTILINE)
    assert rows == ["ours", "trl"] * 3, out  # alternating rounds
    ratio = re.search(r"ratio ours/TRL (\d+\.\d+) \(per-pair min-max (\d+\.\d+)-(\d+\.\d+)\)", out)
    assert ratio and float(ratio.group(2)) <= float(ratio.group(1)) <= float(ratio.group(3)), out


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--rounds", "2"], "--rounds must be >= 3"), (["--batch", "6", "--group", "4"], "--group must divide --batch")],
)
def test_perf_trl_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit):
        main(["trl", *argv])
    assert message in capsys.readouterr().err

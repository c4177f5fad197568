"""benchmarks.perf.rounds: the alternating-rounds runner, the ratio over rounds, the machine line."""

from __future__ import annotations

import pytest
import torch

from benchmarks.perf import rounds


def test_alternate_swaps_the_order_each_round_after_a_warm_up():
    calls: list[tuple[str, int]] = []

    def side(name: str, figure: float):
        def run(r: int) -> float:
            calls.append((name, r))
            return figure + r

        return run

    figures = rounds.alternate({"a": side("a", 10.0), "b": side("b", 20.0)}, 3)
    assert calls == [("a", -1), ("b", -1), ("a", 0), ("b", 0), ("b", 1), ("a", 1), ("a", 2), ("b", 2)]
    assert figures == {"a": [10.0, 11.0, 12.0], "b": [20.0, 21.0, 22.0]}
    calls.clear()
    rounds.alternate({"a": side("a", 0.0), "b": side("b", 0.0)}, 2, warmup=False, flip=False)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]  # A B A B: b may need a's output
    with pytest.raises(ValueError, match="rounds must be >= 1"):
        rounds.alternate({"a": side("a", 0.0)}, 0)


def test_ratio_is_the_median_of_per_round_ratios_with_min_max():
    # one round hit by load on one side moves that round's ratio, not the median
    assert rounds.ratio([10.0, 10.0, 10.0], [5.0, 20.0, 4.0]) == (2.0, 0.5, 2.5)
    line = rounds.ratio_line("ratio ours / theirs", [10.0, 10.0, 10.0], [5.0, 20.0, 4.0], goal=1.5)
    assert line == "ratio ours / theirs: 2.00 (min-max 0.50-2.50 over 3 alternating rounds; goal >= 1.5: met)"
    assert "NOT met" in rounds.ratio_line("r", [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], goal=1.5)
    assert "not a figure to quote" in rounds.ratio_line("r", [1.0, 1.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="one figure per round"):
        rounds.ratio([1.0], [1.0, 2.0])


def test_machine_line_names_cpu_threads_torch_device_and_dtype():
    line = rounds.machine_line(dtype="bfloat16", device="cpu")
    assert line.startswith("machine: ") and rounds.cpu_model() in line
    assert f"torch {torch.__version__}" in line and "device cpu" in line and "dtype bfloat16" in line
    assert f"{torch.get_num_threads()} torch thread(s)" in line

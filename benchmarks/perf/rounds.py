"""What every side-by-side speed figure in ``benchmarks.perf`` shares: alternating rounds, the
ratio over them, and the line that says which machine produced it.

A ratio of two runs made one after the other moves with whatever load lands on one of them
(on a shared machine, by 2x). Here the two sides run in one process in alternating rounds
(A B, then B A, ... so neither side always runs first), each round yields one figure per
side, and the printed ratio is the median of the per-round ratios with their min-max: load
that lands on one round moves that round's ratio, not the median.

    from benchmarks.perf.rounds import alternate, ratio_line, machine_line
    figures = alternate({"ours": run_ours, "theirs": run_theirs}, rounds=3)   # name -> [figure per round]
    print(machine_line(dtype="float32", device="cpu"))
    print(ratio_line("tokens/s ours / theirs", figures["ours"], figures["theirs"], goal=1.5))
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Mapping

import numpy as np
import torch

from agents.options import resolve_device

__all__ = ["MIN_ROUNDS", "add_arguments", "alternate", "cpu_model", "machine_line", "ratio", "ratio_line", "setup"]

MIN_ROUNDS = 3
"""Fewest measured rounds a side-by-side figure is quoted from."""


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_line(*, dtype: str = "float32", device: str | torch.device = "cpu") -> str:
    """``machine: <CPU> (<n> cores), <t> torch threads, torch <v>, <device>, <dtype>``; the GPU's
    name when the device is CUDA."""
    device = torch.device(device)
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
        flags = ", AVX512-BF16" if "avx512_bf16" in text else (", AMX-BF16" if "amx_bf16" in text else "")
    except OSError:
        pass
    where = f"device {device}"
    if device.type == "cuda" and torch.cuda.is_available():
        where += f" ({torch.cuda.get_device_name(device)})"
    return (
        f"machine: {cpu_model()} ({os.cpu_count()} cores{flags}), {torch.get_num_threads()} torch thread(s), "
        f"torch {torch.__version__}, {where}, dtype {dtype}"
    )


def alternate(
    sides: Mapping[str, Callable[[int], float]], rounds: int, *, warmup: bool = True, flip: bool = True
) -> dict[str, list[float]]:
    """Run each side once per round, alternating, and collect its figure per round.

    Args:
        sides: name -> ``fn(round_index) -> figure`` (e.g. tokens/s of one round); called in
            the mapping's order in even rounds and, with ``flip``, in reverse order in odd
            rounds (``flip=False`` where one side needs the other's output of the round).
        rounds: measured rounds per side (>= 1; figures are quoted from >= :data:`MIN_ROUNDS`).
        warmup: run one unmeasured round first (index ``-1``): allocator, kernels, lazy loads.

    Returns:
        name -> the ``rounds`` figures in round order.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1; got {rounds}")
    names = list(sides)
    if warmup:
        for name in names:
            sides[name](-1)
    figures: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[::-1] if flip and r % 2 else names:
            figures[name].append(float(sides[name](r)))
    return figures


def ratio(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median, min and max over rounds of the per-round ratio ``a[r] / b[r]``."""
    if len(a) != len(b) or not a:
        raise ValueError(f"need one figure per round on both sides; got {len(a)} and {len(b)}")
    r = np.asarray(a, dtype=float) / np.asarray(b, dtype=float)
    return float(np.median(r)), float(r.min()), float(r.max())


def ratio_line(label: str, a: list[float], b: list[float], *, goal: float | None = None) -> str:
    """``<label>: 1.23 (min-max 1.10-1.31 over 5 alternating rounds; goal >= 1.5: NOT met)``."""
    median, lo, hi = ratio(a, b)
    text = f"{label}: {median:.2f} (min-max {lo:.2f}-{hi:.2f} over {len(a)} alternating rounds"
    if len(a) < MIN_ROUNDS:
        text += f"; fewer than {MIN_ROUNDS} rounds: not a figure to quote"
    if goal is not None:
        text += f"; goal >= {goal:g}: {'met' if median >= goal else 'NOT met'}"
    return text + ")"


def add_arguments(parser: argparse.ArgumentParser, *, rounds: int = MIN_ROUNDS, dtype: bool = False) -> None:
    """``--rounds``, ``--threads``, ``--device`` (and ``--dtype``) as every perf script takes them."""
    parser.add_argument("--rounds", type=int, default=rounds, help=f"measured alternating rounds per side (quote >= {MIN_ROUNDS})")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine 2 threads spin-wait and run far slower)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (cuda when available)")
    if dtype:
        parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                            help="compute precision of the policy (bfloat16: autocast, fp32 master weights)")


def setup(args: argparse.Namespace) -> torch.device:
    """Apply ``--threads`` and resolve ``--device``; returns the device."""
    if args.rounds < 1:
        raise SystemExit(f"--rounds must be >= 1; got {args.rounds}")
    torch.set_num_threads(args.threads)
    return resolve_device(args.device)

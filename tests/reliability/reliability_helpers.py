"""Helpers of the reliability tests: small configs, the CLI command, and the processes of a run."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str) -> list[str]:
    """The `lm-envs` console script, run through this interpreter (works without install)."""
    return [sys.executable, "-c", "import sys; from benchmarks.cli import main; sys.exit(main())", *args]


def subprocess_env() -> dict[str, str]:
    """Environment for subprocesses: offline, the checkout importable."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def rec_config(*, steps: int = 256, agents: list[str] | None = None, seeds: int = 1) -> dict:
    """A recommender-only config (numpy env, MLP policies): no language model needed."""
    return {
        "name": "reliability",
        "seeds": seeds,
        "steps": steps,
        "eval_every": max(steps // 2, 1),
        "eval_episodes": 4,
        "agents": {"ppo": {"num_envs": 4, "n_steps": 16, "minibatch_size": 32, "update_epochs": 1}},
        "envs": [{"id": "lm_envs/ProductRecommendation-v0", "kwargs": {"max_steps": 5},
                  "agents": agents or ["ppo", "random", "oracle"]}],
    }


# ---------------------------------------------------------------------------------------
# processes, read from /proc (Linux)
# ---------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, ...


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its reaper counts as gone)."""
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None and int(stat[1]) == pid and stat[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_worker(pid: int) -> bool:
    """A multiprocessing worker (spawn start method), not the resource tracker."""
    return "spawn_main" in command_line(pid)


def wait_for(condition: Callable[[], bool], *, timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def kill_all(pids: Iterable[int]) -> None:
    """SIGKILL each of ``pids`` that still runs (processes this test started)."""
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

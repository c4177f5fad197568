"""The baselines live in agents/, whose package __init__ imports every algorithm; tests of
the env and its baselines must not depend on those, so `agents.baselines` is loaded alone
when the package cannot be imported (e.g. while another algorithm is being written)."""

import importlib.util
import sys
import types
from pathlib import Path

try:
    import agents  # noqa: F401
except ImportError:  # pragma: no cover - only while agents/__init__ is broken
    package = types.ModuleType("agents")
    package.__path__ = [str(Path(__file__).resolve().parents[2] / "agents")]
    sys.modules["agents"] = package
    importlib.util.find_spec("agents.baselines")

import torch

# Small MLPs on a shared 2-core machine: intra-op threads only contend (10x slower).
torch.set_num_threads(1)

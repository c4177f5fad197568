"""Fixtures of the benchmark tests."""

from __future__ import annotations

import os

import pytest
from bench_helpers import ROOT


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for `lm-envs` subprocesses: offline, the checkout importable."""
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env



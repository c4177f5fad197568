"""Fixtures of the reliability tests."""

from __future__ import annotations

import pytest
from reliability_helpers import subprocess_env as _subprocess_env


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for `lm-envs` subprocesses: offline, the checkout importable."""
    return _subprocess_env()

"""The `lm-envs` command line lives in benchmarks.cli; `python -m benchmarks ARGS` is `lm-envs bench ARGS`."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.cli import main


def test_list_prints_agents_and_presets(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for line in ("envs:", "  lm_envs/TextGeneration-v1", "agents:", "  ppo ", "presets:", "  smoke "):
        assert line in out


def test_python_m_benchmarks_is_lm_envs_bench(subprocess_env):
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--preset", "smok"], capture_output=True, text=True,
                          env=subprocess_env, timeout=120)
    assert proc.returncode == 2 and "lm-envs bench: error: unknown preset 'smok'" in proc.stderr


def test_serve_refuses_a_non_loopback_host_and_a_bad_env(capsys):
    import pytest

    pytest.importorskip("openenv", reason="the server is an optional extra: pip install 'lm-envs[serve]'")
    assert main(["serve", "lm_envs/TextGeneration-v1", "--host", "0.0.0.0"]) == 2
    assert "loopback only" in capsys.readouterr().err
    assert main(["serve", "lm_envs/NoSuchEnv-v0"]) == 2
    assert "NoSuchEnv" in capsys.readouterr().err
    assert main(["serve", "lm_envs/ProductRecommendation-v0"]) == 2  # not a token env
    assert "token env" in capsys.readouterr().err

"""The command line answers bad input with one line that names the problem, never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from reliability_helpers import rec_config

import benchmarks.runs
from benchmarks.cli import main
from benchmarks.suite import run_suite


def _error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lm-envs {command}: error:") and "Traceback" not in err, err
    return err


def _read_only_dir(tmp_path: Path) -> Path:
    """A folder this process cannot write in (root ignores permission bits: use sysfs then)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return folder
    sysfs = Path("/sys/kernel")
    try:
        os.close(os.open(sysfs / ".lm-envs-probe", os.O_RDWR | os.O_CREAT))
    except OSError:
        return sysfs
    pytest.skip("no folder here refuses writes")


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rec_config(agents=["random"])))
    return path


def test_train_to_an_existing_file_fails_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(benchmarks.runs, "execute", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "taken"
    out.write_text("not a folder")
    code = main(["train", "--agent", "ppo", "--env", "lm_envs/ProductRecommendation-v0", "--steps", "8",
                 "--out", str(out)])
    assert code == 2 and "is a file, not a folder" in _error_line(capsys, "train")
    assert out.read_text() == "not a folder"


def test_bench_to_an_existing_file(tmp_path, capsys, config_file):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    assert main(["bench", "--config", str(config_file), "--out", str(out), "--workers", "0", "--quiet"]) == 2
    assert f"{out} is a file, not a folder" in _error_line(capsys, "bench")


def test_bench_to_a_read_only_folder(tmp_path, capsys, config_file):
    out = _read_only_dir(tmp_path) / "results"
    assert main(["bench", "--config", str(config_file), "--out", str(out), "--workers", "0", "--quiet"]) == 2
    assert str(out) in _error_line(capsys, "bench")


def test_bench_in_a_read_only_folder(tmp_path, capsys, config_file):
    out = _read_only_dir(tmp_path)
    assert main(["bench", "--config", str(config_file), "--out", str(out), "--workers", "0", "--quiet"]) == 2
    assert f"cannot write in {out}" in _error_line(capsys, "bench")


def test_config_that_is_a_folder(tmp_path, capsys):
    assert main(["bench", "--config", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert "is a folder, not a config file" in _error_line(capsys, "bench")


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".json"])
def test_config_that_is_not_utf8(tmp_path, capsys, suffix):
    path = tmp_path / f"c{suffix}"
    path.write_bytes(b'name = "caf\xe9"\n')
    assert main(["bench", "--config", str(path), "--out", str(tmp_path / "out")]) == 2
    err = _error_line(capsys, "bench")
    assert str(path) in err and "UTF-8" in err
    assert not (tmp_path / "out").exists()


def test_demo_with_an_unknown_policy(capsys):
    assert main(["demo", "--policy", "nope"]) == 2
    assert "unknown model 'nope'" in _error_line(capsys, "demo")


def test_demo_with_a_truncated_model_names_the_file(tmp_path, capsys):
    from lm_envs.models.tiny_shop import SHIPPED_DIR

    folder = tmp_path / "model"
    shutil.copytree(SHIPPED_DIR, folder)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert main(["demo", "--policy", str(folder)]) == 2
    assert f"{weights}: not a whole safetensors file" in _error_line(capsys, "demo")


@pytest.mark.parametrize("episodes", ["-1", "0", "65"])
def test_demo_with_a_bad_episode_count(capsys, episodes):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--episodes", episodes])
    assert exit_info.value.code == 2
    assert "--episodes" in capsys.readouterr().err


def test_report_skips_tampered_files_and_names_each(tmp_path, capsys, caplog):
    run_suite(rec_config(agents=["random", "oracle"]), tmp_path, workers=0, quiet=True, report=False)
    runs = tmp_path / "runs"
    bad_result = runs / "ProductRecommendation-v0__random__seed0.json"
    bad_result.write_text(json.dumps({"status": "ok", "key": 7}))
    bad_curve = runs / "ProductRecommendation-v0__oracle__seed0.curve.jsonl"
    bad_curve.write_text('{"kind": "eval", "step": 0, "return": 1.0}\nnot json\n')
    not_utf8 = runs / "ProductRecommendation-v0__popular__seed0.json"
    not_utf8.write_bytes(b"\xff\xfe{}")
    (tmp_path / "config.json").write_text("[1, 2")
    (tmp_path / "metadata.json").write_text('"a string"')
    assert main(["report", str(tmp_path)]) == 0
    said = capsys.readouterr().err + caplog.text  # the warnings go to stderr (pytest captures them)
    assert "Traceback" not in said
    for path in (bad_result, bad_curve, not_utf8, tmp_path / "config.json", tmp_path / "metadata.json"):
        assert f"skipping {path}:" in said or f"ignoring {path}:" in said, path
    assert (tmp_path / "report.md").exists()

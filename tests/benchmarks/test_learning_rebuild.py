"""python -m benchmarks.learning rebuild: a rebuilt model against the shipped one."""

import shutil

import numpy as np
import pytest

from benchmarks.learning import rebuild
from lm_envs.models.tiny_shop import SHIPPED_DIR


@pytest.fixture
def small_figures(monkeypatch):
    # one QA figure and the text figure, a few episodes each: the CLI path, not the statistics
    figures = {name: (env_id, kwargs, 8, greedy, value)
               for name, (env_id, kwargs, _, greedy, value) in rebuild.FIGURES.items()
               if name != "QA fact accuracy, sampled"}
    monkeypatch.setattr(rebuild, "FIGURES", figures)


def test_a_copy_of_the_shipped_model_matches_every_figure(tmp_path, small_figures, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(SHIPPED_DIR, copy)
    assert rebuild.main(["--candidate", str(copy), "--out", str(tmp_path / "out")]) == 0
    table = (tmp_path / "out" / "table.md").read_text()
    assert table.count("+0.000 [+0.000, +0.000]") == len(rebuild.FIGURES)


def test_paired_difference_by_hand():
    shipped = np.array([0.0, 0.5, 1.0, 0.5])
    mean, low, high = rebuild.paired_difference(shipped, shipped + np.array([0.1, 0.3, 0.1, 0.3]))
    # differences 0.1 0.3 0.1 0.3: mean 0.2, sd 0.1155, t(3, 0.975) = 3.182 -> 0.2 -+ 0.1838
    assert mean == pytest.approx(0.2)
    assert (low, high) == pytest.approx((0.0162, 0.3838), abs=1e-3)
    assert not low <= 0.0 <= high
    assert rebuild.paired_difference(shipped, shipped.copy()) == (0.0, 0.0, 0.0)


def test_candidate_must_be_a_folder(capsys):
    with pytest.raises(SystemExit):
        rebuild.main(["--candidate", "tiny-shop"])
    assert "not a folder" in capsys.readouterr().err

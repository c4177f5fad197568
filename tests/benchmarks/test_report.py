"""Results folder: CSVs, metadata, plots, report.md and report.html (rendered headless)."""

from __future__ import annotations

import json
import shutil
import subprocess
from html.parser import HTMLParser

import pandas as pd
import pytest
from scipy.stats import trim_mean

from bench_helpers import cli, rec_config
from benchmarks.report import format_table, html_table
from benchmarks.suite import run_suite

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    config = rec_config(seeds=3, steps=128, agents=["ppo", "random", "popular", "oracle"])
    summary = run_suite(config, out, workers=0, quiet=True)
    assert summary["n_failed"] == 0
    return out


def test_results_folder_layout(results):
    for name in ("runs.csv", "summary.csv", "aggregate.csv", "probability_of_improvement.csv", "metadata.json",
                 "config.json", "report.md", "report.html", "learning_curves.png", "aggregate_iqm.png"):
        assert (results / name).is_file(), name
    assert len(list((results / "runs").glob("*.curve.jsonl"))) == 12
    meta = json.loads((results / "metadata.json").read_text())
    assert meta["seeds"] == [0, 1, 2]
    assert {"torch", "scipy", "gymnasium"} <= set(meta["packages"])
    assert meta["git"]["commit"] is None or len(meta["git"]["commit"]) == 40
    assert meta["hardware"]["cpu_count"] >= 1 and meta["invocations"][0]["wall_time_s"] > 0


def test_summary_statistics_match_the_runs(results):
    runs = pd.read_csv(results / "runs.csv")
    summary = pd.read_csv(results / "summary.csv").set_index("agent")
    assert len(runs) == 12 and set(runs.status) == {"ok"}
    ppo = runs[runs.agent == "ppo"].final_return.to_numpy()
    assert summary.loc["ppo", "mean"] == pytest.approx(ppo.mean())
    assert summary.loc["ppo", "iqm"] == pytest.approx(trim_mean(ppo, 0.25))
    assert summary.loc["ppo", "mean_ci_low"] <= summary.loc["ppo", "mean"] <= summary.loc["ppo", "mean_ci_high"]
    # normalised: 0 = random, 1 = oracle (each a mean over its seeds)
    assert summary.loc["random", "normalised_mean"] == pytest.approx(0.0)
    assert summary.loc["oracle", "normalised_mean"] == pytest.approx(1.0)
    poi = pd.read_csv(results / "probability_of_improvement.csv")
    row = poi[(poi.x == "oracle") & (poi.y == "random")].iloc[0]
    assert row.p_x_better == pytest.approx(1.0)
    both = poi[(poi.x == "ppo") & (poi.y == "random")].p_x_better.iloc[0] + \
        poi[(poi.x == "random") & (poi.y == "ppo")].p_x_better.iloc[0]
    assert both == pytest.approx(1.0)


def test_report_markdown_holds_tables_and_plots(results):
    text = (results / "report.md").read_text()
    for heading in ("## Results per env", "## Across envs", "## Probability of improvement", "## Plots"):
        assert heading in text
    assert "![Learning curves" in text and "(learning_curves.png)" in text and "(aggregate_iqm.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| ProductRecommendation-v0 ")]
    assert [line.split("|")[2].strip() for line in table] == ["ppo", "random", "popular", "oracle"]


def test_report_command_regenerates_everything(results, subprocess_env):
    for name in ("report.md", "report.html", "summary.csv", "learning_curves.png"):
        (results / name).unlink()
    proc = subprocess.run(cli("report", str(results)), env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "mean [95% CI]" in proc.stdout
    for name in ("report.md", "report.html", "summary.csv", "learning_curves.png"):
        assert (results / name).is_file()


def test_report_of_a_folder_without_runs_is_refused(tmp_path, subprocess_env):
    proc = subprocess.run(cli("report", str(tmp_path)), env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "holds no runs/ folder" in proc.stderr


def test_html_is_self_contained(results):
    html = (results / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and html.count('src="data:image/png;base64,') == 2
    assert "<table" in html and "<link" not in html and "<script" not in html  # nothing to fetch


def test_format_table():
    df = pd.DataFrame({"a": ["x", "yy"], "b": [1.0, float("nan")]})
    assert format_table(df).splitlines() == ["| a   | b     |", "|-----|-------|", "| x   | 1.000 |", "| yy  | –     |"]


def test_format_table_is_pandas_markdown_of_the_formatted_cells():
    df = pd.DataFrame({"agent": ["ppo", "random"], "mean": [0.12345, -2.0], "runs": [3, 3]})
    cells = pd.DataFrame({"agent": ["ppo", "random"], "mean": ["0.123", "-2.000"], "runs": ["3", "3"]})
    assert format_table(df) == cells.to_markdown(index=False, tablefmt="github", disable_numparse=True)
    assert format_table(df.iloc[:0]).splitlines() == ["| agent   | mean   | runs   |", "|---------|--------|--------|"]


class _Cells(HTMLParser):
    """The cells of every <table> in a page, one list of rows per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("th", "td"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("th", "td"):
            self.tables[-1][-1].append("".join(self.cell or []))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def _html_tables(text: str) -> list[list[list[str]]]:
    parser = _Cells()
    parser.feed(text)
    return parser.tables


def test_html_table_escapes_and_formats_cells():
    df = pd.DataFrame({"P(row > column)": ["<b>ppo</b>", "random"], "ppo": [float("nan"), 0.25]})
    text = html_table(df)
    assert text.startswith("<table") and 'class="dataframe results"' in text and "<b>" not in text
    assert _html_tables(text) == [[["P(row > column)", "ppo"], ["<b>ppo</b>", "–"], ["random", "0.250"]]]


def _markdown_tables(text: str) -> list[list[list[str]]]:
    tables, current = [], None
    for line in text.splitlines():
        if line.startswith("|"):
            if current is None:
                current = []
                tables.append(current)
            if not set(line) <= {"|", "-", ":"}:
                current.append([cell.strip() for cell in line.strip("|").split("|")])
        else:
            current = None
    return tables


def test_the_html_report_holds_the_markdown_reports_tables(results):
    markdown = _markdown_tables((results / "report.md").read_text())
    assert len(markdown) == 3  # per env, across envs, probability of improvement
    assert _html_tables((results / "report.html").read_text()) == markdown
    summary = pd.read_csv(results / "summary.csv").set_index("agent")
    rows = {row[1]: row for row in markdown[0][1:]}
    ppo = summary.loc["ppo"]
    assert rows["ppo"][3] == f"{ppo['mean']:.3f} [{ppo.mean_ci_low:.3f}, {ppo.mean_ci_high:.3f}]"
    for agent in ("ppo", "random", "popular", "oracle"):
        assert rows[agent][5] == f"{summary.loc[agent, 'normalised_mean']:.3f}"


def test_html_renders_in_headless_chromium(results, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get update && apt-get install -y chromium)")
    shot = tmp_path / "report.png"
    profile = tmp_path / "profile"
    profile.mkdir()
    url = (results / "report.html").resolve().as_uri()
    flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--window-size=1200,1600"]
    proc = subprocess.run([browser, *flags, f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 1000 and pixels.std() > 0.01  # a page was drawn, not a blank one
    dom = subprocess.run([browser, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "lm-envs benchmark: rec-test" in dom.stdout and dom.stdout.count("<img") == 2
    assert "<table" in dom.stdout


def test_eval_steps_snap_to_the_nominal_grid():
    from benchmarks.report import _eval_curve

    rows = [{"kind": "eval", "step": 0, "return": 0.0}, {"kind": "train", "step": 96, "return": 9.0},
            {"kind": "eval", "step": 112, "return": 1.0}, {"kind": "eval", "step": 208, "return": 2.0},
            {"kind": "eval", "step": 304, "return": 3.0}]
    curve = _eval_curve(rows, {"eval_every": 100, "steps": 300})
    assert curve["step"].tolist() == [0, 100, 200, 300] and curve["return"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_both_evaluation_modes_are_reported(results):
    runs = pd.read_csv(results / "runs.csv").set_index(["agent", "seed"])
    # the suite evaluates sampled (deterministic = false): final_return is the sampled mean
    assert (runs.final_return == runs.final_sampled).all()
    assert runs.loc["ppo"].final_greedy.notna().all()
    assert runs.loc["random"].final_greedy.isna().all()  # uniform random play has no greedy form
    assert (runs.loc["oracle"].final_greedy == runs.loc["oracle"].final_sampled).all()  # deterministic
    summary = pd.read_csv(results / "summary.csv").set_index("agent")
    assert summary.loc["ppo", "greedy_mean"] == pytest.approx(runs.loc["ppo"].final_greedy.mean())
    assert "| sampled " in (results / "report.md").read_text() and "greedy" in (results / "report.md").read_text()


def test_per_group_returns_by_hand(tmp_path):
    from benchmarks.report import _group_summary

    def record(agent, seed, positive, negative):
        return {"status": "ok", "spec": {"env_id": "lm_envs/TextGeneration-v1", "agent": agent, "seed": seed},
                "last": {"reward_mean": (positive + negative) / 2, "reward_mean[positive]": positive,
                         "reward_mean[negative]": negative}}

    records = [record("ppo", 0, 0.9, 0.7), record("ppo", 1, 0.8, 0.5), record("initial", 0, 0.6, 0.6),
               {"status": "failed", "spec": {"env_id": "lm_envs/TextGeneration-v1", "agent": "ppo", "seed": 2}}]
    groups = _group_summary(records).set_index(["agent", "group"])
    assert groups.loc[("ppo", "positive"), "mean"] == pytest.approx(0.85)
    assert groups.loc[("ppo", "negative"), "mean"] == pytest.approx(0.6)
    assert groups.loc[("ppo", "negative"), "n"] == 2 and groups.loc[("initial", "positive"), "n"] == 1
    assert _group_summary([record("ppo", 0, 1, 1) | {"last": {"reward_mean": 1.0}}]).empty

"""Tables, plots and the report of a results folder: ``lm-envs report RESULTS_DIR``.

Reads ``runs/*.json`` and ``runs/*.curve.jsonl`` (and ``config.json`` for the normalised
score's references); a file that is unreadable or not shaped as it should be is skipped with
a warning that names it. Writes, next to them:

- ``runs.csv``: one row per run (final return, normalised score, wall time, error);
- ``summary.csv``: per (env, agent) mean and IQM with 95% bootstrap CIs;
- ``aggregate.csv``: per agent, normalised scores across envs (stratified bootstrap);
- ``probability_of_improvement.csv``: P(X > Y) per pair of agents, with CIs;
- ``learning_curves.png``, ``aggregate_iqm.png``;
- ``report.md`` and ``report.html`` (one static page, images embedded as base64).
"""

from __future__ import annotations

import base64
import html
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.results import atomic_save_figure, atomic_write_text, load_curve, load_results, read_checked_json
from benchmarks.runs import AGENTS
from benchmarks.stats import bootstrap_ci, probability_of_improvement

__all__ = ["build_tables", "format_table", "html_table", "write_report"]

log = logging.getLogger("lm_envs.bench")

# agents drawn as flat reference lines, in this order (0 before 1)
_BASELINE_ORDER = ("random", "initial", "popular", "oracle", "planner")


# ---------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------


def _load(out_dir: Path) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], dict[str, Any]]:
    """Records, curves and the config; a file that is not what it should be is skipped with a
    warning naming it (see ``benchmarks.results``), and the report is made of the rest."""
    records = load_results(out_dir)
    curves = {record["key"]: load_curve(out_dir, record["key"]) for record in records}
    config = read_checked_json(out_dir / "config.json", _config_problem) or {}
    return records, curves, config


def _config_problem(config: Any) -> str | None:
    if not isinstance(config, dict):
        return f"a config is a mapping; got {type(config).__name__}"
    envs = config.get("envs", [])
    if not isinstance(envs, list) or not all(
            isinstance(e, dict) and isinstance(e.get("score") or {}, dict) for e in envs):
        return "envs is not a list of env entries"
    return None


def _metadata_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return f"metadata is a mapping; got {type(meta).__name__}"
    invocations = meta.get("invocations", [])
    if not isinstance(invocations, list) or not all(
            isinstance(i, dict) and _is_number_or_none(i.get("wall_time_s", 0.0))
            and isinstance(i.get("argv", []), list) for i in invocations):
        return "invocations is not a list of invocations"
    if not all(isinstance(meta.get(k, {}), dict) for k in ("git", "hardware", "packages")):
        return "git, hardware or packages is not a mapping"
    return None


def _is_number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def _agent_kind(name: str) -> str:
    return AGENTS[name].kind if name in AGENTS else "learner"


def _order_agents(names: list[str]) -> list[str]:
    learners = sorted(n for n in names if _agent_kind(n) == "learner")
    baselines = [n for n in _BASELINE_ORDER if n in names] + sorted(
        n for n in names if _agent_kind(n) == "baseline" and n not in _BASELINE_ORDER
    )
    return learners + baselines


# ---------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------


def _references(runs: pd.DataFrame, config: dict[str, Any]) -> dict[str, tuple[float, float, str, str]]:
    """Per env: (low, high, low label, high label) of the normalised score, where defined."""
    declared = {e["id"]: (e.get("score") or {}) for e in config.get("envs", []) if isinstance(e, dict) and "id" in e}
    ok = runs[runs.status == "ok"]
    refs = {}
    for env in runs.env_id.unique():
        score = declared.get(env, {})
        ran = set(ok[ok.env_id == env].agent)
        low_ref = score.get("low", "random" if "random" in ran else "initial")
        high_ref = score.get("high", "oracle")

        def value(ref: Any) -> tuple[float, str]:
            if isinstance(ref, (int, float)):
                return float(ref), f"{ref:g}"
            rows = ok[(ok.env_id == env) & (ok.agent == ref)]
            return (float(rows.final_return.mean()) if len(rows) else float("nan")), str(ref)

        (low, low_label), (high, high_label) = value(low_ref), value(high_ref)
        if math.isfinite(low) and math.isfinite(high) and high > low:
            refs[env] = (low, high, low_label, high_label)
    return refs


def _finite_mean(values: pd.Series) -> float:
    finite = values.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    return float(finite.mean()) if finite.size else float("nan")


def build_tables(out_dir: str | Path) -> dict[str, Any]:
    """All tables of a results folder as DataFrames (``runs``, ``summary``, ``aggregate``,
    ``poi``), plus ``references``, ``curves``, ``records`` and the ``config``."""
    from agents.evaluation import PASS_K

    out = Path(out_dir)
    records, curves, config = _load(out)
    rows = []
    for r in records:
        spec = r.get("spec", {})
        first = r.get("first") or {}
        rows.append({
            "env_id": spec.get("env_id"),
            "env": str(spec.get("env_id", "")).split("/")[-1],
            "agent": spec.get("agent"),
            "kind": _agent_kind(spec.get("agent", "")),
            "seed": spec.get("seed"),
            "status": r.get("status"),
            "final_return": r.get("final_return", float("nan")),
            "final_sampled": r.get("final_sampled", float("nan")),
            "final_greedy": r.get("final_greedy", float("nan")),
            "first_return": first.get("reward_mean", float("nan")),
            "train_steps": r.get("train_steps", 0),
            "wall_time_s": r.get("wall_time_s", float("nan")),
            "error": r.get("error", ""),
            "key": r.get("key"),
            **{f"pass^{k}": (r.get("pass_k") or {}).get(f"pass^{k}", float("nan")) for k in PASS_K},
        })
    columns = ["env_id", "env", "agent", "kind", "seed", "status", "final_return", "final_sampled", "final_greedy",
               "first_return", "train_steps", "wall_time_s", "error", "key", *(f"pass^{k}" for k in PASS_K)]
    runs = pd.DataFrame(rows, columns=columns)
    for column in ("final_return", "final_sampled", "final_greedy"):
        runs[column] = pd.to_numeric(runs[column], errors="coerce")
    refs = _references(runs, config) if len(runs) else {}
    runs["normalised"] = [
        (row.final_return - refs[row.env_id][0]) / (refs[row.env_id][1] - refs[row.env_id][0])
        if row.env_id in refs and row.status == "ok" else float("nan")
        for row in runs.itertuples()
    ]
    runs = runs.sort_values(["env", "agent", "seed"]).reset_index(drop=True)

    summary_rows = []
    for (env_id, agent), group in runs.groupby(["env_id", "agent"], sort=False):
        ok = group[group.status == "ok"]
        scores = ok.final_return.to_numpy(dtype=float)
        mean, mean_lo, mean_hi = bootstrap_ci(scores, statistic="mean")
        q, q_lo, q_hi = bootstrap_ci(scores, statistic="iqm")
        norm = ok.normalised.to_numpy(dtype=float)
        summary_rows.append({
            "env": env_id.split("/")[-1], "env_id": env_id, "agent": agent, "kind": _agent_kind(agent),
            "n_ok": len(ok), "n_failed": int((group.status != "ok").sum()),
            "mean": mean, "mean_ci_low": mean_lo, "mean_ci_high": mean_hi,
            "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
            "iqm": q, "iqm_ci_low": q_lo, "iqm_ci_high": q_hi,
            "normalised_mean": float(np.mean(norm)) if np.isfinite(norm).any() else float("nan"),
            "sampled_mean": _finite_mean(ok.final_sampled),
            "greedy_mean": _finite_mean(ok.final_greedy),
            **{f"pass^{k}": _finite_mean(ok[f"pass^{k}"]) for k in PASS_K},
            "wall_time_s": float(group.wall_time_s.mean()),
        })
    summary = pd.DataFrame(summary_rows)
    if len(summary):
        order = {a: i for i, a in enumerate(_order_agents(list(summary.agent.unique())))}
        summary = summary.sort_values(["env", "agent"], key=lambda c: c.map(order) if c.name == "agent" else c)
        summary = summary.reset_index(drop=True)

    agg_rows, agents = [], _order_agents(list(runs.agent.dropna().unique()))
    norm_envs = [e for e in runs.env_id.unique() if e in refs]
    for agent in agents:
        strata = [runs[(runs.env_id == e) & (runs.agent == agent) & (runs.status == "ok")].normalised.to_numpy(float)
                  for e in norm_envs]
        strata = [s for s in strata if len(s)]
        if not strata:
            continue
        q, q_lo, q_hi = bootstrap_ci(strata, statistic="iqm")
        m, m_lo, m_hi = bootstrap_ci(strata, statistic="mean")
        agg_rows.append({"agent": agent, "kind": _agent_kind(agent), "n_envs": len(strata),
                         "n_runs": int(sum(len(s) for s in strata)), "iqm": q, "iqm_ci_low": q_lo,
                         "iqm_ci_high": q_hi, "mean": m, "mean_ci_low": m_lo, "mean_ci_high": m_hi})
    aggregate = pd.DataFrame(agg_rows, columns=["agent", "kind", "n_envs", "n_runs", "iqm", "iqm_ci_low",
                                                "iqm_ci_high", "mean", "mean_ci_low", "mean_ci_high"])

    poi_rows = []
    ok_runs = runs[runs.status == "ok"]
    for x in agents:
        for y in agents:
            if x == y:
                continue
            envs = [e for e in ok_runs.env_id.unique()
                    if ((ok_runs.env_id == e) & (ok_runs.agent == x)).any() and ((ok_runs.env_id == e) & (ok_runs.agent == y)).any()]
            if not envs:
                continue
            xs = [ok_runs[(ok_runs.env_id == e) & (ok_runs.agent == x)].final_return.to_numpy(float) for e in envs]
            ys = [ok_runs[(ok_runs.env_id == e) & (ok_runs.agent == y)].final_return.to_numpy(float) for e in envs]
            p, lo, hi = probability_of_improvement(xs, ys)
            poi_rows.append({"x": x, "y": y, "n_envs": len(envs), "p_x_better": p, "ci_low": lo, "ci_high": hi})
    poi = pd.DataFrame(poi_rows, columns=["x", "y", "n_envs", "p_x_better", "ci_low", "ci_high"])
    return {"runs": runs, "summary": summary, "aggregate": aggregate, "poi": poi, "groups": _group_summary(records),
            "references": refs, "curves": curves, "records": records, "config": config}


def _group_summary(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Final return per group (the text env's sentiment target) for envs that name groups:
    mean over seeds with a 95% bootstrap CI, per (env, agent, group)."""
    rows = []
    for r in records:
        if r.get("status") != "ok":
            continue
        spec = r.get("spec", {})
        for key, value in (r.get("last") or {}).items():
            if key.startswith("reward_mean[") and key.endswith("]"):
                rows.append({"env": str(spec.get("env_id", "")).split("/")[-1], "agent": spec.get("agent"),
                             "group": key[len("reward_mean["):-1], "value": float(value)})
    columns = ["env", "agent", "group", "n", "mean", "mean_ci_low", "mean_ci_high"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = pd.DataFrame(rows)
    out = []
    for (env, agent, group), part in table.groupby(["env", "agent", "group"], sort=True):
        mean, low, high = bootstrap_ci(part.value.to_numpy(float), statistic="mean")
        out.append({"env": env, "agent": agent, "group": group, "n": len(part), "mean": mean,
                    "mean_ci_low": low, "mean_ci_high": high})
    order = {a: i for i, a in enumerate(_order_agents(list(table.agent.unique())))}
    frame = pd.DataFrame(out, columns=columns)
    return frame.sort_values(["env", "agent", "group"], key=lambda c: c.map(order) if c.name == "agent" else c,
                             ).reset_index(drop=True)


def _group_view(groups: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "env": groups.env, "agent": groups.agent, "target": groups.group, "runs": groups.n.astype(str),
        "mean [95% CI]": [_ci(*v) for v in zip(groups["mean"], groups.mean_ci_low, groups.mean_ci_high)],
    })


# ---------------------------------------------------------------------------------------
# formatting
# ---------------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 3) -> str:
    if isinstance(value, (float, np.floating)):
        return "–" if not math.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def _ci(point: float, low: float, high: float) -> str:
    if not math.isfinite(point):
        return "–"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{point:.3f}"
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def _summary_view(summary: pd.DataFrame) -> pd.DataFrame:
    if summary.empty:
        return pd.DataFrame(columns=["env", "agent", "runs", "mean [95% CI]", "IQM [95% CI]", "normalised", "sampled",
                                     "greedy", "time/run (s)"])
    return pd.DataFrame({
        "env": summary.env,
        "agent": summary.agent,
        "runs": [f"{n}" + (f" ({f} failed)" if f else "") for n, f in zip(summary.n_ok, summary.n_failed)],
        "mean [95% CI]": [_ci(*v) for v in zip(summary["mean"], summary.mean_ci_low, summary.mean_ci_high)],
        "IQM [95% CI]": [_ci(*v) for v in zip(summary.iqm, summary.iqm_ci_low, summary.iqm_ci_high)],
        "normalised": [_fmt(v) for v in summary.normalised_mean],
        "sampled": [_fmt(v) for v in summary.get("sampled_mean", pd.Series(float("nan"), index=summary.index))],
        "greedy": [_fmt(v) for v in summary.get("greedy_mean", pd.Series(float("nan"), index=summary.index))],
        "time/run (s)": [_fmt(v, 1) for v in summary.wall_time_s],
    } | _pass_k_column(summary))


def _pass_k_column(summary: pd.DataFrame) -> dict[str, list[str]]:
    """``pass^1 / ^2 / ^4`` (sampled, mean over seeds) where some env reports success."""
    from agents.evaluation import PASS_K

    names = [f"pass^{k}" for k in PASS_K]
    if not all(n in summary for n in names) or not np.isfinite(summary[names].to_numpy(float)).any():
        return {}
    label = "pass^" + " / ^".join(str(k) for k in PASS_K)
    return {label: [" / ".join(_fmt(row[n]) for n in names) if np.isfinite(row[names[0]]) else "-"
                    for _, row in summary.iterrows()]}


def _aggregate_view(aggregate: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "agent": aggregate.agent,
        "envs": aggregate.n_envs,
        "runs": aggregate.n_runs,
        "normalised IQM [95% CI]": [_ci(*v) for v in zip(aggregate.iqm, aggregate.iqm_ci_low, aggregate.iqm_ci_high)],
        "normalised mean [95% CI]": [_ci(*v) for v in zip(aggregate["mean"], aggregate.mean_ci_low, aggregate.mean_ci_high)],
    })


def _poi_view(poi: pd.DataFrame, agents: list[str]) -> pd.DataFrame:
    learners = [a for a in agents if _agent_kind(a) == "learner"]
    rows = learners or agents
    table = {"P(row > column)": rows}
    for y in agents:
        col = []
        for x in rows:
            hit = poi[(poi.x == x) & (poi.y == y)]
            col.append("·" if x == y else (_fmt(float(hit.p_x_better.iloc[0]), 2) if len(hit) else "–"))
        table[y] = col
    return pd.DataFrame(table)


def _cells(df: pd.DataFrame) -> pd.DataFrame:
    """Every cell as the text both renderings show: floats to 3 decimals, NaN as "–"."""
    return pd.DataFrame([[_fmt(v) for v in row] for row in df.itertuples(index=False)],
                        columns=[str(c) for c in df.columns], dtype=object)


def format_table(df: pd.DataFrame) -> str:
    """``df`` as a GitHub-flavoured markdown table (``DataFrame.to_markdown``): floats to 3
    decimals, NaN as "–"."""
    # numparse off: tabulate would reparse "1.000" as a number and print it as "1"
    return _cells(df).to_markdown(index=False, tablefmt="github", disable_numparse=True)


def html_table(df: pd.DataFrame) -> str:
    """``df`` as an HTML table (``DataFrame.to_html``, cells escaped), cells as in :func:`format_table`."""
    return _cells(df).to_html(index=False, classes="results", border=0, justify="left", escape=True)


# ---------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------


def _eval_curve(rows: list[dict[str, Any]], spec: dict[str, Any] | None = None) -> pd.DataFrame:
    """The evaluations of one run, at their nominal steps.

    A run evaluates at the first update that crosses each multiple of ``eval_every``, and
    agents that collect whole episodes cross it at a different step in every seed; snapping
    to the multiple (the last evaluation to ``steps``) lines the seeds up for averaging.
    """
    evals = [r for r in rows if r.get("kind") == "eval"]
    df = pd.DataFrame(evals, columns=["step", "return"]) if evals else pd.DataFrame(columns=["step", "return"])
    every, total = (spec or {}).get("eval_every"), (spec or {}).get("steps")
    if len(df) > 1 and every and total:
        nominal = (df["step"].to_numpy(dtype=np.int64) // int(every)) * int(every)
        nominal[-1] = int(total)
        df["step"] = np.minimum(nominal, int(total))
    return df


_BASELINE_STYLE = {"random": "tab:gray", "initial": "black", "popular": "tab:olive", "oracle": "tab:purple",
                   "planner": "tab:brown"}


def _plot_learning_curves(tables: dict[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs: pd.DataFrame = tables["runs"]
    ok = runs[runs.status == "ok"]
    envs = sorted(ok.env_id.unique())
    if not envs:
        return None
    cols = min(len(envs), 2)
    rows = math.ceil(len(envs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.0 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(envs):]:
        ax.set_visible(False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    agents = _order_agents(list(ok.agent.unique()))
    learners = [a for a in agents if _agent_kind(a) == "learner"]
    color_of = {a: colors[i % len(colors)] for i, a in enumerate(learners)}
    color_of.update({a: _BASELINE_STYLE.get(a, "tab:cyan") for a in agents if a not in color_of})
    specs = {r["key"]: r.get("spec", {}) for r in tables["records"]}
    for ax, env in zip(axes.flat, envs):
        sub = ok[ok.env_id == env]
        max_step = 1
        for agent in agents:
            keys = sub[sub.agent == agent].key.tolist()
            if not keys:
                continue
            curves = [_eval_curve(tables["curves"].get(k, []), specs.get(k)) for k in keys]
            curves = [c for c in curves if len(c)]
            if not curves:
                continue
            if _agent_kind(agent) == "baseline":
                finals = np.array([c["return"].iloc[-1] for c in curves], dtype=float)
                m, lo, hi = bootstrap_ci(finals, statistic="mean")
                ax.axhline(m, color=color_of[agent], linestyle="--", linewidth=1.2, label=agent)
                if math.isfinite(lo):
                    ax.axhspan(lo, hi, color=color_of[agent], alpha=0.08)
                continue
            merged = pd.concat(curves).groupby("step")["return"].apply(lambda s: s.to_numpy(float))
            steps = merged.index.to_numpy()
            stats = np.array([bootstrap_ci(v, statistic="mean", n_resamples=1000) for v in merged.to_numpy()])
            max_step = max(max_step, int(steps.max()))
            ax.plot(steps, stats[:, 0], color=color_of[agent], label=agent, marker="o", markersize=3)
            band = np.isfinite(stats[:, 1])
            if band.any():
                ax.fill_between(steps[band], stats[band, 1], stats[band, 2], color=color_of[agent], alpha=0.2)
        ax.set_title(env.split("/")[-1], fontsize=10)
        ax.set_xlabel("env steps")
        ax.set_ylabel("eval return (mean, 95% CI)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:  # a panel whose curves were all skipped has none
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)
    return path


def _plot_aggregate(tables: dict[str, Any], path: Path) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary: pd.DataFrame = tables["summary"]
    aggregate: pd.DataFrame = tables["aggregate"]
    if summary.empty:
        return None
    envs = sorted(summary.env_id.unique())
    panels = [("normalised score, all envs", aggregate)] if not aggregate.empty else []
    panels += [(env.split("/")[-1] + " (return)", summary[summary.env_id == env]) for env in envs]
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    height = 0.42 * max(len(p[1]) for p in panels) + 1.4
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, height * rows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, df) in zip(axes.flat, panels):
        df = df.iloc[::-1]
        y = np.arange(len(df))
        iqm, lo, hi = df.iqm.to_numpy(float), df.iqm_ci_low.to_numpy(float), df.iqm_ci_high.to_numpy(float)
        err = np.vstack([np.where(np.isfinite(lo), iqm - lo, 0), np.where(np.isfinite(hi), hi - iqm, 0)])
        colors = ["tab:gray" if _agent_kind(a) == "baseline" else "tab:blue" for a in df.agent]
        ax.barh(y, np.nan_to_num(iqm), xerr=np.clip(err, 0, None), color=colors, alpha=0.8, capsize=3)
        ax.set_yticks(y, df.agent.tolist(), fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("IQM, 95% CI")
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------
# the document: one list of blocks rendered to markdown and to HTML
# ---------------------------------------------------------------------------------------


def _sample_text(sample: dict[str, Any]) -> str:
    """A generation (prompt, output) or, when the sample carries one, a dialog transcript
    (a string, or a list of ``{"role", "text"}`` turns or of strings)."""
    reward = f"REWARD: {float(sample.get('reward', float('nan'))):+.3f}"
    transcript = sample.get("transcript")
    if transcript:
        if isinstance(transcript, str):
            lines = transcript.strip()
        else:
            lines = "\n".join(
                f"{str(t.get('role', '?')).upper()}: {str(t.get('text', t.get('content', ''))).strip()}"
                if isinstance(t, dict) else str(t).strip()
                for t in transcript
            )
        return f"{lines}\n{reward}"
    return (f"PROMPT: {str(sample.get('prompt') or '').strip()}\n"
            f"OUTPUT: {str(sample.get('completion') or '').strip()}\n{reward}")


def _samples_blocks(tables: dict[str, Any]) -> list[tuple]:
    blocks: list[tuple] = []
    by_pair: dict[tuple[str, str], dict[str, Any]] = {}
    for record in sorted(tables["records"], key=lambda r: r.get("spec", {}).get("seed", 0)):
        spec = record.get("spec", {})
        pair = (spec.get("env_id"), spec.get("agent"))
        if record.get("status") == "ok" and pair not in by_pair:
            by_pair[pair] = record
    agents = _order_agents(list({a for _, a in by_pair}))
    for env in sorted({e for e, _ in by_pair}):
        env_blocks: list[tuple] = []
        for agent in agents:
            record = by_pair.get((env, agent))
            if record is None:
                continue
            first = (record.get("first") or {}).get("samples") or []
            last = (record.get("last") or {}).get("samples") or []
            if not first and not last:
                continue
            env_blocks.append(("h", 4, f"{agent} (seed {record['spec']['seed']})"))
            stages = [("first evaluation (before training)", first), ("last evaluation", last)]
            if _agent_kind(agent) == "baseline":
                stages = [("evaluation", first)]
            for label, samples in stages:
                text = "\n\n".join(_sample_text(s) for s in samples)
                env_blocks.append(("p", f"*{label}*"))
                env_blocks.append(("pre", text or "(no samples)"))
        if env_blocks:
            blocks.append(("h", 3, env.split("/")[-1]))
            blocks.extend(env_blocks)
    return blocks


def _document(out: Path, tables: dict[str, Any], images: dict[str, Path | None]) -> list[tuple]:
    meta = read_checked_json(out / "metadata.json", _metadata_problem) or {}
    runs: pd.DataFrame = tables["runs"]
    config = tables["config"]
    name = config.get("name", out.name)
    doc: list[tuple] = [("h", 1, f"lm-envs benchmark: {name}")]
    invocations = meta.get("invocations", [])
    wall = sum(i.get("wall_time_s") or 0.0 for i in invocations)
    git = meta.get("git", {})
    facts = [
        f"{len(runs)} runs ({int((runs.status == 'ok').sum())} ok, {int((runs.status != 'ok').sum())} failed), "
        f"seeds {sorted(set(runs.seed.dropna().astype(int)))}",
        f"wall time {wall:.0f} s over {len(invocations)} invocation(s); "
        f"{sum(runs.wall_time_s.fillna(0)):.0f} s of run time",
        f"lm-envs {meta.get('lm_envs', '?')}, commit {str(git.get('commit'))[:10]}{' (dirty)' if git.get('dirty') else ''}, "
        f"Python {meta.get('python', '?')}, torch {meta.get('packages', {}).get('torch', '?')}",
        f"hardware: {meta.get('hardware', {}).get('cpu', '?')}, {meta.get('hardware', {}).get('cpu_count', '?')} cores"
        + (f", GPUs {meta['hardware']['gpus']}" if meta.get("hardware", {}).get("gpus") else ""),
    ]
    if invocations:
        facts.append("command: `" + " ".join(str(a) for a in invocations[-1].get("argv", [])) + "`")
    doc.append(("list", facts))

    doc.append(("h", 2, "Results per env"))
    doc.append(("p", "Final evaluation return per (env, agent): mean and interquartile mean (IQM, the 25% trimmed "
                     "mean) over seeds with 95% percentile-bootstrap CIs (scipy.stats.bootstrap); with fewer than 4 "
                     "seeds the IQM trims nothing and equals the mean. `normalised` maps the env's low reference "
                     "to 0 and its high one to 1."))
    doc.append(("table", _summary_view(tables["summary"])))
    if not tables["groups"].empty:
        doc.append(("h", 3, "Per target"))
        doc.append(("p", "Final evaluation return per prompt target (envs that name one, such as the text env's "
                         "sentiment target): a mean over a mix of targets hides a policy that ignores the prompt."))
        doc.append(("table", _group_view(tables["groups"])))
    refs = tables["references"]
    if refs:
        doc.append(("list", [f"{env.split('/')[-1]}: 0 = {lab_lo} ({lo:.3f}), 1 = {lab_hi} ({hi:.3f})"
                             for env, (lo, hi, lab_lo, lab_hi) in sorted(refs.items())]))
    missing = sorted(set(runs.env_id.dropna()) - set(refs))
    if missing:
        doc.append(("p", "No normalised score (no high reference, or it does not beat the low one) for: "
                         + ", ".join(m.split("/")[-1] for m in missing) + "."))

    if not tables["aggregate"].empty:
        doc.append(("h", 2, "Across envs"))
        doc.append(("p", "Normalised scores pooled over envs; CIs from a stratified bootstrap (runs resampled within "
                         "each env), following Agarwal et al., 2021."))
        doc.append(("table", _aggregate_view(tables["aggregate"])))
    if not tables["poi"].empty:
        doc.append(("h", 2, "Probability of improvement"))
        doc.append(("p", "P(X > Y): the chance that a run of the row agent beats a run of the column agent on a "
                         "random env (Mann-Whitney U averaged over the envs both ran; Agarwal et al., 2021). "
                         "CIs are in probability_of_improvement.csv."))
        doc.append(("table", _poi_view(tables["poi"], _order_agents(list(runs.agent.dropna().unique())))))

    doc.append(("h", 2, "Plots"))
    for title, key in (("Learning curves (evaluation return; baselines dashed)", "learning_curves"),
                       ("IQM with 95% CIs", "aggregate_iqm")):
        if images.get(key) is not None:
            doc.append(("img", images[key], title))

    failed = runs[runs.status != "ok"]
    if len(failed):
        doc.append(("h", 2, "Failed runs"))
        doc.append(("p", "Tracebacks are in each run's JSON file under runs/."))
        doc.append(("table", failed[["env", "agent", "seed", "error"]].reset_index(drop=True)))

    samples = _samples_blocks(tables)
    if samples:
        doc.append(("h", 2, "Samples and transcripts"))
        doc.append(("p", "Evaluation episodes of each agent's first seed: at its first evaluation (before training) "
                         "and at its last."))
        doc.extend(samples)
    return doc


def _to_markdown(doc: list[tuple], out: Path) -> str:
    parts = []
    for block in doc:
        kind = block[0]
        if kind == "h":
            parts.append("#" * block[1] + " " + block[2])
        elif kind == "p":
            parts.append(block[1])
        elif kind == "list":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(format_table(block[1]))
        elif kind == "img":
            parts.append(f"![{block[2]}]({Path(block[1]).relative_to(out).as_posix()})")
        elif kind == "pre":
            parts.append("```text\n" + block[1] + "\n```")
    return "\n\n".join(parts) + "\n"


def _inline(text: str) -> str:
    """Escape, then render `code` and *emphasis* (the only inline markdown we emit)."""
    import re

    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*([^*]+)\*", r"<em>\1</em>", out)


def _to_html(doc: list[tuple], title: str) -> str:
    body = []
    for block in doc:
        kind = block[0]
        if kind == "h":
            body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "list":
            body.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
        elif kind == "table":
            body.append(html_table(block[1]))
        elif kind == "img":
            data = base64.b64encode(Path(block[1]).read_bytes()).decode("ascii")
            body.append(f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                        f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
        elif kind == "pre":
            body.append(f"<pre>{html.escape(block[1])}</pre>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:4px 8px;"
        "text-align:left}th{background:#f3f3f3}img{max-width:100%}pre{background:#f7f7f7;padding:0.8em;"
        "white-space:pre-wrap;font-size:0.85em}figcaption{font-size:0.85em;color:#555}"
    )
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{style}</style></head>\n<body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_report(out_dir: str | Path) -> dict[str, Any]:
    """(Re)write the CSVs, plots, ``report.md`` and ``report.html`` of ``out_dir``.

    Returns:
        The tables (see :func:`build_tables`) plus ``summary_markdown``: the per-env table
        as printed by ``lm-envs bench``.
    """
    out = Path(out_dir)
    if not (out / "runs").is_dir():
        raise FileNotFoundError(f"{str(out)!r} holds no runs/ folder: is it a benchmark RESULTS_DIR?")
    tables = build_tables(out)
    atomic_write_text(out / "runs.csv", tables["runs"].to_csv(index=False))
    atomic_write_text(out / "summary.csv", tables["summary"].to_csv(index=False))
    atomic_write_text(out / "aggregate.csv", tables["aggregate"].to_csv(index=False))
    atomic_write_text(out / "probability_of_improvement.csv", tables["poi"].to_csv(index=False))
    atomic_write_text(out / "groups.csv", tables["groups"].to_csv(index=False))
    images = {
        "learning_curves": _plot_learning_curves(tables, out / "learning_curves.png"),
        "aggregate_iqm": _plot_aggregate(tables, out / "aggregate_iqm.png"),
    }
    doc = _document(out, tables, images)
    atomic_write_text(out / "report.md", _to_markdown(doc, out))
    title = f"lm-envs benchmark: {tables['config'].get('name', out.name)}"
    atomic_write_text(out / "report.html", _to_html(doc, title))
    tables["summary_markdown"] = format_table(_summary_view(tables["summary"]))
    tables["aggregate_markdown"] = format_table(_aggregate_view(tables["aggregate"])) if not tables["aggregate"].empty else ""
    tables["groups_markdown"] = format_table(_group_view(tables["groups"])) if not tables["groups"].empty else ""
    return tables

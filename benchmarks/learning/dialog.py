"""The dialog pipeline: supervised fine-tuning on oracle dialogs, then RL, on CustomerServiceDialog-v1.

    python -m benchmarks.learning dialog                       # tiers none some all, seeds 0 1 2
    python -m benchmarks.learning dialog --workers 2           # two (tier, seed) jobs at a time
    python -m benchmarks.learning dialog --quick               # the default tier only, fewer RL steps
    python -m benchmarks.learning dialog --tiers none --seeds 0 --demonstrations 32 --out runs/dialog

Rows, on each difficulty tier (``tier=``: what the customer volunteers in the opening; the
env's default is ``none``):

| row | policy |
|---|---|
| ``oracle`` | the scripted expert (`lm_envs.sim.customer.oracle_turn`): asks for what is missing, then resolves |
| ``untrained`` | ``tiny-shop-reader`` as pretrained (it has never seen a dialog goal) |
| ``sft`` | ``agents.SFT`` on ``--demonstrations`` dialogs the oracle played on training customers and seeds |
| ``sft+ppo`` | ``agents.PPO`` continuing from the SFT folder (``policy=<folder>``) on training customers |
| ``sft+reinforce`` | ``agents.REINFORCE`` (RLOO) continuing from the same folder |

**Held-out evaluation.** Training (demonstrations and RL) uses ``customers="train"``, a fixed
three quarters of the world's customers; every row is evaluated on ``customers="test"``, the
other quarter, with env seeds from ``EVAL_SEED`` (10,000) up, which no demonstration uses
(they reset with seeds below 10,000). ``--eval-tasks`` tasks (env seeds) are each played 4
times, sampling at temperature 1 with sampler seeds ``EVAL_SEED + try``: the success rate is
pass^1 over all tries, and pass^2 and pass^4 are tau-bench's (``agents.evaluation.pass_hat_k``).
Each policy is also evaluated greedily on the same tasks.

**Settings** come from the hyperparameter table (``agents/hyperparams/{sft,ppo,reinforce}.yml``,
entry ``lm_envs/CustomerServiceDialog-v1`` / ``tiny-shop-reader``); the script sets only its
budget: ``--demonstrations`` (SFT's ``n_demonstrations``) and ``--rl-steps``. On the default
tier, SFT is also trained on ``--demo-curve`` other numbers of demonstrations (success against
the number of demonstrations).

**Noise floor.** The SFT policy of the first seed on the default tier is evaluated on
``--noise-blocks`` disjoint blocks of env seeds (``EVAL_SEED + 1000 * b``), each like the main
evaluation; the spread of those success rates is how much one fixed policy's score moves
between evaluation sets of this size.

Confidence intervals are over seeds (one value per seed): Student-t 95% intervals of the mean.
Required on the default tier: SFT + RL (PPO or REINFORCE) above SFT alone by at least 0.1 in
success, with non-overlapping 95% CIs, and some learner at 0.5 or more. Exit status 1 when not
(except ``--quick``). Torch runs on ``--threads`` threads (default 1).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.learning import add_device_option, check_device_option
from benchmarks.results import atomic_save_figure, atomic_write_text

DIALOG_ID = "lm_envs/CustomerServiceDialog-v1"
POLICY = "tiny-shop-reader"
TIERS = ("none", "some", "all")
DEFAULT_TIER = "none"
EVAL_SEED = 10_000
NUM_ENVS = 16
N_TRIES = 4
RL_STEPS = 48_000
"""Dialog env steps (agent tokens) of each RL run."""
QUICK_RL_STEPS = 16_000
ROWS = ("oracle", "untrained", "sft", "sft+ppo", "sft+reinforce")


# ---------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------


def eval_kwargs(tier: str) -> dict[str, Any]:
    return {"tier": tier, "customers": "test"}


def train_kwargs(tier: str) -> dict[str, Any]:
    return {"tier": tier, "customers": "train"}


def evaluate(policy: Any, tier: str, n_tasks: int, *, seed: int = EVAL_SEED) -> dict[str, Any]:
    """Success (pass^1), pass^2, pass^4 and reward of ``policy`` sampled on ``n_tasks`` held-out
    tasks x 4 tries, and its greedy success on the same tasks."""
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy, evaluate_tries, pass_k_summary

    env = make_vector_env(DIALOG_ID, num_envs=min(NUM_ENVS, n_tasks), env_kwargs=eval_kwargs(tier))
    start = time.perf_counter()
    with torch.no_grad():
        def generator(s: int) -> torch.Generator:
            return torch.Generator(device=policy.device).manual_seed(s)

        tasks = evaluate_tries(env, lambda t: ActorPolicy(policy, env, generator=generator(seed + t)),
                               n_tasks, N_TRIES, seed=seed)
        greedy = evaluate_policy(env, ActorPolicy(policy, env, generator=generator(seed),
                                                  deterministic=True), n_tasks, seed=seed)
    env.close()
    episodes = [e for tries in tasks for e in tries]
    return {
        "success": float(np.mean([e.success for e in episodes])),
        **pass_k_summary([[bool(e.success) for e in tries] for tries in tasks]),
        "reward": float(np.mean([e.episode_return for e in episodes])),
        "turns": float(np.mean([e.info["turns"] for e in episodes])),
        "greedy_success": float(np.mean([e.success for e in greedy])),
        "eval_seconds": time.perf_counter() - start,
    }


def evaluate_oracle(tier: str, n_tasks: int) -> dict[str, Any]:
    """The scripted expert on the same tasks (deterministic: one try each)."""
    import gymnasium as gym

    import lm_envs  # noqa: F401
    from agents.evaluation import evaluate_policy
    from lm_envs.sim.customer import oracle_turn

    rows = min(NUM_ENVS, n_tasks)
    venv: Any = gym.make_vec(DIALOG_ID, num_envs=rows, vectorization_mode="vector_entry_point", **eval_kwargs(tier))
    env = venv.env
    queues: list[list[int]] = [[] for _ in range(rows)]

    def act(obs: Any, new_episode: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        actions = []
        for row in range(rows):
            if new_episode[row]:
                queues[row] = []
            if not queues[row]:
                customer = venv.states[row].customer
                text = " " + oracle_turn(customer.goal, customer.revealed)
                queues[row] = env.tokenizer.encode(text, add_special_tokens=False)[: env.max_turn_tokens - 1] + [
                    env.eot_token_id]
            actions.append(queues[row].pop(0))
        return np.array(actions)

    episodes = evaluate_policy(venv, act, n_tasks, seed=EVAL_SEED)
    venv.close()
    success = float(np.mean([e.success for e in episodes]))
    return {"success": success, "pass^1": success, "pass^2": success, "pass^4": success,
            "reward": float(np.mean([e.episode_return for e in episodes])),
            "turns": float(np.mean([e.info["turns"] for e in episodes])), "greedy_success": success}


# ---------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------


def table_config(algorithm: str, overrides: dict[str, Any] | None = None) -> Any:
    """The table's settings for ``tiny-shop-reader`` on the dialog env (``agents.hyperparams``)."""
    from agents.hyperparams import resolve

    return resolve(algorithm, DIALOG_ID, POLICY, overrides).config


def train_sft(tier: str, seed: int, n_demonstrations: int, folder: Path, device: str = "cpu") -> dict[str, Any]:
    from agents import SFT

    torch.manual_seed(seed)
    agent = SFT(DIALOG_ID, policy=POLICY, config=table_config("sft", {"n_demonstrations": n_demonstrations}),
                seed=seed, env_kwargs=train_kwargs(tier), device=device)
    start = time.perf_counter()
    agent.learn()
    seconds = time.perf_counter() - start
    agent.save(folder)
    demo_customers = sorted({d.info["task"]["customer_id"] for d in agent.demonstrations})
    return {"agent": agent, "train_seconds": seconds, "demo_customers": demo_customers,
            "final_loss": float(agent.metrics["loss"].tail(3).mean())}


def train_rl(algorithm: str, tier: str, seed: int, folder: Path, steps: int, device: str = "cpu") -> tuple[Any, float]:
    from agents import PPO, REINFORCE

    cls = {"ppo": PPO, "reinforce": REINFORCE}[algorithm]
    torch.manual_seed(seed)
    agent = cls(DIALOG_ID, policy=str(folder), config=table_config(algorithm), seed=seed,
                env_kwargs=train_kwargs(tier), device=device)
    start = time.perf_counter()
    agent.learn(steps)
    return agent, time.perf_counter() - start


def run_job(tier: str, seed: int, *, demonstrations: int, rl_steps: int, eval_tasks: int,
            demo_curve: list[int], noise_blocks: int, threads: int, device: str = "cpu") -> dict[str, Any]:
    """One (tier, seed): SFT, then PPO and REINFORCE from it; the SFT curve and the noise floor
    where asked for."""
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"tier": tier, "seed": seed}
    work = Path(tempfile.mkdtemp(prefix=f"dialog-{tier}-{seed}-"))
    try:
        folder = work / "sft"
        sft = train_sft(tier, seed, demonstrations, folder, device)
        out["sft"] = evaluate(sft["agent"].policy, tier, eval_tasks) | {
            "train_seconds": sft["train_seconds"], "final_loss": sft["final_loss"], "n_demonstrations": demonstrations}
        out["demo_customers"] = sft["demo_customers"]
        print(f"[{tier} seed {seed}] sft ({demonstrations} demonstrations): {_brief(out['sft'])}", flush=True)
        if noise_blocks:
            blocks = [evaluate(sft["agent"].policy, tier, eval_tasks, seed=EVAL_SEED + 1000 * b)
                      for b in range(noise_blocks)]
            out["noise_floor"] = {"blocks": blocks, "success": [b["success"] for b in blocks]}
            print(f"[{tier} seed {seed}] noise floor, success on {noise_blocks} disjoint seed blocks: "
                  f"{[round(b['success'], 3) for b in blocks]}", flush=True)
        del sft
        curve = {}
        for n in sorted(set(demo_curve) | ({demonstrations} if demo_curve else set())):
            if n == demonstrations:
                curve[n] = out["sft"]["success"]
                continue
            extra = train_sft(tier, seed, n, work / f"sft-{n}", device)
            curve[n] = evaluate(extra["agent"].policy, tier, eval_tasks)["success"]
            print(f"[{tier} seed {seed}] sft ({n} demonstrations): success {curve[n]:.3f}", flush=True)
        if curve:
            out["demo_curve"] = {str(k): v for k, v in sorted(curve.items())}
        for algorithm in ("ppo", "reinforce"):
            agent, seconds = train_rl(algorithm, tier, seed, folder, rl_steps, device)
            row = f"sft+{algorithm}"
            out[row] = evaluate(agent.policy, tier, eval_tasks) | {"train_seconds": seconds,
                                                                   "steps": int(agent.num_timesteps)}
            metrics = agent.metrics
            if "success_rate" in metrics:
                out[row]["train_curve"] = metrics[["timesteps", "success_rate"]].to_dict("list")
            print(f"[{tier} seed {seed}] {row} ({agent.num_timesteps:,} steps, {seconds:.0f} s): {_brief(out[row])}",
                  flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def run_fixed(tier: str, eval_tasks: int, device: str = "cpu") -> dict[str, Any]:
    """The rows that do not train: the oracle and the untrained policy."""
    from agents.policies import LMActorCritic
    from lm_envs.models import load_policy

    out = {"oracle": evaluate_oracle(tier, eval_tasks), "untrained": evaluate(LMActorCritic(load_policy(POLICY)).to(device), tier,
                                                                              eval_tasks)}
    for name in ("oracle", "untrained"):
        print(f"[{tier}] {name}: {_brief(out[name])}", flush=True)
    return out


def _brief(result: dict[str, Any]) -> str:
    return (f"success {result['success']:.3f} (greedy {result['greedy_success']:.3f}), pass^2 {result['pass^2']:.3f}, "
            f"pass^4 {result['pass^4']:.3f}, reward {result['reward']:+.3f}")


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Per tier and row: mean and 95% CI over seeds of each measure; the verdict on the default tier."""
    from benchmarks.learning.text import interval

    table: dict[str, dict[str, dict[str, tuple[float, float, float]]]] = {}
    for tier in results["tiers"]:
        jobs = [j for j in results["jobs"] if j["tier"] == tier]
        table[tier] = {}
        for row in ROWS:
            if row in ("oracle", "untrained"):
                fixed = results["fixed"][tier][row]
                table[tier][row] = {k: (fixed[k], float("nan"), float("nan"))
                                    for k in ("success", "pass^2", "pass^4", "greedy_success", "reward")}
            elif jobs:
                table[tier][row] = {k: interval([j[row][k] for j in jobs], "t")
                                    for k in ("success", "pass^2", "pass^4", "greedy_success", "reward")}
    verdict: dict[str, Any] = {}
    if DEFAULT_TIER in table and "sft" in table[DEFAULT_TIER]:
        rows = table[DEFAULT_TIER]
        sft = rows["sft"]["success"]
        gains = {}
        for row in ("sft+ppo", "sft+reinforce"):
            rl = rows[row]["success"]
            gains[row] = {"gain": rl[0] - sft[0], "separated": bool(np.isfinite(rl[1]) and rl[1] > sft[2])}
        best = max(r["success"][0] for name, r in rows.items() if name not in ("oracle",))
        verdict = {"sft_success": sft[0], "gains": gains, "best_learner_success": best,
                   "rl_gain_pass": any(g["gain"] >= 0.1 and g["separated"] for g in gains.values()),
                   "half_pass": best >= 0.5}
    return {"table": table, "verdict": verdict}


def _cell(value: tuple[float, float, float]) -> str:
    point, low, high = value
    return f"{point:.3f}" if not np.isfinite(low) else f"{point:.3f} [{low:.3f}, {high:.3f}]"


def format_table(results: dict[str, Any], summary: dict[str, Any]) -> str:
    args = results["settings"]
    head = (f"CustomerServiceDialog-v1, {POLICY}; evaluation on held-out customers (customers='test'), "
            f"{args['eval_tasks']} tasks x {N_TRIES} sampled tries (env seeds {EVAL_SEED}+), greedy on the same tasks; "
            f"SFT on {args['demonstrations']} oracle dialogs (training customers, seeds < 10,000), "
            f"RL {args['rl_steps']:,} env steps from it; seeds {' '.join(map(str, args['seeds']))}, "
            "95% t-intervals over seeds.")
    lines = [
        head,
        "",
        "| tier | policy | success (pass^1) | pass^2 | pass^4 | greedy success | reward |",
        "|---|---|---|---|---|---|---|",
    ]
    for tier, rows in summary["table"].items():
        for row, values in rows.items():
            lines.append(f"| {tier} | {row} | {_cell(values['success'])} | {_cell(values['pass^2'])} | "
                         f"{_cell(values['pass^4'])} | {_cell(values['greedy_success'])} | {_cell(values['reward'])} |")
    curves = [j for j in results["jobs"] if "demo_curve" in j]
    if curves:
        from benchmarks.learning.text import interval

        lines += ["", f"SFT success (sampled) against the number of oracle demonstrations, tier {DEFAULT_TIER}:", "",
                  "| demonstrations | success |", "|---|---|"]
        for n in sorted({int(k) for j in curves for k in j["demo_curve"]}):
            values = [j["demo_curve"][str(n)] for j in curves if str(n) in j["demo_curve"]]
            lines.append(f"| {n} | {_cell(interval(values, 't'))} |")
    noise = [j for j in results["jobs"] if "noise_floor" in j]
    if noise:
        s = np.asarray(noise[0]["noise_floor"]["success"])
        lines += ["", (f"Noise floor: the SFT policy of seed {noise[0]['seed']} (tier {noise[0]['tier']}) on {len(s)} "
                       f"disjoint blocks of {args['eval_tasks']} tasks x {N_TRIES} tries: success "
                       f"{', '.join(f'{v:.3f}' for v in s)}; mean {s.mean():.3f}, std {s.std(ddof=1):.3f}, "
                       f"range {s.max() - s.min():.3f}.")]
    verdict = summary["verdict"]
    if verdict:
        gains = "; ".join(f"{row} {g['gain']:+.3f} ({'CIs separated' if g['separated'] else 'CIs overlap'})"
                          for row, g in verdict["gains"].items())
        lines += ["", (f"Tier {DEFAULT_TIER}: SFT success {verdict['sft_success']:.3f}; gain over SFT: {gains}. "
                       f"Required >= +0.1 with separated CIs: {'PASS' if verdict['rl_gain_pass'] else 'FAIL'}. "
                       f"Best learner {verdict['best_learner_success']:.3f}; required >= 0.5: "
                       f"{'PASS' if verdict['half_pass'] else 'FAIL'}.")]
    minutes = [sum(j[r].get("train_seconds", 0) + j[r].get("eval_seconds", 0) for r in ROWS if r in j) / 60
               for j in results["jobs"]]
    if minutes:
        lines.append(f"Training and evaluation time per (tier, seed) job: {np.mean(minutes):.1f} min "
                     f"(max {np.max(minutes):.1f}), one torch thread per job.")
    return "\n".join(lines)


def plot(results: dict[str, Any], summary: dict[str, Any], path: Path) -> None:
    """Success per tier and row (bars with 95% CIs) and SFT success against the number of demonstrations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmarks.learning.text import interval

    fig, (bars, curve) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    tiers = list(summary["table"])
    width = 0.8 / len(ROWS)
    for k, row in enumerate(ROWS):
        values = [summary["table"][t].get(row, {}).get("success", (np.nan, np.nan, np.nan)) for t in tiers]
        points = np.array([v[0] for v in values])
        errors = np.array([[v[0] - v[1], v[2] - v[0]] if np.isfinite(v[1]) else [0, 0] for v in values]).T
        bars.bar(np.arange(len(tiers)) + k * width, points, width, yerr=errors, capsize=3, label=row)
    bars.set_xticks(np.arange(len(tiers)) + width * (len(ROWS) - 1) / 2, [f"tier {t}" for t in tiers])
    bars.set_ylabel("success on held-out customers (sampled)")
    bars.set_ylim(0, 1.05)
    bars.legend(fontsize="small", ncol=2)
    bars.set_title("CustomerServiceDialog-v1")
    jobs = [j for j in results["jobs"] if "demo_curve" in j]
    if jobs:
        ns = sorted({int(k) for j in jobs for k in j["demo_curve"]})
        stats = [interval([j["demo_curve"][str(n)] for j in jobs if str(n) in j["demo_curve"]], "t") for n in ns]
        curve.errorbar(ns, [s[0] for s in stats], yerr=[[s[0] - s[1] if np.isfinite(s[1]) else 0 for s in stats],
                                                       [s[2] - s[0] if np.isfinite(s[1]) else 0 for s in stats]],
                       marker="o", capsize=3)
        curve.set_xscale("log", base=2)
        curve.set_xlabel("oracle demonstrations")
        curve.set_ylabel("SFT success (sampled)")
        curve.set_ylim(0, 1.05)
        curve.set_title(f"SFT alone, tier {DEFAULT_TIER}")
    fig.tight_layout()
    atomic_save_figure(fig, path)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning dialog", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiers", nargs="+", choices=TIERS, default=None, help="default: all three (--quick: none)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--demonstrations", type=int, default=None,
                        help="oracle dialogs for SFT (default: the table's n_demonstrations)")
    parser.add_argument("--demo-curve", nargs="*", type=int, default=None,
                        help="other demonstration counts for SFT alone on the default tier (default 16 32 64 128)")
    parser.add_argument("--rl-steps", type=int, default=None, help=f"env steps per RL run (default {RL_STEPS:,}; "
                                                                   f"--quick {QUICK_RL_STEPS:,})")
    parser.add_argument("--eval-tasks", type=int, default=32, help="held-out tasks, each played 4 times (default 32)")
    parser.add_argument("--noise-blocks", type=int, default=5, help="disjoint seed blocks of the noise floor (0: none)")
    parser.add_argument("--quick", action="store_true", help="the default tier only, fewer RL steps, no curve")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1, help="(tier, seed) jobs at once, in processes")
    add_device_option(parser)
    parser.add_argument("--out", type=Path, default=None, help="write results.json, table.md and dialog.png here")
    args = parser.parse_args(argv)
    tiers = args.tiers or ([DEFAULT_TIER] if args.quick else list(TIERS))
    demonstrations = args.demonstrations or table_config("sft").n_demonstrations
    demo_curve = args.demo_curve if args.demo_curve is not None else ([] if args.quick else [16, 32, 64, 128])
    rl_steps = args.rl_steps or (QUICK_RL_STEPS if args.quick else RL_STEPS)
    for name, value in (("--demonstrations", demonstrations), ("--rl-steps", rl_steps), ("--eval-tasks", args.eval_tasks),
                        ("--threads", args.threads), ("--workers", args.workers)):
        if value < 1:
            parser.error(f"{name} must be >= 1; got {value}")
    if args.noise_blocks < 0 or any(n < 1 for n in demo_curve):
        parser.error("--noise-blocks must be >= 0 and --demo-curve counts >= 1")
    check_device_option(parser, args.device)
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    fixed = {tier: run_fixed(tier, args.eval_tasks, args.device) for tier in tiers}
    jobs = [{"tier": tier, "seed": seed, "demonstrations": demonstrations, "rl_steps": rl_steps,
             "eval_tasks": args.eval_tasks, "demo_curve": demo_curve if tier == DEFAULT_TIER else [],
             "noise_blocks": args.noise_blocks if (tier == DEFAULT_TIER and seed == args.seeds[0]) else 0,
             "threads": args.threads, "device": args.device}
            for tier in tiers for seed in args.seeds]
    if args.workers == 1:
        done = [run_job(**job) for job in jobs]
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_init_worker, initargs=(args.threads,)) as pool:
            futures = [pool.submit(run_job, **job) for job in jobs]
            done = [f.result() for f in futures]
    settings = {"tiers": tiers, "seeds": args.seeds, "demonstrations": demonstrations, "demo_curve": demo_curve,
                "rl_steps": rl_steps, "eval_tasks": args.eval_tasks, "noise_blocks": args.noise_blocks,
                "quick": args.quick, "wall_seconds": time.perf_counter() - start,
                "configs": {a: _plain(table_config(a, {"n_demonstrations": demonstrations} if a == "sft" else None))
                            for a in ("sft", "ppo", "reinforce")}}
    results = {"settings": settings, "tiers": tiers, "fixed": fixed, "jobs": done}
    summary = summarize(results)
    text = format_table(results, summary) + f"\nWall time {settings['wall_seconds'] / 60:.1f} min."
    print()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "results.json", json.dumps(results, indent=1, default=float))
        atomic_write_text(args.out / "table.md", text + "\n")
        plot(results, summary, args.out / "dialog.png")
    verdict = summary["verdict"]
    if args.quick or not verdict:
        return 0
    return 0 if verdict["rl_gain_pass"] and verdict["half_pass"] else 1


def _plain(config: Any) -> dict[str, Any]:
    import dataclasses

    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


if __name__ == "__main__":
    raise SystemExit(main())

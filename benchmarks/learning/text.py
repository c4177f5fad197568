"""REINFORCE (RLOO), A2C and PPO fine-tune the tiny-shop LM on TextGeneration-v1.

The prompts ask for a positive or a negative review, as many of each, and end with a star
rating on target. The reward is ``{"fluent_sentiment": 1.0, "repetition": -0.5}``: VADER's
compound score towards the prompt's target mapped to [0, 1] (0.5 is neutral text), counted
only for text tiny-shop finds fluent, minus half the fraction of repeated word bigrams (so
"great great great" does not pay). Every agent starts from the same pretrained tiny-shop
model and takes its settings from the hyperparameter table.

    python -m benchmarks.learning text                         # 3 agents x seeds 0 1 2
    python -m benchmarks.learning text --agents ppo --seeds 0 1 2 --steps 20000
    python -m benchmarks.learning text --quick                 # seconds: settings of the smoke test
    python -m benchmarks.learning text --dtype bfloat16        # the same runs in bf16 (rollout and update)

Evaluation: one fixed set for every run and both ends of it. ``--eval-episodes`` episodes
(default 240: each of the env's 120 prompts twice, in order, so the prompt mix is not part
of the noise), sampled at temperature 1 (``deterministic=False``) from a sampler seeded with
``EVAL_SEED``. The initial policy is the same pretrained model for every run, so it is
evaluated once. On the end evaluation, the KL to the frozen reference (the initial policy)
is ``sum_t log pi(a_t|s_t) - log pi_ref(a_t|s_t)`` with ``a_t ~ pi``: the sampled (unbiased)
estimate of ``KL(pi || pi_ref)`` per episode, in nats, the quantity PPO's adaptive
controller steers to ``PPOConfig.kl_target`` (Ziegler et al., 2019). Each run also reports
its reward terms, text length, share of distinct texts and commonest last sentence: a
policy that collapses onto one stock phrase shows there, not only in the samples.

Confidence intervals are over seeds (each run's mean evaluation reward is one value): a
Student-t interval by default, because with 3 values a percentile bootstrap can only
return one of the 10 distinct resample means and its interval is too narrow;
``--ci bootstrap`` uses ``benchmarks.stats.bootstrap_ci`` instead. The start reward has no
spread over seeds (one policy, one evaluation set); the noise of the evaluation set itself
is common to start and end and is not in the intervals.

Required result: every agent's end reward beats its start with non-overlapping 95% CIs, on
the whole set and on the positive and the negative prompts each (a policy that writes one
sentiment whatever it is asked fails on the other half), and an adaptive-KL PPO's final KL
stays under its ``kl_target``. Exit status 1 when not (except ``--quick``).
Torch runs on ``--threads`` threads (default 1).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import stats as sps

from agents import A2C, PPO, REINFORCE, Rollout
from agents.envs import make_vector_env
from agents.hyperparams import resolve
from benchmarks.learning import (
    SHIPPED_TINY_SHOP,
    add_device_option,
    add_dtype_option,
    add_tiny_shop_option,
    check_device_option,
    check_tiny_shop,
    tiny_shop_env_kwargs,
)
from benchmarks.stats import bootstrap_ci
from lm_envs.envs.text_generation import world_prompts

ENV_ID = "lm_envs/TextGeneration-v1"
POLICY = SHIPPED_TINY_SHOP
REWARD = {"fluent_sentiment": 1.0, "repetition": -0.5}
MAX_NEW_TOKENS = 16  # as in the quick preset, whose budget the table entries were tuned at
EVAL_SEED = 10_000  # one evaluation set for every run: the same sampler stream and env seeds
N_PROMPTS = len(world_prompts(0, blurbs=False))  # the env's prompts: a positive and a negative review per product

# Hyperparameters: the table's entries for tiny-shop on this env (agents/hyperparams/*.yml,
# where each setting's reasons are noted; `lm-envs hyperparams ppo lm_envs/TextGeneration-v1`
# prints them), whichever tiny-shop --tiny-shop names, so every variant trains alike.
# --steps sets the tokens of training per run (default 24,576, the same for every agent).
AGENTS: dict[str, type] = {"reinforce": REINFORCE, "a2c": A2C, "ppo": PPO}
STEPS = 24_576


def agent_config(name: str) -> Any:
    """The table's config of agent ``name`` for tiny-shop on this env."""
    return resolve(name, ENV_ID, POLICY).config


LABELS = {"reinforce": "REINFORCE (RLOO)", "a2c": "A2C", "ppo": "PPO"}

# --quick: a few updates of short texts, for the smoke test
QUICK = {
    "reinforce": {"num_envs": 4, "group_size": 2},
    "a2c": {"num_envs": 4, "n_steps": 4},
    "ppo": {"num_envs": 4, "n_steps": 4, "minibatch_size": 8, "update_epochs": 1},
}


def evaluate(agent: Any, env: Any, seed: int, reference: Any) -> dict[str, Any]:
    """One sampled episode per row of ``env``, row ``i`` on prompt ``i % N_PROMPTS``: mean
    reward, its terms, the reward on positive- and on negative-target prompts, length, KL
    to the reference per episode, share of distinct texts, the commonest last sentence,
    and the texts (in row order).

    Going through the prompts in order (rather than drawing them) takes the prompt mix out
    of the evaluation noise; a fixed ``seed`` gives the policy the same sampler stream
    before and after training, so the two evaluations differ only by the policy.
    """
    options = {"task_index": np.arange(env.num_envs) % N_PROMPTS}
    rollout = Rollout(env, agent.policy, generator=torch.Generator(device=agent.device).manual_seed(seed),
                      ref_policy=reference)
    agent.policy.eval()
    batch, episodes = rollout.collect_episodes(seed=seed, options=options, deterministic=False)
    # sum_t log pi(a_t) - log pi_ref(a_t), a_t ~ pi: the sampled estimate of KL(pi || pi_ref)
    kl = (batch.logprobs - batch.ref_logprobs) * batch.valid
    completions = [e.completion or "" for e in episodes]
    endings = Counter(_last_sentence(c) for c in completions)
    ending, count = endings.most_common(1)[0]
    targets = np.array([(e.info.get("task") or {}).get("sentiment_target") for e in episodes])
    returns = np.array([e.episode_return for e in episodes])
    return {
        "reward": float(returns.mean()),
        # does the policy follow the prompt's polarity, or write positive text everywhere?
        "by_target": {t: float(returns[targets == t].mean()) for t in ("positive", "negative") if (targets == t).any()},
        "terms": {k: float(np.mean([e.reward_terms[k] for e in episodes])) for k in sorted(episodes[0].reward_terms)},
        "length": float(np.mean([e.length for e in episodes])),
        "kl": float(kl.sum(dim=0).mean()),
        "distinct": len(set(completions)) / len(completions),
        # texts that slip into the reading exercises' or a dialog's format instead of a review
        "exchange_format": float(np.mean(["Customer:" in c or "Agent:" in c for c in completions])),
        "top_ending": (ending, count / len(completions)),
        "samples": [{"prompt": e.prompt, "completion": e.completion, "reward": e.episode_return} for e in episodes],
    }


def _last_sentence(text: str) -> str:
    parts = [p for p in re.split(r"(?<=[.!?])\s+", text.strip()) if p]
    return parts[-1] if parts else ""


def run(name: str, seed: int, *, steps: int | None, eval_env: Any, start: dict[str, Any] | None, quick: bool,
        env_kwargs: dict[str, Any], out: Path | None, policy: str = POLICY, device: str = "cpu",
        dtype: str | None = None) -> dict[str, Any]:
    """Train one agent on one seed; evaluate it on ``eval_env`` before (unless ``start``,
    the evaluation of the same initial policy, is given) and after."""
    cls = AGENTS[name]
    config = agent_config(name)
    steps = STEPS if steps is None else steps
    if quick:
        config = dataclasses.replace(config, **QUICK[name])
    if dtype is not None:
        config = dataclasses.replace(config, dtype=dtype)
    agent = cls(ENV_ID, policy=policy, config=config, seed=seed, env_kwargs=env_kwargs, device=device)
    # the KL is measured to the initial policy, whether or not the agent keeps a reference
    reference = agent.ref_policy or copy.deepcopy(agent.policy).requires_grad_(False).eval()
    before = evaluate(agent, eval_env, EVAL_SEED, reference) if start is None else start
    wall, cpu = time.perf_counter(), time.process_time()
    agent.learn(steps)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = evaluate(agent, eval_env, EVAL_SEED, reference)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        agent.metrics_to_csv(out / f"{name}_seed{seed}.csv")
    return {
        "agent": name,
        "seed": seed,
        "before": before,
        "after": after,
        "start": before["reward"],
        "end": after["reward"],
        "kl": after["kl"],
        "kl_target": config.kl_target if getattr(config, "adaptive_kl", False) else None,
        "timesteps": agent.num_timesteps,
        "updates": agent.num_updates,
        "wall_s": wall,
        "cpu_s": cpu,
    }


def interval(values: list[float], method: str) -> tuple[float, float, float]:
    """``(mean, low, high)``: 95% CI of the mean over seeds (``nan`` bounds for one seed)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    if method == "bootstrap":
        return bootstrap_ci(x, statistic="mean", confidence_level=0.95)
    half = float(sps.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return mean, mean - half, mean + half


def _above(end: tuple[float, float, float], start: tuple[float, float, float]) -> bool:
    """The end's CI lies above the start's (the start's point where it has no spread)."""
    if np.isnan(end[1]):
        return bool(end[0] > start[0])
    return bool(end[1] > (start[0] if np.isnan(start[2]) or start[2] == start[1] else start[2]))


def fmt_ci(point: float, low: float, high: float) -> str:
    if np.isnan(low):
        return f"{point:+.3f}"
    return f"{point:+.3f} [{low:+.3f}, {high:+.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning text", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=list(AGENTS), choices=list(AGENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=None,
                        help=f"tokens of training per run, for every agent (default {STEPS:,}; --quick: 64)")
    parser.add_argument("--eval-episodes", type=int, default=None,
                        help=f"episodes per evaluation, row i on prompt i mod {N_PROMPTS} (default {2 * N_PROMPTS}: every prompt twice; --quick: 8)")
    parser.add_argument("--max-new-tokens", type=int, default=None, help=f"token budget of a text (default {MAX_NEW_TOKENS}; --quick: 8)")
    parser.add_argument("--ci", choices=["t", "bootstrap"], default="t", help="CI over seeds: Student-t or percentile bootstrap")
    parser.add_argument("--quick", action="store_true", help="tiny settings that run in seconds (smoke test)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    add_device_option(parser)
    add_dtype_option(parser)
    add_tiny_shop_option(parser, "a pretrained tiny-shop folder to fine-tune instead of the shipped model (its tokenizer too)")
    parser.add_argument("--out", type=Path, default=None, help="folder for per-run metrics CSVs")
    args = parser.parse_args(argv)
    check_tiny_shop(parser, args.tiny_shop)
    device = check_device_option(parser, args.device)
    steps = args.steps if args.steps is not None else (64 if args.quick else None)
    eval_episodes = args.eval_episodes if args.eval_episodes is not None else (8 if args.quick else 2 * N_PROMPTS)
    max_new_tokens = args.max_new_tokens if args.max_new_tokens is not None else (8 if args.quick else MAX_NEW_TOKENS)
    if eval_episodes < 1 or max_new_tokens < 1:
        parser.error("--eval-episodes and --max-new-tokens must be >= 1")
    torch.set_num_threads(args.threads)
    rates = ", ".join(f"{name} {agent_config(name).learning_rate:g}" for name in args.agents)
    print(
        f"TextGeneration-v1, policy {args.tiny_shop}, reward {REWARD}, max_new_tokens {max_new_tokens}, learning rate {rates}; "
        f"eval: {eval_episodes} sampled episodes (temperature 1) over the {N_PROMPTS} prompts in order, eval seed "
        f"{EVAL_SEED} for every run; seeds {args.seeds}; {args.threads} torch thread(s), device {device}, dtype "
        f"{args.dtype or agent_config(args.agents[0]).dtype}",
        flush=True,
    )

    # 1. train every agent on every seed
    env_kwargs = {"max_new_tokens": max_new_tokens, "reward": REWARD} | tiny_shop_env_kwargs(args.tiny_shop)
    # one row per evaluation episode; every run is evaluated on the same prompts and seed
    eval_env = make_vector_env(ENV_ID, num_envs=eval_episodes, env_kwargs=env_kwargs)
    results: list[dict[str, Any]] = []
    start: dict[str, Any] | None = None  # every run starts from the same pretrained policy: evaluate it once
    total_wall, total_cpu = time.perf_counter(), time.process_time()
    for name in args.agents:
        for seed in args.seeds:
            r = run(name, seed, steps=steps, eval_env=eval_env, start=start, quick=args.quick,
                    env_kwargs=env_kwargs, out=args.out, policy=args.tiny_shop, device=args.device,
                    dtype=args.dtype)
            start = r["before"]
            results.append(r)
            b, e = r["before"], r["after"]
            terms = ", ".join(f"{k} {b['terms'][k]:+.3f} -> {e['terms'][k]:+.3f}" for k in b["terms"])
            terms += "".join(f", {t} prompts {b['by_target'][t]:+.3f} -> {e['by_target'][t]:+.3f}" for t in b["by_target"])
            print(
                f"{name:9s} seed {seed}: reward {r['start']:+.3f} -> {r['end']:+.3f} ({terms}; length "
                f"{b['length']:.1f} -> {e['length']:.1f}; distinct texts {b['distinct']:.0%} -> {e['distinct']:.0%}; "
                f"in exchange format {b['exchange_format']:.0%} -> {e['exchange_format']:.0%}; "
                f"commonest last sentence {e['top_ending'][0]!r} in {e['top_ending'][1]:.0%}), KL to ref "
                f"{r['kl']:.2f} nats/episode; {r['updates']} updates, {r['timesteps']:,} tokens in "
                f"{r['wall_s']:.0f} s wall / {r['cpu_s']:.0f} s CPU",
                flush=True,
            )
    eval_env.close()
    total_wall, total_cpu = time.perf_counter() - total_wall, time.process_time() - total_cpu

    # 2. samples: the same prompts before and after (first seed)
    for name in args.agents:
        first = next(r for r in results if r["agent"] == name)
        print(f"\n{LABELS[name]}, seed {first['seed']}: samples before -> after training (same prompts)")
        # row i of the evaluation env starts from the same prompt before and after training
        for before, after in list(zip(first["before"]["samples"], first["after"]["samples"]))[:3]:
            print(f"  PROMPT: {before['prompt'].strip()}")
            print(f"    before ({before['reward']:+.2f}): {before['completion']!r}")
            print(f"    after  ({after['reward']:+.2f}): {after['completion']!r}")

    # 3. table and verdict
    ci_label = "Student-t" if args.ci == "t" else "percentile bootstrap"
    print(f"\n95% CIs over {len(args.seeds)} seeds ({ci_label}); KL = sampled KL(pi || pi_ref) per episode, nats\n")
    print("| agent | start reward [95% CI] | end reward [95% CI] | final KL | wall s |")
    print("|---|---|---|---|---|")
    verdicts = []
    for name in args.agents:
        rs = [r for r in results if r["agent"] == name]
        start = interval([r["start"] for r in rs], args.ci)
        end = interval([r["end"] for r in rs], args.ci)
        kl = float(np.mean([r["kl"] for r in rs]))
        target = rs[0]["kl_target"]
        kl_text = f"{kl:.2f}" + (f" (target {target:g})" if target is not None else "")
        wall = float(np.mean([r["wall_s"] for r in rs]))
        print(f"| {LABELS[name]} | {fmt_ci(*start)} | {fmt_ci(*end)} | {kl_text} | {wall:.0f} |")
        improved = _above(end, start)
        for t in rs[0]["before"]["by_target"]:
            t_start = interval([r["before"]["by_target"][t] for r in rs], args.ci)
            t_end = interval([r["after"]["by_target"][t] for r in rs], args.ci)
            print(f"|   {t} prompts | {fmt_ci(*t_start)} | {fmt_ci(*t_end)} | | |")
            improved &= _above(t_end, t_start)
        verdicts.append((name, improved, target is None or max(r["kl"] for r in rs) < target))
    print(f"\nstart: the pretrained policy, the same for every run, on the same evaluation set, so it has no spread "
          f"over seeds; end: the trained policies on that set. wall s: mean training time of one run; all "
          f"{len(results)} runs took {total_wall:.0f} s wall, {total_cpu:.0f} s CPU including evaluations.")
    ok = True
    for name, improved, kl_ok in verdicts:
        ok &= improved and kl_ok
        kl_note = "" if name != "ppo" else f"; KL under kl_target on every seed: {'yes' if kl_ok else 'NO'}"
        print(f"{LABELS[name]}: end reward above start with non-overlapping CIs, overall and on each target's "
              f"prompts: {'yes' if improved else 'NO'}{kl_note}")
    print(f"result: {'PASS' if ok else 'FAIL'}")
    return 0 if ok or args.quick else 1


if __name__ == "__main__":
    raise SystemExit(main())

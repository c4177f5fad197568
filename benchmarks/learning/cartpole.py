"""Sanity anchor for the agents: PPO and A2C on CartPole-v1 with the MLP policy.

PPO must reach a deterministic evaluation return >= 475 within 100k steps.

    python -m benchmarks.learning.cartpole                    # PPO and A2C, seeds 0 1 2
    python -m benchmarks.learning.cartpole --algos ppo --seeds 0 --steps 100000 --out results/cartpole

Hyperparameters: the table's CartPole-v1 entries (``agents/hyperparams/ppo.yml`` and
``a2c.yml``, rl-baselines3-zoo's; ``lm-envs hyperparams ppo CartPole-v1`` prints them). Prints
one line per run and writes each run's metrics CSV when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from agents import A2C, PPO
from benchmarks.learning import add_device_option, check_device_option

AGENTS = {"ppo": PPO, "a2c": A2C}
THRESHOLD = 475.0


def run(algo: str, seed: int, steps: int, eval_every: int, eval_episodes: int, out: Path | None,
        device: str = "cpu") -> dict:
    agent = AGENTS[algo]("CartPole-v1", seed=seed, device=device)  # the table's settings
    curve: list[tuple[int, float]] = []
    next_eval = eval_every

    def callback(a, row) -> None:
        nonlocal next_eval
        if a.num_timesteps >= next_eval:
            next_eval += eval_every
            curve.append((a.num_timesteps, a.evaluate(5, deterministic=True)["reward_mean"]))

    start = time.perf_counter()
    agent.learn(steps, callback=callback)
    seconds = time.perf_counter() - start
    final = agent.evaluate(eval_episodes, deterministic=True)
    stochastic = agent.evaluate(eval_episodes, deterministic=False)
    first = next((t for t, r in curve if r >= THRESHOLD), None)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        agent.metrics_to_csv(out / f"{algo}_seed{seed}.csv")
    return {
        "algo": algo,
        "seed": seed,
        "steps": agent.num_timesteps,
        "eval_return": final["reward_mean"],
        "eval_return_stochastic": stochastic["reward_mean"],
        "first_step_eval_ge_475": first,
        "train_seconds": seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=["ppo", "a2c"], choices=sorted(AGENTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--eval-every", type=int, default=10_000)
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (tiny MLPs run fastest on 1)")
    add_device_option(parser)
    parser.add_argument("--out", type=Path, default=None, help="folder for per-run metrics CSVs")
    args = parser.parse_args(argv)
    check_device_option(parser, args.device)
    torch.set_num_threads(args.threads)
    results = []
    for algo in args.algos:
        for seed in args.seeds:
            r = run(algo, seed, args.steps, args.eval_every, args.eval_episodes, args.out, args.device)
            results.append(r)
            print(
                f"{algo:4s} seed {seed}: eval return {r['eval_return']:6.1f} (greedy, {args.eval_episodes} ep), "
                f"{r['eval_return_stochastic']:6.1f} (sampled); first eval >= {THRESHOLD:.0f} at "
                f"{r['first_step_eval_ge_475']} steps; {r['steps']} steps in {r['train_seconds']:.0f} s",
                flush=True,
            )
    for algo in args.algos:
        rets = [r["eval_return"] for r in results if r["algo"] == algo]
        print(f"{algo}: mean eval return {np.mean(rets):.1f} over seeds {args.seeds} (min {np.min(rets):.1f})")
    ppo = [r for r in results if r["algo"] == "ppo"]
    if ppo and args.steps <= 100_000:
        ok = all(r["eval_return"] >= THRESHOLD for r in ppo)
        print(f"PPO >= {THRESHOLD:.0f} within {args.steps} steps on every seed: {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

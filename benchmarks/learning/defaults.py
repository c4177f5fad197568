"""What a new user gets: an agent built with no config learns on a text env's default reward.

``PPO(env_id, policy="tiny-shop", seed=s)`` (and REINFORCE, A2C) with no config takes its
settings from the hyperparameter table; this script trains each for ``--steps`` tokens on
each env's *default* reward and evaluates it before and after on one fixed set of
``--eval-episodes`` sampled episodes (the same env seeds and sampler seed for every run).

    python -m benchmarks.learning defaults                             # PPO, REINFORCE; TextGeneration-v0 and -v1
    python -m benchmarks.learning defaults --agents a2c --envs lm_envs/TextGeneration-v1 --seeds 0

Required result: the evaluation reward rises on every seed, for every agent and env. Exit
status 1 when not. Torch runs on ``--threads`` threads (default 1).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from agents import A2C, PPO, REINFORCE
from benchmarks.learning import add_device_option, check_device_option

AGENTS: dict[str, type] = {"ppo": PPO, "reinforce": REINFORCE, "a2c": A2C}
ENVS = ("lm_envs/TextGeneration-v0", "lm_envs/TextGeneration-v1")
EVAL_SEED = 10_000
MAX_STEPS = 1_000_000
MAX_EVAL_EPISODES = 4096


def run(name: str, env_id: str, seed: int, *, steps: int, eval_episodes: int, device: str = "cpu") -> dict[str, Any]:
    """Train ``name`` with the table's settings (no config) and evaluate it before and after."""
    agent = AGENTS[name](env_id, policy="tiny-shop", seed=seed, device=device)
    before = agent.evaluate(eval_episodes, deterministic=False, seed=EVAL_SEED)["reward_mean"]
    start = time.perf_counter()
    agent.learn(steps)
    seconds = time.perf_counter() - start
    after = agent.evaluate(eval_episodes, deterministic=False, seed=EVAL_SEED)["reward_mean"]
    return {"agent": name, "env": env_id, "seed": seed, "before": before, "after": after, "seconds": seconds,
            "learning_rate": agent.config.learning_rate}


def _bounded_int(low: int, high: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be an int in [{low}, {high}]; got {value}")
        return value

    return parse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning defaults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=["ppo", "reinforce"], choices=list(AGENTS))
    parser.add_argument("--envs", nargs="+", default=list(ENVS), choices=list(ENVS))
    parser.add_argument("--seeds", nargs="+", type=_bounded_int(0, 2**31 - 1), default=[0, 1, 2])
    parser.add_argument("--steps", type=_bounded_int(1, MAX_STEPS), default=20_000, help="tokens of training per run")
    parser.add_argument("--eval-episodes", type=_bounded_int(1, MAX_EVAL_EPISODES), default=128)
    parser.add_argument("--threads", type=_bounded_int(1, 256), default=1, help="torch threads (default 1)")
    add_device_option(parser)
    args = parser.parse_args(argv)
    check_device_option(parser, args.device)
    torch.set_num_threads(args.threads)
    print(f"no config: the table's settings; {args.steps:,} tokens per run; evaluation: {args.eval_episodes} sampled "
          f"episodes, seed {EVAL_SEED}, before and after; seeds {args.seeds}", flush=True)
    results = []
    for env_id in args.envs:
        for name in args.agents:
            for seed in args.seeds:
                r = run(name, env_id, seed, steps=args.steps, eval_episodes=args.eval_episodes, device=args.device)
                results.append(r)
                print(f"{env_id} {name:9s} seed {seed}: {r['before']:+.3f} -> {r['after']:+.3f} "
                      f"({r['after'] - r['before']:+.3f}; learning rate {r['learning_rate']:g}, {r['seconds']:.0f} s)",
                      flush=True)
    print("\n| env | agent | before | after (per seed) | rises on every seed |")
    print("|---|---|---|---|---|")
    ok = True
    for env_id in args.envs:
        for name in args.agents:
            rs = [r for r in results if r["agent"] == name and r["env"] == env_id]
            rises = all(r["after"] > r["before"] for r in rs)
            ok &= rises
            afters = ", ".join(f"{r['after']:+.3f}" for r in rs)
            print(f"| {env_id} | {name} | {np.mean([r['before'] for r in rs]):+.3f} | {afters} | "
                  f"{'yes' if rises else 'NO'} |")
    print(f"result: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""One PPO update with an LM policy, the path before the padding-free update and the lean
forward against the shipped one and the bf16 option, in alternating rounds.

Three agents, built alike (``PPO("lm_envs/TextGeneration-v1", policy=--model)``, ``--batch``
rows x ``--tokens`` tokens, minibatch ``--minibatch-size``, ``--epochs`` epochs, lr 1e-5, no
KL term and no reference, a lexical reward), differ only in the forward passes' layout and
code path and in precision:

- ``padded fp32`` (before): one right-padded row per segment in the update forward and
  transformers' ``model(...)`` for every forward pass, as the agents ran before the
  padding-free update and :mod:`agents.decode` (``LMActorCritic.packed = False``,
  ``lean = False``);
- ``packed fp32`` (shipped default): the segments packed into rows with position ids, each
  group's shared prompt once, and the lean forward of :mod:`agents.decode` in rollout and update;
- ``packed bf16``: the same with the opt-in ``dtype="bfloat16"`` (autocast in rollout and
  update, fp32 weights and Adam).

After one warm-up update each, every round runs one update (``learn(batch * tokens)``:
rollout + epochs) of each agent in turn (``benchmarks.perf.rounds``). Printed: the machine,
the settings, seconds per whole update and per training part (update forward + backward +
optimizer, timed by ``benchmarks.perf.profile``'s phase timer) per variant (medians), the
update forward's padding share, and each speedup over ``padded fp32`` as the median of the
per-round ratios with its min-max. The agents' episodes drift apart as they learn, so the
rollout's share moves a little between variants; the training part does the same work.

Goal: the whole update on smollm2-135m at 16 x 64 at least 1.5x faster than the padded fp32
path.

    python -m benchmarks.perf update                                  # smollm2-135m, 16 x 64, 3 rounds
    python -m benchmarks.perf update --model tiny-shop --epochs 1
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

from benchmarks.perf import rounds
from benchmarks.perf.profile import PhaseTimer, instrument, timed_update

VARIANTS = {  # name -> (packed and lean, dtype)
    "padded fp32": (False, "float32"),
    "packed fp32": (True, "float32"),
    "packed bf16": (True, "bfloat16"),
}
TRAINING = ("update forward", "backward + clip", "optimizer")
GOAL = 1.5


def build(args: argparse.Namespace, packed: bool, dtype: str, device: torch.device) -> Any:
    from agents import PPO, PPOConfig

    config = PPOConfig(
        num_envs=args.batch, n_steps=args.tokens, minibatch_size=args.minibatch_size, update_epochs=args.epochs,
        learning_rate=1e-5, anneal_lr=False, kl_coef=0.0, reference="none", dtype=dtype,
    )  # fmt: skip
    env_kwargs = {"tokenizer": args.model, "max_new_tokens": args.tokens,
                  "reward": {"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}}  # fmt: skip
    agent = PPO("lm_envs/TextGeneration-v1", policy=args.model, config=config, seed=0, env_kwargs=env_kwargs,
                device=device)  # fmt: skip
    agent.policy.packed = agent.policy.lean = packed
    return agent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf update", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch", type=int, default=16, help="rows (num_envs)")
    parser.add_argument("--tokens", type=int, default=64, help="tokens per row per update (n_steps, max_new_tokens)")
    parser.add_argument("--minibatch-size", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    rounds.add_arguments(parser)
    args = parser.parse_args(argv)
    if "padded fp32" not in args.variants:
        parser.error("--variants must include 'padded fp32' (the before every speedup is measured against)")
    device = rounds.setup(args)

    agents = {v: build(args, *VARIANTS[v], device) for v in args.variants}
    timers = {v: PhaseTimer() for v in agents}
    for v, agent in agents.items():
        instrument(agent, timers[v])
    steps = args.batch * args.tokens
    training: dict[str, list[float]] = {v: [] for v in agents}
    padding: dict[str, float] = {}

    def one_update(v: str, r: int) -> float:
        timers[v].reset()
        start = time.perf_counter()
        with timed_update(timers[v]):
            agents[v].learn(steps)
        seconds = time.perf_counter() - start
        if r >= 0:
            training[v].append(sum(timers[v].seconds.get(p, 0.0) for p in TRAINING))
            t = timers[v].tokens
            padding[v] = 1 - t["real"] / t["padded"] if t.get("padded") else float("nan")
        return seconds

    totals = rounds.alternate({v: (lambda r, v=v: one_update(v, r)) for v in agents}, args.rounds)
    print(rounds.machine_line(dtype="float32 / bfloat16 per variant", device=device))
    print(f"PPO update on TextGeneration-v1 with {args.model}: {args.batch} rows x {args.tokens} tokens, minibatch "
          f"{args.minibatch_size}, {args.epochs} epoch(s), lr 1e-5, no reference; one warm-up update each, then "
          f"{args.rounds} alternating rounds")  # fmt: skip
    print(f"  {'variant':<12} {'update s':>9} {'training s':>11} {'padding':>8}   update s per round")
    for v in agents:
        print(f"  {v:<12} {np.median(totals[v]):>9.2f} {np.median(training[v]):>11.2f} {padding.get(v, float('nan')):>8.0%}   "
              + ", ".join(f"{x:.2f}" for x in totals[v]))  # fmt: skip
    for v in agents:
        if v == "padded fp32":
            continue
        print(rounds.ratio_line(f"{v} vs padded fp32, whole update (before / after)", totals["padded fp32"], totals[v], goal=GOAL))
        print(rounds.ratio_line(f"{v} vs padded fp32, training part", training["padded fp32"], training[v]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How throughput grows with the number of envs and the generation length.

Two measurements, one process, each setting alternated with the others in rounds (medians):

- **env**: env-only steps/s of the native vector env
  (``gym.make_vec("lm_envs/TextGeneration-v1", num_envs=N, vectorization_mode="vector_entry_point",
  max_new_tokens=T)``) stepped with a pre-drawn stream of shop-text tokens (stop tokens dropped,
  so every episode runs ``T`` tokens; resets and the batched end-of-episode reward are included).
  A step of N rows counts N steps.
- **rollout**: tokens/s of ``agents.Rollout`` with tiny-shop (``reset`` + ``collect(T)``:
  prefill, sampling, env step, KV-cache extension, value head, log-prob and entropy). Stop
  tokens are masked out of the sampling distribution (like ``generate``'s ``min_new_tokens``)
  so each row generates exactly ``T`` tokens and the cost per position is measured at every
  length. Each step is timed, giving the cost per token at each generation position.

Settings: number of envs ``--envs`` at ``--base-length`` tokens, and lengths ``--lengths`` at
``--base-envs`` rows. Rounds shrink for big settings to keep the run short (``--budget`` tokens
per setting and round). The PNG (``--out``) shows throughput vs number of envs, and ms per
token vs generation position (the last step, which also pays the reward and the next
prompts' prefill, is left out of the line and named in the legend): flat lines mean the KV
cache keeps the cost per token independent of how many tokens came before.

    python -m benchmarks.perf scale
    python -m benchmarks.perf scale --envs 1 8 --lengths 16 64 --rounds 1 --out /tmp/scale.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import lm_envs  # noqa: F401  (registers the ids)
from agents import LMActorCritic, Rollout

ENV_ID = "lm_envs/TextGeneration-v1"
LEXICAL_REWARD = {"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}  # no reward model in the timings


class NoStopPolicy(LMActorCritic):
    """tiny-shop with the stop tokens masked out: every row generates its full budget."""

    def __init__(self, model: Any, stop_ids: list[int]) -> None:
        super().__init__(model)
        self.stop_ids = stop_ids

    def distribution_logits(self, logits: torch.Tensor, action_mask: torch.Tensor | None = None) -> torch.Tensor:
        logits = logits.clone()
        logits[:, self.stop_ids] = float("-inf")
        return super().distribution_logits(logits, action_mask)


def make_env(num_envs: int, length: int, tokenizer: str) -> Any:
    return gym.make_vec(
        ENV_ID, num_envs=num_envs, vectorization_mode="vector_entry_point", max_new_tokens=length, tokenizer=tokenizer,
        reward=LEXICAL_REWARD,
    )


def env_round(env: Any, tokens: np.ndarray, n_vector_steps: int, seed: int) -> float:
    """Env-only steps/s (rows x vector steps) of ``n_vector_steps`` steps."""
    n = env.num_envs
    env.reset(seed=seed)
    offsets = np.arange(n) * 7919
    start = time.perf_counter()
    for t in range(n_vector_steps):
        env.step(tokens[(offsets + t) % len(tokens)])
    return n * n_vector_steps / (time.perf_counter() - start)


def rollout_round(env: Any, policy: LMActorCritic, length: int, seed: int) -> tuple[float, np.ndarray]:
    """Tokens/s of ``reset`` + ``collect(length)`` and the seconds of each step."""
    rollout = Rollout(env, policy, generator=torch.Generator(device=policy.device).manual_seed(seed))
    step_seconds: list[float] = []
    inner = rollout._step

    def timed(deterministic: bool) -> Any:
        t0 = time.perf_counter()
        out = inner(deterministic)
        step_seconds.append(time.perf_counter() - t0)
        return out

    rollout._step = timed  # type: ignore[method-assign]
    start = time.perf_counter()
    rollout.reset(seed=seed)
    rollout.collect(length)
    seconds = time.perf_counter() - start
    return env.num_envs * length / seconds, np.array(step_seconds)


def rounds_for(tokens: int, budget: int, rounds: int) -> int:
    return max(1, min(rounds, budget // max(tokens, 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf scale", description=__doc__)
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--base-length", type=int, default=64, help="generation length of the num-envs sweep")
    parser.add_argument("--base-envs", type=int, default=16, help="rows of the length sweep")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=8192, help="rollout tokens per setting per round that still get all rounds")
    parser.add_argument("--env-steps", type=int, default=20_000, help="env-only row-steps per setting per round")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: on a shared 2-core machine 2 threads spin-wait and run ~10x slower)")
    parser.add_argument("--model", default="tiny-shop")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when available)")
    parser.add_argument("--out", default="results/perf/scale.png")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from agents.options import resolve_device
    from benchmarks.perf.rounds import machine_line

    device = resolve_device(args.device)
    print(machine_line(device=device))

    from lm_envs.models import load_policy

    probe = gym.make(ENV_ID, tokenizer=args.model).unwrapped
    stop_ids = sorted(probe.stop_token_ids)
    from lm_envs.world import make_world

    text = " ".join(make_world(seed=0).corpus(seed=1)[:2000])
    tokens = np.array([t for t in probe.tokenizer.encode(text, add_special_tokens=False) if t not in probe.stop_token_ids])
    policy = NoStopPolicy(load_policy(args.model, device=device), stop_ids).to(device)

    settings = sorted({(n, args.base_length) for n in args.envs} | {(args.base_envs, t) for t in args.lengths})
    envs = {s: make_env(*s, tokenizer=args.model) for s in settings}
    env_rates: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    tok_rates: dict[tuple[int, int], list[float]] = {s: [] for s in settings}
    step_times: dict[tuple[int, int], list[np.ndarray]] = {s: [] for s in settings}
    n_rounds = {s: rounds_for(s[0] * s[1], args.budget, args.rounds) for s in settings}

    start = time.perf_counter()
    for s in settings:  # warm-up: one short rollout and a few env steps per setting
        env_round(envs[s], tokens, 4, seed=0)
        rollout_round(envs[s], policy, min(s[1], 4), seed=0)
    for r in range(args.rounds):
        for s in settings:
            env_rates[s].append(env_round(envs[s], tokens, max(1, args.env_steps // s[0]), seed=r))
            if r < n_rounds[s]:
                rate, per_step = rollout_round(envs[s], policy, s[1], seed=r)
                tok_rates[s].append(rate)
                step_times[s].append(per_step)
    total = time.perf_counter() - start

    print(
        f"{args.model} on TextGeneration-v1 (lexical reward), {torch.get_num_threads()} torch threads, one process; "
        f"medians over rounds (env: {args.rounds}; rollout: rounds shown)"
    )
    header = f"{'envs':>5} {'length':>6} {'env steps/s':>12} {'rollout tokens/s':>17} {'ms/token first-q':>17} {'last-q':>7} {'rounds':>6}"
    print(header)
    table = []
    for s in settings:
        n, t = s
        per_token = np.median(np.stack(step_times[s]), axis=0) * 1e3 / n  # ms per generated token at each position
        q = max(1, t // 4)
        first, last = float(np.median(per_token[:q])), float(np.median(per_token[-q:]))
        env_rate, tok_rate = float(np.median(env_rates[s])), float(np.median(tok_rates[s]))
        table.append((n, t, env_rate, tok_rate, per_token))
        print(f"{n:>5} {t:>6} {env_rate:>12,.0f} {tok_rate:>17,.0f} {first:>17.3f} {last:>7.3f} {n_rounds[s]:>6}")
    by_len = [row for row in table if row[0] == args.base_envs]
    if len(by_len) > 1:
        short, long = by_len[0], by_len[-1]
        print(
            f"cost per token, {long[1]} vs {short[1]} tokens at {args.base_envs} rows: "
            f"{short[3] / long[3]:.2f}x (1.00 = flat; the KV cache makes each step feed one token)"
        )
    by_envs = [row for row in table if row[1] == args.base_length]
    if len(by_envs) > 1:
        lo, hi = by_envs[0], by_envs[-1]
        print(
            f"{hi[0]} vs {lo[0]} envs at {args.base_length} tokens: env steps/s x{hi[2] / lo[2]:.1f}, "
            f"rollout tokens/s x{hi[3] / lo[3]:.1f}"
        )
    print(f"total {total:.0f} s")
    plot(table, args, Path(args.out))
    print(f"plot: {args.out}")
    return 0


def plot(table: list[tuple[int, int, float, float, np.ndarray]], args: argparse.Namespace, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    by_envs = [row for row in table if row[1] == args.base_length]
    ns = [row[0] for row in by_envs]
    ax1.plot(ns, [row[2] for row in by_envs], "o-", label="env only (steps/s)")
    ax1.plot(ns, [row[3] for row in by_envs], "s-", label=f"rollout with {args.model} (tokens/s)")
    ax1.set(xscale="log", yscale="log", xlabel="number of envs (rows)", ylabel="per second",
            title=f"throughput vs envs, {args.base_length} tokens")  # fmt: skip
    ax1.legend()
    for n, t, _, _, per_token in table:
        if n == args.base_envs:
            # the last step also scores every row and prefills the next prompts: shown apart,
            # so the line shows what generating one more token costs
            ax2.plot(np.arange(1, t), per_token[:-1], label=f"length {t} (last step, with reward + reset: {per_token[-1]:.2f} ms)")
    ax2.set(xlabel="generation position (tokens already generated + 1)", ylabel="ms per generated token",
            title=f"cost per token vs position, {args.base_envs} rows")  # fmt: skip
    ax2.set_ylim(bottom=0)
    ax2.legend()
    fig.suptitle(f"lm-envs scaling, {args.threads} torch threads")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)

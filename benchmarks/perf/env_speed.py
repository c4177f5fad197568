"""Env-only steps/s of TextGeneration-v1 next to a minimal env that only appends to a buffer.

Both envs see the same observation shape and the same pre-drawn token stream, are stepped in
the same process, and alternate in rounds (``benchmarks.perf.rounds``) so machine noise hits
both alike; the printed ratio is the median over rounds of ours / minimal with its min-max
(target: at least 0.3). The envs run on the CPU whatever ``--device`` says (they hold token
ids in numpy); the flag is accepted for a uniform command line.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
from gymnasium import spaces

import lm_envs  # noqa: F401  (registers the ids)
from benchmarks.perf import rounds


class AppendOnlyEnv(gym.Env):
    """The least a token env can do: append the action to a buffer and end at a budget."""

    def __init__(self, vocab_size: int, prompt_len: int, max_new_tokens: int, max_length: int) -> None:
        self.action_space = spaces.Discrete(vocab_size)
        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, vocab_size - 1, (max_length,), np.int64),
                "attention_mask": spaces.Box(0, 1, (max_length,), np.int8),
            }
        )
        self.prompt_len, self.max_new_tokens = prompt_len, max_new_tokens
        self.ids = np.zeros(max_length, dtype=np.int64)
        self.mask = np.zeros(max_length, dtype=np.int8)
        self.length = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ids.fill(0)
        self.mask.fill(0)
        self.mask[: self.prompt_len] = 1
        self.length = self.prompt_len
        return {"input_ids": self.ids.copy(), "attention_mask": self.mask.copy()}, {}

    def step(self, action):
        self.ids[self.length] = action
        self.mask[self.length] = 1
        self.length += 1
        truncated = self.length - self.prompt_len >= self.max_new_tokens
        return {"input_ids": self.ids.copy(), "attention_mask": self.mask.copy()}, 0.0, False, truncated, {}


def steps_per_second(env: gym.Env, tokens: np.ndarray, seed: int) -> float:
    env.reset(seed=seed)
    start = time.perf_counter()
    for token in tokens:
        _, _, terminated, truncated, _ = env.step(int(token))
        if terminated or truncated:
            env.reset()
    return len(tokens) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf env", description=__doc__)
    parser.add_argument("--steps", type=int, default=20_000, help="steps per round per env")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--tokenizer", default="tiny-shop")
    rounds.add_arguments(parser)
    args = parser.parse_args(argv)
    device = rounds.setup(args)

    rewards = {
        "default": {"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5},  # lexical rewards, no model
        "keywords": {"keywords": 1.0},  # a cheap reward: what the env mechanics cost
    }
    envs = {
        name: gym.make("lm_envs/TextGeneration-v1", tokenizer=args.tokenizer, reward=spec, reward_mode="sparse", max_new_tokens=args.max_new_tokens).unwrapped
        for name, spec in rewards.items()
    }
    ours = envs["default"]
    # The token stream is real shop text (the world corpus), so the rewards see text like a
    # trained policy's rather than random byte soup; stop tokens are dropped so every episode
    # runs the full max_new_tokens, in both envs.
    from lm_envs.world import make_world

    text = " ".join(make_world(seed=0).corpus(seed=1)[:2000])
    tokens = [t for t in ours.tokenizer.encode(text, add_special_tokens=False) if t not in ours.stop_token_ids]
    tokens = np.array((tokens * (args.steps // max(len(tokens), 1) + 1))[: args.steps])
    prompt_len = len(ours.encode_prompt(ours.tasks[0]))
    minimal = AppendOnlyEnv(ours.vocab_size, prompt_len, args.max_new_tokens, ours.max_length)

    sides = {name: (lambda r, env=env: steps_per_second(env, tokens, seed=max(r, 0))) for name, env in envs.items()}
    sides["minimal"] = lambda r: steps_per_second(minimal, tokens, seed=max(r, 0))
    rates = rounds.alternate(sides, args.rounds)
    median = {name: float(np.median(values)) for name, values in rates.items()}
    print(rounds.machine_line(dtype="-", device=device))
    print(f"episodes of {args.max_new_tokens} tokens, {args.rounds} alternating rounds of {args.steps} steps, one process, "
          f"the same token stream for every env; medians")
    for name, env in envs.items():
        label = f"TextGeneration-v1, reward {'+'.join(env.reward_fn.names)}"
        goal = 0.3 if name == "default" else None
        print(f"{label:<58} {median[name]:>10,.0f} steps/s   "
              + rounds.ratio_line("ratio to minimal", rates[name], rates["minimal"], goal=goal))
    print(f"{'minimal append-only env':<58} {median['minimal']:>10,.0f} steps/s")
    return 0

"""Tokens/s of env-in-the-loop rollouts (``agents.rollout``) next to ``model.generate``.

Both sides use the same model object, the same prompts (the env's first prompts for the
round's seed, left-padded for ``generate``), the same batch, the same number of generated
tokens per row and the same sampling distribution (temperature 1.0, no top-k, no top-p),
run in one process, and alternate in rounds after one warm-up round of each
(``benchmarks.perf.rounds``); the printed figures are medians over the rounds, the ratio the
median of the per-round ratios with its min-max. Goal: >= 1.5x for tiny-shop at 64 x 48.

- **ours**: ``Rollout(gym.make_vec("lm_envs/TextGeneration-v1", num_envs=B,
  vectorization_mode="vector_entry_point", max_new_tokens=T), LMActorCritic(lm))``,
  ``reset(seed)`` then ``collect(T)``: ``B * T`` generated tokens, each one sampled,
  stepped through the env, scored at episode ends by a lexical reward
  (sentiment + keywords + repetition, one batched call per step) and fed back through the
  KV cache. A row that emits EOS starts its next episode in the same
  step (its new prompt is prefilled and spliced into the batch cache), so ours also pays
  for resets that ``generate`` never does. The value head and the per-token log-prob and
  entropy of the sampled action are computed too (the agents need them).
- **generate**: ``lm.generate(ids, attention_mask, do_sample=True, max_new_tokens=T,
  min_new_tokens=T, top_k=0, top_p=1.0, temperature=1.0, use_cache=True)``: ``B * T``
  tokens (EOS is masked until ``T`` tokens, so no row stops early).

Why ours can keep up although it also steps the env, scores rewards and resets rows: the
cache catches up lazily (no forward for prompts no action follows; the last values skip rows
that just ended), each layer is an in-place buffer with spare room (no ``torch.cat`` of the
whole cache per step, which ``DynamicLayer.update`` does on both sides otherwise), and prompts
already run in the same collect call reuse their KV. Measured ratios are in
``docs/results.md``.

    python -m benchmarks.perf rollout                          # tiny-shop, 64 x 48, 5 rounds
    python -m benchmarks.perf rollout --model smollm2-135m --batch 16 --rounds 3
    python -m benchmarks.perf rollout --dtype bfloat16 --device auto
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import lm_envs  # noqa: F401  (registers the ids)
from agents import LMActorCritic, Rollout
from agents.policies import autocast
from benchmarks.perf import rounds
from lm_envs.models import load_policy


def left_padded_prompts(obs: dict[str, np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-packed env observations -> ``generate``'s left-padded ``(B, P)`` ids and mask."""
    lengths = np.asarray(obs["attention_mask"]).sum(axis=1)
    width = int(lengths.max())
    ids = np.full((len(lengths), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(lengths), width), dtype=np.int64)
    for i, n in enumerate(lengths):
        ids[i, width - n :] = obs["input_ids"][i, :n]
        mask[i, width - n :] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)


def ours(env: Any, policy: LMActorCritic, seed: int, new_tokens: int) -> tuple[float, int, int, tuple[int, int]]:
    """Seconds, generated tokens, finished episodes and (new episodes prefilled, of them from
    remembered prompt KV) of one reset + collect."""
    rollout = Rollout(env, policy, generator=torch.Generator(device=policy.device).manual_seed(seed))
    start = time.perf_counter()
    rollout.reset(seed=seed)
    _, episodes = rollout.collect(new_tokens)
    seconds = time.perf_counter() - start
    return seconds, env.num_envs * new_tokens, len(episodes), (rollout.actor.reprefilled_rows, rollout.actor.reused_prompts)


def hf_generate(lm: Any, ids: torch.Tensor, mask: torch.Tensor, seed: int, new_tokens: int, stop_ids: list[int], pad_id: int,
                dtype: str = "float32") -> tuple[float, int]:
    """Seconds and generated tokens of one ``model.generate`` call (under the same autocast as
    ours when ``dtype`` is bfloat16)."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad(), autocast(ids.device, dtype):
        out = lm.generate(
            input_ids=ids,
            attention_mask=mask,
            do_sample=True,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            temperature=1.0,
            top_k=0,
            top_p=1.0,
            use_cache=True,
            eos_token_id=stop_ids,
            pad_token_id=pad_id,
        )
    if ids.device.type == "cuda":
        torch.cuda.synchronize(ids.device)
    seconds = time.perf_counter() - start
    generated = out.shape[1] - ids.shape[1]
    if generated != new_tokens:
        raise RuntimeError(f"generate produced {generated} tokens per row, expected {new_tokens}")
    return seconds, ids.shape[0] * generated


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-shop", help="policy and tokenizer: tiny-shop, smollm2-135m, a local HF folder")
    parser.add_argument("--batch", type=int, default=64, help="rows (num_envs = generate batch)")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="generated tokens per row")
    rounds.add_arguments(parser, rounds=5, dtype=True)
    args = parser.parse_args(argv)
    device = rounds.setup(args)

    lm = load_policy(args.model, device=device)
    # wraps the same module object; bfloat16 runs both sides under the same autocast
    policy = LMActorCritic(lm, temperature=1.0, top_k=None, top_p=None, dtype=args.dtype)
    env = gym.make_vec(
        "lm_envs/TextGeneration-v1",
        num_envs=args.batch,
        vectorization_mode="vector_entry_point",
        tokenizer=args.model,
        max_new_tokens=args.max_new_tokens,
        reward={"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5},  # lexical: no reward model
    )
    template = env.unwrapped.env if hasattr(env.unwrapped, "env") else env
    pad_id = int(template.pad_token_id)
    stop_ids = sorted(int(t) for t in template.stop_token_ids)
    prompts = {}
    for seed in range(args.rounds + 1):  # seed 0: the warm-up round
        obs, _ = env.reset(seed=seed)
        ids, mask = left_padded_prompts(obs, pad_id)
        prompts[seed] = (ids.to(device), mask.to(device))

    resets: list[int] = []
    reprefills: list[tuple[int, int]] = []

    def run_ours(r: int) -> float:
        seconds, tokens, finished, reprefilled = ours(env, policy, r + 1, args.max_new_tokens)
        if r >= 0:
            resets.append(finished)
            reprefills.append(reprefilled)
        return tokens / seconds

    def run_generate(r: int) -> float:
        ids, mask = prompts[r + 1]
        seconds, tokens = hf_generate(lm, ids, mask, r + 1, args.max_new_tokens, stop_ids, pad_id, args.dtype)
        return tokens / seconds

    # a warm-up round of each (allocator, kernels, generation-config checks), then alternating rounds
    rates = rounds.alternate({"ours": run_ours, "generate": run_generate}, args.rounds)
    median = {side: float(np.median(values)) for side, values in rates.items()}
    prompt_tokens = int(prompts[1][1].sum()) // args.batch
    print(rounds.machine_line(dtype=args.dtype, device=device))
    print(
        f"{args.model}: batch {args.batch}, {args.max_new_tokens} generated tokens per row, ~{prompt_tokens} prompt tokens, "
        f"temperature 1.0, no top-k/top-p, the same prompts and dtype on both sides; {args.rounds} alternating rounds"
    )
    print(f"{'ours: agents.rollout + native vector env':<44} {median['ours']:>9,.0f} tokens/s"
          f"   (rounds: {', '.join(f'{r:,.0f}' for r in rates['ours'])}; {np.median(resets):.0f} episodes ended, "
          f"{np.median([r for r, _ in reprefills]):.0f} new ones prefilled, "
          f"{np.median([k for _, k in reprefills]):.0f} of them from remembered prompt KV, per round)")
    print(f"{'model.generate (do_sample, use_cache)':<44} {median['generate']:>9,.0f} tokens/s"
          f"   (rounds: {', '.join(f'{r:,.0f}' for r in rates['generate'])})")
    print(rounds.ratio_line("ratio ours / generate (tokens/s)", rates["ours"], rates["generate"], goal=1.5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Tokens/s of env-in-the-loop rollouts (``agents.rollout``) next to ``model.generate``.

Both sides use the same model object, the same prompts (the env's first prompts for the
round's seed, left-padded for ``generate``), the same batch, the same number of generated
tokens per row and the same sampling distribution (temperature 1.0, no top-k, no top-p),
run in one process, and alternate in rounds after one warm-up round of each; the printed
figures are medians over the rounds.

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
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    rollout.reset(seed=seed)
    _, episodes = rollout.collect(new_tokens)
    seconds = time.perf_counter() - start
    return seconds, env.num_envs * new_tokens, len(episodes), (rollout.actor.reprefilled_rows, rollout.actor.reused_prompts)


def hf_generate(lm: Any, ids: torch.Tensor, mask: torch.Tensor, seed: int, new_tokens: int, stop_ids: list[int], pad_id: int) -> tuple[float, int]:
    """Seconds and generated tokens of one ``model.generate`` call."""
    torch.manual_seed(seed)
    start = time.perf_counter()
    with torch.no_grad():
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
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per side (after one warm-up round each)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the figures do not depend on other load as much)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    lm = load_policy(args.model)
    policy = LMActorCritic(lm, temperature=1.0, top_k=None, top_p=None)  # wraps the same module object
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
    for seed in range(args.rounds + 1):
        obs, _ = env.reset(seed=seed)
        prompts[seed] = left_padded_prompts(obs, pad_id)

    rates: dict[str, list[float]] = {"ours": [], "generate": []}
    resets: list[int] = []
    reprefills: list[tuple[int, int]] = []
    # round 0 warms both up (allocator, kernels, generation-config checks) and is not counted;
    # the two sides alternate, and which goes first flips each round
    for seed in range(args.rounds + 1):
        sides = ["ours", "generate"] if seed % 2 == 0 else ["generate", "ours"]
        for side in sides:
            if side == "ours":
                seconds, tokens, finished, reprefilled = ours(env, policy, seed, args.max_new_tokens)
                if seed:
                    resets.append(finished)
                    reprefills.append(reprefilled)
            else:
                ids, mask = prompts[seed]
                seconds, tokens = hf_generate(lm, ids, mask, seed, args.max_new_tokens, stop_ids, pad_id)
            if seed:
                rates[side].append(tokens / seconds)
    median = {side: float(np.median(values)) for side, values in rates.items()}
    prompt_tokens = int(prompts[1][1].sum()) // args.batch
    print(
        f"{args.model}: batch {args.batch}, {args.max_new_tokens} generated tokens per row, ~{prompt_tokens} prompt tokens, "
        f"temperature 1.0, no top-k/top-p, {args.threads} torch thread(s); median of {args.rounds} alternating rounds"
    )
    print(f"{'ours: agents.rollout + native vector env':<44} {median['ours']:>9,.0f} tokens/s"
          f"   (rounds: {', '.join(f'{r:,.0f}' for r in rates['ours'])}; {np.median(resets):.0f} episodes ended, "
          f"{np.median([r for r, _ in reprefills]):.0f} new ones prefilled, "
          f"{np.median([k for _, k in reprefills]):.0f} of them from remembered prompt KV, per round)")
    print(f"{'model.generate (do_sample, use_cache)':<44} {median['generate']:>9,.0f} tokens/s"
          f"   (rounds: {', '.join(f'{r:,.0f}' for r in rates['generate'])})")
    paired = np.median(np.array(rates["ours"]) / np.array(rates["generate"]))
    print(f"ratio ours / generate: {median['ours'] / median['generate']:.2f}   "
          f"(median of per-round ratios {paired:.2f}; target: >= 1.0 for tiny-shop)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

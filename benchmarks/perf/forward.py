"""The policy's forward passes through :mod:`agents.decode`'s lean blocks against transformers'
``model(...)``, in alternating rounds.

Two ``LMActorCritic`` wrap the same model object and differ only in ``lean`` (``True``: the
lean blocks, the default; ``False``: transformers' forward everywhere). Three calls, each
timed ``--calls`` times per round (``benchmarks.perf.rounds``: a warm-up round, then A B, B A):

- **prefill**: ``policy.prefill`` of ``--batch`` left-padded prompts of ``--prompt / 2`` to
  ``--prompt`` tokens (no gradients), as a rollout's first step runs it;
- **decode step**: ``policy.extend`` of one token per row through the prompts' cache, held in
  the rollout's in-place layers (``agents.kv_cache.InPlaceLayer``), the cache growing by one
  column per call;
- **update forward + backward**: ``policy.score_positions`` of ``--batch`` segments (the
  prompts plus ``--tokens`` more tokens, each of those scored) packed into rows, then the
  backward of the sum of the log-sum-exp of the logits and the values.

Printed: the machine, the settings, milliseconds per call of each side (medians over rounds),
the ratio transformers / lean (the median of the per-round ratios with its min-max), and the
largest difference between the two sides' logits (they compute the same function).

    python -m benchmarks.perf forward                       # tiny-shop, 64 rows, 45-token prompts
    python -m benchmarks.perf forward --model smollm2-135m --batch 16 --calls 5 --dtype bfloat16
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from agents import LMActorCritic
from agents.kv_cache import InPlaceLayer
from benchmarks.perf import rounds
from lm_envs.models import load_policy

SIDES = ("transformers", "lean")


def make_inputs(batch: int, prompt: int, tokens: int, vocab: int, device: torch.device) -> dict[str, torch.Tensor]:
    """Left-padded prompts of ``prompt // 2`` to ``prompt`` tokens and their segments with
    ``tokens`` more, every one of those scored (seeded: the same inputs on both sides)."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(max(1, prompt // 2), prompt + 1, (batch,), generator=g)
    ids = torch.randint(3, vocab, (batch, prompt + tokens), generator=g)
    mask = (torch.arange(prompt)[None, :] >= prompt - lengths[:, None]).long()
    left = torch.where(mask.bool(), ids[:, :prompt], 0)
    seg_len = lengths + tokens
    contexts = torch.zeros(batch, prompt + tokens, dtype=torch.long)
    for b, n in enumerate(lengths.tolist()):
        contexts[b, : n + tokens] = ids[b, : n + tokens]
    seq_index = torch.arange(batch).repeat_interleave(tokens)
    positions = (lengths[:, None] - 1 + torch.arange(tokens)[None, :]).reshape(-1)
    found = {"prompts": left, "mask": mask, "contexts": contexts, "seg_len": seg_len, "seq_index": seq_index,
             "positions": positions, "next": ids[:, prompt:]}  # fmt: skip
    return {k: v.to(device) for k, v in found.items()}


def timed(fn: Callable[[], Any], calls: int) -> float:
    """Milliseconds per call of ``calls`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) * 1e3 / calls


def prefill(policy: LMActorCritic, x: dict[str, torch.Tensor], calls: int) -> float:
    with torch.no_grad():
        return timed(lambda: policy.prefill(x["prompts"], x["mask"]), calls)


def decode(policy: LMActorCritic, x: dict[str, torch.Tensor], calls: int) -> float:
    with torch.no_grad():
        _, _, cache = policy.prefill(x["prompts"], x["mask"])
        cache.layers = [InPlaceLayer(layer.keys, layer.values, room=calls) for layer in cache.layers]
        lengths = x["mask"].sum(-1)
        state = {"mask": x["mask"], "step": 0}

        def step() -> None:
            t = state["step"] % x["next"].shape[1]
            state["mask"] = torch.nn.functional.pad(state["mask"], (0, 1), value=1)
            policy.extend(x["next"][:, t : t + 1], state["mask"], (lengths + state["step"])[:, None], cache)
            state["step"] += 1

        return timed(step, calls)


def update(policy: LMActorCritic, x: dict[str, torch.Tensor], calls: int) -> float:
    def step() -> None:
        policy.zero_grad(set_to_none=True)
        logits, values = policy.score_positions(x["contexts"], x["seg_len"], x["seq_index"], x["positions"])
        (logits.logsumexp(-1).sum() + values.sum()).backward()

    return timed(step, calls)


CALLS = {"prefill": prefill, "decode step": decode, "update forward + backward": update}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf forward", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--model", default="tiny-shop", help="tiny-shop, smollm2-135m or a local HF folder")
    parser.add_argument("--batch", type=int, default=64, help="rows (prompts, segments)")
    parser.add_argument("--prompt", type=int, default=45, help="longest prompt, in tokens")
    parser.add_argument("--tokens", type=int, default=32, help="scored tokens per segment of the update")
    parser.add_argument("--calls", type=int, default=20, help="calls of each kind per round and side")
    rounds.add_arguments(parser, rounds=5, dtype=True)
    args = parser.parse_args(argv)
    for name in ("batch", "prompt", "tokens", "calls"):
        if not 1 <= getattr(args, name) <= 4096:
            parser.error(f"--{name} must be in 1..4096; got {getattr(args, name)}")
    device = rounds.setup(args)

    lm = load_policy(args.model, device=device)
    policies = {side: LMActorCritic(lm, dtype=args.dtype, lean=side == "lean").to(device) for side in SIDES}
    if (positions := policies["lean"].max_positions) is not None and args.prompt + args.tokens + args.calls > positions:
        parser.error(f"--prompt + --tokens + --calls must fit the model's {positions} positions")
    x = make_inputs(args.batch, args.prompt, args.tokens, policies["lean"].vocab_size, device)
    with torch.no_grad():
        differ = max(
            float((policies["lean"].score_positions(x["contexts"], x["seg_len"], x["seq_index"], x["positions"])[0]
                   - policies["transformers"].score_positions(x["contexts"], x["seg_len"], x["seq_index"], x["positions"])[0]).abs().max()),
            float((policies["lean"].prefill(x["prompts"], x["mask"])[0] - policies["transformers"].prefill(x["prompts"], x["mask"])[0]).abs().max()),
        )  # fmt: skip
    print(rounds.machine_line(dtype=args.dtype, device=device))
    print(f"{args.model}: batch {args.batch}, prompts of {max(1, args.prompt // 2)}-{args.prompt} tokens (left-padded), "
          f"{args.tokens} scored tokens per update segment, {args.calls} calls per round, {args.rounds} alternating rounds; "
          f"largest logit difference between the sides {differ:.1e}")  # fmt: skip
    for label, run in CALLS.items():
        ms = rounds.alternate({side: (lambda r, side=side: run(policies[side], x, args.calls)) for side in SIDES}, args.rounds)
        print(f"{label:<28} transformers {np.median(ms['transformers']):>9.2f} ms   lean {np.median(ms['lean']):>9.2f} ms per call")
        print(rounds.ratio_line(f"  ratio transformers / lean (time per call), {label}", ms["transformers"], ms["lean"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

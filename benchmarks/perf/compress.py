"""fp32, int8 (smoothed and plain) and pruned versions of one trained dialog policy: size on disk,
rollout tokens/s, and reward and success on the same held-out episodes, in one process.

    python -m benchmarks.perf compress                         # SFT on 64 oracle dialogs, then compress
    python -m benchmarks.perf compress --model smollm2-135m            # the same for SmolLM2-135M
    python -m benchmarks.perf compress --policy runs/sft --rounds 5 --prune 0.3

The policy is ``--policy`` (anything ``lm_envs.models.compress`` takes: a folder written by
``agents.SFT.save``, an RL agent's save, a run folder of ``lm-envs train``, a model name), or,
by default, ``--model`` (tiny-shop-reader) fine-tuned by ``agents.SFT`` with its
hyperparameter table's settings on that number of oracle dialogs of
``CustomerServiceDialog-v1`` (training customers, seed 0). The env uses ``--tokenizer``
(default: ``--model``'s, or tiny-shop's with ``--policy``).
``lm_envs.models.compress`` writes its int8 copy (dynamic int8 linear layers, per-channel
weight scales, inputs smoothed as SmoothQuant does with the default alpha and calibration), a
plain int8 copy (``smooth=None``) and a pruned copy (``--prune`` of each linear weight set to 0,
permanently, stored bit-packed).

- **size**: bytes of the folder's weight file (``model.safetensors``; for an RL agent's save,
  its file, value head included).
- **tokens/s**: ``agents.Rollout.collect(--tokens)`` on ``--batch`` rows of the dialog env
  (held-out customers), sampled at temperature 1, with the value head and log-probs the agents
  need. The versions run in turn in each round (fp32, int8, int8 plain, pruned, fp32, ...) after
  one warm-up round of each; printed: the median over the rounds and the median, min and max of
  the per-round ratio to fp32.
- **same-tokens decode**: ``--decode-tokens`` one-token steps through the KV cache of each
  version on the same random token ids, after a 200-token prefill (no env, no sampling), in
  the same rounds: what the weights cost per token. A rollout's tokens/s also depend on what
  the policy says (a dialog whose customer replies feeds the reply's tokens in one step).
- **reward / success**: ``--episodes`` held-out dialogs (``customers="test"``, env seeds from
  10,000), sampled with the same sampler seed for every version.

Target (issue): int8 keeps >= 95% of the reward at >= 1.3x the tokens/s. Torch runs on
``--threads`` threads (default 1). Dynamic int8 pays where reading the weights bounds a step:
a model of 100M+ parameters at a small batch; at tiny-shop's 1.7M the weights sit in cache and
attention, the KV cache and sampling take most of a step.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

DIALOG_ID = "lm_envs/CustomerServiceDialog-v1"
EVAL_SEED = 10_000
DECODE_PROMPT = 200  # tokens prefilled before the timed decode: about a dialog's opening


def _rollout_tokens_per_s(policy: Any, batch: int, tokens: int, seed: int, env_kwargs: dict[str, Any]) -> float:
    import gymnasium as gym

    import lm_envs  # noqa: F401
    from agents import Rollout

    env = gym.make_vec(DIALOG_ID, num_envs=batch, vectorization_mode="vector_entry_point", **env_kwargs)
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        rollout.reset(seed=seed)
        start = time.perf_counter()
        rollout.collect(tokens)
        seconds = time.perf_counter() - start
    env.close()
    return batch * tokens / seconds


def _decode_tokens_per_s(policy: Any, batch: int, tokens: int, seed: int) -> float:
    """Tokens/s of ``tokens`` one-token steps through the KV cache after a ``DECODE_PROMPT``-token
    prefill, on the same random token ids for every version: no env and no sampling, so every
    version does the same work (an env's rollout does what the policy's words lead to)."""
    ids = torch.randint(0, policy.vocab_size, (batch, DECODE_PROMPT + tokens),
                        generator=torch.Generator().manual_seed(seed))
    mask = torch.ones_like(ids)
    positions = torch.arange(ids.shape[1]).expand(batch, -1)
    with torch.no_grad():
        _, _, cache = policy.prefill(ids[:, :DECODE_PROMPT], mask[:, :DECODE_PROMPT])
        start = time.perf_counter()
        for t in range(DECODE_PROMPT, DECODE_PROMPT + tokens):
            _, _, cache = policy.extend(ids[:, t : t + 1], mask[:, : t + 1], positions[:, t : t + 1], cache)
        seconds = time.perf_counter() - start
    return batch * tokens / seconds


def _quality(policy: Any, episodes: int, env_kwargs: dict[str, Any]) -> dict[str, float]:
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy

    env = make_vector_env(DIALOG_ID, num_envs=min(16, episodes), env_kwargs=env_kwargs)
    act = ActorPolicy(policy, env, generator=torch.Generator().manual_seed(EVAL_SEED))
    with torch.no_grad():
        played = evaluate_policy(env, act, episodes, seed=EVAL_SEED)
    env.close()
    return {"reward": float(np.mean([e.episode_return for e in played])),
            "success": float(np.mean([e.success for e in played]))}


def fp32_policy(source: str) -> tuple[Any, float]:
    """The uncompressed policy of ``source`` and the size of its weights file (NaN for a name)."""
    import json

    from lm_envs.models import load_policy
    from lm_envs.models.compress import agent_language_model

    folder = Path(source)
    if folder.is_dir() and not (folder / "config.json").is_file() and (folder / "model" / "config.json").is_file():
        folder = folder / "model"  # a run folder of `lm-envs train`
    if not (folder / "config.json").is_file():
        return load_policy(source), float("nan")
    size = float((folder / "model.safetensors").stat().st_size)
    if "algorithm" in json.loads((folder / "config.json").read_text()):
        return agent_language_model(folder)[0], size
    return load_policy(folder), size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf compress", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default=None, help="a policy folder (default: train SFT on oracle dialogs)")
    parser.add_argument("--model", default="tiny-shop-reader",
                        help="the model SFT fine-tunes when no --policy is given (default tiny-shop-reader)")
    parser.add_argument("--tokenizer", default=None,
                        help="the env's tokenizer (default: --model's, or tiny-shop's with --policy)")
    parser.add_argument("--prune", type=float, default=0.3, help="share of each linear weight pruned (default 0.3)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=192, help="env steps per rollout round")
    parser.add_argument("--decode-tokens", type=int, default=48,
                        help=f"one-token steps of the same-tokens decode timing (after a {DECODE_PROMPT}-token prefill)")
    parser.add_argument("--episodes", type=int, default=96, help="held-out dialogs for reward and success")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if min(args.rounds, args.batch, args.tokens, args.decode_tokens, args.episodes) < 1 or not 0 < args.prune < 1:
        parser.error("--rounds, --batch, --tokens, --decode-tokens, --episodes must be >= 1 and --prune in (0, 1)")
    torch.set_num_threads(args.threads)
    tokenizer = args.tokenizer or ("tiny-shop" if args.policy else args.model)
    train_kwargs = {"customers": "train", "tokenizer": tokenizer}
    test_kwargs = {"customers": "test", "tokenizer": tokenizer}
    from agents.policies import LMActorCritic
    from lm_envs.models import load_policy
    from lm_envs.models.compress import compress

    with tempfile.TemporaryDirectory(prefix="compress-") as work:
        root = Path(work)
        source = args.policy
        if source is None:
            from agents import SFT

            sft = SFT(DIALOG_ID, policy=args.model, seed=0, env_kwargs=train_kwargs)
            sft.learn()
            sft.save(root / "fp32")
            source = str(root / "fp32")
            print(f"trained SFT of {args.model} on {len(sft.demonstrations)} oracle dialogs", flush=True)
        fp32, fp32_size = fp32_policy(source)
        fp32_actor = LMActorCritic(fp32)
        positions = fp32_actor.max_positions
        if positions is not None and DECODE_PROMPT + args.decode_tokens > positions:
            parser.error(f"--decode-tokens {args.decode_tokens}: the decode's {DECODE_PROMPT}-token prefill plus "
                         f"{args.decode_tokens} steps exceeds the model's {positions} positions")
        folders = {"int8": compress(source, root / "int8", int8=True),
                   "int8 plain": compress(source, root / "int8-plain", int8=True, smooth=None),
                   f"pruned {args.prune:g}": compress(source, root / "pruned", prune=args.prune)}
        policies = {"fp32": fp32_actor} | {name: LMActorCritic(load_policy(folder)) for name, folder in folders.items()}
        sizes = {"fp32": fp32_size} | {name: (folder / "model.safetensors").stat().st_size
                                       for name, folder in folders.items()}
        from tqdm.auto import tqdm

        speeds: dict[str, list[float]] = {name: [] for name in policies}
        decode: dict[str, list[float]] = {name: [] for name in policies}
        # round 0 warms up; the versions take turns within each round
        turns = [(round_, name) for round_ in range(args.rounds + 1) for name in policies]
        for round_, name in tqdm(turns, desc="rollouts", unit="rollout"):
            speed = _rollout_tokens_per_s(policies[name], args.batch, args.tokens, seed=round_, env_kwargs=test_kwargs)
            fixed = _decode_tokens_per_s(policies[name], args.batch, args.decode_tokens, seed=round_)
            if round_:
                speeds[name].append(speed)
                decode[name].append(fixed)
        quality = {name: _quality(policies[name], args.episodes, test_kwargs)
                   for name in tqdm(policies, desc="held-out dialogs", unit="version")}
    print("raw tokens/s per round, rollout:", {k: [round(v) for v in s] for k, s in speeds.items()},
          "same-tokens decode:", {k: [round(v) for v in s] for k, s in decode.items()}, flush=True)
    base, decode_base = np.asarray(speeds["fp32"]), np.asarray(decode["fp32"])
    print(f"\nCompressed {source} (env tokenizer {tokenizer}): rollout of {args.batch} rows x {args.tokens} steps on "
          f"{DIALOG_ID} (held-out customers) and a decode of the same {args.decode_tokens} random tokens per row after a "
          f"{DECODE_PROMPT}-token prefill, {args.rounds} rounds alternating {' / '.join(policies)} after a warm-up, "
          f"{args.threads} thread(s); reward and success on {args.episodes} held-out dialogs, sampled, same seeds.\n")
    print("| version | size on disk (MB) | rollout tokens/s (median) | rollout ratio to fp32, median [min, max] | "
          "same-tokens decode ratio to fp32, median [min, max] | reward | share of fp32 reward gain over -1 | success |")
    print("|---|---|---|---|---|---|---|---|")
    for name in policies:
        ratios, decode_ratios = np.asarray(speeds[name]) / base, np.asarray(decode[name]) / decode_base
        q = quality[name]
        # rewards here run from -1 (failure) up: the share is of the distance above a failure
        share = (q["reward"] + 1) / (quality["fp32"]["reward"] + 1) if quality["fp32"]["reward"] > -1 else float("nan")
        print(f"| {name} | {sizes[name] / 1e6:.2f} | {np.median(speeds[name]):,.0f} | {np.median(ratios):.2f} "
              f"[{ratios.min():.2f}, {ratios.max():.2f}] | {np.median(decode_ratios):.2f} [{decode_ratios.min():.2f}, "
              f"{decode_ratios.max():.2f}] | {q['reward']:+.3f} | {share:.2f} | {q['success']:.3f} |")
    int8 = np.median(np.asarray(speeds["int8"]) / base)
    int8_decode = np.median(np.asarray(decode["int8"]) / decode_base)
    share = (quality["int8"]["reward"] + 1) / (quality["fp32"]["reward"] + 1) if quality["fp32"]["reward"] > -1 else 0
    print(f"\nTarget: int8 keeps >= 95% of the reward (measured above a failure's -1: {share:.2f}) at >= 1.3x the "
          f"rollout's tokens/s ({int8:.2f}x; on the same tokens {int8_decode:.2f}x): "
          f"{'PASS' if share >= 0.95 and int8 >= 1.3 else 'FAIL'}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

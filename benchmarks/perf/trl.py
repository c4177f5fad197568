"""TRL's ``GRPOTrainer`` with our ``rollout_func`` next to ``GRPOTrainer`` with its own generation,
in one process, in alternating rounds.

Both sides are the same trainer class with the same ``GRPOConfig``, and differ only in how
completions are made and scored:

- **ours**: ``rollout_func=make_rollout_func(env)``: the agents' KV-cached rollout engine
  steps the env (``TextGeneration-v1``, reward ``--reward``) token by token and the env scores
  each finished episode; ``reward_funcs=env_reward`` reads that score back;
- **TRL**: TRL's own path, ``model.generate`` (transformers) with EOS and the end-of-turn token
  as stop tokens, as the env stops; ``reward_funcs`` is the same reward object
  (``lm_envs.rewards.make_reward(--reward)``) called on the completions with the dataset's
  task fields, as TRL calls any reward function.

Same model (tiny-shop, fresh from its files every round), same prompts in the same order
(``lm_envs.to_dataset``, ``shuffle_dataset=False``), each prompt ``--group`` times per step,
``--batch`` completions per step, at most ``--max-new-tokens`` tokens, temperature 1, no top-k /
top-p, one Adam step per generation, ``beta = 0`` (no reference model), no gradient
checkpointing, fp32 on ``--device`` (default: the CPU), ``--threads`` torch threads. The
script checks that TRL's prompt token ids equal the env's. The sampling streams differ, so the completions differ: the mean
completion length is printed for each side, since tokens/s moves with it.

A round trains ``--steps`` optimizer steps on one side; rounds alternate A B A B ...
(``--rounds`` each) so that drifting machine load hits both sides alike. Figures per round:
completion tokens per second of the whole step (generation, reward, loss, backward, Adam
step; TRL's first step is not skipped on either side), seconds per step, and the time spent
generating per step (ours: inside ``rollout_func``, env stepping and the env's reward
included; TRL: inside ``model.generate`` only, its reward runs after). The headline is the
ratio of the median tokens/s, ours / TRL, with the min-max of the per-pair ratios.

    python -m benchmarks.perf trl
    python -m benchmarks.perf trl --rounds 5 --steps 6 --max-new-tokens 32
    python -m benchmarks.perf trl --device cuda          # both trainers on the GPU (use_cpu=False)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import tempfile
import time
from typing import Any

import numpy as np
import torch

import lm_envs  # noqa: F401  (registers the ids)
from benchmarks.perf import rounds
from benchmarks.runs import check_device

ENV_ID = "lm_envs/TextGeneration-v1"


class Timer:
    """Per optimizer step: wall seconds (``TrainerCallback`` hooks) and generation seconds."""

    def __init__(self) -> None:
        self.step_start = 0.0
        self.generation = 0.0
        self.rows: list[dict[str, float]] = []

    def timed(self, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.generation += time.perf_counter() - start

        return wrapper

    def callback(self) -> Any:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):
            def on_step_begin(self, *a: Any, **k: Any) -> None:
                timer.step_start, timer.generation = time.perf_counter(), 0.0

            def on_step_end(self, *a: Any, **k: Any) -> None:
                timer.rows.append({"seconds": time.perf_counter() - timer.step_start, "generation": timer.generation})

            def on_log(self, _args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **k: Any) -> None:
                if logs and "completions/mean_length" in logs and timer.rows:
                    timer.rows[-1]["mean_length"] = float(logs["completions/mean_length"])
                    timer.rows[-1]["reward"] = float(logs.get("reward", float("nan")))

        return Callback()


def grpo_config(args: argparse.Namespace, out_dir: str) -> Any:
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=out_dir, per_device_train_batch_size=args.batch, num_generations=args.group,
        steps_per_generation=1, num_iterations=1, shuffle_dataset=False, max_completion_length=args.max_new_tokens,
        learning_rate=args.lr, lr_scheduler_type="constant", beta=0.0, temperature=1.0, top_p=1.0, top_k=0,
        max_steps=args.steps, logging_steps=1, save_strategy="no", report_to="none",
        use_cpu=args.device_type == "cpu", bf16=False,
        gradient_checkpointing=False, seed=0, dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip


def run_round(side: str, args: argparse.Namespace, dataset: Any, reward: dict[str, float]) -> dict[str, float]:
    """Train ``args.steps`` steps on ``side`` ("ours" or "trl") from the initial weights."""
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from agents.integrations.trl import env_reward, make_rollout_func
    from lm_envs.models import load_policy, load_tokenizer, special_token_ids
    from lm_envs.rewards import make_reward

    tokenizer = load_tokenizer("tiny-shop")
    model = load_policy("tiny-shop")
    model.train()
    timer = Timer()
    env_kwargs = {"reward": reward, "max_new_tokens": args.max_new_tokens}
    if side == "ours":
        rollout = make_rollout_func(ENV_ID, seed=0, **env_kwargs)
        kwargs: dict[str, Any] = {"reward_funcs": env_reward, "rollout_func": timer.timed(rollout)}
    else:
        special = special_token_ids(tokenizer)
        model.generation_config.eos_token_id = sorted({special["eos"], special["eot"]})  # the env's stop tokens
        model.generate = timer.timed(model.generate)
        score = make_reward(reward)
        fields = [c for c in dataset.column_names if c not in ("prompt", "task_index")]

        def env_score(prompts: list[str], completions: list[str], **kw: Any) -> list[float]:
            return score(prompts, completions, **{name: kw[name] for name in fields})  # the task fields only

        env_score.__name__ = "env_score"
        kwargs = {"reward_funcs": env_score}
    with tempfile.TemporaryDirectory() as out_dir:
        trainer = GRPOTrainer(model=model, args=grpo_config(args, out_dir), train_dataset=dataset,
                              processing_class=tokenizer, callbacks=[timer.callback()], **kwargs)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
    rows = timer.rows
    tokens = sum(r.get("mean_length", 0.0) * args.batch for r in rows)
    seconds = sum(r["seconds"] for r in rows)
    return {
        "tokens_per_s": tokens / seconds,
        "step_s": float(np.median([r["seconds"] for r in rows])),
        "generation_s": float(np.median([r["generation"] for r in rows])),
        "mean_length": tokens / args.batch / max(1, len(rows)),
        "reward": float(np.mean([r.get("reward", float("nan")) for r in rows])),
    }


def check_prompt_tokens(dataset: Any, reward: dict[str, float], max_new_tokens: int) -> str:
    """The env's prompt token ids vs what TRL's tokenizer call gives (must be identical)."""
    import gymnasium as gym

    from lm_envs.core import Task

    env = gym.make(ENV_ID, reward=reward, max_new_tokens=max_new_tokens).unwrapped
    texts = sorted(set(dataset["prompt"]))
    theirs = env.tokenizer(text=texts)["input_ids"]
    bad = [t for t, ids in zip(texts, theirs) if list(env.encode_prompt(Task(t))) != list(ids)]
    return "identical" if not bad else f"DIFFER for {len(bad)} of {len(texts)} prompts (e.g. {bad[0]!r})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.perf trl", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side, alternating (default: 3)")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per round (default: 4)")
    parser.add_argument("--batch", type=int, default=16, help="completions per step (default: 16)")
    parser.add_argument("--group", type=int, default=4, help="completions per prompt, num_generations (default: 4)")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--reward", default='{"sentiment": 1.0}', help="reward spec as JSON (default: sentiment)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N or auto (cuda when present): "
                                                        "where both trainers run")
    args = parser.parse_args(argv)
    try:
        device = check_device(args.device)
    except ValueError as err:
        parser.error(str(err))
    args.device_type = device.type
    if args.batch % args.group:
        parser.error(f"--group must divide --batch; got {args.group} and {args.batch}")
    if args.rounds < 3:
        parser.error("--rounds must be >= 3 (a median and a spread need them)")
    if importlib.util.find_spec("trl") is None:
        print("TRL is not installed: pip install 'lm-envs[trl]'")
        return 1
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import transformers
    import trl

    from lm_envs import to_dataset

    torch.set_num_threads(args.threads)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)  # the trainers place the model on the current CUDA device
    print(rounds.machine_line(dtype="float32", device=str(device)))
    reward = json.loads(args.reward)
    prompts = args.batch // args.group * args.steps
    dataset = to_dataset(ENV_ID, prompts, seed=0, reward=reward, max_new_tokens=args.max_new_tokens)
    print(f"== TRL {trl.__version__} GRPOTrainer: our rollout_func vs its own generation (transformers "
          f"{transformers.__version__} generate) — tiny-shop on {ENV_ID}, reward {reward}, {args.batch} completions "
          f"per step ({args.batch // args.group} prompts x {args.group}), <= {args.max_new_tokens} new tokens, "
          f"temperature 1, no top-k/top-p, lr {args.lr}, beta 0, no gradient checkpointing, fp32 on {device}, "
          f"{args.steps} steps per round, {args.rounds} rounds each (A B A B ...), {torch.get_num_threads()} torch threads")
    print(f"ours: GRPOTrainer(rollout_func=make_rollout_func({ENV_ID!r}, reward=..., max_new_tokens={args.max_new_tokens}), "
          "reward_funcs=env_reward): KV-cached env-in-the-loop rollout, the env's reward")
    print("TRL:  GRPOTrainer(reward_funcs=make_reward(reward) on the dataset's task fields): model.generate, stop at "
          "EOS and end-of-turn")
    print(f"same {prompts} prompts, same order, both sides; prompt token ids: {check_prompt_tokens(dataset, reward, args.max_new_tokens)}")
    print(f"{'round':<6} {'side':<5} {'tokens/s':>9} {'s/step':>7} {'gen s/step':>10} {'mean len':>8} {'reward':>7}")
    results: dict[str, list[dict[str, float]]] = {"ours": [], "trl": []}
    for round_index in range(args.rounds):
        for side in ("ours", "trl"):
            torch.manual_seed(0)
            row = run_round(side, args, dataset, reward)
            results[side].append(row)
            print(f"{('A' if side == 'ours' else 'B') + str(round_index + 1):<6} {side:<5} {row['tokens_per_s']:>9,.0f} "
                  f"{row['step_s']:>7.3f} {row['generation_s']:>10.3f} {row['mean_length']:>8.1f} {row['reward']:>7.3f}",
                  flush=True)
    ours = [r["tokens_per_s"] for r in results["ours"]]
    theirs = [r["tokens_per_s"] for r in results["trl"]]
    pairs = [a / b for a, b in zip(ours, theirs)]
    step_ratio = float(np.median([r["step_s"] for r in results["trl"]]) / np.median([r["step_s"] for r in results["ours"]]))
    print(f"median tokens/s: ours {np.median(ours):,.0f}, TRL {np.median(theirs):,.0f}; ratio ours/TRL "
          f"{np.median(ours) / np.median(theirs):.2f} (per-pair min-max {min(pairs):.2f}-{max(pairs):.2f}); "
          f"time per step TRL/ours {step_ratio:.2f}; mean completion length ours "
          f"{np.mean([r['mean_length'] for r in results['ours']]):.1f}, TRL {np.mean([r['mean_length'] for r in results['trl']]):.1f}")
    print(rounds.ratio_line("median of per-round ratios ours / TRL, tokens/s", ours, theirs))
    return 0

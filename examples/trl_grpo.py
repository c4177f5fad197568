"""Train tiny-shop on CustomerServiceQA-v0 with TRL's GRPOTrainer, episodes played by lm-envs.

The env plays every episode (`agents.integrations.trl.make_rollout_func`: the KV-cached
rollout engine steps the env token by token with the trainer's current model) and scores it
with its own reward (`env_reward`); the train and eval prompts come from disjoint splits of
the env's tasks (`lm_envs.to_dataset`). The eval reward is printed before and after training.

    pip install -e '.[trl]'
    python examples/trl_grpo.py --max-steps 40 --threads 1   # about 5 minutes on 2 CPU cores
    python examples/trl_grpo.py --max-steps 200 --out runs/grpo-qa
    python examples/trl_grpo.py --max-steps 2 --eval-prompts 4 --threads 1   # a smoke run
"""

from __future__ import annotations

import argparse
import os

import torch

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # rollout_func is marked experimental in TRL

from trl import GRPOConfig, GRPOTrainer

from agents.integrations.trl import env_reward, make_rollout_func
from lm_envs import to_dataset
from lm_envs.models import load_policy, load_tokenizer

ENV_ID = "lm_envs/CustomerServiceQA-v0"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-steps", type=positive_int, default=40, help="optimizer steps (default: 40)")
    parser.add_argument("--model", default="tiny-shop", help="tiny-shop (default) or tiny-shop-reader (copies facts better)")
    parser.add_argument("--batch", type=positive_int, default=16, help="completions per step (default: 16)")
    parser.add_argument("--group", type=positive_int, default=8, help="completions per prompt (default: 8)")
    parser.add_argument("--eval-prompts", type=positive_int, default=32, help="held-out questions (default: 32)")
    parser.add_argument("--max-new-tokens", type=positive_int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: torch's choice; "
                        "1 is much faster on a machine busy with other work)")
    parser.add_argument("--out", default=None, help="save the trained model and tokenizer here")
    args = parser.parse_args(argv)
    if args.batch % args.group:
        parser.error(f"--group must divide --batch; got {args.group} and {args.batch}")

    if args.threads:
        torch.set_num_threads(args.threads)
    env_kwargs = {"max_new_tokens": args.max_new_tokens}  # the same for the datasets and the rollout
    config = GRPOConfig(
        output_dir=args.out or "runs/trl-grpo-qa", max_steps=args.max_steps, per_device_train_batch_size=args.batch,
        num_generations=args.group, per_device_eval_batch_size=args.batch, max_completion_length=args.max_new_tokens,
        learning_rate=args.lr, beta=0.0, logging_steps=max(1, min(5, args.max_steps // 2)), save_strategy="no",
        report_to="none", use_cpu=True, bf16=False, gradient_checkpointing=False, seed=args.seed,
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=load_policy(args.model),
        processing_class=load_tokenizer(args.model),
        reward_funcs=env_reward,
        train_dataset=to_dataset(ENV_ID, args.batch // args.group * args.max_steps, seed=args.seed, **env_kwargs),
        eval_dataset=to_dataset(ENV_ID, args.eval_prompts, seed=args.seed, split="eval", **env_kwargs),
        rollout_func=make_rollout_func(ENV_ID, seed=args.seed, **env_kwargs),
        args=config,
    )
    before = trainer.evaluate()["eval_reward"]
    trainer.train()
    after = trainer.evaluate()["eval_reward"]
    print(f"eval reward ({args.eval_prompts} held-out questions x {args.group} answers): "
          f"{before:.3f} before, {after:.3f} after {args.max_steps} steps")
    if args.out:
        trainer.save_model(args.out)


if __name__ == "__main__":
    main()

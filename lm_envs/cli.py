"""The ``lm-envs`` command line: ``lm-envs list``, ``lm-envs demo``."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def _cmd_list(_: argparse.Namespace) -> int:
    import lm_envs
    from lm_envs.models import MODELS
    from lm_envs.rewards import REWARDS

    print("envs:")
    for env_id in lm_envs.ENV_IDS:
        print(f"  {env_id}")
    print("rewards:")
    for name in sorted(REWARDS):
        print(f"  {name}")
    print("models:")
    for name in MODELS:
        print(f"  {name}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lm_envs.demo import run_demo

    run_demo(policy_name=args.policy, episodes=args.episodes, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lm-envs", description="Token-level Gymnasium envs for language models.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="print env ids, rewards and models").set_defaults(run=_cmd_list)
    demo = commands.add_parser("demo", help="roll the default policy through each env and print text and rewards")
    demo.add_argument("--policy", default="tiny-shop", help="policy model name or local path (default: tiny-shop)")
    demo.add_argument("--episodes", type=int, default=2, help="episodes per env (default: 2)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

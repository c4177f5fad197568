"""Learning benchmarks: agents on reference tasks (sanity anchors)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

SHIPPED_TINY_SHOP = "tiny-shop"


def add_tiny_shop_option(parser: argparse.ArgumentParser, help: str, default: str = SHIPPED_TINY_SHOP) -> None:
    """``--tiny-shop PATH``: a pretrained tiny-shop folder (or a built-in name) instead of ``default``."""
    parser.add_argument("--tiny-shop", default=default, metavar="PATH", help=help)


def check_tiny_shop(parser: argparse.ArgumentParser, tiny_shop: str) -> None:
    """Exit with a usage error naming the folder when ``--tiny-shop`` names neither a built-in model nor a folder."""
    from lm_envs.models import MODELS

    if tiny_shop not in MODELS and not Path(tiny_shop).is_dir():
        parser.error(f"--tiny-shop {tiny_shop}: no such folder (give a folder written by lm_envs.models.pretrain)")


def tiny_shop_env_kwargs(tiny_shop: str) -> dict[str, Any]:
    """Env kwargs that pair an env with a tiny-shop variant: its own tokenizer."""
    return {} if tiny_shop == SHIPPED_TINY_SHOP else {"tokenizer": tiny_shop}


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """``--device``: where the agents' policies, samplers and updates run (default ``cpu``)."""
    parser.add_argument("--device", default="cpu",
                        help="cpu (default), cuda, cuda:N or auto (cuda when present): where the agents train")


def add_dtype_option(parser: argparse.ArgumentParser) -> None:
    """``--dtype``: the agents' compute precision (``LMOptions.dtype``, in rollout and update
    alike; weights and Adam stay fp32); default: the hyperparameter table's."""
    from agents.options import DTYPES

    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="the agents' compute precision (default: the hyperparameter table's, float32)")


def check_device_option(parser: argparse.ArgumentParser, device: str) -> Any:
    """``--device``'s ``torch.device``; a usage error naming the flag and value when it is not a
    device name, or names a CUDA device torch does not see."""
    from benchmarks.runs import check_device

    try:
        return check_device(device)
    except ValueError as err:
        parser.error(str(err))

"""A rebuilt tiny-shop against the shipped one: the same benchmark figures, within their CIs?

``python -m lm_envs.models.pretrain --recipe NAME`` rebuilds a shipped model from this
checkout. This benchmark plays both models, untrained, on the same evaluation episodes and
says whether the rebuilt one reaches the shipped one's figures:

    python -m lm_envs.models.pretrain --recipe tiny-shop --out runs/tiny-shop
    python -m benchmarks.learning rebuild --model tiny-shop --candidate runs/tiny-shop

| figure | env | episodes | as in |
|---|---|---|---|
| QA fact accuracy, sampled | ``CustomerServiceQA-v0``, default reward, env seed 10,000 | 128 | ``benchmarks.learning customer_service`` (untrained row) |
| QA fact accuracy, greedy | the same | 128 | the same |
| text reward, sampled | ``TextGeneration-v1``, ``{"fluent_sentiment": 1.0, "repetition": -0.5}``, 16 tokens | 240 (each prompt twice) | ``benchmarks.learning text`` (start row) |

Each model acts with its own tokenizer (the envs get it too), one sampler seed for both.
The table gives each figure's mean with a Student-t 95% CI over episodes, and the paired
difference (rebuilt minus shipped, episode by episode on the same tasks) with its 95% CI
(``scipy.stats.ttest_rel``). A figure matches when the difference's CI contains 0; exit
status 1 when one does not.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps

from benchmarks.learning import add_device_option, check_device_option, tiny_shop_env_kwargs
from benchmarks.learning.customer_service import EVAL_SEED, NUM_ENVS, QA_ID
from benchmarks.learning.text import ENV_ID as TEXT_ID
from benchmarks.learning.text import MAX_NEW_TOKENS, N_PROMPTS, REWARD
from benchmarks.results import atomic_write_text

QA_EPISODES = 128
TEXT_EPISODES = 2 * N_PROMPTS


def episode_values(model: str, env_id: str, env_kwargs: dict[str, Any], n: int, *, greedy: bool,
                   value: str, device: Any = "cpu") -> np.ndarray:
    """Per-episode ``value`` (``"fact_accuracy"`` or ``"reward"``) of ``model`` on the first ``n``
    evaluation episodes of ``env_id`` (env seed and sampler seed ``EVAL_SEED``)."""
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy
    from agents.policies import LMActorCritic
    from lm_envs.models import load_policy

    policy = LMActorCritic(load_policy(model)).to(device)
    env = make_vector_env(env_id, num_envs=NUM_ENVS, env_kwargs=env_kwargs | tiny_shop_env_kwargs(model))
    act = ActorPolicy(policy, env, generator=torch.Generator(device=policy.device).manual_seed(EVAL_SEED), deterministic=greedy)
    with torch.no_grad():
        episodes = evaluate_policy(env, act, n, seed=EVAL_SEED)
    env.close()
    if value == "fact_accuracy":
        return np.array([e.info["fact_check"]["recall"] for e in episodes], dtype=float)
    return np.array([e.episode_return for e in episodes], dtype=float)


FIGURES = {  # name: (env id, env kwargs, episodes, greedy, value)
    "QA fact accuracy, sampled": (QA_ID, {}, QA_EPISODES, False, "fact_accuracy"),
    "QA fact accuracy, greedy": (QA_ID, {}, QA_EPISODES, True, "fact_accuracy"),
    "text reward, sampled": (TEXT_ID, {"reward": REWARD, "max_new_tokens": MAX_NEW_TOKENS}, TEXT_EPISODES, False,
                             "reward"),
}


def _mean_ci(values: np.ndarray) -> str:
    if np.ptp(values) == 0:
        return f"{values.mean():.3f}"
    low, high = sps.ttest_1samp(values, 0.0).confidence_interval(0.95)
    return f"{values.mean():.3f} [{low:.3f}, {high:.3f}]"


def paired_difference(shipped: np.ndarray, rebuilt: np.ndarray) -> tuple[float, float, float]:
    """Mean of ``rebuilt - shipped`` over the same episodes and its Student-t 95% CI."""
    diff = rebuilt - shipped
    if np.ptp(diff) == 0:
        return float(diff.mean()), float(diff.mean()), float(diff.mean())
    low, high = sps.ttest_rel(rebuilt, shipped).confidence_interval(0.95)
    return float(diff.mean()), float(low), float(high)


def compare(shipped: str, candidate: str, device: Any = "cpu") -> pd.DataFrame:
    """One row per figure: both models' means with CIs, the paired difference's CI, and a verdict."""
    rows = []
    for name, (env_id, kwargs, n, greedy, value) in FIGURES.items():
        a = episode_values(shipped, env_id, kwargs, n, greedy=greedy, value=value, device=device)
        b = episode_values(candidate, env_id, kwargs, n, greedy=greedy, value=value, device=device)
        mean, low, high = paired_difference(a, b)
        rows.append({"figure": name, "episodes": n, "shipped": _mean_ci(a), "rebuilt": _mean_ci(b),
                     "rebuilt - shipped": f"{mean:+.3f} [{low:+.3f}, {high:+.3f}]",
                     "matches": bool(low <= 0.0 <= high)})
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    from lm_envs.models import MODELS

    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning rebuild", description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["tiny-shop", "tiny-shop-reader"], default="tiny-shop",
                        help="the shipped model (default: tiny-shop)")
    parser.add_argument("--candidate", required=True, metavar="PATH",
                        help="the rebuilt folder (python -m lm_envs.models.pretrain --recipe NAME --out PATH)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--out", type=Path, default=None, help="write table.md here")
    add_device_option(parser)
    args = parser.parse_args(argv)
    device = check_device_option(parser, args.device)
    if not Path(args.candidate).is_dir() or args.candidate in MODELS:
        parser.error(f"--candidate {args.candidate}: not a folder written by lm_envs.models.pretrain")
    torch.set_num_threads(args.threads)
    frame = compare(args.model, args.candidate, device)
    table = frame.to_markdown(index=False)
    print(f"{args.model} (shipped) against {args.candidate} (rebuilt)\n\n{table}")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "table.md", table + "\n")
    return 0 if frame["matches"].all() else 1


if __name__ == "__main__":
    raise SystemExit(main())

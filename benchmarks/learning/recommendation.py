"""Recommendation learning benchmark: our DDPG (Wolpertinger) and PPO against SB3's DDPG and
PPO on `ProductRecommendation-v0`, with the same env steps and seeds, measured in one run.

    python -m benchmarks.learning recommendation                  # 40k steps, seeds 0 1 2
    python -m benchmarks.learning.recommendation --steps 10000 --seeds 0 --algos ddpg sb3-ppo

| name | agent | env | evaluated |
|---|---|---|---|
| ``ddpg`` | ``agents.DDPG`` (Wolpertinger, k = 20) | ProductRecommendation-v0 | deterministic |
| ``ddpg-continuous`` | ``agents.DDPG`` (plain DDPG) | ProductRecommendationContinuous-v0 | deterministic |
| ``ppo`` | ``agents.PPO``, MLP actor-critic, action masks | ProductRecommendation-v0 | stochastic |
| ``sb3-ddpg`` | SB3 ``DDPG("MultiInputPolicy")`` | ProductRecommendationContinuous-v0 | deterministic |
| ``sb3-ppo`` | SB3 ``PPO("MultiInputPolicy")`` (no masks) | ProductRecommendation-v0 | stochastic |

All runs use ``difficulty="default"`` and ``masked_action="skip"`` (SB3's PPO has no action
masks; the other agents never pick a masked item, so for them the setting changes nothing).
The three DDPGs and the two PPOs share their hyperparameters: the table's entries for the
env they run on (``agents/hyperparams/ddpg.yml`` and ``ppo.yml``; ``lm-envs hyperparams
ddpg lm_envs/ProductRecommendation-v0`` prints them), SB3's taking the same values; ``ddpg-continuous`` is the
like-for-like comparison with SB3's DDPG (same env, same algorithm). Deterministic policies are evaluated
greedily, stochastic ones by sampling (the argmax of a PPO policy repeats items and tires
the user). The normalised score is 0 for the random policy and 1 for the myopic oracle;
its CI is a percentile bootstrap (``scipy.stats.bootstrap``) over the seeds' scores. Steps/s
counts training env steps per second of wall time, updates included.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.learning import add_device_option, check_device_option
from benchmarks.results import atomic_write_text

ENV_ID = "lm_envs/ProductRecommendation-v0"
CONTINUOUS_ID = "lm_envs/ProductRecommendationContinuous-v0"
ENV_KWARGS: dict[str, Any] = {"difficulty": "default", "masked_action": "skip"}
ALGOS = ("ddpg", "ddpg-continuous", "ppo", "sb3-ddpg", "sb3-ppo")
LOG_INTERVAL = 10_000  # env steps between DDPG's metrics rows (this benchmark reads none)


def settings(algo: str) -> Any:
    """The table's config for ``algo`` (``ddpg``, ``ddpg-continuous``, ``ppo``, ``sb3-*``): each
    pair (ours, SB3) gets the same values."""
    from agents.hyperparams import resolve

    name = "ddpg" if "ddpg" in algo else "ppo"
    env_id = CONTINUOUS_ID if algo in ("ddpg-continuous", "sb3-ddpg") else ENV_ID
    return resolve(name, env_id, "mlp").config


# ------------------------------------------------------------------------------------ runs
def _ours(algo: str, seed: int, steps: int, eval_episodes: int, device: str = "cpu") -> tuple[list[float], float]:
    from agents import PPO
    from agents.ddpg import DDPG

    config = settings(algo)
    if algo.startswith("ddpg"):
        env_id = CONTINUOUS_ID if algo == "ddpg-continuous" else ENV_ID
        # ddpg-continuous stays plain DDPG on the proto-action: the like-for-like comparison with SB3's
        config = dataclasses.replace(config, log_interval=LOG_INTERVAL, box_items=algo != "ddpg-continuous")
        agent: Any = DDPG(env_id, config=config, seed=seed, env_kwargs=ENV_KWARGS, device=device)
        deterministic = True
    else:
        agent = PPO(ENV_ID, config=config, seed=seed, env_kwargs=ENV_KWARGS, device=device)
        deterministic = False
    start = time.perf_counter()
    agent.learn(steps)
    steps_per_s = agent.num_timesteps / (time.perf_counter() - start)
    returns = _evaluate_ours(agent, eval_episodes, deterministic, seed)
    return returns, steps_per_s


def _evaluate_ours(agent: Any, n: int, deterministic: bool, seed: int) -> list[float]:
    from agents.ddpg import DDPG

    if isinstance(agent, DDPG):
        return list(agent.evaluate(n, deterministic=deterministic, seed=10_000 + seed)["returns"])
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy

    env = make_vector_env(ENV_ID, num_envs=max(1, min(n, agent.config.num_envs)), env_kwargs=ENV_KWARGS)
    act = ActorPolicy(agent.policy, env, generator=torch.Generator(device=agent.device).manual_seed(10_000 + seed),
                      deterministic=deterministic)
    with torch.no_grad():
        return [e.episode_return for e in evaluate_policy(env, act, n, seed=10_000 + seed)]


def _sb3(algo: str, seed: int, steps: int, eval_episodes: int, device: str = "cpu") -> tuple[list[float], float]:
    import gymnasium as gym
    from stable_baselines3 import DDPG as SB3DDPG
    from stable_baselines3 import PPO as SB3PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.noise import NormalActionNoise

    import lm_envs  # noqa: F401

    env_id = CONTINUOUS_ID if algo == "sb3-ddpg" else ENV_ID
    hp = settings(algo)
    venv = make_vec_env(lambda: gym.make(env_id, **ENV_KWARGS), n_envs=hp.num_envs, seed=seed)
    if algo == "sb3-ddpg":
        d = venv.action_space.shape[0]
        model: Any = SB3DDPG(
            "MultiInputPolicy", venv, buffer_size=hp.buffer_size, batch_size=hp.batch_size,
            learning_starts=hp.learning_starts, gamma=hp.gamma, tau=hp.tau, learning_rate=hp.critic_lr,
            action_noise=NormalActionNoise(np.zeros(d), hp.noise_std * np.ones(d)), train_freq=hp.train_freq,
            gradient_steps=hp.gradient_steps, policy_kwargs={"net_arch": list(hp.hidden_sizes)}, seed=seed, verbose=0,
            device=device,
        )
        deterministic = True
    else:
        model = SB3PPO(
            "MultiInputPolicy", venv, n_steps=hp.n_steps, batch_size=hp.minibatch_size, n_epochs=hp.update_epochs,
            learning_rate=hp.learning_rate, gamma=hp.gamma, gae_lambda=hp.gae_lambda, clip_range=hp.clip_coef,
            ent_coef=hp.ent_coef, policy_kwargs={"net_arch": list(hp.hidden_sizes)}, seed=seed, verbose=0,
            device=device,
        )
        deterministic = False
    start = time.perf_counter()
    model.learn(steps)
    steps_per_s = model.num_timesteps / (time.perf_counter() - start)
    eval_env = make_vec_env(lambda: gym.make(env_id, **ENV_KWARGS), n_envs=hp.num_envs, seed=10_000 + seed)
    returns, _ = evaluate_policy(model, eval_env, n_eval_episodes=eval_episodes, deterministic=deterministic,
                                 return_episode_rewards=True)
    return [float(r) for r in returns], steps_per_s


def run(algo: str, seed: int, steps: int, eval_episodes: int, device: str = "cpu") -> dict[str, Any]:
    """One run of ``algo``; ours and SB3's on the same ``device``."""
    torch.manual_seed(seed)
    runner = _sb3 if algo.startswith("sb3") else _ours
    returns, steps_per_s = runner(algo, seed, steps, eval_episodes, device)
    return {"algo": algo, "seed": seed, "steps": steps, "returns": returns, "steps_per_s": steps_per_s}


# ---------------------------------------------------------------------------------- report
def _ci(values: list[float], seed: int = 0) -> tuple[float, float, float]:
    from benchmarks.stats import bootstrap_ci

    return bootstrap_ci(np.asarray(values), statistic="mean", seed=seed)


def table(results: list[dict[str, Any]], baselines: dict[str, list[float]], references: tuple[float, float],
          steps: int, seeds: list[int]) -> str:
    from agents.baselines import normalised_score

    lines = [
        f"ProductRecommendation-v0 (difficulty=default), {steps:,} env steps per run, seeds {' '.join(map(str, seeds))}; "
        f"normalised score: 0 = random ({references[0]:.2f}), 1 = myopic oracle ({references[1]:.2f}).",
        "",
        "| policy | env | normalised score | 95% CI | per seed | mean return | env steps/s |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"ddpg": ("ours: DDPG (Wolpertinger)", "discrete"), "ddpg-continuous": ("ours: DDPG (plain)", "continuous"),
             "ppo": ("ours: PPO (MLP, masks)", "discrete"),
             "sb3-ddpg": ("SB3 DDPG", "continuous"), "sb3-ppo": ("SB3 PPO (MultiInputPolicy)", "discrete")}
    for algo in ALGOS:
        rows = [r for r in results if r["algo"] == algo]
        if not rows:
            continue
        per_seed = [float(normalised_score(np.mean(r["returns"]), references)) for r in rows]
        point, low, high = _ci(per_seed)
        mean_return = float(np.mean([np.mean(r["returns"]) for r in rows]))
        speed = float(np.mean([r["steps_per_s"] for r in rows]))
        label, env = names[algo]
        lines.append(f"| {label} | {env} | {point:.2f} | [{low:.2f}, {high:.2f}] | {', '.join(f'{s:.2f}' for s in per_seed)} "
                     f"| {mean_return:.2f} | {speed:,.0f} |")
    for name, returns in baselines.items():
        scores = normalised_score(np.asarray(returns), references)
        point, low, high = _ci(list(scores))
        label = {"random": "random", "popular": "most popular", "oracle": "myopic oracle (hidden state)",
                 "planner": "planner: oracle + satisfaction lookahead"}[name]
        lines.append(f"| {label} | discrete | {point:.2f} | [{low:.2f}, {high:.2f}] | - | {np.mean(returns):.2f} | - |")
    lines.append("")
    lines.append("Baseline CIs are over evaluation episodes; agent CIs over the seeds' scores.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.learning recommendation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=ALGOS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=40_000, help="env steps per run (all rows together)")
    parser.add_argument("--eval-episodes", type=int, default=200)
    parser.add_argument("--out", type=Path, default=None, help="write results.json and table.md here")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (small MLPs: 1 is fastest)")
    add_device_option(parser)
    args = parser.parse_args(argv)
    device = check_device_option(parser, args.device)
    torch.set_num_threads(args.threads)

    from agents.baselines import evaluate_baseline, reference_returns

    references = reference_returns(ENV_KWARGS, n_episodes=1000)
    baselines = {name: evaluate_baseline(name, ENV_KWARGS, n_episodes=args.eval_episodes * len(args.seeds), seed=10_000).returns.tolist()
                 for name in ("random", "popular", "oracle", "planner")}
    results = []
    for algo in args.algos:
        for seed in args.seeds:
            result = run(algo, seed, args.steps, args.eval_episodes, str(device))
            results.append(result)
            print(f"{algo} seed {seed}: mean return {np.mean(result['returns']):.2f}, "
                  f"{result['steps_per_s']:,.0f} env steps/s", flush=True)
    text = table(results, baselines, references, args.steps, args.seeds)
    print()
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.out / "results.json", json.dumps({"references": references, "baselines": baselines,
                                                                 "results": results}, indent=1))
        atomic_write_text(args.out / "table.md", text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Roll the default tiny-shop policy through every registered env and print text and rewards.

This is the small demo behind ``lm-envs demo``; it steps each env token by token exactly as
an agent would, sampling from the policy with a seeded generator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

import lm_envs

__all__ = ["run_demo"]


def _sample_episode(
    env: gym.Env, policy: Any, *, seed: int, temperature: float
) -> tuple[str, str, float, dict[str, float]]:
    import torch

    generator = torch.Generator().manual_seed(seed)
    obs, info = env.reset(seed=seed)
    total = 0.0
    while True:
        length = int(obs["attention_mask"].sum())
        ids = torch.as_tensor(obs["input_ids"][:length]).unsqueeze(0)
        with torch.no_grad():
            logits = policy(ids).logits[0, -1].float() / temperature
        token = int(torch.multinomial(torch.softmax(logits, -1), 1, generator=generator))
        obs, reward, terminated, truncated, info = env.step(token)
        total += float(reward)
        if terminated or truncated:
            return info["prompt"], info["completion"], total, info["reward_terms"]


def _demo_recommender(env_id: str, *, episodes: int, seed: int) -> None:
    from agents.baselines import BASELINES, evaluate_baseline

    print(f"=== {env_id} (built-in policies; items are actions, no text) ===")
    for name in BASELINES:
        result = evaluate_baseline(name, n_episodes=max(episodes, 8), seed=seed, num_envs=8)
        print(f"{name:<8} mean return {result.mean:7.3f} over {len(result.returns)} sessions")
    print()


def run_demo(*, policy_name: str = "tiny-shop", episodes: int = 2, seed: int = 0, temperature: float = 0.9) -> None:
    from lm_envs.core import TokenEnv
    from lm_envs.models import load_policy

    policy = load_policy(policy_name)
    for env_id in lm_envs.ENV_IDS:
        env_class = load_env_creator(gym.spec(env_id).entry_point)
        if not issubclass(env_class, TokenEnv):
            if env_id == "lm_envs/ProductRecommendation-v0":
                _demo_recommender(env_id, episodes=episodes, seed=seed)
            continue  # the continuous recommender shares that simulator
        env = gym.make(env_id, tokenizer=policy_name)
        print(f"=== {env_id} ({policy_name}) ===")
        for episode in range(episodes):
            prompt, completion, total, terms = _sample_episode(env, policy, seed=seed + episode, temperature=temperature)
            shown = ", ".join(f"{k}={v:+.3f}" for k, v in terms.items())
            print(f"prompt:     {prompt.strip()}")
            print(f"completion: {completion.strip()}")
            print(f"reward:     {total:+.3f} ({shown})\n")
        env.close()

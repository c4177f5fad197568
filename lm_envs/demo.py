"""Roll the default tiny-shop policy through every registered env and print text and rewards.

This is the small demo behind ``lm-envs demo``; it steps each env token by token exactly as
an agent would, sampling from the policy with a seeded generator.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import lm_envs

__all__ = ["run_demo"]


def _sample_episode(env: gym.Env, policy, *, seed: int, temperature: float) -> tuple[str, str, float, dict]:
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


def run_demo(*, policy_name: str = "tiny-shop", episodes: int = 2, seed: int = 0, temperature: float = 0.9) -> None:
    from lm_envs.models import load_policy

    policy = load_policy(policy_name)
    for env_id in lm_envs.ENV_IDS:
        env = gym.make(env_id, tokenizer=policy_name)
        if not isinstance(env.action_space, gym.spaces.Discrete) or env.action_space.n != policy.config.vocab_size:
            env.close()
            continue  # not a token env (e.g. the recommender): nothing for an LM to write
        print(f"=== {env_id} ({policy_name}) ===")
        for episode in range(episodes):
            prompt, completion, total, terms = _sample_episode(env, policy, seed=seed + episode, temperature=temperature)
            shown = ", ".join(f"{k}={v:+.3f}" for k, v in terms.items())
            print(f"prompt:     {prompt.strip()}")
            print(f"completion: {completion.strip()}")
            print(f"reward:     {total:+.3f} ({shown})\n")
        env.close()

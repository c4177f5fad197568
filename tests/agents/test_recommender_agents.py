"""REINFORCE, A2C and PPO from agents/ run on ProductRecommendation-v0 with the MLP policy
and never pick a masked item (the env raises on one)."""

from __future__ import annotations

import numpy as np
import pytest

from agents import A2C, PPO, REINFORCE, A2CConfig, PPOConfig, REINFORCEConfig

AGENTS = {
    "reinforce": (REINFORCE, REINFORCEConfig(num_envs=4, group_size=4, hidden_sizes=(32, 32))),
    "a2c": (A2C, A2CConfig(num_envs=4, n_steps=8, hidden_sizes=(32, 32))),
    "ppo": (PPO, PPOConfig(num_envs=4, n_steps=32, minibatch_size=64, update_epochs=2, hidden_sizes=(32, 32))),
}


@pytest.mark.parametrize("name", list(AGENTS))
def test_on_policy_agents_run_with_masks(name):
    cls, config = AGENTS[name]
    # repurchase off and purchases certain: masks change every step, and a masked pick would raise
    env_kwargs = {"user_model": {"purchase_bias": 20.0}, "max_steps": 12}
    agent = cls("lm_envs/ProductRecommendation-v0", config=config, seed=0, env_kwargs=env_kwargs)
    agent.learn(400)
    assert agent.num_timesteps >= 400
    result = agent.evaluate(4, deterministic=False)
    assert result["n_episodes"] == 4 and np.isfinite(result["reward_mean"])

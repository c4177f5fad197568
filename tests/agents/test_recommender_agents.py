"""REINFORCE, A2C and PPO on the recommenders: the MLP policy's recommender form (items as
embeddings, the two-tower head), masks (the env raises on a masked item), determinism,
save/load and slates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import lm_envs  # noqa: F401  (registers the ids)
from agents import A2C, PPO, REINFORCE, A2CConfig, PPOConfig, REINFORCEConfig
from agents.base import TIMING_METRICS, make_policy
from agents.envs import find_action_masks, make_vector_env
from agents.policies import TwoTowerHead

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


# -- the recommender form of MLPActorCritic ----------------------------------------------

REC = "lm_envs/ProductRecommendation-v0"
REC_CONTINUOUS = "lm_envs/ProductRecommendationContinuous-v0"


def rec_policy(env_id=REC, **env_kwargs):
    env = make_vector_env(env_id, num_envs=4, env_kwargs=env_kwargs)
    torch.manual_seed(0)
    return env, make_policy("auto", env, hidden_sizes=(32, 32))


def test_recommender_form_is_chosen_from_the_env():
    env, policy = rec_policy()
    assert policy.recommender and isinstance(policy.action_head, TwoTowerHead)
    # the history enters as item embeddings, not as ids
    obs, _ = env.reset(seed=0)
    x = policy.obs_to_tensor(obs)
    assert x.shape == (4, policy.encoder.dim)
    _, continuous = rec_policy(REC_CONTINUOUS)
    assert continuous.recommender and isinstance(continuous.action_head, torch.nn.Linear)
    assert torch.allclose(continuous.log_std, torch.full((env.item_embeddings.shape[1],), -1.0))
    # ordinary envs keep the flat MLP, with the parameters it always had
    cartpole = make_policy("auto", make_vector_env("CartPole-v1", num_envs=2), hidden_sizes=(8,))
    assert not cartpole.recommender and isinstance(cartpole.action_head, torch.nn.Linear)
    assert [name for name, _ in cartpole.named_parameters()] == [
        "actor_body.0.weight", "actor_body.0.bias", "action_head.weight", "action_head.bias",
        "critic_body.0.weight", "critic_body.0.bias", "value_head.weight", "value_head.bias"]


def test_two_tower_logits_are_dot_products():
    env, policy = rec_policy()
    head = policy.action_head
    with torch.no_grad():  # away from the init, so that every term counts
        head.item_bias.normal_()
        head.recency_weight.fill_(-2.0)
    obs, _ = env.reset(seed=0)
    for _ in range(3):  # a history with repeats
        obs, *_ = env.step(np.array([5, 5, 7, 9]))
    x = policy.obs_to_tensor(obs)
    logits = policy.action_logits(x)
    query = head.query(policy.actor_body(x))                       # (N, d): the state tower
    items = torch.as_tensor(env.item_embeddings)                    # (n, d): the item tower
    recent = x[:, policy.encoder.recency_slice]
    expected = torch.stack([torch.stack([query[i] @ items[j] for j in range(len(items))]) for i in range(4)])
    expected = expected + head.item_bias - 2.0 * recent
    torch.testing.assert_close(logits, expected)
    assert recent[0, 5] == pytest.approx(1 + 0.8 + 0.8**2)


def test_two_tower_head_by_hand():
    head = TwoTowerHead(2, np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]], np.float32), slots=2, recency_weight=True)
    with torch.no_grad():
        head.query.weight.copy_(torch.eye(4, 2))  # slot 0 asks for h, slot 1 for (0, 0)
        head.item_bias.copy_(torch.tensor([0.5, 0.0, -0.5]))
        head.recency_weight.fill_(-1.0)
    logits = head(torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 1.0, 0.0]]))
    # slot 0: <(1, 3), e_j> = 1, 6, 4; slot 1: 0; plus bias, minus recency
    torch.testing.assert_close(logits, torch.tensor([[1.5, 5.0, 3.5, 0.5, -1.0, -0.5]]))


def test_masks_still_respected():
    env, policy = rec_policy()
    obs, _ = env.reset(seed=0)
    x = policy.obs_to_tensor(obs)
    mask = torch.zeros(4, env.single_action_space.n, dtype=torch.bool)
    mask[:, [3, 11]] = True
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        actions, logp, _, _ = policy.act(x, action_mask=mask, generator=generator)
        assert set(actions.tolist()) <= {3, 11} and torch.isfinite(logp).all()


@pytest.mark.parametrize("env_id", [REC, REC_CONTINUOUS])
def test_recommender_policy_same_seed_same_run(env_id):
    def run(seed):
        agent = PPO(env_id, config=PPOConfig(num_envs=4, n_steps=16, minibatch_size=32, update_epochs=2), seed=seed,
                    env_kwargs={"max_steps": 10})
        agent.learn(128)
        metrics = agent.metrics.drop(columns=[c for c in TIMING_METRICS if c in agent.metrics])
        return metrics, agent.evaluate(4, deterministic=False)["reward_mean"]

    (m0, r0), (m1, r1) = run(3), run(3)
    pd.testing.assert_frame_equal(m0, m1)
    assert r0 == r1
    assert not m0.equals(run(4)[0])


def test_recommender_policy_save_load(tmp_path):
    agent = A2C(REC, config=A2CConfig(num_envs=4, n_steps=5), seed=0, env_kwargs={"max_steps": 10}).learn(100)
    before = agent.evaluate(4, deterministic=False)
    agent.save(tmp_path / "a2c")
    loaded = A2C.load(tmp_path / "a2c")
    assert loaded.policy.recommender
    assert loaded.evaluate(4, deterministic=False)["reward_mean"] == before["reward_mean"]


def test_slates_work_with_masks_per_position():
    env, policy = rec_policy(slate_size=3)
    head = policy.action_head
    assert isinstance(head, TwoTowerHead) and head.slots == 3
    obs, _ = env.reset(seed=0)
    n = env.single_action_space.nvec[0]
    mask = torch.zeros(4, 3 * n, dtype=torch.bool)
    mask[:, [2, n + 4, 2 * n + 4, 2 * n + 6]] = True
    actions, _, _, _ = policy.act(policy.obs_to_tensor(obs), action_mask=mask, generator=torch.Generator().manual_seed(0))
    assert (actions[:, 0] == 2).all() and (actions[:, 1] == 4).all() and set(actions[:, 2].tolist()) <= {4, 6}
    # purchases certain: bought items are masked from the next step on, and a masked pick raises
    agent = PPO(REC, config=PPOConfig(num_envs=4, n_steps=16, minibatch_size=32, update_epochs=1), seed=0,
                env_kwargs={"slate_size": 3, "max_steps": 10, "user_model": {"purchase_bias": 20.0}})
    agent.learn(128)
    assert np.isfinite(agent.evaluate(4, deterministic=False)["reward_mean"])


def test_on_policy_agents_run_on_the_continuous_env():
    agent = A2C(REC_CONTINUOUS, config=A2CConfig(num_envs=4, n_steps=5), seed=0, env_kwargs={"max_steps": 10})
    agent.learn(100)
    assert np.isfinite(agent.evaluate(4, deterministic=False)["reward_mean"])
    assert find_action_masks(agent.env) is not None  # masks exist, but a Box action takes none

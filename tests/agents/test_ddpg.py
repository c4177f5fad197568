"""DDPG and Wolpertinger DDPG: smoke runs, determinism, masks, save/load, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lm_envs  # noqa: F401  (registers the ids)
from agents.base import TIMING_METRICS
from agents.ddpg import DDPG, DDPGConfig

TINY = dict(num_envs=4, learning_starts=200, batch_size=32, buffer_size=2_000, hidden_sizes=(32, 32), log_interval=200)
ENVS = ["lm_envs/ProductRecommendation-v0", "lm_envs/ProductRecommendationContinuous-v0", "Pendulum-v1"]


@pytest.mark.parametrize("env_id", ENVS, ids=ENVS)
def test_smoke_learn_and_evaluate(env_id):
    agent = DDPG(env_id, config=DDPGConfig(**TINY), seed=0)
    assert agent.wolpertinger == env_id.startswith("lm_envs/")  # items on both recommenders
    assert agent.item_box == env_id.endswith("Continuous-v0")
    agent.learn(600)
    metrics = agent.metrics
    assert agent.num_timesteps == 600 and agent.num_updates > 0
    assert {"timesteps", "critic_loss", "actor_loss", "q_mean", "steps_per_s"} <= set(metrics.columns)
    assert np.isfinite(metrics["critic_loss"].dropna()).all()
    result = agent.evaluate(4)
    assert result["n_episodes"] == 4 and np.isfinite(result["reward_mean"])


def test_same_seed_same_run():
    runs = []
    for _ in range(2):
        agent = DDPG("lm_envs/ProductRecommendation-v0", config=DDPGConfig(**TINY, noise="ou"), seed=3)
        agent.learn(500)
        runs.append((agent.metrics.drop(columns=list(TIMING_METRICS), errors="ignore"), agent.evaluate(4)["returns"]))
    assert runs[0][0].equals(runs[1][0])
    assert runs[0][1] == runs[1][1]


def test_wolpertinger_respects_masks():
    agent = DDPG("lm_envs/ProductRecommendation-v0", config=DDPGConfig(**TINY), seed=0)
    obs, _ = agent.env.reset(seed=0)
    masks = np.zeros((4, agent.env.single_action_space.n), bool)
    masks[:, [5, 17]] = True
    items = agent.predict(obs, masks, noise=np.ones((4, agent.action_dim), np.float32))
    assert set(items.tolist()) <= {5, 17}


def test_save_load_round_trip(tmp_path):
    agent = DDPG("lm_envs/ProductRecommendation-v0", config=DDPGConfig(**TINY), seed=0)
    agent.learn(400)
    agent.save(tmp_path / "ddpg")
    assert (tmp_path / "ddpg" / "model.safetensors").exists() and (tmp_path / "ddpg" / "config.json").exists()
    loaded = DDPG.load(tmp_path / "ddpg")
    assert loaded.config == agent.config and loaded.num_timesteps == 400
    for a, b in zip(agent.policy.state_dict().values(), loaded.policy.state_dict().values()):
        assert torch.equal(a, b)
    obs, _ = agent.env.reset(seed=1)
    masks = agent._masks(agent.env)
    np.testing.assert_array_equal(agent.predict(obs, masks), loaded.predict(obs, masks))


@pytest.mark.parametrize("kwargs, match", [({"noise": "pink"}, "noise must be"), ({"tau": 2.0}, "tau must be in"),
                                           ({"k_neighbors": 0}, "k_neighbors must be")])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DDPGConfig(**kwargs)


def test_bad_env_and_policy():
    with pytest.raises(ValueError, match="item embeddings"):
        DDPG("CartPole-v1", config=DDPGConfig(**TINY))
    with pytest.raises(ValueError, match="policy must be 'auto' or 'mlp'"):
        DDPG("Pendulum-v1", policy="tiny-shop", config=DDPGConfig(**TINY))


def test_env_instance_and_ou_noise():
    import gymnasium as gym

    env = gym.make("lm_envs/ProductRecommendationContinuous-v0", max_steps=8)
    agent = DDPG(env, config=DDPGConfig(**{**TINY, "noise": "ou"}), seed=0)
    agent.learn(300)
    assert agent.evaluate(2)["n_episodes"] == 2
    agent.learn(100)  # the borrowed env is reset again after evaluation
    assert agent.num_timesteps == 400


@pytest.mark.parametrize("noise", ["gaussian", "ou"])
def test_noisy_evaluation_has_its_own_generator(noise):
    # evaluate(deterministic=False) draws its noise from a generator seeded by the evaluation
    # seed, as the on-policy agents do: it neither perturbs training nor depends on it
    config = DDPGConfig(**{**TINY, "noise": noise})
    evaluated = DDPG("lm_envs/ProductRecommendation-v0", config=config, seed=0).learn(400)
    first = evaluated.evaluate(4, deterministic=False)["returns"]
    assert evaluated.evaluate(4, deterministic=False)["returns"] == first
    evaluated.learn(200)
    plain = DDPG("lm_envs/ProductRecommendation-v0", config=config, seed=0).learn(400).learn(200)
    for a, b in zip(evaluated.policy.state_dict().values(), plain.policy.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert evaluated.evaluate(4, deterministic=False, seed=5)["returns"] == plain.evaluate(4, deterministic=False, seed=5)["returns"]


def test_continuous_recommender_acts_on_available_items():
    # Wolpertinger on the Box env: the agent sends the chosen item's embedding, and the env
    # shows exactly that item, an available one
    agent = DDPG("lm_envs/ProductRecommendationContinuous-v0", config=DDPGConfig(**TINY), seed=0,
                 env_kwargs={"user_model": {"purchase_bias": 20.0}, "max_steps": 10})
    assert agent.wolpertinger and agent.item_box
    agent.learn(400)
    env = agent.env
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(12):
        masks = agent._masks(env)
        items = agent._act(obs, masks, rng.normal(size=(4, agent.action_dim)).astype(np.float32))
        assert masks[np.arange(4), items].all()
        actions = agent.predict(obs, masks)
        assert actions.shape == (4, agent.action_dim) and actions.dtype == np.float32
        np.testing.assert_array_equal(actions, env.item_embeddings[agent._act(obs, masks, None)])
        obs, _, terminated, truncated, info = env.step(agent._env_actions(items))
        done = terminated | truncated  # a finished row's step info is in final_info
        shown = np.where(done, info.get("final_info", {}).get("slate", np.zeros((4, 1), int))[:, 0], info["slate"][:, 0])
        np.testing.assert_array_equal(shown, items)


def test_plain_ddpg_on_the_continuous_recommender():
    agent = DDPG("lm_envs/ProductRecommendationContinuous-v0", config=DDPGConfig(**TINY, box_items=False), seed=0)
    assert not agent.wolpertinger and not agent.has_masks
    agent.learn(300)
    obs, _ = agent.env.reset(seed=0)
    actions = agent.predict(obs)
    assert actions.shape == (4, agent.action_dim) and np.abs(actions).max() <= 1.0

"""The two recommendation ids: checkers, spaces, masks, errors, rewards, rendering."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest

import lm_envs
from lm_envs.envs.recommendation import ProductRecommendationContinuousEnv, ProductRecommendationEnv
from lm_envs.testing import check_lm_env
from lm_envs.world import make_world

REC_IDS = [env_id for env_id in lm_envs.ENV_IDS if not lm_envs.is_token_env(env_id)]


def test_both_ids_registered():
    assert REC_IDS == ["lm_envs/ProductRecommendation-v0", "lm_envs/ProductRecommendationContinuous-v0"]


@pytest.mark.parametrize("env_id", REC_IDS, ids=REC_IDS)
def test_check_lm_env(env_id):
    check_lm_env(gym.make(env_id))


@pytest.mark.parametrize("env_id", REC_IDS, ids=REC_IDS)
@pytest.mark.parametrize("kwargs", [{"slate_size": 3}, {"difficulty": "hard", "history_length": 4, "slate_size": 5}])
def test_slates_pass_gymnasium_and_sb3_checkers(env_id, kwargs):
    # the checkers step with unmasked random actions, so nothing may become unavailable
    kwargs = {**kwargs, "repurchase": True, "user_model": {"purchase_bias": -50.0}}
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(env_id, **kwargs).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env)
        sb3_check_env(env, warn=True)


def test_spaces():
    env = ProductRecommendationEnv()
    n = env.n_items
    assert n == sum(p.stock > 0 for p in make_world(0).products)
    assert env.action_space == gym.spaces.Discrete(n)
    space = env.observation_space
    assert space["item_ids"] == gym.spaces.Box(0, n, (10,), np.int64)
    assert space["step"] == gym.spaces.Discrete(41)
    assert space["user"].dtype == np.float32
    slate = ProductRecommendationEnv(slate_size=4)
    assert slate.action_space == gym.spaces.MultiDiscrete([n] * 4)
    assert slate.action_masks().shape == (4 * n,)
    cont = ProductRecommendationContinuousEnv()
    d = cont.item_embeddings.shape[1]
    assert cont.action_space == gym.spaces.Box(-1, 1, (d,), np.float32)
    assert np.abs(cont.item_embeddings).max() <= 1.0


def test_history_records_shown_items_most_recent_first():
    env = ProductRecommendationEnv(history_length=3, repurchase=True)
    obs, _ = env.reset(seed=0)
    assert (obs["item_ids"] == env.pad_item).all() and (obs["feedback"] == 0).all() and obs["step"] == 0
    for item in (4, 7, 9, 11):
        obs, _, terminated, truncated, info = env.step(item)
        assert not (terminated or truncated)
    assert obs["item_ids"].tolist() == [11, 9, 7]
    assert obs["step"] == 4
    assert set(obs["feedback"].tolist()) <= {1, 2, 3}
    if info["clicked"] == -1:
        assert obs["feedback"][0] == 1 and obs["ratings"][0] == 0
    else:
        assert obs["feedback"][0] in (2, 3) and 1 <= obs["ratings"][0] <= 5


def test_masked_and_bad_actions_raise():
    env = ProductRecommendationEnv(user_model={"purchase_bias": 20.0, "no_click_affinity": -5.0})
    env.reset(seed=0)
    _, _, _, _, info = env.step(3)  # a click is certain and so is the purchase
    assert info["reward_terms"]["purchase"] == 1.0
    assert not env.action_masks()[3]
    with pytest.raises(ValueError, match="item 3 is masked"):
        env.step(3)
    with pytest.raises(ValueError, match=r"not in \[0, "):
        env.step(env.n_items)
    with pytest.raises(ValueError, match="integers"):
        env.step(1.0)
    with pytest.raises(ValueError, match="integers"):
        env.step(True)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.array([1, 2]))


def test_out_of_stock_items_are_masked_from_the_start():
    env = ProductRecommendationEnv(include_out_of_stock=True)
    env.reset(seed=0)
    out = np.flatnonzero(env.catalog.stock == 0)
    assert len(out) > 0 and not env.action_masks()[out].any()
    with pytest.raises(ValueError, match="masked"):
        env.step(int(out[0]))


def test_slate_masks_and_errors():
    env = ProductRecommendationEnv(slate_size=3, user_model={"purchase_bias": 20.0, "no_click_affinity": -5.0})
    env.reset(seed=1)
    _, _, _, _, info = env.step(np.array([5, 5, 5]))  # a repeated item is shown once
    assert info["clicked"] == 5 and info["reward_terms"]["purchase"] == 1.0
    masks = env.action_masks().reshape(3, env.n_items)
    assert not masks[:, 5].any() and masks[:, 6].all()
    with pytest.raises(ValueError, match="item 5 is masked"):
        env.step(np.array([1, 5, 2]))
    with pytest.raises(ValueError, match="slate of 3"):
        env.step(np.array([1, 2]))


def test_continuous_maps_to_nearest_available_item():
    env = ProductRecommendationContinuousEnv(user_model={"purchase_bias": 20.0, "no_click_affinity": -5.0})
    env.reset(seed=0)
    target = env.item_embeddings[7]
    _, _, _, _, info = env.step(target)
    assert info["slate"].tolist() == [7] and info["clicked"] == 7
    # 7 is bought now: the same proto-action goes to the nearest *available* item
    _, _, _, _, info = env.step(target)
    distances = ((env.item_embeddings - target) ** 2).sum(axis=1)
    distances[7] = np.inf
    assert info["slate"].tolist() == [int(np.argmin(distances))]
    d = env.item_embeddings.shape[1]
    for bad, match in ((np.full(d, 1.5, np.float32), r"\[-1, 1\]"), (np.full(d, np.nan, np.float32), "non-finite"),
                       (np.zeros(d + 1, np.float32), "shape")):
        with pytest.raises(ValueError, match=match):
            env.step(bad)


def test_reward_terms_and_weights():
    env = ProductRecommendationEnv(reward={"click": 1.0, "revenue": 0.5, "rating": 0.1},
                                   user_model={"purchase_bias": 20.0, "no_click_affinity": -5.0})
    env.reset(seed=0)
    _, reward, _, _, info = env.step(2)
    terms = info["reward_terms"]
    median = float(np.median(env.catalog.price))
    assert terms["click"] == 1.0 and terms["purchase"] == 1.0
    assert terms["revenue"] == pytest.approx(env.catalog.price[2] / median)
    assert 1 <= terms["rating"] <= 5
    assert reward == pytest.approx(1.0 + 0.5 * terms["revenue"] + 0.1 * terms["rating"])


@pytest.mark.parametrize("reward, match", [({"clicks": 1.0}, "unknown reward term 'clicks'; known: click, purchase, revenue, rating"),
                                           ({"click": float("nan")}, "finite"), ({}, "non-empty")])
def test_bad_reward_config(reward, match):
    with pytest.raises(ValueError, match=match):
        ProductRecommendationEnv(reward=reward)


@pytest.mark.parametrize("kwargs, match", [
    ({"difficulty": "medium"}, "unknown difficulty 'medium'; known: easy, default, hard"),
    ({"user_model": {"fatigue": 0.1}}, "unknown user_model field 'fatigue'; known: choice_sharpness"),
    ({"user_model": {"step_cost": -1.0}}, "step_cost must be > 0"),
    ({"slate_size": 0}, "slate_size must be a positive integer"),
    ({"slate_size": 500}, "exceeds"),
    ({"simulator": "movielens"}, "simulator must be"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ProductRecommendationEnv(**kwargs)


def test_episode_end_info_and_step_after_end():
    env = ProductRecommendationEnv(max_steps=3)
    env.reset(seed=0)
    for _ in range(3):
        _, _, terminated, truncated, info = env.step(int(np.flatnonzero(env.action_masks())[0]))
    assert truncated or terminated
    assert set(info["episode_reward_terms"]) == {"click", "purchase", "revenue", "rating"}
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)


def test_render_ansi():
    env = ProductRecommendationEnv(render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    assert "step 1/40" in text and env.catalog.names[0] in text


def test_reset_options_user():
    env = ProductRecommendationEnv()
    _, info = env.reset(seed=0, options={"user": 5})
    assert info["user_id"] == 5
    with pytest.raises(ValueError, match="options\\['user'\\]"):
        env.reset(options={"user": 10_000})


def test_masked_action_skip_mode_shows_an_unclickable_item():
    env = ProductRecommendationEnv(masked_action="skip", user_model={"purchase_bias": 20.0, "no_click_affinity": -5.0})
    env.reset(seed=0)
    env.step(3)  # bought
    for _ in range(3):
        _, reward, _, _, info = env.step(3)
        assert info["clicked"] == -1 and reward == 0.0
    with pytest.raises(ValueError, match="not in"):
        env.step(env.n_items)  # out of range still raises
    with pytest.raises(ValueError, match="masked_action must be one of"):
        ProductRecommendationEnv(masked_action="clip")


@pytest.mark.parametrize("env_id", REC_IDS, ids=REC_IDS)
def test_sb3_multi_input_policy_builds_and_predicts(env_id):
    from stable_baselines3 import DDPG, PPO

    env = gym.make(env_id)
    model = PPO("MultiInputPolicy", env, n_steps=8, batch_size=8) if env_id.endswith("Recommendation-v0") else DDPG("MultiInputPolicy", env)
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert env.action_space.contains(action)

"""Every registered token env: checkers, seeding, episode end, rewards, misuse."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import lm_envs
from lm_envs.testing import check_lm_env

TOKEN_ENV_IDS = list(lm_envs.token_env_ids())


def make(env_id: str, **kwargs):
    kwargs.setdefault("max_new_tokens", 8)
    return gym.make(env_id, **kwargs)


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_passes_check_lm_env(env_id):
    check_lm_env(make(env_id))


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_kwargs_shape_the_spaces(env_id):
    env = make(env_id, max_new_tokens=5, max_prompt_tokens=40)
    assert env.observation_space["input_ids"].shape == (45,)
    assert env.observation_space["attention_mask"].dtype == np.int8
    assert env.action_space.n == len(env.unwrapped.tokenizer)


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_eos_terminates_and_reports_the_episode(env_id):
    env = make(env_id).unwrapped
    obs, info = env.reset(seed=3)
    prompt_len = int(obs["attention_mask"].sum())
    assert info["prompt"]
    obs, reward, terminated, truncated, info = env.step(env.eos_token_id)
    assert terminated and not truncated
    assert int(obs["attention_mask"].sum()) == prompt_len + 1
    assert obs["input_ids"][prompt_len] == env.eos_token_id
    assert info["completion"] == ""
    assert set(info["reward_terms"]) == set(env.reward_fn.names)
    assert np.isfinite(reward)


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_budget_truncates(env_id):
    env = make(env_id, max_new_tokens=4).unwrapped
    env.reset(seed=0)
    token = next(t for t in range(env.vocab_size) if t not in env.stop_token_ids and t != env.pad_token_id)
    flags = [env.step(token)[2:4] for _ in range(4)]
    assert flags[:3] == [(False, False)] * 3
    assert flags[3] == (False, True)


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_misuse_raises_with_a_message(env_id):
    env = make(env_id).unwrapped
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="token ids must lie in"):
        env.step(env.vocab_size)
    with pytest.raises(ValueError, match="token ids must lie in"):
        env.step(-1)
    with pytest.raises(ValueError, match="integer token id"):
        env.step(1.5)
    with pytest.raises(ValueError, match="single token id"):
        env.step(np.array([1, 2]))
    env.step(env.eos_token_id)
    with pytest.raises(RuntimeError, match="after the episode ended"):
        env.step(0)


def test_dense_rewards_sum_to_the_sparse_score():
    tokenizer = make("lm_envs/TextGeneration-v1").unwrapped.tokenizer
    tokens = tokenizer.encode(" Great headphones, and I am glad I bought them. The ear cushions make me smile every day.", add_special_tokens=False)
    totals = {}
    for mode in ("sparse", "dense"):
        env = make("lm_envs/TextGeneration-v1", reward_mode=mode, max_new_tokens=len(tokens)).unwrapped
        positive = next(t.index for t in env.tasks if t.fields["sentiment_target"] == "positive")
        env.reset(seed=1, options={"task_index": positive})
        rewards = [env.step(token)[1] for token in tokens]
        totals[mode] = sum(rewards)
        if mode == "sparse":
            assert all(r == 0.0 for r in rewards[:-1])
        else:
            assert sum(r != 0.0 for r in rewards) > 1  # dense really pays along the way
    assert totals["dense"] == pytest.approx(totals["sparse"], abs=1e-9)
    assert totals["sparse"] > 0.3  # positive text under a positive target


def test_render_modes():
    env = make("lm_envs/TextGeneration-v1", render_mode="ansi").unwrapped
    env.reset(seed=0)
    word = env.tokenizer.encode(" hello", add_special_tokens=False)
    for token in word:
        env.step(token)
    assert env.render() == env._task.prompt + " hello"
    from lm_envs.envs.text_generation import TextGenerationEnv

    with pytest.raises(ValueError, match="render_mode"):
        TextGenerationEnv(render_mode="rgb_array")


def test_task_index_option_picks_the_prompt():
    env = make("lm_envs/TextGeneration-v1").unwrapped
    _, info = env.reset(seed=0, options={"task_index": 5})
    assert info["prompt"] == env.tasks[5].prompt and info["task_index"] == 5
    with pytest.raises(ValueError, match="task_index"):
        env.reset(options={"task_index": len(env.tasks)})


def test_world_prompts_carry_their_targets():
    env = make("lm_envs/TextGeneration-v1").unwrapped
    polarities = {task.fields["sentiment_target"] for task in env.tasks}
    assert polarities == {"positive", "negative"}
    for task in env.tasks[:10]:
        for keyword in task.fields["keywords"]:
            assert keyword in task.prompt


def test_bad_construction_arguments():
    with pytest.raises(ValueError, match="unknown reward 'sentimnt'; known: .*sentiment"):
        make("lm_envs/TextGeneration-v1", reward={"sentimnt": 1.0})
    with pytest.raises(ValueError, match="reward_mode"):
        make("lm_envs/TextGeneration-v1", reward_mode="shaped")
    with pytest.raises(ValueError, match="max_new_tokens"):
        make("lm_envs/TextGeneration-v1", max_new_tokens=0)
    with pytest.raises(gym.error.Error):
        gym.make("lm_envs/TextGenerashun-v0")

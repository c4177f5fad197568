"""TextGeneration-v1: balanced targets, a reward noise cannot win, results per target."""

from __future__ import annotations

from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
import torch

import lm_envs  # noqa: F401
from agents.actors import ActorPolicy
from agents.base import make_policy
from agents.envs import make_vector_env
from agents.evaluation import evaluate_policy, summarize
from lm_envs.envs.text_generation import TextGenerationEnv, TextGenerationEnvV1, world_prompts

OUT_OF_DATE = "ignore:.*is out of date:DeprecationWarning"  # the v0 comparisons ask for it


@pytest.mark.filterwarnings(OUT_OF_DATE)
def test_v1_prompts_ask_for_as_many_negative_as_positive_texts():
    v0 = Counter(t.fields["sentiment_target"] for t in gym.make("lm_envs/TextGeneration-v0").unwrapped.tasks)
    v1 = Counter(t.fields["sentiment_target"] for t in gym.make("lm_envs/TextGeneration-v1").unwrapped.tasks)
    assert v0["positive"] == 2 * v0["negative"]  # v0: every product's blurb is positive
    assert v1["positive"] == v1["negative"] == len(world_prompts(0, blurbs=False)) // 2 > 0


@pytest.mark.filterwarnings(OUT_OF_DATE)
def test_v1_default_reward_and_same_prompts_as_the_reviews_of_v0():
    env = gym.make("lm_envs/TextGeneration-v1").unwrapped
    assert isinstance(env, TextGenerationEnvV1) and isinstance(env, TextGenerationEnv)
    assert env.reward_fn.names == ("fluent_sentiment", "keywords", "repetition")
    reviews = [t for t in gym.make("lm_envs/TextGeneration-v0").unwrapped.tasks if "review" in t.prompt.lower()]
    assert len(env.tasks) == len(reviews)
    for v1, v0 in zip(env.tasks, reviews):
        # the same instruction, then a star rating on target (the corpus's review header)
        stars = int(v1.prompt.rpartition("Rating: ")[2][0])
        assert v1.prompt == v0.prompt.rstrip("\n") + f"\nRating: {stars}/5."
        assert v1.fields == v0.fields and (stars >= 4) == (v1.fields["sentiment_target"] == "positive")


@pytest.mark.parametrize("env_id", ["lm_envs/TextGeneration-v0", "lm_envs/TextGeneration-v1"])
def test_last_info_names_the_target_as_the_group(env_id):
    env = gym.make(env_id, max_new_tokens=2, reward={"length": 1.0})
    _, info = env.reset(seed=3)
    target = env.unwrapped._task.fields["sentiment_target"]
    for _ in range(2):
        *_, terminated, truncated, info = env.step(5)
    assert truncated and info["group"] == target


def _mean_reward(env_id: str, act_randomly: bool, kwargs: dict) -> float:
    if act_randomly:
        env = gym.make(env_id, **kwargs)
        env.action_space.seed(0)
        return summarize(evaluate_policy(env, lambda obs, new, info: env.action_space.sample(), 8, seed=100))["reward_mean"]
    venv = make_vector_env(env_id, num_envs=8, env_kwargs=kwargs)
    policy = make_policy("tiny-shop", venv)
    act = ActorPolicy(policy, venv, generator=torch.Generator().manual_seed(0))
    return summarize(evaluate_policy(venv, act, 8, seed=100))["reward_mean"]


LM_ENVS = {  # each env's default reward, short budgets
    "lm_envs/TextGeneration-v1": {"max_new_tokens": 12, "max_prompt_tokens": 48},
    "lm_envs/CustomerServiceQA-v0": {"max_new_tokens": 16},
    "lm_envs/CustomerServiceDialog-v1": {"max_new_tokens": 96, "max_turn_tokens": 24},
}


@pytest.mark.slow
@pytest.mark.parametrize("env_id", list(LM_ENVS))
def test_random_tokens_score_below_the_untrained_policy(env_id):
    random_tokens = _mean_reward(env_id, True, LM_ENVS[env_id])
    untrained = _mean_reward(env_id, False, LM_ENVS[env_id])
    assert np.isfinite(random_tokens) and random_tokens < untrained

"""Where a policy meets an env: the tokenizers must be the same (not just the sizes), a padded
model vocabulary works, and the observation window is bounded and fits the model's positions."""

from __future__ import annotations

import json
import math

import gymnasium as gym
import pytest
import torch
import transformers

import lm_envs  # noqa: F401  registers the env ids
from agents import PPO
from agents.base import make_policy
from agents.envs import make_vector_env
from lm_envs.models import load_tokenizer

ENV_ID = "lm_envs/TextGeneration-v1"
LM_CONFIG = {"num_envs": 2, "n_steps": 8, "minibatch_size": 16, "update_epochs": 1}


def tiny_gpt2(vocab_size: int, *, n_positions: int = 256) -> torch.nn.Module:
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=n_positions, n_embd=16, n_layer=1, n_head=2)
    return transformers.GPT2LMHeadModel(config)


def test_a_tokenizer_with_two_ids_swapped_is_refused(tmp_path):
    load_tokenizer("tiny-shop").save_pretrained(tmp_path)
    spec = json.loads((tmp_path / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    a, b = (token for token, i in vocab.items() if i in (300, 301))
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    swapped = load_tokenizer(str(tmp_path))
    assert len(swapped) == len(load_tokenizer("tiny-shop"))
    env = make_vector_env(ENV_ID, num_envs=1, env_kwargs={"tokenizer": swapped})
    with pytest.raises(ValueError, match="the env's tokenizer and the policy's tokenizer differ"):
        make_policy("tiny-shop", env)


def test_a_model_vocabulary_padded_to_a_multiple_of_64_works():
    vocab = len(load_tokenizer("tiny-shop"))
    padded = 64 * math.ceil((vocab + 1) / 64)
    agent = PPO(ENV_ID, policy=tiny_gpt2(padded), config=LM_CONFIG, seed=0, env_kwargs={"max_new_tokens": 4})
    logits, _ = agent.policy.heads(torch.zeros(3, 16))
    assert logits.shape == (3, vocab)  # the padding rows are never a choice
    agent.learn(16)
    assert agent.evaluate(2)["n_episodes"] == 2


def test_a_model_vocabulary_smaller_than_the_env_is_refused():
    vocab = len(load_tokenizer("tiny-shop"))
    env = make_vector_env(ENV_ID, num_envs=1)
    with pytest.raises(ValueError, match=f"policy vocabulary size {vocab - 1} < env action space size {vocab}"):
        make_policy(tiny_gpt2(vocab - 1), env)


@pytest.mark.parametrize("max_new_tokens", ["cap", 10**9])
def test_an_observation_window_over_the_cap_is_refused_at_make(max_new_tokens):
    # imported here, so that the other tests of this file run without it
    from lm_envs.core import MAX_WINDOW

    max_new_tokens = MAX_WINDOW if max_new_tokens == "cap" else max_new_tokens
    window = 96 + max_new_tokens
    with pytest.raises(ValueError, match=f"max_prompt_tokens \\+ max_new_tokens = {window} .* {MAX_WINDOW}"):
        gym.make(ENV_ID, max_new_tokens=max_new_tokens)


def test_an_observation_window_longer_than_the_model_positions_is_refused():
    env = make_vector_env(ENV_ID, num_envs=1, env_kwargs={"max_new_tokens": 500})  # 96 + 500 > 512
    with pytest.raises(ValueError, match="596 tokens.*512 positions"):
        make_policy("tiny-shop", env)


def test_an_agent_on_a_window_longer_than_the_model_positions_fails_before_training():
    # it used to build, then crash in learn() with an IndexError inside torch's embedding
    with pytest.raises(ValueError, match="596 tokens.*512 positions"):
        PPO(ENV_ID, policy="tiny-shop", config={**LM_CONFIG, "num_envs": 4}, seed=0, env_kwargs={"max_new_tokens": 500})

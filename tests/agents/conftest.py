"""Fixtures for the agent tests: one thread, a small tokenizer, tiny random GPT-2s."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _one_thread():
    # the models here are tiny: extra threads only add contention (10x slower on 2 busy cores)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer():
    """The shipped tiny-shop tokenizer, or a small BPE trained on the shop corpus if absent."""
    from lm_envs.models import load_tokenizer

    try:
        return load_tokenizer("tiny-shop")
    except (FileNotFoundError, OSError, ValueError):
        from lm_envs.models.tiny_shop import train_tokenizer
        from lm_envs.world import make_world

        return train_tokenizer(make_world(seed=0).corpus(seed=0)[:2000], vocab_size=400)


@pytest.fixture(scope="session")
def make_lm(tokenizer) -> Callable[..., torch.nn.Module]:
    """``make_lm(seed=0, vocab_size=None)``: a 2-layer, 32-wide random GPT-2."""
    from transformers import GPT2LMHeadModel

    from lm_envs.models.tiny_shop import make_model_config

    def make(seed: int = 0, vocab_size: int | None = None) -> torch.nn.Module:
        config = make_model_config(tokenizer, n_embd=32, n_layer=2, n_head=2, n_positions=256)
        if vocab_size is not None:
            config.vocab_size = vocab_size
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config).eval()

    return make


@pytest.fixture
def token_env_kwargs(tokenizer) -> dict:
    return {"tokenizer": tokenizer, "reward": {"length": 1.0}, "max_new_tokens": 6, "max_prompt_tokens": 48}


@pytest.fixture
def make_token_vec(token_env_kwargs) -> Callable[..., object]:
    """``make_token_vec(num_envs)``: the native TextGeneration vector env."""
    import gymnasium as gym

    import lm_envs  # noqa: F401

    def make(num_envs: int = 4, **overrides):
        kwargs = {**token_env_kwargs, **overrides}
        return gym.make_vec(
            "lm_envs/TextGeneration-v1", num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs
        )

    return make

"""The native vector env matches gymnasium's SyncVectorEnv exactly over the same seeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import lm_envs
from lm_envs.vector import TokenVectorEnv
from lm_envs.testing import results_equal

TOKEN_ENV_IDS = list(lm_envs.token_env_ids())
# The equality check is about mechanics; a model-based reward (MiniLM) per row and step would
# only make it slow, so those envs get their cheap terms here.
CHEAP_REWARDS = {"lm_envs/CustomerServiceQA-v0": {"facts": 1.0, "length": 0.1}}




@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
@pytest.mark.parametrize("reward_mode", ["sparse", "dense"])
def test_native_matches_sync(env_id, reward_mode):
    kwargs = {"max_new_tokens": 6, "reward_mode": reward_mode}
    if env_id in CHEAP_REWARDS:
        kwargs["reward"] = CHEAP_REWARDS[env_id]
    native = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kwargs)
    assert isinstance(native, TokenVectorEnv)
    assert native.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert native.single_observation_space == sync.single_observation_space

    results = [env.reset(seed=7) for env in (native, sync)]
    assert results_equal(*results)
    eos = native.env.eos_token_id
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(30):
        # EOS now and then so rows end at different steps and autoreset mid-batch.
        actions = np.where(rng.random(4) < 0.15, eos, rng.integers(0, native.env.vocab_size, 4))
        results = [env.step(actions) for env in (native, sync)]
        assert results_equal(results[0], results[1])
        finished += int(results[0][2].sum() + results[0][3].sum())
    assert finished >= 8


def test_per_row_task_indices_and_bad_actions():
    env = gym.make_vec("lm_envs/TextGeneration-v1", num_envs=3, vectorization_mode="vector_entry_point", max_new_tokens=4)
    _, info = env.reset(seed=0, options={"task_index": np.array([2, 2, 5])})
    assert list(info["task_index"]) == [2, 2, 5]
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="row 1"):
        env.step(np.array([0, env.env.vocab_size, 0]))
    with pytest.raises(ValueError, match="integer"):
        env.step(np.zeros(3))

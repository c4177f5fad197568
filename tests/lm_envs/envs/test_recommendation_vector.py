"""The native vector env equals SyncVectorEnv(SAME_STEP) over the same seeds."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from lm_envs.envs.recommendation import RecommendationVectorEnv
from lm_envs.testing import results_equal




CASES = [
    ("lm_envs/ProductRecommendation-v0", {}),
    ("lm_envs/ProductRecommendation-v0", {"slate_size": 3, "difficulty": "hard"}),
    ("lm_envs/ProductRecommendationContinuous-v0", {"max_steps": 12}),
]


@pytest.mark.parametrize("env_id, kwargs", CASES, ids=[f"{i.split('/')[1]}-{k}" for i, k in CASES])
def test_native_matches_sync(env_id, kwargs):
    native = gym.make_vec(env_id, num_envs=4, vectorization_mode="vector_entry_point", **kwargs)
    sync = gym.make_vec(env_id, num_envs=4, vectorization_mode="sync",
                        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kwargs)
    assert isinstance(native, RecommendationVectorEnv)
    assert native.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert native.single_observation_space == sync.single_observation_space
    assert native.single_action_space == sync.single_action_space
    assert results_equal(native.reset(seed=3), sync.reset(seed=3))
    rng = np.random.default_rng(0)
    finished = 0
    for _ in range(60):
        masks = np.stack(native.call("action_masks"))
        assert results_equal(masks, np.stack(sync.call("action_masks")))
        if env_id.endswith("Continuous-v0"):
            actions = rng.uniform(-1, 1, native.action_space.shape).astype(np.float32)
        else:
            k = native.env.slate_size
            n = native.env.n_items
            actions = np.stack([rng.choice(np.flatnonzero(m[:n]), size=k) for m in masks])
            actions = actions[:, 0] if k == 1 else actions
        results = [env.step(actions) for env in (native, sync)]
        assert results_equal(results[0], results[1])
        finished += int(results[0][2].sum() + results[0][3].sum())
    assert finished >= 6


def test_vector_errors_name_the_row():
    env = gym.make_vec("lm_envs/ProductRecommendation-v0", num_envs=3, vectorization_mode="vector_entry_point")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros(3, dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        env.step(np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match="in row 1"):
        env.step(np.array([0, 10_000, 0]))
    assert env.action_masks().shape == (3, env.env.n_items)
    assert len(env.get_attr("item_embeddings")) == 3

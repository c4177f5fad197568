"""agents.features: the observation encoder, recency and candidate features, by hand."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from agents.features import ObsEncoder, candidate_features, item_embeddings, recency

# a tiny catalog: 3 items in 2-d, the pad id is 3
EMBEDDINGS = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.5]], np.float32)
SPACE = spaces.Dict({
    "feedback": spaces.Box(0, 3, (2,), np.int64),
    "item_ids": spaces.Box(0, 3, (2,), np.int64),
    "step": spaces.Discrete(3),
    "user": spaces.Box(-1.0, 1.0, (1,), np.float32),
})


def test_candidate_features_by_hand():
    history = np.array([[4, 9, 4, 50]])
    features = candidate_features(history, np.array([[4, 9, 7]]))
    np.testing.assert_allclose(features[0], [[1 + 0.8**2, 1.0], [0.8, 0.0], [0.0, 0.0]], rtol=1e-6)


def test_recency_by_hand():
    # item 2 shown now and two steps ago, item 0 one step ago; the pad (3) counts for nothing
    history = np.array([[2, 0, 2, 3], [3, 3, 3, 3]])
    np.testing.assert_allclose(recency(history, 3), [[0.8, 0.0, 1 + 0.8**2], [0.0, 0.0, 0.0]], rtol=1e-6)
    # the same numbers as the candidate features of every item
    np.testing.assert_allclose(recency(history, 3), candidate_features(history, np.tile(np.arange(3), (2, 1)))[..., 0],
                               rtol=1e-6)


def test_encoder_values_by_hand():
    encoder = ObsEncoder(SPACE, EMBEDDINGS, item_recency=True)
    obs = {"feedback": np.array([[2, 1]]), "item_ids": np.array([[2, 3]]), "step": np.array([1]),
           "user": np.array([[0.5]], np.float32)}
    x = encoder(obs)
    expected = [
        0, 0, 1, 0, 0, 1, 0, 0,  # feedback one-hot per slot (4 values): click, skip
        -1.0, 0.5, 0.0, 0.0,     # item 2's embedding, then the pad as zeros
        0, 1, 0,                 # step one-hot
        0.5,                     # user, already in [-1, 1]
        0.0, 0.0, 1.0,           # recency of items 0, 1, 2
    ]
    assert encoder.dim == len(expected) and x.shape == (1, encoder.dim) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], expected)
    assert encoder.recency_slice == slice(16, 19)
    np.testing.assert_array_equal(encoder.history(obs), [[2, 3]])


def test_encoder_without_embeddings_one_hots_item_ids_or_scales_them():
    encoder = ObsEncoder(SPACE)
    assert encoder.history_key is None and encoder.history({"item_ids": np.zeros((1, 2))}) is None
    # item_ids span 4 values, so they are one-hot like feedback
    assert encoder.dim == 8 + 8 + 3 + 1
    with pytest.raises(ValueError, match="item_recency needs"):
        ObsEncoder(SPACE, item_recency=True)


def test_encoder_on_the_env():
    import gymnasium as gym

    import lm_envs  # noqa: F401

    env = gym.make("lm_envs/ProductRecommendation-v0").unwrapped
    encoder = ObsEncoder(env.observation_space, env.item_embeddings)
    obs, _ = env.reset(seed=0)
    batch = {k: np.asarray(v)[None] for k, v in obs.items()}
    x = encoder(batch)
    d = env.item_embeddings.shape[1]
    assert x.shape == (1, encoder.dim) == (1, 10 * d + 10 * 4 + 10 * 6 + 9 + 41)
    # keys are sorted: feedback (one-hot of 4) comes first, then the item embeddings
    assert (x[0, 40 : 40 + 10 * d] == 0).all()  # an empty history is all pad


def test_item_embeddings_of_envs_and_vector_envs():
    import gymnasium as gym

    import lm_envs  # noqa: F401

    single = gym.make("lm_envs/ProductRecommendationContinuous-v0")
    vector = gym.make_vec("lm_envs/ProductRecommendation-v0", num_envs=2, vectorization_mode="vector_entry_point")
    sync = gym.make_vec("lm_envs/ProductRecommendation-v0", num_envs=2, vectorization_mode="sync")
    expected = single.unwrapped.item_embeddings
    for env in (single.unwrapped, vector, sync):
        np.testing.assert_array_equal(item_embeddings(env), expected)
    assert item_embeddings(gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")) is None

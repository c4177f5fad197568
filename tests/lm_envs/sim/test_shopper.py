"""The RecSim-style user model: hand-computed choice probabilities and the dynamics."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_envs.envs.recommendation import ProductRecommendationEnv, default_simulator
from lm_envs.sim.shopper import DIFFICULTIES, Sessions, UserModel


def make_sessions(model: UserModel | None = None, rows: int = 1, **kwargs) -> Sessions:
    sim = default_simulator()
    options = dict(num_rows=rows, history_length=5, slate_size=kwargs.pop("slate_size", 1), max_steps=40,
                   repurchase=False, reward={"click": 1.0})
    sessions = Sessions(sim.catalog, sim.users, model or UserModel(), **options)
    for row in range(rows):
        sessions.reset_row(row, np.random.default_rng(row), user=kwargs.get("user", 0))
    return sessions


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 48), min_size=1, max_size=6), st.integers(0, 39))
def test_logit_choice_sums_to_one(slate, user):
    sessions = make_sessions(slate_size=len(slate), user=user)
    probs = sessions.choice_probabilities(np.array([slate]))
    assert probs.shape == (1, len(slate) + 1)
    assert probs.sum() == pytest.approx(1.0)
    assert (probs >= 0).all()


def test_choice_probability_by_hand():
    model = UserModel(choice_sharpness=4.0, no_click_affinity=0.5)
    sessions = make_sessions(model)
    a, b = sessions.affinity(np.array([[3, 8]]))[0]
    # fresh session: no fatigue, so the MNL weights are exp(4 a), exp(4 b) against exp(4 * 0.5)
    weights = np.exp(4.0 * np.array([0.5, a, b]))
    np.testing.assert_allclose(sessions.choice_probabilities(np.array([[3, 8]]))[0], weights / weights.sum())
    # a repeated item is shown once
    np.testing.assert_allclose(sessions.choice_probabilities(np.array([[3, 3]]))[0],
                               np.array([weights[0], weights[1], 0.0]) / weights[:2].sum())
    interests = sessions.interests[0]
    topics = sessions.catalog.topics[3]
    assert a == pytest.approx(interests @ topics / np.linalg.norm(interests) / np.linalg.norm(topics))


def test_fatigue_lowers_click_probability_on_repeats():
    sessions = make_sessions(UserModel(streak_fatigue=0.0))
    item = 3
    before = sessions.choice_probabilities_all()[0, item]
    rng = np.random.default_rng(0)
    sessions.step(np.array([[item]]), [rng])
    after_one = sessions.choice_probabilities_all()[0, item]
    sessions.step(np.array([[item]]), [rng])
    after_two = sessions.choice_probabilities_all()[0, item]
    assert before > after_one > after_two
    # decay: exposure = 0.8 + 1 after two showings
    assert sessions.fatigue(np.array([[item]]))[0, 0] == pytest.approx(0.15 * 1.8)
    # with fatigue off the probability only moves through interest drift
    calm = make_sessions(UserModel(repeat_fatigue=0.0, streak_fatigue=0.0, interest_drift=0.0))
    p0 = calm.choice_probabilities_all()[0, item]
    calm.step(np.array([[item]]), [np.random.default_rng(0)])
    assert calm.choice_probabilities_all()[0, item] == pytest.approx(p0)


def test_same_category_streak_causes_fatigue():
    sessions = make_sessions(UserModel(repeat_fatigue=0.0, no_click_affinity=-10.0))  # every item is clicked
    category = sessions.catalog.category
    items = np.flatnonzero(category == category[0])[:3]
    other = np.flatnonzero(category != category[0])[0]
    rng = np.random.default_rng(0)
    sessions.step(np.array([[items[0]]]), [rng])
    sessions.step(np.array([[items[1]]]), [rng])
    assert sessions.streak_length[0] == 2
    np.testing.assert_allclose(sessions.fatigue(np.array([[items[2], other]]))[0], [0.05 * 2, 0.0])


def test_session_ends_when_satisfaction_runs_out():
    model = UserModel(initial_satisfaction=(1.0, 1.0), step_cost=0.3, skip_penalty=0.0, quality_gain=0.0)
    env = ProductRecommendationEnv(user_model=model.__dict__)
    env.reset(seed=0)
    ends = []
    for _ in range(4):
        _, _, terminated, truncated, _ = env.step(int(np.flatnonzero(env.action_masks())[0]))
        ends.append((terminated, truncated))
        if terminated:
            break
    assert ends == [(False, False), (False, False), (False, False), (True, False)]  # 1 - 4 * 0.3 <= 0


def test_poor_recommendations_lower_satisfaction_more():
    model = UserModel(initial_satisfaction=(1.0, 1.0))
    good, bad = make_sessions(model), make_sessions(model)
    affinity = good.affinity()[0]
    quality = good.catalog.quality
    best = int(np.argmax(affinity + quality))
    worst = int(np.argmin(affinity))
    for _ in range(5):
        good.step(np.array([[best]]), [np.random.default_rng(1)])
        bad.step(np.array([[worst]]), [np.random.default_rng(1)])
    assert good.satisfaction[0] > bad.satisfaction[0]


def test_interests_drift_toward_clicked_items():
    sessions = make_sessions(UserModel(no_click_affinity=-10.0, repeat_fatigue=0.0))
    item = int(np.argmin(sessions.affinity()[0]))
    before = sessions.affinity()[0, item]
    for _ in range(5):
        sessions.step(np.array([[item]]), [np.random.default_rng(0)])
    assert sessions.affinity()[0, item] > before


def test_same_seed_same_users_and_trajectory():
    users = []
    for seed in range(20):
        env = ProductRecommendationEnv()
        obs, info = env.reset(seed=seed)
        again, info2 = ProductRecommendationEnv().reset(seed=seed)
        assert info == info2 and all(np.array_equal(obs[k], again[k]) for k in obs)
        users.append(info["user_id"])
    assert len(set(users)) > 8


def test_difficulty_tiers_differ():
    assert DIFFICULTIES["easy"].repeat_fatigue == 0.0 < DIFFICULTIES["default"].repeat_fatigue < DIFFICULTIES["hard"].repeat_fatigue
    assert UserModel.make("hard", {"repeat_fatigue": 0.0}).feature_noise == DIFFICULTIES["hard"].feature_noise

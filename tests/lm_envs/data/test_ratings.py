"""`from_ratings`: round trip on a small table, MovieLens format, Open Bandit clicks, errors."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

from lm_envs.data import DataError, from_ratings, shared_data_dir
from lm_envs.testing import check_lm_env


def low_rank_table(n_users: int = 12, n_items: int = 9, rank: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    users, items = rng.normal(size=(n_users, rank)), rng.normal(size=(rank, n_items))
    full = users @ items + 3.0
    rows = [(f"u{u}", 100 + i, full[u, i]) for u in range(n_users) for i in range(n_items)]
    return pd.DataFrame(rows, columns=["user", "item", "stars"])


def test_round_trip_on_a_small_low_rank_table():
    table = low_rank_table()
    sim = from_ratings(table, user_col="user", item_col="item", rating_col="stars", n_factors=4)
    fit = sim.fit
    assert (fit["n_users"], fit["n_items"], fit["n_ratings"], fit["n_factors"]) == (12, 9, 108, 4)
    assert fit["implicit"] is False and fit["rmse"] < 1e-8  # centred rank-3 + mean is exactly rank <= 4
    assert fit["item_ids"] == list(range(100, 109)) and sim.catalog.names[0] == "100"
    # the factors reproduce every rating
    users = {f"u{u}": row for row, u in enumerate(sorted(range(12), key=lambda u: f"u{u}"))}
    predicted = fit["rating_mean"] + sim.users.interests @ sim.catalog.topics.T
    for user, item, stars in table.itertuples(index=False):
        assert predicted[fit["user_ids"].index(user), item - 100] == pytest.approx(stars, abs=1e-8)
    assert len(users) == sim.users.n_users
    # the best-rated item on average has the top quality
    means = table.groupby("item")["stars"].mean().to_numpy()
    assert np.argmax(sim.catalog.quality) == np.argmax(means)
    assert sim.catalog.popularity.tolist() == [12.0] * 9


def test_same_table_same_simulator():
    table = low_rank_table(seed=1)
    a = from_ratings(table, user_col="user", item_col="item", rating_col="stars")
    b = from_ratings(table.sample(frac=1.0, random_state=0), user_col="user", item_col="item", rating_col="stars")
    np.testing.assert_allclose(a.catalog.topics, b.catalog.topics)
    np.testing.assert_allclose(a.users.interests, b.users.interests)


def test_movielens_csv_builds_a_working_env(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 31):
        for movie in rng.choice(np.arange(1, 41), size=12, replace=False):
            rows.append((user, int(movie), float(rng.integers(1, 11)) / 2, 964982703 + len(rows)))
    path = tmp_path / "ratings.csv"
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(path, index=False)
    sim = from_ratings(path, user_col="userId", item_col="movieId", rating_col="rating", n_factors=6)
    assert sim.catalog.n_items == 40 and sim.users.n_users == 30 and sim.source == str(path)
    env = gym.make("lm_envs/ProductRecommendation-v0", simulator=sim)
    check_lm_env(env)
    continuous = gym.make("lm_envs/ProductRecommendationContinuous-v0", simulator=sim)
    assert continuous.action_space.shape == (7,)


def test_open_bandit_clicks():
    folder = shared_data_dir()
    if folder is None or not (folder / "open-bandit" / "random_men.csv").is_file():
        pytest.skip("../shared/data/open-bandit is not available")
    from agents.baselines import evaluate_baseline

    data = folder / "open-bandit"
    sim = from_ratings(data / "random_men.csv", user_col=[f"user_feature_{j}" for j in range(4)], item_col="item_id",
                       rating_col="click", items=data / "item_context_men.csv", category_col="item_feature_1")
    assert sim.fit["implicit"] is True and sim.catalog.n_items == 34
    assert sim.users.n_users > 10 and len(set(sim.catalog.category.tolist())) > 1
    check_lm_env(gym.make("lm_envs/ProductRecommendation-v0", simulator=sim))
    kwargs = {"simulator": sim, "max_steps": 20}
    random = evaluate_baseline("random", kwargs, n_episodes=64, seed=0).mean
    oracle = evaluate_baseline("oracle", kwargs, n_episodes=64, seed=0).mean
    assert oracle > 1.5 * random


@pytest.mark.parametrize("content, columns, match", [
    ("user,item\n1,2\n", {}, r"ratings.csv: missing column 'rating'; columns present: user, item"),
    ("user,item,rating\n1,2,5\n1,3,great\n", {}, r"ratings.csv: column 'rating' must hold finite numbers; row 1 has 'great'"),
    ("user,item,rating\n", {}, r"ratings.csv: the table is empty"),
    ("user,item,rating\n1,2,5\n1,3,4\n", {}, r"ratings.csv: needs at least 2 users and 2 items"),
    ("user,item,rating\n1,2,5\n2,3,4\n", {"price_col": "price"}, r"ratings.csv: missing column 'price'"),
])
def test_bad_tables_raise_data_errors_naming_file_and_column(tmp_path, content, columns, match):
    path = tmp_path / "ratings.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        from_ratings(path, user_col="user", item_col="item", **columns)


def test_bad_sources():
    with pytest.raises(DataError, match="data file not found"):
        from_ratings("/no/such/ratings.csv")
    with pytest.raises(DataError, match="expected a file path or a pandas DataFrame"):
        from_ratings([1, 2, 3])
    with pytest.raises(DataError, match="frame: missing column 'user_id'"):
        from_ratings(pd.DataFrame({"a": [1]}), name="frame")

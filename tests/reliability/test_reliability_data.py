"""User data: a dict is a table of columns, ids are compared one way, and broken tables raise a
DataError that names the file, the row or the problem."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import lm_envs  # noqa: F401  registers the env ids
from lm_envs.data import DataError, from_ratings


def _ratings(users, items, ratings) -> pd.DataFrame:
    return pd.DataFrame({"user_id": users, "item_id": items, "rating": ratings})


def _grid(n_users: int = 6, n_items: int = 5, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [(u, i, float(rng.integers(1, 6))) for u in range(n_users) for i in range(n_items) if rng.random() < 0.8]
    return _ratings(*zip(*rows))


def test_prompts_given_as_a_dict_are_a_table_of_columns():
    table = {"prompt": ["Say hi.", "Say bye."], "keywords": [["hi"], ["bye"]]}
    env = gym.make("lm_envs/TextGeneration-v1", prompts=table)
    assert [t.prompt for t in env.unwrapped.tasks] == ["Say hi.", "Say bye."]
    assert env.unwrapped.tasks[1].fields["keywords"] == ["bye"]


@pytest.mark.parametrize("prompts", [{"Say hi.": 1, "Say bye.": 2}, {"prompt": ["a", "b"], "keywords": [["a"]]}])
def test_a_dict_that_is_not_a_table_of_columns_is_refused(prompts):
    with pytest.raises(DataError, match="table of columns"):
        gym.make("lm_envs/TextGeneration-v1", prompts=prompts)


def test_qa_data_given_as_a_dict_is_a_table_of_columns():
    data = {"question": ["Where is my order?", "Can I return it?"], "answer": ["It ships today.", "Yes, in 30 days."]}
    env = gym.make("lm_envs/CustomerServiceQA-v0", data=data)
    _, info = env.reset(seed=0)
    assert info["prompt"].count("Where is my order?") + info["prompt"].count("Can I return it?") == 1


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_non_utf8_prompt_files_name_the_file(tmp_path, suffix):
    path = tmp_path / f"prompts{suffix}"
    text = '{"prompt": "caf\xe9"}' if suffix == ".jsonl" else '[{"prompt": "caf\xe9"}]'
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(DataError, match=f"{path}: not UTF-8"):
        gym.make("lm_envs/TextGeneration-v1", prompts=str(path))


def test_ratings_ids_1_and_text_1_are_one_user_and_one_item():
    frame = _grid().astype({"user_id": object, "item_id": object})
    frame.loc[frame.index[:3], "user_id"] = [str(u) for u in frame.user_id[:3]]  # 0 and "0"
    frame.loc[frame.index[:3], "item_id"] = [str(i) for i in frame.item_id[:3]]
    plain = from_ratings(_grid())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mixed = from_ratings(frame)
    said = [str(w.message) for w in caught]
    assert any("'user_id'" in m and "read the same as text" in m and "merged" in m for m in said), said
    assert any("'item_id'" in m and "read the same as text" in m and "merged" in m for m in said), said
    assert mixed.fit["n_users"] == plain.fit["n_users"] and mixed.fit["n_items"] == plain.fit["n_items"]


@pytest.mark.parametrize("column", ["user_id", "item_id"])
def test_a_missing_id_names_its_row(column):
    frame = _grid()
    frame[column] = frame[column].astype(object)
    frame.loc[4, column] = np.nan
    with pytest.raises(DataError, match=f"column '{column}' has no id in row 4"):
        from_ratings(frame)


def test_constant_ratings_say_there_is_nothing_to_factorise():
    frame = _grid()
    frame["rating"] = 4.0
    with pytest.raises(DataError, match="every rating is 4"):
        from_ratings(frame)


def test_all_zero_clicks_say_there_are_no_clicks():
    frame = _grid()
    frame["rating"] = 0.0
    with pytest.raises(DataError, match="no clicks"):
        from_ratings(frame)

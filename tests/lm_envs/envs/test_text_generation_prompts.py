"""TextGeneration prompts from user tables and the Hu & Liu reviews, and their errors."""

from __future__ import annotations

import json

import gymnasium as gym
import pandas as pd
import pytest

import lm_envs  # noqa: F401
from lm_envs.data import DataError, shared_data_dir


def make(**kwargs):
    return gym.make("lm_envs/TextGeneration-v1", max_new_tokens=4, **kwargs).unwrapped


def test_list_of_strings():
    env = make(prompts=["Say hi.", "Say bye."])
    _, info = env.reset(seed=0, options={"task_index": 1})
    assert info["prompt"] == "Say bye."


def test_csv_columns_become_task_fields(tmp_path):
    path = tmp_path / "prompts.csv"
    pd.DataFrame({"text": ["Praise the lamp."], "keywords": ["bright; warm"], "references": ["A bright warm lamp."]}).to_csv(path, index=False)
    env = gym.make("lm_envs/TextGeneration-v1", max_new_tokens=16, prompts=str(path), prompt_column="text", reward={"keywords": 1.0}).unwrapped
    env.reset(seed=0)
    assert env._task.fields == {"keywords": ["bright", "warm"], "references": ["A bright warm lamp."]}
    for token in env.tokenizer.encode(" bright but not warm", add_special_tokens=False):
        env.step(token)
    _, reward, terminated, _, info = env.step(env.eos_token_id)
    assert terminated and info["completion"] == " bright but not warm"
    assert reward == 1.0 and info["reward_terms"] == {"keywords": 1.0}


def test_jsonl_and_dataframe(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"prompt": "Write a blurb.", "sentiment_target": "negative"}) + "\n\n")
    assert make(prompts=path).tasks[0].fields == {"sentiment_target": "negative"}
    assert make(prompts=pd.DataFrame({"prompt": ["a", "b"]})).tasks[1].prompt == "b"


def test_missing_column_names_the_file_and_column(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"question": ["x"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"bad\.csv: missing column 'prompt'.*question"):
        make(prompts=str(path))


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n{"prompt": \n')
    with pytest.raises(DataError, match=r"bad\.jsonl: line 2 is not valid JSON"):
        make(prompts=path)


def test_unsupported_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        make(prompts=str(tmp_path / "nope.csv"))
    (tmp_path / "p.parquet").write_text("x")
    with pytest.raises(DataError, match="unsupported file type"):
        make(prompts=str(tmp_path / "p.parquet"))
    with pytest.raises(DataError, match="contains no records"):
        make(prompts=[])
    with pytest.raises(ValueError, match="either prompts= or data="):
        make(prompts=["a"], data="hu-liu")


@pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "product-reviews").is_dir(), reason="../shared/data/product-reviews not present")
def test_hu_liu_reviews_from_shared_data():
    env = make(data="hu-liu", reward={"rouge": 1.0, "keywords": 1.0})
    assert len(env.tasks) > 500
    polarities = {task.fields["sentiment_target"] for task in env.tasks}
    assert polarities == {"positive", "negative"}
    task = env.tasks[0]
    assert task.fields["references"][0] and task.fields["keywords"]
    assert all(keyword in task.prompt for keyword in task.fields["keywords"])


def test_hu_liu_format_parsed_from_a_made_up_file(tmp_path):
    folder = tmp_path / "product_reviews_x"
    folder.mkdir()
    (folder / "Acme_Phone.txt").write_text(
        "*****\n* header\n*****\n[t]great phone\nscreen[+2], battery[+1]##The screen is great .\n##I like it .\n"
        "[t]meh\nbattery[-3][u]##Battery died fast .\n"
    )
    (folder / "README.txt").write_text("ignored")
    env = make(data=tmp_path)
    assert [t.fields["sentiment_target"] for t in env.tasks] == ["positive", "negative"]
    assert env.tasks[0].prompt.startswith("Write a positive review of the Acme Phone that mentions screen and battery")
    assert env.tasks[0].fields["references"] == ["The screen is great . I like it ."]

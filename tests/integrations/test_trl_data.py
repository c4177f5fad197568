"""`lm_envs.to_dataset`, the train / eval split and the env reward functions for TRL."""

from __future__ import annotations

import gymnasium as gym
import pytest

import lm_envs
from lm_envs.integrations.trl import (
    ENV_RETURN,
    ENV_REWARD_TERMS,
    EVAL_FRACTION,
    dataset_rows,
    env_reward,
    env_reward_term,
    split_of,
)

TOKEN_ENV_IDS = list(lm_envs.token_env_ids())


def test_split_of_by_hand():
    # sha256("") = e3b0c44298fc1c14...: 0xe3b0c44298fc1c14 / 2**64 = 0.889 >= 0.2 -> train
    assert split_of("") == "train"
    # sha256("a") = ca978112ca1bbdca...: 0.791 -> train; sha256("12") = 6b51d431df5d7f14...: 0.419 -> train;
    # sha256("3") = 4e07408562bedb8b...: 0.305 -> train; sha256("5") = ef2d127de37b942b...: 0.934 -> train;
    # sha256("b") = 3e23e8160039594a...: 0.243 -> train; sha256("c") = 2e7d2c03a9507ae2...: 0.181 -> eval
    assert [split_of(s) for s in ("a", "12", "3", "5", "b", "c")] == ["train"] * 5 + ["eval"]
    assert EVAL_FRACTION == 0.2


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_train_and_eval_share_no_prompt(env_id):
    train = dataset_rows(env_id, 40, seed=0, split="train")
    test = dataset_rows(env_id, 40, seed=0, split="eval")
    assert len(train) == len(test) == 40
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in test})
    assert all(split_of(r["prompt"]) == "train" for r in train)
    assert all(split_of(r["prompt"]) == "eval" for r in test)
    # every task of the env is in exactly one split, and both are used
    tasks = gym.make(env_id).unwrapped.tasks
    n_eval = sum(split_of(t.prompt) == "eval" for t in tasks)
    assert 0 < n_eval < len(tasks)


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_rows_are_the_env_tasks_drawn_as_the_env_draws_them(env_id):
    rows = dataset_rows(env_id, 12, seed=3, split="train")
    env = gym.make(env_id).unwrapped
    drawn = []
    seed = 3
    while len(drawn) < 12:
        _, info = env.reset(seed=seed)
        seed += 1
        if split_of(info["prompt"]) == "train":
            drawn.append(info["task_index"])
    assert [r["task_index"] for r in rows] == drawn
    for row in rows:
        task = env.tasks[row["task_index"]]
        assert row == {"prompt": task.prompt, "task_index": task.index, **task.fields}
    assert dataset_rows(env_id, 12, seed=3, split="train") == rows  # same arguments, same rows


def test_to_dataset_is_a_datasets_dataset_with_a_prompt_column():
    pytest.importorskip("datasets")
    data = lm_envs.to_dataset("lm_envs/CustomerServiceQA-v0", 8, seed=0, max_new_tokens=16)
    assert len(data) == 8
    assert {"prompt", "task_index", "facts", "intent", "references"} <= set(data.column_names)
    assert all(isinstance(p, str) and p for p in data["prompt"])
    # the facts mix value types (text, months, amounts) and come back exactly as the env has them
    tasks = gym.make("lm_envs/CustomerServiceQA-v0").unwrapped.tasks
    assert [row["facts"] for row in data] == [tasks[i].fields["facts"] for i in data["task_index"]]


def test_env_kwargs_reach_the_env():
    rows = dataset_rows("lm_envs/CustomerServiceDialog-v1", 20, seed=0, goals=["password_reset"])
    assert {r["goal"] for r in rows} == {"password_reset"}


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="split must be one of"):
        dataset_rows("lm_envs/TextGeneration-v1", 4, seed=0, split="test")
    with pytest.raises(ValueError, match="positive integer"):
        dataset_rows("lm_envs/TextGeneration-v1", 0, seed=0)
    with pytest.raises(TypeError, match="token env"):
        dataset_rows("lm_envs/ProductRecommendation-v0", 4, seed=0)
    with pytest.raises(ValueError, match="no task in the 'eval' split"):
        dataset_rows("lm_envs/TextGeneration-v1", 4, seed=0, split="eval", prompts=["Write a review."])


def test_env_reward_reads_the_rollout_fields():
    kwargs = {ENV_RETURN: [1.5, -1.0], ENV_REWARD_TERMS: [{"outcome": 1.0, "turns": 2.0}, {"outcome": -1.0, "turns": 1.0}]}
    assert env_reward(["p", "q"], ["a", "b"], **kwargs) == [1.5, -1.0]
    turns = env_reward_term("turns")
    assert turns.__name__ == "env_turns"
    assert turns(["p", "q"], ["a", "b"], **kwargs) == [2.0, 1.0]
    with pytest.raises(ValueError, match="make_rollout_func"):
        env_reward(["p"], ["a"])
    with pytest.raises(ValueError, match="not among the env's terms"):
        env_reward_term("fluency")(["p", "q"], ["a", "b"], **kwargs)

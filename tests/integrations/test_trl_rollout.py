"""The TRL ``rollout_func`` against the env itself, with a stand-in for the trainer (no TRL needed).

Every completion it returns must be an episode the env really plays: stepping the agent's
tokens by hand on a single env with the same seed and task gives the same context (the
customer's replies included), the same return and reward terms; its log-probs are the
model's, recomputed by a plain forward pass; ``env_mask`` is 0 exactly on the env's tokens.
"""

from __future__ import annotations

from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import pytest
import torch

from agents.integrations.trl import make_rollout_func
from lm_envs.integrations.trl import ENV_RETURN, ENV_REWARD_TERMS, ENV_SUCCESS, dataset_rows, tasks_by_prompt
from lm_envs.models import load_policy, load_tokenizer

DIALOG = "lm_envs/CustomerServiceDialog-v1"
DIALOG_KWARGS = {"max_new_tokens": 96, "max_turn_tokens": 12}


@pytest.fixture(scope="module")
def model():
    return load_policy("tiny-shop")


def fake_trainer(model, **args):
    """What the rollout reads of a ``GRPOTrainer``."""
    defaults = {"temperature": 1.0, "top_k": 0, "top_p": 1.0, "max_completion_length": 256,
                "repetition_penalty": 1.0, "min_p": None}
    return SimpleNamespace(model=model, accelerator=SimpleNamespace(unwrap_model=lambda m: m),
                           args=SimpleNamespace(**{**defaults, **args}), processing_class=load_tokenizer("tiny-shop"))


def prompts_of(env_id, n, group=2, **env_kwargs):
    rows = dataset_rows(env_id, n, seed=0, **env_kwargs)
    return [row["prompt"] for row in rows for _ in range(group)]  # TRL repeats each prompt num_generations times


def replay(env_id, env_kwargs, seed, task_index, completion, mask):
    """Step the agent's tokens (``mask == 1``) by hand on a single env: its final context and info."""
    env = gym.make(env_id, **env_kwargs)
    obs, _ = env.reset(seed=seed, options={"task_index": task_index})
    total = 0.0
    for token, is_agent in zip(completion, mask):
        if is_agent:
            obs, reward, terminated, truncated, info = env.step(token)
            total += reward
    assert terminated or truncated
    return obs["input_ids"][obs["attention_mask"] == 1].tolist(), total, info


@pytest.mark.parametrize(
    ("env_id", "env_kwargs"),
    [
        ("lm_envs/TextGeneration-v1", {"max_new_tokens": 12}),
        ("lm_envs/CustomerServiceQA-v0", {"max_new_tokens": 12, "reward": {"facts": 1.0, "length": 0.1}}),
        (DIALOG, DIALOG_KWARGS),
    ],
    ids=["text", "qa", "dialog"],
)
def test_each_completion_is_an_episode_of_the_env(model, env_id, env_kwargs):
    rollout = make_rollout_func(env_id, seed=3, **env_kwargs)
    prompts = prompts_of(env_id, 3, **env_kwargs)
    out = rollout(prompts, fake_trainer(model))
    assert {"prompt_ids", "completion_ids", "logprobs", "env_mask", ENV_RETURN, ENV_REWARD_TERMS, ENV_SUCCESS} <= set(out)
    assert all(len(values) == len(prompts) for values in out.values())
    tasks = gym.make(env_id, **env_kwargs).unwrapped.tasks
    for row, prompt in enumerate(prompts):
        completion, mask = out["completion_ids"][row], out["env_mask"][row]
        assert len(completion) == len(mask) == len(out["logprobs"][row])
        assert tasks[out["task_index"][row]].prompt == prompt
        context, total, info = replay(env_id, env_kwargs, 3 + row, out["task_index"][row], completion, mask)
        assert context == out["prompt_ids"][row] + completion  # the env's tokens came from the env
        assert out[ENV_RETURN][row] == pytest.approx(total)
        assert out[ENV_REWARD_TERMS][row] == pytest.approx(info["reward_terms"])
        assert all(logprob == 0.0 for logprob, m in zip(out["logprobs"][row], mask) if not m)
    if env_id == DIALOG:
        # the customer's replies are in the completions, masked out of the loss
        assert any(0 in mask for mask in out["env_mask"])
        assert {s for s in out[ENV_SUCCESS]} <= {0.0, 1.0}
    else:
        assert all(all(mask) for mask in out["env_mask"])


def test_logprobs_are_the_models_with_the_trainers_temperature(model):
    rollout = make_rollout_func(DIALOG, seed=0, **DIALOG_KWARGS)
    trainer = fake_trainer(model, temperature=0.7)
    out = rollout(prompts_of(DIALOG, 2, **DIALOG_KWARGS), trainer)
    for prompt_ids, completion, mask, logprobs in zip(out["prompt_ids"], out["completion_ids"], out["env_mask"], out["logprobs"]):
        ids = torch.tensor([prompt_ids + completion])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt_ids) - 1 : -1].float() / 0.7
        expected = torch.log_softmax(logits, -1).gather(-1, torch.tensor(completion)[:, None])[:, 0]
        agent = torch.tensor(mask, dtype=torch.bool)
        np.testing.assert_allclose(np.asarray(logprobs)[agent.numpy()], expected[agent].numpy(), atol=2e-4)


def test_same_seed_same_rollouts_and_the_model_is_left_as_it_was(model):
    prompts = prompts_of("lm_envs/TextGeneration-v1", 2, max_new_tokens=8)
    model.train()
    dropout = [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)]
    first = make_rollout_func("lm_envs/TextGeneration-v1", seed=7, max_new_tokens=8)(prompts, fake_trainer(model))
    second = make_rollout_func("lm_envs/TextGeneration-v1", seed=7, max_new_tokens=8)(prompts, fake_trainer(model))
    assert first == second
    assert model.training  # the trainer's mode is restored
    assert [m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)] == dropout
    model.eval()


def test_a_prompt_shared_by_several_tasks_plays_one_of_them(model):
    tasks = gym.make(DIALOG, **DIALOG_KWARGS).unwrapped.tasks
    prompt, indices = next((p, i) for p, i in tasks_by_prompt(tasks).items() if len(i) > 1)
    out = make_rollout_func(DIALOG, seed=0, **DIALOG_KWARGS)([prompt] * 4, fake_trainer(model))
    assert set(out["task_index"]) <= set(indices)
    for row, index in enumerate(out["task_index"]):
        # the task fields returned (they reach the reward functions) are the task played
        assert out["order_id"][row] == tasks[index].fields["order_id"]


def test_mistakes_say_what_to_do(model):
    rollout = make_rollout_func("lm_envs/TextGeneration-v1", max_new_tokens=8)
    trainer = fake_trainer(model)
    with pytest.raises(ValueError, match="lm_envs.to_dataset"):
        rollout(["not a task of the env"], trainer)
    with pytest.raises(TypeError, match="text prompts"):
        rollout([[{"role": "user", "content": "hi"}]], trainer)
    with pytest.raises(ValueError, match="max_completion_length"):
        rollout(prompts_of("lm_envs/TextGeneration-v1", 1, max_new_tokens=8), fake_trainer(model, max_completion_length=4))
    with pytest.raises(ValueError, match="repetition_penalty"):
        rollout(prompts_of("lm_envs/TextGeneration-v1", 1, max_new_tokens=8), fake_trainer(model, repetition_penalty=1.2))
    other = fake_trainer(model)
    other.processing_class = OneTokenTokenizer()
    with pytest.raises(ValueError, match="different vocabulary"):
        rollout(prompts_of("lm_envs/TextGeneration-v1", 1, max_new_tokens=8), other)


class OneTokenTokenizer:
    """A tokenizer whose vocabulary is not the env's."""

    def get_vocab(self) -> dict[str, int]:
        return {"a": 0}

    def __len__(self) -> int:
        return 1

"""Supervised fine-tuning: the masked loss, demonstrations (expert, tables, transcripts), held-out seeds, save and continue."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import lm_envs  # noqa: F401
from agents import PPO, SFT, SFTConfig
from agents.sft import (
    DEMONSTRATION_SEED_LIMIT,
    MAX_EXAMPLES,
    Demonstration,
    demonstration_seeds,
    demonstrations_from_records,
    expert_demonstrations,
    masked_lm_loss,
)
from lm_envs.data import DataError
from lm_envs.envs.customer_dialog import held_out_customers
from lm_envs.envs.customer_service import NO_CUSTOMER
from lm_envs.world import make_world

DIALOG = "lm_envs/CustomerServiceDialog-v1"
QA = "lm_envs/CustomerServiceQA-v0"
TINY = {"n_demonstrations": 4, "batch_size": 2, "epochs": 1, "num_envs": 2}


# --- the loss ------------------------------------------------------------------------------


def test_the_loss_counts_only_masked_in_tokens(make_lm):
    torch.manual_seed(0)
    model = make_lm(seed=0)
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [11, 12, 13, 14, 0, 0]])
    mask = torch.tensor([[0, 0, 1, 1, 0, 1], [0, 1, 1, 0, 0, 0]])  # prompt / agent / customer / agent
    attention = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    loss, n = masked_lm_loss(model, ids, mask, attention)
    logp = model(input_ids=ids, attention_mask=attention).logits.float().log_softmax(-1)
    # hand count: logits at t - 1 predict token t, for the masked-in t only
    picks = [(0, 2), (0, 3), (0, 5), (1, 1), (1, 2)]
    expected = -torch.stack([logp[b, t - 1, ids[b, t]] for b, t in picks]).mean()
    assert n == 5 and torch.allclose(loss, expected, atol=1e-6)
    # a prompt or customer token that is only context changes the loss, never adds a term
    mask_all = mask.clone()
    mask_all[0, 4] = 1
    assert masked_lm_loss(model, ids, mask_all, attention)[1] == 6
    # padding is never a target, even if the mask says 1
    padded = mask.clone()
    padded[1, 5] = 1
    assert masked_lm_loss(model, ids, padded, attention)[1] == 5


def test_a_demonstration_needs_an_agent_token():
    with pytest.raises(ValueError, match="at least one trained"):
        Demonstration((1, 2, 3), (0, 0, 0))
    with pytest.raises(ValueError, match="differ in length"):
        Demonstration((1, 2, 3), (0, 1))


# --- expert demonstrations and held-out evaluation ---------------------------------------


def test_dialog_expert_demonstrations_mask_the_customer_and_use_training_seeds_and_customers():
    demos = expert_demonstrations(DIALOG, 6, seed=3)
    env = gym.make(DIALOG).unwrapped
    tok = env.tokenizer
    test_customers = held_out_customers(make_world(seed=0))
    for demo in demos:
        info = demo.info
        assert info["success"]
        agent_turns = [t["text"] for t in info["transcript"] if t["role"] == "agent"]
        trained = [t for t, m in zip(demo.input_ids, demo.loss_mask) if m]
        assert tok.decode(trained) == "".join(f" {text}<|eot|>" for text in agent_turns)
        context = tok.decode([t for t, m in zip(demo.input_ids, demo.loss_mask) if not m])
        for turn in info["transcript"][1:]:
            if turn["role"] == "customer" and turn is not info["transcript"][-1]:
                assert turn["text"] in context  # the customer's replies are context, not targets
        assert info["task"]["customer_id"] not in test_customers
    # the seeds: distinct, below the limit, never an evaluation seed
    seeds = [d.seed for d in demos]
    assert len(set(seeds)) == 6 and max(seeds) < DEMONSTRATION_SEED_LIMIT
    evaluation = {10_000 + row for row in range(16)} | {s + 10_000 + row for s in range(3) for row in range(16)}
    assert not set(demonstration_seeds(10_000, 0)) & evaluation
    with pytest.raises(ValueError, match="training customers only"):
        expert_demonstrations(DIALOG, 2, env_kwargs={"customers": "test"})


def test_demonstration_customers_and_evaluation_customers_are_disjoint():
    demos = expert_demonstrations(DIALOG, 48, seed=0)
    test_env = gym.make(DIALOG, customers="test").unwrapped
    evaluated = {t.fields["customer_id"] for t in test_env.tasks}
    shown = {d.info["task"]["customer_id"] for d in demos}
    assert shown and evaluated and not shown & evaluated


def test_qa_demonstration_customers_and_evaluation_customers_are_disjoint():
    """QA demonstrations meet training customers on training seeds; an evaluation on
    customers="test" (seeds from 10,000) meets neither a customer nor a seed they met."""
    facts = {"reward": {"facts": 1.0}}
    demos = expert_demonstrations(QA, 48, seed=0, env_kwargs=facts)
    test_env = gym.make(QA, customers="test", **facts).unwrapped
    assert all(d.info["customers"] == "train" for d in demos)
    shown = {d.info["customer_id"] for d in demos} - {NO_CUSTOMER}
    evaluated = set(test_env.customer_ids) - {NO_CUSTOMER}
    assert shown and evaluated == held_out_customers(make_world(seed=0)) and not shown & evaluated
    # no question about a customer is both shown and evaluated (product and policy questions
    # concern no customer and are asked on both sides)
    shown_prompts = {d.info["prompt"] for d in demos if d.info["customer_id"] != NO_CUSTOMER}
    assert not shown_prompts & {t.prompt for t, c in zip(test_env.tasks, test_env.customer_ids) if c != NO_CUSTOMER}
    seeds = {d.seed for d in demos}
    assert len(seeds) == 48 and max(seeds) < DEMONSTRATION_SEED_LIMIT <= 10_000  # Agent.evaluate: seed + 10_000 up
    with pytest.raises(ValueError, match="training customers only"):
        expert_demonstrations(QA, 2, env_kwargs={"customers": "test", **facts})


@pytest.mark.slow
def test_qa_expert_writes_the_reference_answer_then_eos():
    (demo,) = expert_demonstrations(QA, 1, seed=0)
    env = gym.make(QA).unwrapped
    trained = [t for t, m in zip(demo.input_ids, demo.loss_mask) if m]
    assert trained[-1] == env.eos_token_id
    assert env.tokenizer.decode(trained[:-1]).strip() == demo.info["task"]["references"][0]


def test_an_env_without_an_expert_needs_a_table():
    with pytest.raises(TypeError, match="no scripted expert"):
        expert_demonstrations("lm_envs/TextGeneration-v1", 1)


# --- tables and transcripts ------------------------------------------------------------------


@pytest.fixture(scope="module")
def qa_env():
    return gym.make(QA)


def _pairs():
    return [{"question": "Where is my order?", "answer": "It ships today."},
            {"question": "Can I pay by card?", "answer": "Yes, we take every card."}]


def _check_pairs(demos, env):
    base = env.unwrapped
    assert len(demos) == 2
    for demo, row in zip(demos, _pairs()):
        trained = [t for t, m in zip(demo.input_ids, demo.loss_mask) if m]
        prompt = [t for t, m in zip(demo.input_ids, demo.loss_mask) if not m]
        assert trained[-1] == base.eos_token_id and base.tokenizer.decode(trained[:-1]).strip() == row["answer"]
        assert base.tokenizer.decode(prompt) == row["question"]


def test_pairs_from_csv_jsonl_and_dataset(tmp_path, qa_env):
    import datasets
    import pandas as pd

    columns = {"prompt": "question", "response": "answer"}
    pd.DataFrame(_pairs()).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _pairs()))
    for source in (tmp_path / "d.csv", tmp_path / "d.jsonl", datasets.Dataset.from_list(_pairs())):
        _check_pairs(demonstrations_from_records(source, qa_env, columns), qa_env)


def test_column_mapping_errors_are_named(tmp_path, qa_env):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in _pairs()))
    with pytest.raises(DataError, match=r"d.jsonl: missing column 'reply'; columns present: question, answer"):
        demonstrations_from_records(path, qa_env, {"prompt": "question", "response": "reply"})
    with pytest.raises(ValueError, match="columns must map 'prompt' and 'response'"):
        demonstrations_from_records(path, qa_env, {"prompt": "question"})
    with pytest.raises(DataError, match=r"record 1, column 'answer' \(response\): expected non-empty text"):
        demonstrations_from_records([_pairs()[0], {"question": "q", "answer": ""}], qa_env,
                                    {"prompt": "question", "response": "answer"})
    with pytest.raises(DataError, match="record 0, column 'chat': not a JSON list"):
        demonstrations_from_records([{"chat": "{oops"}], qa_env, {"messages": "chat"})


def test_transcripts_train_the_agent_turns_only(tmp_path):
    env = gym.make(DIALOG)
    tok = env.unwrapped.tokenizer
    chat = [{"role": "system", "content": "Be brief."}, {"role": "customer", "content": "My lamp broke."},
            {"role": "agent", "content": "Which order number?"}, {"role": "customer", "content": "ORD-10234."},
            {"role": "agent", "content": "I have issued a refund for order ORD-10234."}]
    path = tmp_path / "chats.csv"
    import pandas as pd

    pd.DataFrame([{"conversation": json.dumps(chat)}]).to_csv(path, index=False)
    (demo,) = demonstrations_from_records(path, env, {"messages": "conversation"})
    trained = tok.decode([t for t, m in zip(demo.input_ids, demo.loss_mask) if m])
    assert trained == "Which order number?<|eot|>I have issued a refund for order ORD-10234.<|eot|>"
    whole = tok.apply_chat_template([{"role": {"customer": "user", "agent": "assistant"}.get(m["role"], m["role"]),
                                      "content": m["content"]} for m in chat], tokenize=False)
    assert tok.decode(list(demo.input_ids)) == whole
    with pytest.raises(DataError, match="no assistant turn"):
        demonstrations_from_records([{"c": chat[:2]}], env, {"messages": "c"})


# --- the agent -------------------------------------------------------------------------------


def test_config_checks():
    with pytest.raises(ValueError, match="kl_coef must be 0"):
        SFTConfig(kl_coef=0.1)
    with pytest.raises(ValueError, match="epochs must be an int >= 1"):
        SFTConfig(epochs=0)
    with pytest.raises(ValueError, match="data='d.csv' needs columns"):
        SFTConfig(data="d.csv")
    with pytest.raises(ValueError, match="columns must map 'prompt' and 'response'"):
        SFTConfig(data="d.csv", columns={"prompt": "q"})
    with pytest.raises(ValueError, match="max_examples must be an int >= 1"):
        SFTConfig(max_examples=0)
    with pytest.raises(ValueError, match="max_examples must be at most 1,000,000"):
        SFTConfig(max_examples=MAX_EXAMPLES + 1)


def test_config_data_reads_a_file_up_to_max_examples(tmp_path):
    import pandas as pd

    path = tmp_path / "d.csv"
    pd.DataFrame(_pairs()).to_csv(path, index=False)
    config = {**TINY, "data": str(path), "columns": {"prompt": "question", "response": "answer"}, "max_examples": 1}
    agent = SFT(QA, policy="tiny-shop", config=config, env_kwargs={"reward": {"facts": 1.0}})
    (demo,) = agent.demonstrations
    tok = agent.env.env.tokenizer
    assert tok.decode([t for t, m in zip(demo.input_ids, demo.loss_mask) if m][:-1]).strip() == "It ships today."
    with pytest.raises(ValueError, match="give demonstrations= or config.data, not both"):
        SFT(QA, policy="tiny-shop", config=config, demonstrations=_pairs())


@pytest.mark.slow
def test_learn_lowers_the_loss_and_the_saved_folder_is_a_policy_for_every_agent(tmp_path):
    torch.manual_seed(0)
    agent = SFT(DIALOG, policy="tiny-shop", config={**TINY, "epochs": 6, "learning_rate": 3e-3}, seed=0)
    agent.learn()
    losses = agent.metrics["loss"].to_numpy()
    assert len(losses) == 12 and losses[-2:].mean() < losses[:2].mean()
    assert agent.num_timesteps == 6 * sum(d.n_trained for d in agent.demonstrations)
    assert all(d.seed < DEMONSTRATION_SEED_LIMIT for d in agent.demonstrations)
    folder = tmp_path / "sft"
    agent.save(folder)
    assert {"config.json", "model.safetensors", "tokenizer.json", "sft.json"} <= {p.name for p in folder.iterdir()}
    loaded = SFT.load(folder)
    assert loaded.num_timesteps == agent.num_timesteps and loaded.config == agent.config
    ppo = PPO(DIALOG, policy=str(folder), config={"num_envs": 2, "n_steps": 4, "minibatch_size": 8}, seed=0,
              env_kwargs={"tokenizer": str(folder)})
    for (name, a), b in zip(agent.policy.model.state_dict().items(), ppo.policy.model.state_dict().values()):
        assert torch.equal(a, b), name
    ppo.learn(8)  # RL continues from it
    agent.save(folder)  # overwriting an existing folder leaves one whole folder
    assert not [p for p in tmp_path.iterdir() if p.name != "sft"]


@pytest.mark.slow
def test_a_table_of_pairs_trains_and_steps_count_agent_tokens(tmp_path):
    rows = _pairs() * 3
    agent = SFT(QA, policy="tiny-shop", config=TINY, seed=1, demonstrations=rows,
                columns={"prompt": "question", "response": "answer"})
    per_epoch = sum(d.n_trained for d in agent.demonstrations)
    agent.learn(per_epoch + 1)  # one more token: one more batch
    assert agent.num_timesteps > per_epoch and agent.num_updates == 4
    with pytest.raises(ValueError, match="needs columns="):
        _ = SFT(QA, policy="tiny-shop", config=TINY, demonstrations=rows).demonstrations
    ev = agent.evaluate(2)
    assert np.isfinite(ev["reward_mean"])

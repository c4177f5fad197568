"""CustomerServiceQA-v0: checkers, tasks and their truth, the oracle, Bitext and user tables."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest

import lm_envs  # noqa: F401
from lm_envs.data import DataError, shared_data_dir
from lm_envs.envs.customer_service import NO_CUSTOMER, CustomerServiceQAEnv
from lm_envs.rewards.facts import check_facts
from lm_envs.testing import check_lm_env
from lm_envs.world.support import INTENTS

ENV_ID = "lm_envs/CustomerServiceQA-v0"
FACTS_ONLY = {"facts": 1.0}


def make(**kwargs) -> CustomerServiceQAEnv:
    kwargs.setdefault("reward", FACTS_ONLY)
    return gym.make(ENV_ID, **kwargs).unwrapped


def play(env: CustomerServiceQAEnv, text: str, **reset_kwargs):
    """Reset, write ``text`` then EOS; return the last step's (reward, terminated, truncated, info)."""
    env.reset(**reset_kwargs)
    for token in env.tokenizer.encode(text, add_special_tokens=False)[: env.max_new_tokens - 1]:
        _, reward, terminated, truncated, info = env.step(token)
        assert not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step(env.eos_token_id)
    return reward, terminated, truncated, info


@pytest.fixture(scope="module")
def env() -> CustomerServiceQAEnv:
    return make()


def test_passes_check_lm_env():
    check_lm_env(gym.make(ENV_ID, reward=FACTS_ONLY, max_new_tokens=12))


def test_default_reward_reports_each_term():
    env = make(reward=None)
    assert env.reward_fn.names == ("facts", "similarity", "length")
    task = env.tasks[0]
    reward, terminated, _, info = play(env, " " + task.fields["references"][0], options={"task_index": 0})
    assert terminated and set(info["reward_terms"]) == {"facts", "similarity", "length"}
    assert info["reward_terms"]["facts"] == 1.0
    assert info["reward_terms"]["similarity"] > 0.95
    assert reward == pytest.approx(sum(w * info["reward_terms"][k] for k, w in (("facts", 1.0), ("similarity", 0.3), ("length", 0.1))))


def test_intents_and_paraphrases(env):
    assert len(INTENTS) >= 12
    by_intent: dict[str, set[str]] = {}
    for task in env.tasks:
        by_intent.setdefault(task.fields["intent"], set()).add(task.fields["question"])
    assert set(by_intent) == set(INTENTS)
    for intent, (category, templates, _, _) in INTENTS.items():
        assert len(templates) >= 4 and category.isupper(), intent


def test_tasks_carry_their_truth_and_the_facts_are_in_the_prompt(env):
    for task in env.tasks:
        fields = task.fields
        assert set(fields) == {"intent", "category", "question", "context", "facts", "references"}
        assert task.prompt == f"{fields['context']}\nCustomer: {fields['question']}\nAgent:"
        assert fields["facts"] and all({"name", "value", "kind"} <= set(f) for f in fields["facts"])
        reference = check_facts(fields["references"][0], fields["facts"])
        assert reference.recall == 1.0 and not reference.wrong, (task.prompt, reference)
        # every required fact can be copied from the KB snippet
        assert check_facts(fields["context"], fields["facts"]).recall == 1.0, task.prompt


def test_prompts_and_references_fit_the_budgets(env):
    for task in env.tasks[::7]:
        assert len(env.tokenizer.encode(task.prompt, add_special_tokens=False)) <= env.max_prompt_tokens
        assert len(env.tokenizer.encode(" " + task.fields["references"][0], add_special_tokens=False)) < env.max_new_tokens


def test_oracle_states_every_fact(env):
    for index in range(0, len(env.tasks), 97):
        reference = env.tasks[index].fields["references"][0]
        reward, terminated, truncated, info = play(env, " " + reference, options={"task_index": index})
        assert terminated and not truncated
        assert reward == 1.0 and info["fact_check"]["recall"] == 1.0 and info["fact_check"]["wrong"] == []
        assert info["completion"] == " " + reference


def test_missing_and_contradicting_answers(env):
    index = next(i for i, t in enumerate(env.tasks) if t.fields["intent"] == "order_total")
    order_id = env.tasks[index].fields["facts"][0]["value"]
    reward, *_, info = play(env, f" The total of order {order_id} was", options={"task_index": index})
    assert reward == 0.5 and info["fact_check"]["missing"] == ["total"]
    reward, *_, info = play(env, " The total of order ORD-99999 was $1.00.", options={"task_index": index})
    assert reward == -1.0 and len(info["fact_check"]["wrong"]) == 2


def test_intents_are_drawn_uniformly_and_seeded(env):
    intents = [env.reset(seed=s)[1] and env._task.fields["intent"] for s in range(400)]
    counts = {name: intents.count(name) for name in INTENTS}
    assert min(counts.values()) >= 8  # 25 expected each; tasks per intent range from 4 to 385
    first = [env.reset(seed=3)[0]["input_ids"].tolist() for _ in range(2)]
    assert first[0] == first[1]


def test_intents_argument(env):
    small = make(intents=["warranty", "product_price"])
    assert {t.fields["intent"] for t in small.tasks} == {"warranty", "product_price"}
    with pytest.raises(ValueError, match="unknown intent.*known: track_order"):
        make(intents=["weather"])


def test_chat_template_puts_the_snippet_in_a_system_message(env):
    chat = make(chat_template=True)
    obs, info = chat.reset(seed=0, options={"task_index": 5})
    text = chat.tokenizer.decode(obs["input_ids"][: int(obs["attention_mask"].sum())])
    task = chat.tasks[5]
    assert task.fields["context"] in text and task.fields["question"] in text
    assert text.index(task.fields["context"]) < text.index(task.fields["question"])
    assert info["prompt"] == task.prompt


# --- real data and user tables ---------------------------------------------------------

BITEXT = None if shared_data_dir() is None else shared_data_dir() / "bitext-customer-support" / "customer_support.csv"


@pytest.mark.skipif(BITEXT is None or not BITEXT.is_file(), reason="the Bitext CSV is not in ../shared/data")
def test_bitext_from_shared_data():
    env = make(data="bitext", max_new_tokens=8)
    assert len(env.tasks) == len(pd.read_csv(BITEXT))
    intents = {t.fields["intent"] for t in env.tasks}
    assert {"cancel_order", "track_order", "get_refund", "recover_password"} <= intents
    assert {t.fields["category"] for t in env.tasks} >= {"ORDER", "REFUND", "ACCOUNT"}
    with_facts = [t for t in env.tasks if t.fields["facts"]]
    assert len(with_facts) > 300
    for task in env.tasks:
        reference = task.fields["references"][0]
        assert "{{" not in reference and "}}" not in reference
    for task in with_facts:
        check = check_facts(task.fields["references"][0], task.fields["facts"])
        assert check.recall == 1.0 and not check.wrong
        assert check_facts(task.fields["context"], task.fields["facts"]).recall == 1.0
    # Bitext's own order numbers in questions become the world's, as in the filled answer
    cancel = next(t for t in env.tasks if t.fields["intent"] == "cancel_order" and "ORD-" in t.fields["question"])
    order_id = next(f["value"] for f in cancel.fields["facts"] if f["kind"] == "order_id")
    assert order_id in cancel.fields["question"] and order_id in cancel.fields["references"][0]
    check_lm_env(gym.make(ENV_ID, data=str(BITEXT), reward=FACTS_ONLY, max_new_tokens=8), skip_sb3=True)


def test_user_csv_with_a_column_mapping(tmp_path):
    path = tmp_path / "faq.csv"
    pd.DataFrame({
        "q": ["Where is order {{Order Number}}?", "Do you ship abroad?"],
        "a": ["Order {{Order Number}} is on its way; call {{Customer Support Phone Number}}.", "Yes, we ship worldwide."],
        "kb": ["", "We ship to 40 countries."],
        "topic": ["track_order", "shipping"],
    }).to_csv(path, index=False)
    env = make(data=str(path), question_column="q", answer_column="a", context_column="kb", intent_column="topic")
    first, second = env.tasks
    assert first.fields["intent"] == "track_order" and first.fields["category"] == ""
    order_id = first.fields["facts"][0]["value"]
    assert first.fields["question"] == f"Where is order {order_id}?"
    assert first.fields["references"] == [f"Order {order_id} is on its way; call 1-800-555-0199."]
    assert order_id in first.fields["context"]
    assert second.prompt == "We ship to 40 countries.\nCustomer: Do you ship abroad?\nAgent:"
    assert second.fields["facts"] == []


def test_user_jsonl_with_default_columns_and_facts(tmp_path):
    path = tmp_path / "qa.jsonl"
    rows = [{"question": "Price of the lamp?", "answer": "It is $20.", "context": "Lamp: $20.",
             "facts": [{"name": "price", "value": 20, "kind": "money"}]}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    env = make(data=path, context_column="context")
    reward, *_ = play(env, " It costs $20.", seed=0)
    assert reward == 1.0
    reward, *_ = play(env, " It costs $25.", seed=0)
    assert reward == -1.0


def test_missing_columns_name_the_column_and_the_file(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"question": ["x"], "reply": ["y"]}).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"bad\.csv: no answer column \(looked for 'response' or 'answer'\).*reply"):
        make(data=str(path))
    with pytest.raises(DataError, match=r"bad\.csv: missing column 'answer_text'; columns present: question, reply"):
        make(data=str(path), answer_column="answer_text")
    with pytest.raises(DataError, match=r"bad\.csv: missing column 'kb'"):
        make(data=str(path), answer_column="reply", context_column="kb")


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("empty.csv", "", r"empty\.csv: cannot be read as CSV"),
        ("only_header.csv", "question,answer\n", r"only_header\.csv: contains no records"),
        ("blank.csv", 'question,answer\n" ",yes\n', r"blank\.csv: record 0 has an empty 'question'"),
        ("broken.jsonl", '{"question": "x", "answer": \n', r"broken\.jsonl: line 1 is not valid JSON"),
        ("qa.txt", "question,answer\n", r"unsupported file type '\.txt'"),
        ("facts.csv", 'question,answer,facts\nq,a,"[{""value"": 1, ""kind"": ""colour""}]"\n', r"facts\.csv: record 0.*unknown fact kind 'colour'"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        make(data=str(path))


def test_bad_arguments():
    with pytest.raises(DataError, match="data file not found"):
        make(data="/nonexistent/qa.csv")
    with pytest.raises(ValueError, match="pass data= too"):
        make(question_column="q")
    with pytest.raises(ValueError, match="intents= selects world questions"):
        make(data=[{"question": "q", "answer": "a"}], intents=["warranty"])


def test_list_of_dicts_and_task_index():
    env = make(data=[{"question": "Hi?", "answer": "Hello."}, {"question": "Bye?", "answer": "Goodbye."}])
    _, info = env.reset(seed=0, options={"task_index": 1})
    assert info["prompt"].endswith("Customer: Bye?\nAgent:") and info["task_index"] == 1
    assert np.isfinite(play(env, " Goodbye.", seed=1)[0])


# --- the customer split ----------------------------------------------------------------------


def test_default_customers_keep_the_episodes_of_before(env):
    """customers="all" (the default) gives every task, and each seed the episode it gave before
    the split existed: the task, the tokens and the reward recorded then."""
    import hashlib

    for built in (env, make(customers="all")):
        text = "\n".join(t.prompt + repr(t.fields) for t in built.tasks)
        assert len(built.tasks) == 2681 and hashlib.sha256(text.encode()).hexdigest()[:16] == "2d7d1cf71031fb86"
    scored = make(reward={"facts": 1.0, "length": 0.1})
    answer = scored.tokenizer.encode(" Your order ORD-81481 ships today.", add_special_tokens=False)
    before = {0: (2515, "90c13d2a8d52", 0.1), 1: (1691, "9d4c2ffc40df", 0.1), 2: (2514, "5af1cc1580f7", 0.1),
              7: (2621, "fbb304715955", 0.1), 123: (262, "ed6aca38b56f", -0.233333)}
    for seed, (task_index, tokens, reward) in before.items():
        _, info = scored.reset(seed=seed)
        assert info["task_index"] == task_index
        for token in [*answer, scored.eos_token_id]:
            obs, r, terminated, _, info = scored.step(token)
        assert terminated and hashlib.sha256(obs["input_ids"].tobytes()).hexdigest()[:12] == tokens
        assert r == pytest.approx(reward, abs=1e-6)
        assert info["customers"] == "all"


def test_customers_split_the_world_like_the_dialog(env):
    from lm_envs.envs.customer_dialog import held_out_customers

    held_out = held_out_customers(env.world)
    train, test = make(customers="train"), make(customers="test")
    owners = {order.order_id: order.user_id for order in env.world.orders}
    sides = {}
    for side in (env, train, test):
        assert len(side.customer_ids) == len(side.tasks)
        for task, customer in zip(side.tasks, side.customer_ids):
            order_ids = [f["value"] for f in task.fields["facts"] if f["kind"] == "order_id"]
            if order_ids:  # an order question is asked by the order's owner
                assert customer == owners[order_ids[0]]
            if task.fields["category"] in ("PRODUCT", "SHIPPING", "PAYMENT", "CONTACT") or (
                    task.fields["intent"] == "return_policy"):
                assert customer == NO_CUSTOMER
        sides[side.customers] = {(t.prompt, c) for t, c in zip(side.tasks, side.customer_ids)}
        assert {t.fields["intent"] for t in side.tasks} == set(INTENTS)  # every intent on each side
    customers = {name: {c for _, c in pairs if c != NO_CUSTOMER} for name, pairs in sides.items()}
    assert customers["test"] == held_out and customers["train"] == customers["all"] - held_out
    personal = {name: {p for p, c in pairs if c != NO_CUSTOMER} for name, pairs in sides.items()}
    assert personal["train"] | personal["test"] == personal["all"] and not personal["train"] & personal["test"]
    shop = {name: {p for p, c in pairs if c == NO_CUSTOMER} for name, pairs in sides.items()}
    assert shop["train"] == shop["test"] == shop["all"]  # product and policy questions: on both sides
    # info records the split and the customer
    *_, info = play(test, " Hello.", seed=5)
    assert info["customers"] == "test" and info["customer_id"] == test.customer_ids[info["task_index"]]
    with pytest.raises(ValueError, match="customers must be one of 'all', 'train', 'test'; got 'dev'"):
        make(customers="dev")


def test_customers_split_the_rows_of_data():
    from lm_envs.envs.customer_dialog import held_out_customers

    rows = [{"question": f"Question {i}?", "answer": f"Answer {i}."} for i in range(80)]
    everyone, train, test = (make(data=rows, customers=c) for c in ("all", "train", "test"))
    held_out = held_out_customers(everyone.world)
    n_users = len(everyone.world.users)
    assert everyone.customer_ids == tuple(everyone.world.users[i % n_users].user_id for i in range(80))
    assert {c for c in test.customer_ids} == held_out and not set(train.customer_ids) & held_out
    assert len(train.tasks) + len(test.tasks) == 80
    assert not {t.prompt for t in train.tasks} & {t.prompt for t in test.tasks}
    with pytest.raises(ValueError, match="no question of data= is asked by a customer of the 'test' side"):
        make(data=rows[:2], customers="test")  # customers 0 and 1 are both training customers


def test_the_native_vector_env_keeps_the_split():
    venv = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", customers="test",
                        reward=FACTS_ONLY, max_new_tokens=4)
    venv.reset(seed=0)
    eos = venv.env.eos_token_id
    _, _, terminated, _, info = venv.step(np.full(2, eos))
    info = info["final_info"]  # the rows reset in the same step
    assert terminated.all() and list(info["customers"]) == ["test", "test"]
    from lm_envs.envs.customer_dialog import held_out_customers

    assert all(c == NO_CUSTOMER or c in held_out_customers(venv.env.world) for c in info["customer_id"])
    assert len(venv.env.tasks) == len(make(customers="test").tasks)

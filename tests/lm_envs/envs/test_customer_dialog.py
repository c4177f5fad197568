"""CustomerServiceDialog (the current -v1, and -v0 where they differ) and its simulated customer: hidden information, patience, the oracle."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

import lm_envs  # noqa: F401
from lm_envs.envs.customer_dialog import CustomerServiceDialogEnv
from lm_envs.sim.customer import (
    GOALS,
    Goal,
    SimulatedCustomer,
    oracle_turn,
    parse_resolution,
    requested_info,
)
from lm_envs.testing import check_lm_env

OUT_OF_DATE = "ignore:.*is out of date:DeprecationWarning"

ENV_ID = "lm_envs/CustomerServiceDialog-v1"
GOAL = Goal("refund", "ORD-10234", "wei.cohen@example.org", "Aurora X2 Wireless Headphones")


def make(**kwargs) -> CustomerServiceDialogEnv:
    return gym.make(ENV_ID, **kwargs).unwrapped


@pytest.fixture(scope="module")
def env() -> CustomerServiceDialogEnv:
    return make()


def say(env: CustomerServiceDialogEnv, text: str, *, close: bool = True):
    """Write one agent turn (closed with the end-of-turn token); return the last step's results."""
    ids = env.tokenizer.encode(" " + text, add_special_tokens=False) + ([env.eot_token_id] if close else [])
    for position, token in enumerate(ids):
        obs, reward, terminated, truncated, info = env.step(token)
        if terminated or truncated:
            assert position == len(ids) - 1, "the episode ended inside the turn"
            break
    return obs, reward, terminated, truncated, info


def play_oracle(env: CustomerServiceDialogEnv, **reset_kwargs):
    env.reset(**reset_kwargs)
    total = 0.0
    for _ in range(5):
        state = env._state
        obs, reward, terminated, truncated, info = say(env, oracle_turn(state.customer.goal, state.customer.revealed))
        total += reward
        if terminated or truncated:
            return total, terminated, truncated, info
    raise AssertionError("the oracle did not finish in 5 turns")


def context_text(env: CustomerServiceDialogEnv, obs) -> str:
    return env.tokenizer.decode(obs["input_ids"][: int(obs["attention_mask"].sum())])


# --- the simulated customer --------------------------------------------------------------


def test_reveals_information_only_when_asked():
    rng = np.random.default_rng(0)
    customer = SimulatedCustomer(GOAL, patience=5)
    for index in range(3):
        opening = customer.opening(index)
        assert GOAL.item in opening and GOAL.order_id not in opening and GOAL.email not in opening
    reply = customer.respond("Hello! How are you today?", rng)
    assert reply.outcome == "ongoing" and "ORD-" not in reply.text and "@" not in reply.text
    assert customer.patience == 4 and customer.revealed == []
    reply = customer.respond("What is your order number?", rng)
    assert GOAL.order_id in reply.text and "@" not in reply.text
    assert customer.patience == 4 and customer.revealed == ["order_id"]
    reply = customer.respond("And your e-mail, please?", rng)  # not needed for a refund: costs patience
    assert GOAL.email in reply.text and customer.patience == 3
    reply = customer.respond("Which order was it again?", rng)  # asked twice: unhelpful
    assert GOAL.order_id in reply.text and customer.patience == 2


def test_patience_runs_out_and_the_customer_leaves():
    rng = np.random.default_rng(1)
    customer = SimulatedCustomer(GOAL, patience=3)
    replies = [customer.respond("We sell great headphones.", rng) for _ in range(3)]
    assert [r.outcome for r in replies] == ["ongoing", "ongoing", "failure"]
    assert replies[-1].reason == "out of patience"


def test_replies_vary_with_the_generator():
    texts = set()
    for seed in range(12):
        customer = SimulatedCustomer(GOAL, patience=5)
        texts.add(customer.respond("Can I have your order number?", np.random.default_rng(seed)).text)
    assert len(texts) >= 3


@pytest.mark.parametrize(
    "text, actions, correct",
    [
        ("I have issued a refund for order ORD-10234.", ("refund",), True),
        ("Done! Refunded ord 10234 just now.", ("refund",), True),
        ("Sure. I have issued a refund for order ORD-10235.", ("refund",), False),  # wrong order
        ("I have cancelled order ORD-10234.", ("cancel",), False),  # wrong action
        ("I refunded and cancelled ORD-10234.", ("refund", "cancel"), False),  # two actions
        ("Do you want a refund for order ORD-10234?", None, None),  # a question commits nothing
        ("I cannot refund order ORD-10234.", None, None),  # nor a refusal
        ("I can help you with a refund.", None, None),  # no identifier yet
    ],
)
def test_resolution_grammar(text, actions, correct):
    resolution = parse_resolution(text)
    if actions is None:
        assert resolution is None
    else:
        assert resolution.actions == actions and resolution.correct_for(GOAL) is correct


def test_return_labels_need_both_identifiers():
    goal = Goal("return_label", "ORD-10234", "wei.cohen@example.org", "lamp")
    assert parse_resolution("I have emailed a return label for order ORD-10234 to wei.cohen@example.org.").correct_for(goal)
    assert not parse_resolution("I have emailed a return label for order ORD-10234.").correct_for(goal)
    assert not parse_resolution("I have emailed a return label for order ORD-10234 to wei@example.org.").correct_for(goal)
    assert requested_info("What's your order # and email?") == ("order_id", "email")


# --- the env ------------------------------------------------------------------------------


def test_passes_check_lm_env():
    check_lm_env(gym.make(ENV_ID, max_turn_tokens=6, max_new_tokens=48))


def test_goals_and_hidden_information_in_the_prompt(env):
    assert {task.fields["goal"] for task in env.tasks} == set(GOALS)
    for task in env.tasks:
        assert task.fields["order_id"] not in task.prompt and task.fields["email"] not in task.prompt
        assert task.fields["facts"][0]["value"] == task.fields["order_id"]
    obs, info = env.reset(seed=0)
    text = context_text(env, obs)
    assert env._task.fields["opening"] in text and text.endswith("<|agent|>")


@pytest.mark.parametrize("goal", list(GOALS))
def test_the_oracle_succeeds(goal):
    env = make(goals=[goal])
    for seed in range(3):
        total, terminated, truncated, info = play_oracle(env, seed=seed)
        assert terminated and not truncated
        assert info["outcome"] == "success" and info["success"] and info["end_reason"] == "resolved"
        assert info["turns"] == 2 and info["reward_terms"] == {"outcome": 1.0, "turns": 2.0, "wrong_facts": 0.0}
        assert total == pytest.approx(1.0 - 0.05 * 2)
        assert [turn["role"] for turn in info["transcript"]] == ["customer", "agent", "customer", "agent", "customer"]


def test_customer_reply_is_appended_in_the_same_step(env):
    obs, _ = env.reset(seed=4, options={"task_index": 0})
    order_id = env._task.fields["order_id"]
    before = int(obs["attention_mask"].sum())
    obs, reward, terminated, truncated, _ = say(env, "Hello, how can I help you today?")
    after = context_text(env, obs)
    assert not (terminated or truncated) and reward == 0.0
    assert order_id not in after and after.endswith("<|agent|>") and int(obs["attention_mask"].sum()) > before + 9
    obs, *_ = say(env, "What is your order number?")
    assert order_id in context_text(env, obs)


def test_wrong_resolution_fails_with_a_wrong_fact_penalty(env):
    env.reset(seed=0, options={"task_index": 0})  # a refund
    say(env, "Could you tell me your order number?")
    *_, reward, terminated, truncated, info = say(env, "I have issued a refund for order ORD-99999.")
    assert terminated and info["outcome"] == "failure" and info["end_reason"] == "wrong resolution"
    assert info["reward_terms"] == {"outcome": -1.0, "turns": 2.0, "wrong_facts": 1.0}
    assert reward == pytest.approx(-1.0 - 0.1 - 0.25)


def test_unhelpful_turns_exhaust_the_patience(env):
    env.reset(seed=2)
    patience = env._state.customer.patience
    for turn in range(1, patience + 1):
        *_, terminated, truncated, info = say(env, "Our store has many nice products.")
        assert terminated == (turn == patience) and not truncated
    assert info["outcome"] == "failure" and info["end_reason"] == "out of patience" and info["turns"] == patience


def test_eos_ends_the_conversation(env):
    env.reset(seed=0, options={"task_index": 0})
    say(env, "Could you tell me your order number?")
    order_id = env._task.fields["order_id"]
    *_, terminated, _, info = say(env, f"I have issued a refund for order {order_id}.", close=False)
    assert not terminated  # the turn is still open
    _, _, terminated, _, info = env.step(env.eos_token_id)
    assert terminated and info["outcome"] == "success"
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(env.eos_token_id)
    assert terminated and info["outcome"] == "failure" and info["end_reason"] == "agent left" and reward == pytest.approx(-1.05)


def test_turn_budget_closes_the_turn(env):
    small = make(max_turn_tokens=4)
    obs, _ = small.reset(seed=0)
    token = small.tokenizer.encode(" hello", add_special_tokens=False)[0]
    lengths = [int(small.step(token)[0]["attention_mask"].sum()) for _ in range(4)]
    assert np.diff(lengths).tolist()[:2] == [1, 1] and lengths[3] - lengths[2] > 2
    text = context_text(small, small._observation())
    assert text.count("<|eot|>") == 3  # opening, the env's closing of the cut turn, the reply


def test_token_budget_truncates():
    env = make(max_new_tokens=30)
    env.reset(seed=0)
    flags = []
    for _ in range(40):
        obs, reward, terminated, truncated, info = say(env, "Hello there, welcome to our shop!")
        flags.append((terminated, truncated))
        if terminated or truncated:
            break
    assert flags[-1] == (False, True) and info["outcome"] == "truncated" and info["end_reason"] == "token budget"
    assert int(obs["attention_mask"].sum()) <= env.max_length


@pytest.mark.filterwarnings(OUT_OF_DATE)
@pytest.mark.parametrize(("version", "outcome_value"), [("v0", 0.0), ("v1", -1.0)])
def test_running_out_of_budget_is_a_failure_from_v1(version, outcome_value):
    # v0 paid 0 for a dialog cut by the budget, so rambling until it ran out beat trying and
    # failing (-1); v1 scores it as a failure, and keeps everything else as in v0
    env = gym.make(f"lm_envs/CustomerServiceDialog-{version}", max_new_tokens=30).unwrapped
    env.reset(seed=0)
    for _ in range(40):
        *_, terminated, truncated, info = say(env, "Hello there, welcome to our shop!")
        if terminated or truncated:
            break
    assert truncated and info["outcome"] == "truncated"
    assert info["reward_terms"]["outcome"] == outcome_value
    # the oracle still succeeds under v1, with the same reward as under v0
    v1, v0 = gym.make("lm_envs/CustomerServiceDialog-v1").unwrapped, gym.make("lm_envs/CustomerServiceDialog-v0").unwrapped
    oracle_v1, oracle_v0 = play_oracle(v1, seed=3)[0], play_oracle(v0, seed=3)[0]
    assert oracle_v1 == pytest.approx(oracle_v0) and oracle_v1 > 0.5


def test_dense_rewards_sum_to_the_sparse_reward():
    totals = {}
    for mode in ("sparse", "dense"):
        env = make(reward_mode=mode)
        totals[mode] = play_oracle(env, seed=5)[0]
    assert totals["dense"] == pytest.approx(totals["sparse"])


def test_same_seed_same_dialog():
    transcripts = []
    for _ in range(2):
        env = make()
        env.reset(seed=11)
        for _ in range(3):
            *_, terminated, truncated, info = say(env, "Hi! Is there anything else?")
            if terminated or truncated:
                break
        transcripts.append(env._state.transcript)
    assert transcripts[0] == transcripts[1]


def test_render(env):
    env = make(render_mode="ansi")
    env.reset(seed=0, options={"task_index": 0})
    say(env, "Could you tell me your order number?")
    lines = env.render().splitlines()
    assert lines[0].startswith("Customer: ") and lines[1] == "Agent: Could you tell me your order number?"
    assert lines[2].startswith("Customer: ") and env._task.fields["order_id"] in lines[2]


def test_bad_arguments(env):
    with pytest.raises(ValueError, match="unknown goal.*known: refund"):
        make(goals=["discount"])
    with pytest.raises(ValueError, match="max_turn_tokens"):
        make(max_turn_tokens=0)
    with pytest.raises(ValueError, match="patience"):
        make(patience=(3, 1))
    plain = copy.deepcopy(env.tokenizer)
    plain.chat_template = None
    with pytest.raises(ValueError, match="chat template"):
        make(tokenizer=plain)


def test_agent_evaluate_samples_carry_the_dialog_transcript():
    # a learner's samples on a multi-turn env must show the whole dialog, not only its last turn
    import torch

    from agents import REINFORCE, REINFORCEConfig

    torch.set_num_threads(1)
    agent = REINFORCE(
        "lm_envs/CustomerServiceDialog-v1", policy="tiny-shop",
        config=REINFORCEConfig(num_envs=2, group_size=2), seed=0,
    )
    out = agent.evaluate(2, n_samples=2)
    assert out["samples"]
    for sample in out["samples"]:
        roles = [turn["role"] for turn in sample["transcript"]]
        assert roles[0] == "customer" and "agent" in roles


def test_the_old_version_warns_that_it_is_out_of_date():
    with pytest.warns(DeprecationWarning, match="CustomerServiceDialog-v0 is out of date"):
        gym.make("lm_envs/CustomerServiceDialog-v0")


# --- difficulty tiers and the customer split ----------------------------------------------


def test_tiers_change_only_what_the_customer_volunteers():
    from lm_envs.sim.customer import volunteered_info

    envs = {tier: make(tier=tier) for tier in ("none", "some", "all")}
    assert make().tier == "none" and make().observation_space == envs["none"].observation_space  # the default is today's
    tasks = {tier: env.tasks for tier, env in envs.items()}
    assert len({len(t) for t in tasks.values()}) == 1
    for base, some, every in zip(tasks["none"], tasks["some"], tasks["all"]):
        goal = Goal(base.fields["goal"], base.fields["order_id"], base.fields["email"], base.fields["item"])
        for tier, task in (("some", some), ("all", every)):
            # same goal, customer and opening, plus exactly the volunteered identifiers
            same = {k: v for k, v in task.fields.items() if k not in ("opening", "tier", "volunteered")}
            assert same == {k: v for k, v in base.fields.items() if k not in ("opening", "tier", "volunteered")}
            assert task.fields["opening"].startswith(base.fields["opening"])
            assert task.fields["volunteered"] == list(volunteered_info(goal, tier))
        assert base.fields["order_id"] not in base.fields["opening"] and base.fields["email"] not in base.fields["opening"]
        assert base.fields["email"] not in some.fields["opening"]
        assert ("order_id" in goal.needs) == (base.fields["order_id"] in some.fields["opening"])
        assert all(goal.value(info) in every.fields["opening"] for info in goal.needs)
    # the same seed meets the same customer and patience; the oracle needs no question on "all"
    for tier, env in envs.items():
        _, terminated, _, info = play_oracle(env, seed=7)
        assert info["tier"] == tier and info["success"] and terminated
        assert info["task"]["order_id"] == tasks["none"][info["task_index"]].fields["order_id"]
        if tier == "all":
            assert info["turns"] == 1
        if tier == "none":
            assert info["turns"] >= 2
    with pytest.raises(ValueError, match="tier must be one of"):
        make(tier="easy")


def test_customer_split_is_disjoint_and_covers_every_customer():
    everyone, train, test = (make(customers=c).tasks for c in ("all", "train", "test"))
    train_ids = {t.fields["customer_id"] for t in train}
    test_ids = {t.fields["customer_id"] for t in test}
    assert train_ids and test_ids and not train_ids & test_ids
    assert train_ids | test_ids == {t.fields["customer_id"] for t in everyone}
    assert len(train) + len(test) == len(everyone)
    with pytest.raises(ValueError, match="customers must be one of"):
        make(customers="dev")

"""`TextActions`: an utterance steps exactly the tokens a user would step by hand."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import lm_envs
from lm_envs.wrappers import TextActions

TOKEN_ENV_IDS = list(lm_envs.token_env_ids())
UTTERANCES = ["Hello, how can I help?", "Could you give me your order number?", "", "I have issued a refund."]


def _kwargs(env_id: str) -> dict:
    # short dialog turns keep the budget for several of them; text envs get room for a sentence
    return {"max_new_tokens": 96, "max_turn_tokens": 16} if "Dialog" in env_id else {"max_new_tokens": 24}


def _step_by_hand(env: gym.Env, tokens: list[int]):
    total = 0.0
    for token in tokens:
        obs, reward, terminated, truncated, info = env.step(token)
        total += reward
        if terminated or truncated:
            break
    return obs, total, terminated, truncated, info


@pytest.mark.parametrize("env_id", TOKEN_ENV_IDS, ids=TOKEN_ENV_IDS)
def test_an_utterance_is_its_tokens_stepped_by_hand(env_id):
    wrapped = TextActions(gym.make(env_id, **_kwargs(env_id)))
    plain = gym.make(env_id, **_kwargs(env_id))
    tokenizer = plain.unwrapped.tokenizer
    close = getattr(plain.unwrapped, "eot_token_id", plain.unwrapped.eos_token_id)
    wrapped.reset(seed=5)
    plain.reset(seed=5)
    for text in UTTERANCES:
        # the turn's tokens, closed by the turn-end token: shorter than a dialog turn, so the
        # turn ends at that token in both envs
        tokens = tokenizer.encode(text, add_special_tokens=False) + [close]
        assert wrapped.utterance_tokens(text) == tokens
        got = wrapped.step(text)
        want = _step_by_hand(plain, tokens)
        np.testing.assert_array_equal(got[0]["input_ids"], want[0]["input_ids"])
        assert got[1:4] == pytest.approx(want[1:4])
        assert {k: v for k, v in got[4].items() if k != "text_action"} == want[4]
        if got[2] or got[3]:
            break
        assert got[4]["text_action"] == {"tokens": tokens, "dropped": 0}


def test_a_single_turn_env_ends_after_one_utterance():
    env = TextActions(gym.make("lm_envs/CustomerServiceQA-v0", max_new_tokens=32))
    env.reset(seed=0)
    _, reward, terminated, truncated, info = env.step("Your order ORD-10234 has shipped.")
    assert terminated and not truncated
    assert info["completion"] == "Your order ORD-10234 has shipped."
    assert reward == pytest.approx(sum(info["reward_terms"][k] * w for k, w in _weights(env).items()))


def _weights(env: gym.Env) -> dict[str, float]:
    reward_fn = env.unwrapped.reward_fn
    return dict(zip(reward_fn.names, reward_fn.weights))


def test_an_over_long_utterance_is_cut_at_the_budget():
    env = TextActions(gym.make("lm_envs/TextGeneration-v1", max_new_tokens=8))
    env.reset(seed=1)
    text = "great product, I love it so much, it is really wonderful and works every day"
    tokens = env.utterance_tokens(text)
    _, _, terminated, truncated, info = env.step(text)
    assert truncated and not terminated
    assert info["text_action"] == {"tokens": tokens[:8], "dropped": len(tokens) - 8}
    assert info["completion"] == env.unwrapped.decode_completion(tokens[:8])


def test_a_dialog_turn_cut_at_max_turn_tokens_ends_the_action():
    env = TextActions(gym.make("lm_envs/CustomerServiceDialog-v1", max_turn_tokens=6))
    obs, _ = env.reset(seed=0)
    before = int(obs["attention_mask"].sum())
    obs, _, terminated, truncated, info = env.step("one two three four five six seven eight nine ten")
    assert not (terminated or truncated)
    assert len(info["text_action"]["tokens"]) == 6 and info["text_action"]["dropped"] > 0
    assert int(obs["attention_mask"].sum()) > before + 6  # the customer's reply came in the same step
    assert env.unwrapped._state.turns == 1  # noqa: SLF001 - one agent turn, not two
    env.step("Thanks.")  # the next utterance is the next turn
    assert env.unwrapped._state.turns == 2  # noqa: SLF001


def test_an_utterance_ends_at_its_first_stop_token():
    env = TextActions(gym.make("lm_envs/CustomerServiceQA-v0", max_new_tokens=32))
    env.reset(seed=0)
    _, _, terminated, _, info = env.step("It has shipped.<|endoftext|> and more words")
    assert terminated
    assert info["completion"] == "It has shipped."
    assert info["text_action"]["tokens"][-1] == env.unwrapped.eos_token_id
    assert info["text_action"]["dropped"] == 0  # nothing after the stop token was ever queued


def test_dense_rewards_of_an_utterance_sum_to_the_sparse_score():
    sparse = TextActions(gym.make("lm_envs/TextGeneration-v1", reward_mode="sparse", max_new_tokens=24))
    dense = TextActions(gym.make("lm_envs/TextGeneration-v1", reward_mode="dense", max_new_tokens=24))
    sparse.reset(seed=2)
    dense.reset(seed=2)
    text = "A lovely, reliable product."
    assert dense.step(text)[1] == pytest.approx(sparse.step(text)[1])


def test_close_turn_false_steps_only_the_text():
    env = TextActions(gym.make("lm_envs/TextGeneration-v1", max_new_tokens=24), close_turn=False)
    env.reset(seed=0)
    _, _, terminated, truncated, info = env.step("Nice")
    assert not (terminated or truncated)
    assert info["text_action"]["tokens"] == env.unwrapped.tokenizer.encode("Nice", add_special_tokens=False)
    with pytest.raises(ValueError, match="empty utterance"):
        env.step("")


def test_misuse_raises_and_changes_nothing():
    env = TextActions(gym.make("lm_envs/TextGeneration-v1", max_new_tokens=24))
    obs, _ = env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(17)
    with pytest.raises(ValueError, match="token ids must lie"):
        env.step_tokens([5, 10**9])
    assert env.unwrapped.render() == env.unwrapped._task.prompt  # noqa: SLF001 - nothing was stepped
    with pytest.raises(TypeError, match="token env"):
        TextActions(gym.make("lm_envs/ProductRecommendation-v0"))

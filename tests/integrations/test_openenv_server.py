"""The OpenEnv server on loopback, driven by OpenEnv's own client: same transcripts as in-process,
isolated sessions, and bad messages answered with errors while the server stays up."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("openenv", reason="the server is an optional extra: pip install 'lm-envs[serve]'")

from openenv.core import GenericEnvClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from lm_envs.integrations.openenv import (
    MAX_MESSAGE_BYTES,
    MAX_TEXT_CHARS,
    LMEnvAction,
    LMEnvClient,
    check_loopback,
    start_server,
)
from lm_envs.wrappers import TextActions

DIALOG = "lm_envs/CustomerServiceDialog-v1"
KWARGS = {"max_new_tokens": 96, "max_turn_tokens": 12}
TURNS = ["Hello, I can help.", "Could you give me your order number?", "Thanks, and the email on the account?",
         "I have issued a refund for your order.", "Anything else?"]


@pytest.fixture(scope="module")
def server():
    running = start_server(DIALOG, env_kwargs=KWARGS, max_sessions=4)
    yield running
    running.stop()  # the finalizer stops it whatever the tests did
    assert not running.thread.is_alive()


def context(obs) -> list[int]:
    return np.asarray(obs["input_ids"])[np.asarray(obs["attention_mask"]) == 1].tolist()


def in_process(seed: int, actions: list[LMEnvAction]) -> list[tuple[list[int], float, bool]]:
    """The same seed and actions on an env in this process."""
    env = TextActions(gym.make(DIALOG, **KWARGS))
    obs, _ = env.reset(seed=seed)
    seen = [(context(obs), None, False)]
    for action in actions:
        if action.type == "text":
            obs, reward, terminated, truncated, _ = env.step(action.text)
        else:
            obs, reward, terminated, truncated, _ = env.step_tokens(action.tokens, one_turn=False)
        seen.append((context(obs), float(reward), bool(terminated or truncated)))
        if terminated or truncated:
            break
    return seen


def served(client, seed: int, actions: list[LMEnvAction]) -> list[tuple[list[int], float, bool]]:
    result = client.reset(seed=seed)
    seen = [(result.observation.input_ids, result.reward, result.done)]
    for action in actions:
        result = client.step(action)
        seen.append((result.observation.input_ids, result.reward, result.done))
        if result.done:
            break
    return seen


def test_same_seed_same_transcript_as_in_process(server):
    actions = [LMEnvAction(type="text", text=t) for t in TURNS]
    actions.insert(1, LMEnvAction(type="tokens", tokens=[17, 2]))  # a raw-token turn between utterances
    with LMEnvClient(base_url=server.url).sync() as client:
        for seed in (0, 1):
            assert served(client, seed, actions) == in_process(seed, actions)
        result = client.reset(seed=0)
        assert result.observation.text == server_text(result.observation.input_ids)
        assert result.observation.prompt.startswith("You are a Tiny Shop support agent")
        result = client.step(LMEnvAction(type="text", text="Hello, I can help with that."))
        assert not result.done and result.metadata["reward_terms"] == {}  # the env's terms come at the end
        while not result.done:
            result = client.step(LMEnvAction(type="text", text="Could you give me your order number?"))
        assert set(result.metadata["reward_terms"]) == {"outcome", "turns", "wrong_facts"}
        assert result.metadata["info"]["transcript"][0]["role"] == "customer"
        assert client.state().episode_over


def server_text(ids: list[int]) -> str:
    return gym.make(DIALOG).unwrapped.tokenizer.decode(ids, skip_special_tokens=False)


def test_sessions_are_isolated(server):
    actions = [LMEnvAction(type="text", text=t) for t in TURNS]
    a = LMEnvClient(base_url=server.url).sync()
    b = LMEnvClient(base_url=server.url).sync()
    with a, b:
        # interleaved: b's resets and steps in between must not touch a's episode or seeds
        ra, _ = a.reset(seed=3), b.reset(seed=4)
        seen_a = [(ra.observation.input_ids, None, False)]
        for action in actions[:2]:
            b.step(action)
            b.reset(seed=4)
            ra = a.step(action)
            seen_a.append((ra.observation.input_ids, ra.reward, ra.done))
        assert seen_a == in_process(3, actions[:2])
        assert served(b, 4, actions) == in_process(4, actions)


def raw_session(server):
    return connect(server.url.replace("http", "ws") + "/ws", max_size=None)


def ask(ws, message) -> dict:
    ws.send(message if isinstance(message, str) else json.dumps(message))
    return json.loads(ws.recv(timeout=60))


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "launch"}, "UNKNOWN_TYPE"),  # unknown message type
        ("{not json", "INVALID_JSON"),
        ({"type": "step", "data": {"type": "speak", "text": "hi"}}, "VALIDATION_ERROR"),  # unknown action type
        ({"type": "step", "data": {"type": "text", "text": "hi", "tokens": [3]}}, "VALIDATION_ERROR"),  # wrong schema
        ({"type": "step", "data": {"type": "tokens", "tokens": ["a"]}}, "VALIDATION_ERROR"),
        ({"type": "step", "data": {"type": "text", "text": "x" * (MAX_TEXT_CHARS + 1)}}, "VALIDATION_ERROR"),
        ({"type": "step", "data": {"type": "tokens", "tokens": [10**9]}}, "EXECUTION_ERROR"),  # outside the vocab
        ({"type": "reset", "data": {"seed": -1}}, "EXECUTION_ERROR"),
        ({"type": "reset", "data": {"task_index": 10**6}}, "EXECUTION_ERROR"),
    ],
    ids=["message-type", "json", "action-type", "schema", "token-type", "oversized-text", "token-id", "seed", "task"],
)
def test_bad_messages_get_an_error_and_the_session_goes_on(server, message, code):
    with raw_session(server) as ws:
        assert ask(ws, {"type": "reset", "data": {"seed": 0}})["type"] == "observation"
        answer = ask(ws, message)
        assert answer["type"] == "error" and answer["data"]["code"] == code
        step = ask(ws, {"type": "step", "data": {"type": "text", "text": "Could you give me your order number?"}})
        assert step["type"] == "observation"


def test_step_before_reset_and_after_the_end(server):
    with raw_session(server) as ws:
        answer = ask(ws, {"type": "step", "data": {"type": "text", "text": "hi"}})
        assert answer["data"]["code"] == "EXECUTION_ERROR" and "before reset" in answer["data"]["message"]
        ask(ws, {"type": "reset", "data": {"seed": 0}})
        done = False
        while not done:  # EOS leaves the dialog: the episode ends at once
            done = ask(ws, {"type": "step", "data": {"type": "tokens", "tokens": [0]}})["data"]["done"]
        answer = ask(ws, {"type": "step", "data": {"type": "text", "text": "hi"}})
        assert answer["data"]["code"] == "EXECUTION_ERROR" and "ended" in answer["data"]["message"]
        assert ask(ws, {"type": "reset", "data": {"seed": 1}})["type"] == "observation"


def test_an_oversized_frame_closes_only_its_connection(server):
    with raw_session(server) as other:
        ask(other, {"type": "reset", "data": {"seed": 0}})
        with raw_session(server) as ws:
            ws.send(json.dumps({"type": "step", "data": {"type": "text", "text": "x" * MAX_MESSAGE_BYTES}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=60)
            assert closed.value.rcvd.code == 1009  # message too big
        assert ask(other, {"type": "step", "data": {"type": "text", "text": "Hello."}})["type"] == "observation"


def test_the_generic_client_reads_the_server(server):
    with GenericEnvClient(base_url=server.url).sync() as client:
        result = client.reset(seed=0, task_index=5)
        assert result.observation["input_ids"] and result.observation["text"]
        result = client.step({"type": "text", "text": "Hello."})
        assert result.observation["new_ids"][:2] == server_tokens("Hello.")[:2]
        with pytest.raises(RuntimeError, match="VALIDATION_ERROR"):
            client.step({"type": "bogus"})


def server_tokens(text: str) -> list[int]:
    return gym.make(DIALOG).unwrapped.tokenizer.encode(text, add_special_tokens=False)


def test_capacity_is_bounded():
    with start_server("lm_envs/TextGeneration-v1", max_sessions=1) as running:
        with LMEnvClient(base_url=running.url).sync() as first:
            first.reset(seed=0)
            with pytest.raises(RuntimeError, match="CAPACITY_REACHED"):
                with LMEnvClient(base_url=running.url).sync() as second:
                    second.reset(seed=0)
            assert first.step(LMEnvAction(type="text", text="Nice.")).done


def test_loopback_only():
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("::1") == "::1"
    for host in ("0.0.0.0", "192.168.1.4", "example.com", "::"):
        with pytest.raises(ValueError, match="loopback only"):
            check_loopback(host)
    with pytest.raises(ValueError, match="loopback only"):
        start_server(DIALOG, host="0.0.0.0")

"""Any lm-envs token env as an OpenEnv server, built on OpenEnv's own FastAPI / WebSocket server
(``openenv.core.env_server``) and client (``openenv.core.EnvClient``).

```bash
lm-envs serve lm_envs/CustomerServiceDialog-v1 --port 8000        # 127.0.0.1 only
```

```python
from lm_envs.integrations.openenv import LMEnvAction, LMEnvClient

with LMEnvClient(base_url="http://127.0.0.1:8000").sync() as env:
    result = env.reset(seed=0)                      # result.observation.text, .input_ids
    result = env.step(LMEnvAction(type="text", text="Could you give me your order number?"))
    result = env.step(LMEnvAction(type="tokens", tokens=[17, 2]))
    result.reward, result.done, result.metadata["reward_terms"]
```

**Protocol.** OpenEnv's WebSocket session protocol (``/ws``): every connection gets its own
env, made by the server for that session and closed with it, so sessions share no state,
their seeds and generators included. The server runs in OpenEnv's ``production`` mode: the
stateless HTTP ``/reset`` and ``/step`` routes (which would make a throwaway env per request)
are not registered; ``/health``, ``/schema`` and ``/metadata`` are.

- ``reset``: ``seed`` (int >= 0), ``task_index`` (a task of the env's list), ``episode_id``.
- ``step``: `LMEnvAction`: ``{"type": "text", "text": ...}`` is one utterance, stepped as the
  env's tokens by `lm_envs.wrappers.TextActions` (one agent turn on the dialog); ``{"type":
  "tokens", "tokens": [...]}`` steps token ids one by one until the episode ends.
- Observations (`LMEnvObservation`) carry the context as token ids and text, what the step
  appended (the agent's tokens and, on the dialog, the customer's reply), the reward of the
  step (summed over its tokens), ``done``, and ``metadata`` with ``reward_terms`` (the env's
  raw terms at the episode's end, ``{}`` before) and the env's end-of-episode ``info``
  (completion, transcript, outcome, ...).

**Errors are responses.** A message of unknown type, an action that fails the schema (unknown
action type, wrong fields, an id outside the vocabulary, a text over `MAX_TEXT_CHARS` or more
than `MAX_ACTION_TOKENS` ids), a step before the first reset or after the episode's end:
each gets OpenEnv's error response (``VALIDATION_ERROR`` / ``EXECUTION_ERROR`` /
``UNKNOWN_TYPE``) on that session, which stays open, and the other sessions never notice. A
WebSocket frame over `MAX_MESSAGE_BYTES` is refused by the server's WebSocket layer (close
code 1009, "message too big"), before any JSON parsing; only that connection ends.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

try:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server.http_server import create_fastapi_app
    from openenv.core.env_server.interfaces import Environment
    from openenv.core.env_server.types import Action, ConcurrencyConfig, EnvironmentMetadata, Observation, State
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("the OpenEnv server and client need the openenv package: pip install 'lm-envs[serve]'") from err

from lm_envs.wrappers import TextActions

__all__ = [
    "DEFAULT_MAX_SESSIONS",
    "MAX_ACTION_TOKENS",
    "MAX_MESSAGE_BYTES",
    "MAX_TEXT_CHARS",
    "LMEnvAction",
    "LMEnvClient",
    "LMEnvEnvironment",
    "LMEnvObservation",
    "LMEnvState",
    "RunningServer",
    "check_loopback",
    "create_app",
    "serve",
    "serve_app",
    "start_server",
]

MAX_TEXT_CHARS = 16_384
"""Longest ``text`` of a text action (characters); longer is a validation error."""
MAX_ACTION_TOKENS = 4_096
"""Most token ids in one tokens action."""
MAX_MESSAGE_BYTES = 256 * 1024
"""Largest WebSocket frame the server reads; a larger one closes that connection (code 1009)."""
DEFAULT_MAX_SESSIONS = 64
"""Concurrent sessions (one env each) the server accepts; more get a ``CAPACITY_REACHED`` error."""


# ---------------------------------------------------------------------------------------
# Wire types
# ---------------------------------------------------------------------------------------


class LMEnvAction(Action):
    """One step: an utterance (``type="text"``) or token ids (``type="tokens"``)."""

    type: Literal["text", "tokens"] = Field(description="'text': one utterance; 'tokens': token ids stepped in order")
    text: str = Field(default="", max_length=MAX_TEXT_CHARS, description="the utterance (type 'text')")
    tokens: list[int] = Field(default_factory=list, max_length=MAX_ACTION_TOKENS, description="token ids (type 'tokens')")

    @model_validator(mode="after")
    def _one_kind(self) -> LMEnvAction:
        # PydanticCustomError, not ValueError: OpenEnv serializes the validation errors into its
        # error response, and a ValueError in an error's context is not JSON (the session would die)
        if self.type == "text" and self.tokens:
            raise PydanticCustomError("action_fields", "a text action carries no tokens")
        if self.type == "tokens" and (self.text or not self.tokens):
            raise PydanticCustomError("action_fields", "a tokens action carries at least one token id and no text")
        return self


class LMEnvObservation(Observation):
    """The context after a reset or step, as token ids and text, and what the step appended."""

    env_id: str = ""
    prompt: str = Field(default="", description="the task's prompt text")
    input_ids: list[int] = Field(default_factory=list, description="the context: prompt and every token since")
    text: str = Field(default="", description="the context decoded, special tokens (chat roles) kept")
    new_ids: list[int] = Field(default_factory=list, description="tokens this step appended (agent and env)")
    new_text: str = ""
    terminated: bool = False
    truncated: bool = False


class LMEnvState(State):
    """The session's env: its id, the last reset's seed and task, whether the episode is over."""

    env_id: str = ""
    seed: int | None = None
    task_index: int | None = None
    episode_over: bool = True
    context_tokens: int = 0


def _jsonable(value: Any) -> Any:
    """``value`` with numpy scalars and arrays (and tuples) turned into JSON types."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# ---------------------------------------------------------------------------------------
# The server side: one env per session
# ---------------------------------------------------------------------------------------


class LMEnvEnvironment(Environment[LMEnvAction, LMEnvObservation, LMEnvState]):
    """OpenEnv ``Environment`` around one lm-envs token env (wrapped in `TextActions`).

    The server makes one per WebSocket session (``SUPPORTS_CONCURRENT_SESSIONS``): nothing
    mutable is shared between sessions.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(self, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.env_id = env_id
        self.env = TextActions(gym.make(env_id, **(env_kwargs or {})))
        self.tokenizer = self.env.token_env.tokenizer
        self.prompt = ""
        self.started = False
        self.over = True
        self.context: list[int] = []
        self.session_state = LMEnvState(env_id=env_id)

    def reset(self, seed: int | None = None, episode_id: str | None = None, task_index: int | None = None,
              **kwargs: Any) -> LMEnvObservation:
        if kwargs:
            raise ValueError(f"unknown reset argument(s) {sorted(kwargs)}; known: seed, task_index, episode_id")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be an integer >= 0 or null, got {seed!r}")
        options = None if task_index is None else {"task_index": task_index}
        obs, info = self.env.reset(seed=seed, options=options)
        self.prompt = str(info.get("prompt", ""))
        self.started, self.over = True, False
        self.context = self._context(obs)
        self.session_state = LMEnvState(
            env_id=self.env_id, episode_id=episode_id, step_count=0, seed=seed,
            task_index=info.get("task_index"), episode_over=False, context_tokens=len(self.context),
        )  # fmt: skip
        return self._observation(new_ids=[], reward=None, terminated=False, truncated=False, metadata={})

    def step(self, action: LMEnvAction, timeout_s: float | None = None, **kwargs: Any) -> LMEnvObservation:
        if not self.started:
            raise RuntimeError("step before reset: send a reset message first")
        if self.over:
            raise RuntimeError("the episode has ended: send a reset message to start the next one")
        if action.type == "text":
            obs, reward, terminated, truncated, info = self.env.step(action.text)
        else:
            obs, reward, terminated, truncated, info = self.env.step_tokens(action.tokens, one_turn=False)
        before = len(self.context)
        self.context = self._context(obs)
        self.over = bool(terminated or truncated)
        state = self.session_state
        state.step_count += 1
        state.episode_over, state.context_tokens = self.over, len(self.context)
        # the env scores an episode at its end: its raw reward terms come then ({} before)
        metadata: dict[str, Any] = {"text_action": _jsonable(info.pop("text_action", {})),
                                    "reward_terms": _jsonable(info.pop("reward_terms", {}))}
        if self.over:
            metadata["info"] = _jsonable(info)
        return self._observation(new_ids=self.context[before:], reward=float(reward), terminated=bool(terminated),
                                 truncated=bool(truncated), metadata=metadata)

    @staticmethod
    def _context(obs: dict[str, np.ndarray]) -> list[int]:
        return np.asarray(obs["input_ids"])[np.asarray(obs["attention_mask"]) == 1].tolist()

    def _observation(self, *, new_ids: list[int], reward: float | None, terminated: bool, truncated: bool,
                     metadata: dict[str, Any]) -> LMEnvObservation:
        return LMEnvObservation(
            env_id=self.env_id, prompt=self.prompt, input_ids=self.context,
            text=self.tokenizer.decode(self.context, skip_special_tokens=False),
            new_ids=new_ids, new_text=self.tokenizer.decode(new_ids, skip_special_tokens=False),
            terminated=terminated, truncated=truncated, done=terminated or truncated, reward=reward, metadata=metadata,
        )  # fmt: skip

    @property
    def state(self) -> LMEnvState:
        return self.session_state

    def get_metadata(self) -> EnvironmentMetadata:
        import lm_envs

        doc = (type(self.env.token_env).__doc__ or "").strip().split("\n\n")[0]
        return EnvironmentMetadata(name=self.env_id, description=" ".join(doc.split()) or self.env_id,
                                   version=lm_envs.__version__, documentation_url=None)

    def close(self) -> None:
        self.env.close()


def create_app(env_id: str, *, env_kwargs: dict[str, Any] | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS) -> Any:
    """The FastAPI app of OpenEnv's server for ``env_id``: one `LMEnvEnvironment` per session.

    One env is made here and closed, so a bad id or keyword fails now, not in the first session.
    """
    if isinstance(max_sessions, bool) or not isinstance(max_sessions, int) or max_sessions < 1:
        raise ValueError(f"max_sessions must be a positive integer, got {max_sessions!r}")
    LMEnvEnvironment(env_id, env_kwargs).close()
    factory = functools.partial(LMEnvEnvironment, env_id, dict(env_kwargs or {}))
    return create_fastapi_app(
        factory, LMEnvAction, LMEnvObservation,
        concurrency_config=ConcurrencyConfig(max_concurrent_envs=max_sessions),
        env_name=env_id.rpartition("/")[2], state_cls=LMEnvState, mode="production",
    )  # fmt: skip


def check_loopback(host: str) -> str:
    """``host`` if it is a loopback address (``127.0.0.1``, ``::1``, ``localhost``), else a
    ValueError: the server has no authentication, so it never listens beyond this machine."""
    if host == "localhost":
        return host
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the lm-envs server listens on loopback only (127.0.0.1, ::1, localhost); got {host!r}")
    return host


def _uvicorn_server(app: Any, host: str, port: int) -> Any:
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, ws_max_size=MAX_MESSAGE_BYTES, log_level="warning",
                            lifespan="on", access_log=False)
    return uvicorn.Server(config)


def serve_app(app: Any, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run an app of `create_app` in this thread until interrupted (``lm-envs serve``)."""
    _uvicorn_server(app, check_loopback(host), port).run()


def serve(env_id: str, *, host: str = "127.0.0.1", port: int = 8000, env_kwargs: dict[str, Any] | None = None,
          max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
    """Serve ``env_id`` in this thread until interrupted."""
    check_loopback(host)
    serve_app(create_app(env_id, env_kwargs=env_kwargs, max_sessions=max_sessions), host=host, port=port)


class RunningServer:
    """A server running on a background thread (`start_server`); ``stop()`` or ``with`` ends it."""

    def __init__(self, server: Any, thread: threading.Thread, sock: socket.socket, url: str) -> None:
        self.server, self.thread, self.sock, self.url = server, thread, sock, url

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the server to exit, wait for its thread, release the port."""
        self.server.should_exit = True
        self.thread.join(timeout)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the server at {self.url} did not stop within {timeout} s")

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_server(env_id: str, *, host: str = "127.0.0.1", port: int = 0, env_kwargs: dict[str, Any] | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS, timeout: float = 60.0) -> RunningServer:
    """Start the server on a background thread and return once it accepts connections.

    ``port=0`` takes a free port (`RunningServer.url` says which).
    """
    host = check_loopback(host)
    app = create_app(env_id, env_kwargs=env_kwargs, max_sessions=max_sessions)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    server = _uvicorn_server(app, host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"lm-envs-serve-{env_id}", daemon=True)
    thread.start()
    bound = sock.getsockname()[1]
    url_host = f"[{host}]" if ":" in host else host
    running = RunningServer(server, thread, sock, f"http://{url_host}:{bound}")
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"the server for {env_id} did not start within {timeout} s")
        time.sleep(0.01)
    return running


# ---------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------


class LMEnvClient(EnvClient[LMEnvAction, LMEnvObservation, LMEnvState]):
    """OpenEnv's ``EnvClient`` for an lm-envs server: async by default, ``.sync()`` for plain calls.

    ``reset(seed=..., task_index=...)``; ``step(LMEnvAction(type="text", text=...))`` or
    ``step(LMEnvAction(type="tokens", tokens=[...]))``; a server error raises ``RuntimeError``
    naming its code (the session stays usable).
    """

    def _step_payload(self, action: LMEnvAction) -> dict[str, Any]:
        return action.model_dump()

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[LMEnvObservation]:
        fields = dict(payload.get("observation", {}))
        fields.update(reward=payload.get("reward"), done=bool(payload.get("done", False)))
        return StepResult(observation=LMEnvObservation(**fields), reward=payload.get("reward"),
                          done=bool(payload.get("done", False)), metadata=payload.get("metadata"))

    def _parse_state(self, payload: dict[str, Any]) -> LMEnvState:
        return LMEnvState(**payload)

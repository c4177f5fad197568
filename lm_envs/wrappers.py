"""Wrappers of the token envs: `TextActions`, one action is a whole utterance.

Utterance-level agents (the GEM, TextArena and verifiers style) act with strings. `TextActions`
turns a token env into such an env without changing its dynamics: the string is tokenized with
the env's own tokenizer and stepped token by token, so the episode ends exactly as it would
if the same tokens were stepped by hand (tested).

```python
env = TextActions(gym.make("lm_envs/CustomerServiceDialog-v1"))
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step("Could you give me your order number?")
info["text_action"]   # {"tokens": [...], "dropped": 0}: what was stepped, what was cut
```
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lm_envs.core import TokenEnv

__all__ = ["MAX_UTTERANCE_CHARS", "TextActions"]

MAX_UTTERANCE_CHARS = 16_384
"""The ``max_length`` the action space declares; `TextActions.step` takes longer strings too
and cuts them at the token budget like any other."""

# printable ASCII plus the whitespace an utterance may hold; the space only documents and
# samples actions: step() takes any string
_CHARSET = "".join(chr(c) for c in range(32, 127)) + "\n\t"


class TextActions(gym.Wrapper):
    """One action is a whole utterance: a string, stepped as tokens of the env's tokenizer.

    ## Action Space
    ``Text(max_length=MAX_UTTERANCE_CHARS)``; `step` takes any ``str``. The string is encoded
    with the env's tokenizer (no special tokens added); the tokens up to and including the
    first stop token in it are kept, and when it has none the turn-closing token is appended
    (the dialog's end-of-turn token, EOS on single-turn envs) unless ``close_turn=False``.

    ## Episode End
    As the token env's: the tokens are stepped one by one and stepping stops when the episode
    ends (stop token, budget, a resolved or abandoned dialog) or when the other speaker
    replies (in the dialog, one action is one agent turn; a turn cut at ``max_turn_tokens``
    ends there). Tokens left over are dropped; an over-long utterance is thus cut at the
    budget with ``truncated=True``, as the env would cut it.

    ## Rewards
    The sum of the token steps' rewards (the episode score at the end in sparse mode, the
    change of the score over the utterance in dense mode).

    ## Info
    The last token step's ``info`` plus ``text_action``: ``{"tokens": ids stepped, "dropped":
    number of tokens cut}``.

    ## Arguments
    ``env``: a token env (`lm_envs.core.TokenEnv`, possibly wrapped); ``close_turn`` (True).
    """

    def __init__(self, env: gym.Env, *, close_turn: bool = True) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not isinstance(base, TokenEnv):
            raise TypeError(f"TextActions wraps a token env (lm_envs.core.TokenEnv); got {type(base).__name__}")
        self.token_env: TokenEnv = base
        self.close_turn = bool(close_turn)
        # a dialog closes an agent turn with end-of-turn (its EOS leaves the conversation)
        self.turn_end_id = int(getattr(base, "eot_token_id", base.eos_token_id))
        self.action_space = spaces.Text(max_length=MAX_UTTERANCE_CHARS, min_length=0, charset=_CHARSET)
        self.context_length = 0
        """Tokens in the context after the last reset or step."""

    def utterance_tokens(self, text: str) -> list[int]:
        """The token ids that `step` steps for ``text`` (before any budget cut)."""
        if not isinstance(text, str):
            raise TypeError(f"a TextActions action is a str (one utterance); got {type(text).__name__}")
        ids = [int(t) for t in self.token_env.tokenizer.encode(text, add_special_tokens=False)]
        stops = self.token_env.stop_token_ids
        for position, token in enumerate(ids):
            if token in stops:  # the turn ends at its first stop token
                return ids[: position + 1]
        if self.close_turn:
            ids.append(self.turn_end_id)
        if not ids:
            raise ValueError("an empty utterance with close_turn=False has no token to step")
        return ids

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.context_length = int(np.asarray(obs["attention_mask"]).sum())
        return obs, info

    def step(self, action: str) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        return self.step_tokens(self.utterance_tokens(action), one_turn=True)

    def step_tokens(self, tokens: Sequence[int], *, one_turn: bool = True) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step token ids in order until the episode ends (and, with ``one_turn``, until the
        other speaker replies); returns what `step` returns. All ids are checked before the
        first is stepped, so a bad id changes nothing."""
        ids = [self.token_env.validate_action(token) for token in tokens]
        if not ids:
            raise ValueError("no token to step")
        total = 0.0
        stepped = 0
        terminated = truncated = False
        obs: Any = None
        info: dict[str, Any] = {}
        for token in ids:
            obs, reward, terminated, truncated, info = self.env.step(token)
            total += float(reward)
            stepped += 1
            length = int(np.asarray(obs["attention_mask"]).sum())
            replied = length > self.context_length + 1  # the other speaker answered: the turn is over
            self.context_length = length
            if terminated or truncated or (one_turn and replied):
                break
        info = dict(info)
        info["text_action"] = {"tokens": ids[:stepped], "dropped": len(ids) - stepped}
        return obs, total, bool(terminated), bool(truncated), info

"""The token env core: a language model writes one token per step.

`TokenEnv` holds what every token-level env family shares: the tokenizer-derived spaces, the
fixed-shape observation buffer, the EOS / budget episode end, the sparse or dense reward, the
end-of-episode ``info`` and rendering. A family (text generation, customer-service QA, ...)
only says which tasks exist (`_sample_task`) and, if it needs to, how a finished completion is
scored (`_score`). The native vector env in `lm_envs.vector` reuses the same hooks, so single
and vector envs cannot drift apart.

A multi-turn family (the customer-service dialog) also keeps per-episode state
(`_begin_episode`) and answers after agent tokens (`_after_token`): it may append the other
speaker's tokens to the context and decide the episode's end. Families that do not override
these two hooks are single-speaker: one token per step, ended by EOS or the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from lm_envs.rewards import make_reward

__all__ = ["MAX_WINDOW", "REWARD_MODES", "Task", "TokenEnv", "Turn", "pick_task"]

REWARD_MODES = ("sparse", "dense")

MAX_WINDOW = 32_768
"""The most tokens an observation holds (``max_prompt_tokens + max_new_tokens``): beyond the
positions of the models lm-envs runs, and a window the env allocates per row and step."""


@dataclass(frozen=True)
class Task:
    """One episode's prompt and the structured truth its rewards are checked against.

    ``fields`` are passed to the reward functions as per-sample keyword arguments (TRL's
    convention for dataset columns), e.g. ``keywords``, ``sentiment_target``, ``references``.
    """

    prompt: str
    fields: dict[str, Any] = field(default_factory=dict)
    index: int = -1


@dataclass(frozen=True)
class Turn:
    """What `TokenEnv._after_token` answers to an agent token: the other side's move.

    ``tokens`` are appended to the context right after the agent's token (the other
    speaker's turn), so the observation may grow by more than one token in one step; a
    rollout engine feeds ``input_ids[n_cached:n_now]`` to its cache. ``terminated`` and
    ``truncated`` replace the default episode-end rule (stop token, ``max_new_tokens``).
    """

    tokens: tuple[int, ...] = ()
    terminated: bool = False
    truncated: bool = False


def pick_task(tasks: Sequence[Task], rng: np.random.Generator, options: dict[str, Any] | None) -> Task:
    """A task drawn with ``rng``, or the one that ``options["task_index"]`` names."""
    if options and "task_index" in options:
        index = options["task_index"]
        if not isinstance(index, (int, np.integer)) or not 0 <= index < len(tasks):
            raise ValueError(f"options['task_index'] must be an integer in [0, {len(tasks)}), got {index!r}")
        return tasks[int(index)]
    return tasks[int(rng.integers(len(tasks)))]


def _load_tokenizer(tokenizer: Any) -> Any:
    if isinstance(tokenizer, str):
        from lm_envs.models import load_tokenizer

        return load_tokenizer(tokenizer)
    if not hasattr(tokenizer, "decode") or not hasattr(tokenizer, "encode"):
        raise TypeError(
            f"tokenizer must be a model name or a transformers tokenizer, got {type(tokenizer).__name__}"
        )
    return tokenizer


class TokenEnv(gym.Env):
    """Base class of the token-level envs: one action appends one token to the context.

    Subclasses implement `_sample_task` (and `_num_tasks` when tasks are a finite list). See
    `lm_envs.envs.text_generation.TextGenerationEnv` for the full Gymnasium-style docstring.
    The observation window ``max_prompt_tokens + max_new_tokens`` is at most `MAX_WINDOW`.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 30}
    default_reward: Any = "sentiment"
    group_field: str | None = None
    """A task field whose value names the episode's group (e.g. the sentiment target); the
    last ``info`` then carries it as ``group``, so results can be reported per group."""

    def __init__(
        self,
        *,
        tokenizer: Any = "tiny-shop",
        reward: Any = None,
        reward_mode: str = "sparse",
        max_new_tokens: int = 48,
        max_prompt_tokens: int = 96,
        chat_template: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if reward_mode not in REWARD_MODES:
            raise ValueError(f"reward_mode must be one of {REWARD_MODES}, got {reward_mode!r}")
        for name, value in (("max_new_tokens", max_new_tokens), ("max_prompt_tokens", max_prompt_tokens)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if max_prompt_tokens + max_new_tokens > MAX_WINDOW:
            raise ValueError(f"max_prompt_tokens + max_new_tokens = {max_prompt_tokens + max_new_tokens} is more "
                             f"than the {MAX_WINDOW} tokens an observation may hold; lower them (a policy also "
                             "needs the window to fit its positions, 512 for tiny-shop)")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")

        self.tokenizer = _load_tokenizer(tokenizer)
        self.reward_fn = make_reward(self.default_reward if reward is None else reward)
        self.reward_mode = reward_mode
        self.max_new_tokens = int(max_new_tokens)
        self.max_prompt_tokens = int(max_prompt_tokens)
        self.chat_template = bool(chat_template)
        self.render_mode = render_mode

        from lm_envs.models import special_token_ids

        special = special_token_ids(self.tokenizer)
        self.eos_token_id: int = special["eos"]
        self.pad_token_id: int = special["pad"]
        # A turn also ends at the end-of-turn token, so chat models that close a reply with
        # it (SmolLM2's <|im_end|>) end the episode the same way as tiny-shop's EOS.
        self.stop_token_ids: frozenset[int] = frozenset({special["eos"], special["eot"]})

        self.vocab_size = len(self.tokenizer)
        self.max_length = self.max_prompt_tokens + self.max_new_tokens
        self.action_space = spaces.Discrete(self.vocab_size)
        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, self.vocab_size - 1, (self.max_length,), np.int64),
                "attention_mask": spaces.Box(0, 1, (self.max_length,), np.int8),
            }
        )

        self._input_ids = np.full(self.max_length, self.pad_token_id, dtype=np.int64)
        self._attention_mask = np.zeros(self.max_length, dtype=np.int8)
        self._task: Task | None = None
        self._prompt_len = 0
        self._length = 0
        self._potential = 0.0
        self._state: Any = None
        self._episode_over = True
        # Prompts repeat across episodes; tokenizing each once keeps reset() cheap.
        self._prompt_cache: dict[str, tuple[int, ...]] = {}
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        self._fast_decode = getattr(backend, "decode", None)

    # ------------------------------------------------------------------ family hooks
    def _sample_task(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Task:
        """Draw this episode's task with ``rng`` (the env's ``np_random``)."""
        raise NotImplementedError

    def _begin_episode(self, task: Task, rng: np.random.Generator) -> Any:
        """Per-episode mutable state (e.g. a simulated customer), made right after `_sample_task`.

        Draw any randomness from ``rng``: the env's ``np_random``, or the vector env row's
        generator. The default keeps no state (``None``).
        """
        return None

    def _after_token(self, state: Any, token: int, n_new: int, rng: np.random.Generator) -> Turn | None:
        """React to the agent's ``token``, the ``n_new``-th token after the prompt.

        Return ``None`` for the default rule (a stop token terminates, ``max_new_tokens``
        truncates), or a `Turn` that may append the other speaker's tokens and ends the
        episode as it says. Appended tokens must fit in the observation
        (``n_new + len(tokens) <= max_new_tokens``).
        """
        return None

    def _score(
        self, tasks: Sequence[Task], completions: Sequence[str], states: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Batched reward of finished (or, in dense mode, partial) completions.

        ``states`` are the episodes' `_begin_episode` states (``None`` for stateless families).
        """
        prompts = [task.prompt for task in tasks]
        field_names = sorted({name for task in tasks for name in task.fields})
        fields = {name: [task.fields.get(name) for task in tasks] for name in field_names}
        return self.reward_fn.score(prompts, list(completions), **fields)

    # ------------------------------------------------------------------ shared mechanics
    def encode_prompt(self, task: Task) -> tuple[int, ...]:
        """Token ids of the prompt, keeping its last ``max_prompt_tokens`` (the question sits at the end)."""
        cached = self._prompt_cache.get(task.prompt)
        if cached is None:
            cached = self._prompt_cache[task.prompt] = tuple(self._encode_prompt(task.prompt))
        return cached

    def _encode_prompt(self, prompt: str) -> list[int]:
        if self.chat_template:
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
        else:
            ids = self.tokenizer.encode(prompt, add_special_tokens=False)
        ids = list(ids)[-self.max_prompt_tokens :]
        if not ids:  # an empty prompt still needs one token for the model to condition on
            ids = [self.eos_token_id]
        return ids

    def decode_completion(self, token_ids: Sequence[int] | np.ndarray) -> str:
        """Text of a completion; a closing stop token (the only place one can be) is dropped."""
        ids = token_ids.tolist() if isinstance(token_ids, np.ndarray) else [int(t) for t in token_ids]
        if ids and ids[-1] in self.stop_token_ids:
            ids.pop()
        if self._fast_decode is not None:  # the Rust tokenizer directly: no per-id Python conversion
            return self._fast_decode(ids, skip_special_tokens=True)
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def validate_action(self, action: Any) -> int:
        """The action as an int token id, or a ValueError saying why it is not one."""
        if type(action) is int and 0 <= action < self.vocab_size:  # the hot path: skip the checks below
            return action
        value = action
        if isinstance(value, np.ndarray):
            if value.shape != ():
                raise ValueError(f"invalid action {action!r}: expected a single token id, got an array of shape {value.shape}")
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"invalid action {action!r}: expected an integer token id in [0, {self.vocab_size})")
        if not 0 <= int(value) < self.vocab_size:
            raise ValueError(f"invalid action {int(value)}: token ids must lie in [0, {self.vocab_size})")
        return int(value)

    def end_info(
        self, task: Task, completion: str, terms: dict[str, float], n_tokens: int, state: Any = None
    ) -> dict[str, Any]:
        """The ``info`` of an episode's last step; ``state`` is its `_begin_episode` state."""
        info = {
            "prompt": task.prompt,
            "completion": completion,
            "reward_terms": terms,
            "task": dict(task.fields),
            "task_index": task.index,
            "completion_tokens": n_tokens,
        }
        if self.group_field is not None and task.fields.get(self.group_field) is not None:
            info["group"] = str(task.fields[self.group_field])
        return info

    def _observation(self) -> dict[str, np.ndarray]:
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._attention_mask.copy()}

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task = self._sample_task(self.np_random, options)
        prompt_ids = self.encode_prompt(task)
        self._task = task
        self._input_ids.fill(self.pad_token_id)
        self._attention_mask.fill(0)
        self._input_ids[: len(prompt_ids)] = prompt_ids
        self._attention_mask[: len(prompt_ids)] = 1
        self._prompt_len = self._length = len(prompt_ids)
        self._potential = 0.0
        self._state = self._begin_episode(task, self.np_random)
        self._episode_over = False
        return self._observation(), {"prompt": task.prompt, "task_index": task.index}

    def step(self, action: Any):
        if self._episode_over:
            raise RuntimeError("step() called after the episode ended (or before reset()); call reset() first")
        token = self.validate_action(action)
        length = self._length
        self._input_ids[length] = token
        self._attention_mask[length] = 1
        self._length = length = length + 1
        n_new = length - self._prompt_len
        turn = self._after_token(self._state, token, n_new, self.np_random)
        if turn is None:
            terminated = token in self.stop_token_ids
            truncated = not terminated and n_new >= self.max_new_tokens
        else:
            length = self._length = self._append(turn.tokens, length)
            n_new = length - self._prompt_len
            terminated, truncated = bool(turn.terminated), bool(turn.truncated) and not turn.terminated
        done = terminated or truncated

        reward, info = 0.0, {}
        if done or self.reward_mode == "dense":
            completion = self.decode_completion(self._input_ids[self._prompt_len : length])
            totals, terms = self._score([self._task], [completion], [self._state])
            score = float(totals[0])
            # Dense: pay the potential difference so the per-step rewards sum to the sparse
            # score and the optimal policy is unchanged (Ng, Harada & Russell, 1999).
            reward = score - self._potential if self.reward_mode == "dense" else score
            self._potential = score
            if done:
                terms = {k: float(v[0]) for k, v in terms.items()}
                info = self.end_info(self._task, completion, terms, n_new, self._state)
        self._episode_over = done
        if self.render_mode == "human":
            self.render()
        return {"input_ids": self._input_ids.copy(), "attention_mask": self._attention_mask.copy()}, reward, terminated, truncated, info

    def _append(self, tokens: Sequence[int], length: int) -> int:
        """Write the other speaker's ``tokens`` after position ``length``; the new length."""
        if not tokens:
            return length
        if length + len(tokens) > self.max_length:
            raise RuntimeError(
                f"{type(self).__name__}._after_token appended {len(tokens)} tokens at length {length}, "
                f"past the observation length {self.max_length}; keep turns within max_new_tokens"
            )
        self._input_ids[length : length + len(tokens)] = tokens
        self._attention_mask[length : length + len(tokens)] = 1
        return length + len(tokens)

    def render(self):
        if self._task is None:
            text = ""
        else:
            text = self._task.prompt + self.decode_completion(self._input_ids[self._prompt_len : self._length])
        if self.render_mode == "human":
            print(text)
            return None
        return text

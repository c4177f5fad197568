"""Native batched vector env for the token envs.

`TokenVectorEnv` steps N episodes of one token env family with numpy arrays and scores every
row that finishes on a step with one batched reward call (a MiniLM or LM-based reward costs
about the same for 1 or 64 texts). It reuses the family's own hooks (`_sample_task`,
`_score`, `encode_prompt`, `end_info`) through one template env, so it gives exactly the
trajectories, rewards and infos of ``gymnasium.vector.SyncVectorEnv`` over the same seeds
(tested), only faster.

Autoreset is ``SAME_STEP``: on the step that ends a row, the returned observation is already
the next episode's prompt, and the finished episode is in ``info["final_obs"]`` and
``info["final_info"]``. A rollout engine can therefore prefill the new prompt right away.

A multi-turn family keeps one `_begin_episode` state per row and answers after each agent
token (`_after_token`, given the row's generator); only such families pay for the per-row
Python loop, the others keep the vectorized step.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lm_envs.core import Task, TokenEnv

__all__ = ["TokenVectorEnv", "row_seeds"]


def row_seeds(seed: int | list[int | None] | None, num_envs: int) -> list[int | None]:
    """The reset seed of each row of a native vector env, as ``SyncVectorEnv`` deals them:
    ``seed + i`` for row ``i`` from an int, one per row from a list, ``None`` for no seed."""
    if seed is None:
        return [None] * num_envs
    if isinstance(seed, (int, np.integer)):
        return [int(seed) + row for row in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"reset got {len(seeds)} seeds for {num_envs} envs")
    return seeds


class TokenVectorEnv(VectorEnv):
    """N token-env episodes stepped together; subclasses set `env_class`.

    ``reset(options={"task_index": ...})`` takes one index for every row (as SyncVectorEnv
    passes the same options to every sub-env) or an array of N indices, one per row, which
    is how leave-one-out baselines put the same prompt on k rows.
    """

    env_class: ClassVar[type[TokenEnv]]
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, **env_kwargs: Any) -> None:
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        env_kwargs.pop("max_episode_steps", None)  # the token budget is max_new_tokens
        if env_kwargs.get("render_mode") is not None:
            raise ValueError("the native vector env does not render; use vectorization_mode='sync' to render sub-envs")
        self.env = self.env_class(**env_kwargs)
        self.num_envs = int(num_envs)
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.spec = None

        length = self.env.max_length
        self.input_ids = np.full((self.num_envs, length), self.env.pad_token_id, dtype=np.int64)
        self.attention_mask = np.zeros((self.num_envs, length), dtype=np.int8)
        self.lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.prompt_lengths = np.zeros(self.num_envs, dtype=np.int64)
        self.potentials = np.zeros(self.num_envs, dtype=np.float64)
        self.tasks: list[Task | None] = [None] * self.num_envs
        self.states: list[Any] = [None] * self.num_envs
        self.row_rngs: list[np.random.Generator | None] = [None] * self.num_envs
        self._stop_ids = np.array(sorted(self.env.stop_token_ids), dtype=np.int64)
        self._turn_hook = type(self.env)._after_token is not TokenEnv._after_token
        self._has_reset = False

    # ------------------------------------------------------------------ per-row mechanics
    def _start_episode(self, row: int, options: dict[str, Any] | None) -> dict[str, Any]:
        task = self.env._sample_task(self.row_rngs[row], options)
        prompt_ids = self.env.encode_prompt(task)
        self.tasks[row] = task
        self.input_ids[row].fill(self.env.pad_token_id)
        self.attention_mask[row].fill(0)
        self.input_ids[row, : len(prompt_ids)] = prompt_ids
        self.attention_mask[row, : len(prompt_ids)] = 1
        self.lengths[row] = self.prompt_lengths[row] = len(prompt_ids)
        self.potentials[row] = 0.0
        self.states[row] = self.env._begin_episode(task, self.row_rngs[row])
        return {"prompt": task.prompt, "task_index": task.index}

    def _take_turn(self, row: int, token: int, terminated: np.ndarray, truncated: np.ndarray) -> None:
        """Run the family's `_after_token` on one row: append the reply, set the row's end flags."""
        n_new = int(self.lengths[row] - self.prompt_lengths[row])
        turn = self.env._after_token(self.states[row], token, n_new, self.row_rngs[row])
        if turn is None:
            return
        length = int(self.lengths[row])
        if turn.tokens:
            if length + len(turn.tokens) > self.env.max_length:
                raise RuntimeError(
                    f"{type(self.env).__name__}._after_token appended {len(turn.tokens)} tokens at length {length}, "
                    f"past the observation length {self.env.max_length}; keep turns within max_new_tokens"
                )
            self.input_ids[row, length : length + len(turn.tokens)] = turn.tokens
            self.attention_mask[row, length : length + len(turn.tokens)] = 1
            self.lengths[row] = length + len(turn.tokens)
        terminated[row] = bool(turn.terminated)
        truncated[row] = bool(turn.truncated) and not turn.terminated

    def _row_obs(self, row: int) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids[row].copy(), "attention_mask": self.attention_mask[row].copy()}

    def _observations(self) -> dict[str, np.ndarray]:
        return {"input_ids": self.input_ids.copy(), "attention_mask": self.attention_mask.copy()}

    def completion_text(self, row: int) -> str:
        return self.env.decode_completion(self.input_ids[row, self.prompt_lengths[row] : self.lengths[row]])

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = row_seeds(seed, self.num_envs)
        per_row_index = None
        if options and "task_index" in options and np.ndim(options["task_index"]) == 1:
            per_row_index = np.asarray(options["task_index"])
            if per_row_index.shape != (self.num_envs,):
                raise ValueError(f"options['task_index'] must be one index or {self.num_envs} indices, got shape {per_row_index.shape}")
        infos: dict[str, Any] = {}
        for row, row_seed in enumerate(seeds):
            # Same rule as gymnasium.Env.reset: a seed reseeds, no seed keeps the stream going.
            if row_seed is not None or self.row_rngs[row] is None:
                self.row_rngs[row], _ = seeding.np_random(row_seed)
            row_options = options
            if per_row_index is not None:
                row_options = {**options, "task_index": int(per_row_index[row])}
            infos = self._add_info(infos, self._start_episode(row, row_options), row)
        self._has_reset = True
        return self._observations(), infos

    def step(self, actions: Any):
        if not self._has_reset:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integer token ids, got dtype {actions.dtype}")
        bad = (actions < 0) | (actions >= self.env.vocab_size)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise ValueError(f"invalid action {int(actions[row])} in row {row}: token ids must lie in [0, {self.env.vocab_size})")

        rows = np.arange(self.num_envs)
        self.input_ids[rows, self.lengths] = actions
        self.attention_mask[rows, self.lengths] = 1
        self.lengths += 1
        terminated = np.isin(actions, self._stop_ids)
        truncated = ~terminated & (self.lengths - self.prompt_lengths >= self.env.max_new_tokens)
        if self._turn_hook:
            for row in rows:
                self._take_turn(int(row), int(actions[row]), terminated, truncated)
        done = terminated | truncated

        # One batched reward call for every row whose score is needed on this step.
        dense = self.env.reward_mode == "dense"
        scored = rows if dense else np.flatnonzero(done)
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        completions: dict[int, str] = {}
        terms_by_row: dict[int, dict[str, float]] = {}
        if len(scored):
            texts = [self.completion_text(int(row)) for row in scored]
            totals, terms = self.env._score(
                [self.tasks[int(row)] for row in scored], texts, [self.states[int(row)] for row in scored]
            )
            for position, row in enumerate(scored):
                row = int(row)
                score = float(totals[position])
                rewards[row] = score - self.potentials[row] if dense else score
                self.potentials[row] = score
                completions[row] = texts[position]
                terms_by_row[row] = {name: float(values[position]) for name, values in terms.items()}

        infos: dict[str, Any] = {}
        for row in np.flatnonzero(done):
            row = int(row)
            n_new = int(self.lengths[row] - self.prompt_lengths[row])
            end_info = self.env.end_info(self.tasks[row], completions[row], terms_by_row[row], n_new, self.states[row])
            infos = self._add_info(infos, {"final_obs": self._row_obs(row), "final_info": end_info}, row)
            infos = self._add_info(infos, self._start_episode(row, None), row)
        return self._observations(), rewards, terminated, truncated, infos

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()

    @classmethod
    def for_env(cls, env_class: type[TokenEnv]) -> type["TokenVectorEnv"]:
        """The vector env class of a token env family (used as its ``vector_entry_point``)."""
        return type(f"{env_class.__name__}Vector", (cls,), {"env_class": env_class, "__module__": env_class.__module__})

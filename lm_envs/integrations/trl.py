"""What TRL needs from a token env that does not involve a model: the prompt dataset, the
train / eval split, and the reward functions that read the env's reward.

```python
from lm_envs import to_dataset
from lm_envs.integrations.trl import env_reward
train = to_dataset("lm_envs/CustomerServiceQA-v0", 256, seed=0)               # datasets.Dataset
test = to_dataset("lm_envs/CustomerServiceQA-v0", 64, seed=0, split="eval")   # no prompt in common
```

The ``rollout_func`` that plays the episodes with the trainer's model lives in
`agents.integrations.trl` (it runs the agents' rollout engine; ``lm_envs`` never imports
``agents``). It returns, for each completion, the fields named here (`ENV_RETURN`,
`ENV_REWARD_TERMS`, ...); `env_reward` and `env_reward_term` read them back as TRL
``reward_funcs``.

**The split.** A task belongs to ``"eval"`` when a hash of its prompt text falls in the first
`EVAL_FRACTION` of the hash range, else to ``"train"``. Tasks that share a prompt (the
dialog's openings that do not name the order) thus always share a split, a given prompt never
changes split between runs or task-list orders, and the two splits have no prompt in common.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import gymnasium as gym

from lm_envs.core import Task, TokenEnv

__all__ = [
    "ENV_RETURN",
    "ENV_REWARD_TERMS",
    "ENV_SUCCESS",
    "ENV_TASK_INDEX",
    "EVAL_FRACTION",
    "SPLITS",
    "dataset_rows",
    "env_reward",
    "env_reward_term",
    "env_tasks",
    "split_of",
    "tasks_by_prompt",
    "to_dataset",
]

EVAL_FRACTION = 0.2
"""Share of the prompt-hash range that makes up the eval split."""

SPLITS = ("train", "eval")

ENV_RETURN = "env_return"
"""Extra field of the rollout: the episode's return (the env's reward, summed over its steps)."""
ENV_REWARD_TERMS = "env_reward_terms"
"""Extra field of the rollout: ``{term: raw value}``, the env's ``info["reward_terms"]``."""
ENV_SUCCESS = "env_success"
"""Extra field of the rollout: 1.0 / 0.0 where the env reports success (the dialog), else ``None``."""
ENV_TASK_INDEX = "task_index"
"""Extra field of the rollout: the index of the task played (also a `to_dataset` column)."""


def split_of(prompt: str) -> str:
    """``"eval"`` or ``"train"``: the split of a task with this prompt text (see the module doc)."""
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") < EVAL_FRACTION * 2**64 else "train"


def env_tasks(env: gym.Env) -> Sequence[Task]:
    """The task list of a token env (``env.unwrapped.tasks``), or a TypeError saying why there is none."""
    base = env.unwrapped
    if not isinstance(base, TokenEnv):
        raise TypeError(f"TRL integration needs a token env (lm_envs.core.TokenEnv); got {type(base).__name__}")
    tasks = getattr(base, "tasks", None)
    if not isinstance(tasks, Sequence) or not tasks:
        raise TypeError(f"{type(base).__name__} has no task list (env.tasks); to_dataset and the rollout need one")
    return tasks


def tasks_by_prompt(tasks: Sequence[Task]) -> dict[str, list[int]]:
    """Prompt text -> indices of the tasks with that prompt (several on the dialog)."""
    found: dict[str, list[int]] = {}
    for position, task in enumerate(tasks):
        found.setdefault(task.prompt, []).append(position)  # options={"task_index": position} picks it
    return found


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def dataset_rows(env_id: str, n: int, *, seed: int, split: str = "train", **env_kwargs: Any) -> list[dict[str, Any]]:
    """The rows of `to_dataset`, as a list of dicts (no ``datasets`` needed)."""
    _check_split(split)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    env = gym.make(env_id, **env_kwargs)
    try:
        tasks = env_tasks(env)
        in_split = {index for prompt, indices in tasks_by_prompt(tasks).items() if split_of(prompt) == split
                    for index in indices}
        if not in_split:
            raise ValueError(f"{env_id} has no task in the {split!r} split ({len(tasks)} tasks in all)")
        rows: list[dict[str, Any]] = []
        # The env draws the tasks (its own mix of goals, targets and intents), one reset per
        # seed; draws that fall in the other split are skipped.
        episode = int(seed)
        limit = int(seed) + 200 * n + 10_000
        while len(rows) < n:
            if episode >= limit:
                raise RuntimeError(f"{env_id}: found only {len(rows)} of {n} {split!r} tasks in {limit - seed} resets")
            _, info = env.reset(seed=episode)
            episode += 1
            index = int(info["task_index"])
            if index in in_split:
                task = tasks[index]
                rows.append({"prompt": task.prompt, ENV_TASK_INDEX: index, **task.fields})
        return rows
    finally:
        env.close()


def to_dataset(env_id: str, n: int, *, seed: int, split: str = "train", **env_kwargs: Any) -> Any:
    """A ``datasets.Dataset`` of ``n`` tasks of a token env, as TRL's trainers read them.

    Columns: ``prompt`` (the task's prompt text, TRL's prompt column), ``task_index``, and the
    task fields the env's rewards read (``keywords``, ``sentiment_target``, ``facts``, ...),
    which TRL passes to reward functions as keyword arguments.

    Rows are drawn as the env draws tasks: reset ``k`` uses seed ``seed + k``, keeping the
    tasks of ``split``; the same arguments give the same rows. ``"train"`` and ``"eval"``
    share no prompt (see the module doc). Pass the same ``env_kwargs`` (``data=``, ``world_seed=``,
    ...) as to the env or the rollout function.

    Raises:
        ImportError: ``datasets`` is missing (``pip install 'lm-envs[trl]'``).
        ValueError: a bad ``split`` or ``n``, or no task of the env falls in ``split``.
    """
    rows = dataset_rows(env_id, n, seed=seed, split=split, **env_kwargs)
    try:
        from datasets import Dataset
    except ImportError as err:
        raise ImportError("to_dataset needs the datasets package: pip install 'lm-envs[trl]'") from err
    # task fields may mix value types (a QA fact's value is a string, a number of months or
    # an amount): such columns are stored as JSON, which gives back exactly the env's values
    return Dataset.from_list(rows, on_mixed_types="use_json")


def env_reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
    """A ``reward_funcs`` entry of TRL's ``GRPOTrainer``: the env's own reward of each episode.

    Reads the ``env_return`` field that the rollout function of
    `agents.integrations.trl.make_rollout_func` returns (TRL passes extra rollout fields to
    reward functions as keyword arguments).
    """
    returns = kwargs.get(ENV_RETURN)
    if returns is None:
        raise ValueError(
            f"env_reward reads the {ENV_RETURN!r} field of the env rollout; pass "
            "rollout_func=agents.integrations.trl.make_rollout_func(env_id) to GRPOTrainer"
        )
    return [float(value) for value in returns]


def env_reward_term(name: str) -> Any:
    """A ``reward_funcs`` entry that reads one raw reward term (``info["reward_terms"][name]``)
    of each episode; TRL logs it as ``rewards/env_<name>``. Weight it with ``reward_weights``."""

    def reward(prompts: list[Any], completions: list[Any], **kwargs: Any) -> list[float]:
        terms = kwargs.get(ENV_REWARD_TERMS)
        if terms is None:
            raise ValueError(f"env_reward_term reads the {ENV_REWARD_TERMS!r} field of the env rollout (make_rollout_func)")
        missing = [i for i, t in enumerate(terms) if name not in t]
        if missing:
            raise ValueError(f"reward term {name!r} is not among the env's terms {sorted(terms[missing[0]])}")
        return [float(t[name]) for t in terms]

    reward.__name__ = reward.__qualname__ = f"env_{name}"
    return reward

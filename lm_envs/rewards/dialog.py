"""Dialog rewards: ``outcome`` (task success or failure) and ``turns`` (a per-turn cost).

Together with ``wrong_facts`` they make the ConvLab-style dialog reward
(Zhu et al., 2020, "ConvLab-2"): a bonus for success, a penalty for failure and a small cost
per turn, so that shorter successful dialogs score higher::

    {"outcome": 1.0, "turns": -0.05, "wrong_facts": -0.25}

Both read fields that a dialog env writes per episode (``outcome``, ``turns``); any other
source of these per-sample fields works as well (a logged dialog dataset, TRL columns).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lm_envs.rewards.base import RewardFunction, check_texts, task_field
from lm_envs.rewards.registry import register_reward

__all__ = ["OUTCOMES", "outcome", "turns"]

OUTCOMES = ("success", "failure", "truncated", "ongoing")
"""Values of the ``outcome`` task field."""


def _check_real(reward: str, kwarg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{reward} reward: kwarg {kwarg!r} must be a finite number, got {value!r}")
    return float(value)


@register_reward("outcome")
def outcome(*, success: float = 1.0, failure: float = -1.0, truncated: float = 0.0) -> RewardFunction:
    """``success`` when the dialog's goal was met, ``failure`` when it failed, else 0.

    Kwargs:
        success: value of a successful dialog.
        failure: value of a failed one (the customer left, or a wrong resolution).
        truncated: value of a dialog cut by the token budget.

    Task fields:
        outcome: per sample, one of "success", "failure", "truncated", "ongoing" (or None,
            which counts as "ongoing": 0.0).

    Returns:
        One of the three values, or 0.0.
    """
    values = {
        "success": _check_real("outcome", "success", success),
        "failure": _check_real("outcome", "failure", failure),
        "truncated": _check_real("outcome", "truncated", truncated),
    }

    def outcome_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        column = task_field(task_fields, "outcome", len(completions)) or [None] * len(completions)
        scores = []
        for i, result in enumerate(column):
            if result is not None and result not in OUTCOMES:
                raise ValueError(f"task field 'outcome'[{i}] must be one of {', '.join(OUTCOMES)} or None, got {result!r}")
            scores.append(values.get(result, 0.0))
        return scores

    return outcome_reward


@register_reward("turns")
def turns() -> RewardFunction:
    """The number of agent turns so far: a cost, so give it a small negative weight.

    Task fields:
        turns: per sample, a non-negative int (or None: 0).

    Returns:
        In [0, inf): the turn count as a float.
    """

    def turns_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        column = task_field(task_fields, "turns", len(completions)) or [None] * len(completions)
        scores = []
        for i, count in enumerate(column):
            if count is None:
                count = 0
            if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
                raise ValueError(f"task field 'turns'[{i}] must be an int >= 0, got {count!r}")
            scores.append(float(count))
        return scores

    return turns_reward

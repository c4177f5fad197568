"""Surface-form rewards: ``keywords``, ``length``, ``repetition``. Pure Python, cheap per step.

"Words" here are whitespace-separated chunks (``str.split()``), so punctuation stays attached
("great!" is one word) and a script without spaces counts as one word per chunk.
"""

from __future__ import annotations

import functools
import numbers
import re
from collections.abc import Sequence
from typing import Any

from lm_envs.rewards.base import RewardFunction, as_text_list, check_texts, text_lists
from lm_envs.rewards.registry import register_reward

__all__ = ["keywords", "length", "repetition"]


# --- keywords --------------------------------------------------------------------------


@register_reward("keywords")
def keywords(*, keywords: Sequence[str] | str | None = None) -> RewardFunction:
    """Fraction of required keywords or phrases that the completion contains.

    Matching is case-insensitive (``str.casefold``) and on word boundaries: "cat" does not
    match "category", and "c++" matches literally (keywords are ``re.escape``d). The words of
    a phrase may be separated by any whitespace. Duplicate and blank keywords are dropped.

    Kwargs:
        keywords: keywords used for every sample that has no ``keywords`` field entry.

    Task fields:
        keywords: per sample, a list of str (or one str); overrides the kwarg for that sample.

    Returns:
        In [0, 1]. A sample with no keywords scores 0.0 (nothing was asked, nothing is rewarded).
    """
    default = as_text_list(keywords, "keywords reward: kwarg 'keywords'")

    def keywords_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        column = text_lists(task_fields, "keywords", len(completions))
        scores = []
        for i, completion in enumerate(completions):
            wanted = column[i] if column is not None and column[i] is not None else default
            patterns = _keyword_patterns(tuple(wanted or ()))
            text = completion.casefold()
            scores.append(sum(p.search(text) is not None for p in patterns) / len(patterns) if patterns else 0.0)
        return scores

    return keywords_reward


@functools.lru_cache(maxsize=4096)
def _keyword_patterns(words: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    # Lookarounds rather than \b: \b after "c++" would demand a word character next.
    phrases = {tuple(word.casefold().split()) for word in words} - {()}
    return tuple(
        re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, phrase)) + r"(?!\w)") for phrase in sorted(phrases)
    )


# --- length ----------------------------------------------------------------------------


@register_reward("length")
def length(*, min_words: int = 5, max_words: int = 30, falloff: int | None = None) -> RewardFunction:
    """1.0 when the completion's word count is inside ``[min_words, max_words]``, linear outside.

    With ``n`` words: ``n / min_words`` below the band (0 words -> 0.0), and
    ``max(0, 1 - (n - max_words) / falloff)`` above it.

    Kwargs:
        min_words: lower end of the band (>= 0).
        max_words: upper end of the band (>= max(min_words, 1)).
        falloff: words above ``max_words`` at which the score reaches 0; default ``max_words``.

    Task fields: none.

    Returns:
        In [0, 1].
    """
    min_words = _check_int("length", "min_words", min_words, low=0)
    max_words = _check_int("length", "max_words", max_words, low=max(min_words, 1))
    falloff = max_words if falloff is None else _check_int("length", "falloff", falloff, low=1)

    def length_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        scores = []
        for completion in completions:
            n = len(completion.split())
            if n < min_words:
                scores.append(n / min_words)
            elif n <= max_words:
                scores.append(1.0)
            else:
                scores.append(max(0.0, 1.0 - (n - max_words) / falloff))
        return scores

    return length_reward


# --- repetition ------------------------------------------------------------------------


@register_reward("repetition")
def repetition(*, n: int = 2) -> RewardFunction:
    """How repetitive the completion is: ``1 - distinct-n``, the fraction of repeated word n-grams.

    A penalty measure (higher = more repetitive): give it a negative weight,
    e.g. ``{"repetition": -0.5}``. distinct-n follows Li et al., 2016 ("A Diversity-Promoting
    Objective Function for Neural Conversation Models"), here per completion. Words are
    casefolded, so "The the" repeats a unigram.

    Kwargs:
        n: n-gram order (>= 1).

    Task fields: none.

    Returns:
        In [0, 1). A completion with fewer than ``n`` words (no n-gram) scores 0.0.
    """
    n = _check_int("repetition", "n", n, low=1)

    def repetition_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        scores = []
        for completion in completions:
            words = completion.casefold().split()
            grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
            scores.append(1.0 - len(set(grams)) / len(grams) if grams else 0.0)
        return scores

    return repetition_reward


def _check_int(reward: str, kwarg: str, value: Any, *, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{reward} reward: kwarg {kwarg!r} must be an int >= {low}, got {value!r}")
    return int(value)

"""``sentiment``: VADER's compound polarity, signed towards a target."""

from __future__ import annotations

from typing import Any

from lm_envs.rewards.base import RewardFunction, check_texts, task_field
from lm_envs.rewards.registry import register_reward

__all__ = ["sentiment"]

_SIGNS = {"positive": 1.0, "negative": -1.0}


@register_reward("sentiment")
def sentiment(*, target: str = "positive") -> RewardFunction:
    """VADER compound score (Hutto & Gilbert, 2014) of the completion, signed by the target.

    ``compound`` for a positive target, ``-compound`` for a negative one. VADER is a lexicon
    and rule model for English; text it has no words for (other scripts, emoji it does not
    list, empty text) scores 0.

    Kwargs:
        target: ``"positive"`` or ``"negative"``.

    Task fields:
        sentiment_target: per sample, ``"positive"``, ``"negative"`` or ``None`` (use ``target``).

    Returns:
        In [-1, 1].
    """
    default = _sign(target, "sentiment reward: kwarg 'target'")
    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as err:  # a core dependency, but say how to get it back
        raise ImportError("the sentiment reward needs vaderSentiment: pip install 'vaderSentiment>=3.3'") from err
    analyzer = SentimentIntensityAnalyzer()  # loads the lexicon once, not per call

    def sentiment_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        targets = task_field(task_fields, "sentiment_target", len(completions))
        scores = []
        for i, completion in enumerate(completions):
            sign = default
            if targets is not None and targets[i] is not None:
                sign = _sign(targets[i], f"task field 'sentiment_target'[{i}]")
            compound = float(analyzer.polarity_scores(completion)["compound"])
            scores.append(sign * min(1.0, max(-1.0, compound)))
        return scores

    return sentiment_reward


def _sign(target: Any, what: str) -> float:
    key = target.strip().lower() if isinstance(target, str) else None
    if key not in _SIGNS:
        raise ValueError(f"{what} must be 'positive' or 'negative', got {target!r}")
    return _SIGNS[key]

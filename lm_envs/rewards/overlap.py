"""Reference-overlap rewards: ``bleu`` (sacrebleu) and ``rouge`` (rouge-score).

Both read the ``references`` task field: per sample, a list of reference strings (or one str,
or ``None``). A sample without references scores 0.0.
"""

from __future__ import annotations

from typing import Any

from lm_envs.rewards.base import RewardFunction, check_texts, text_lists
from lm_envs.rewards.registry import register_reward

__all__ = ["bleu", "rouge"]

# sacrebleu tokenizers that need no extra package (ja-mecab, ko-mecab and spm do).
_BLEU_TOKENIZERS = ("13a", "intl", "char", "none", "zh")
_ROUGE_TYPES = tuple(f"rouge{n}" for n in range(1, 10)) + ("rougeL", "rougeLsum")


@register_reward("bleu")
def bleu(*, tokenize: str = "13a", lowercase: bool = False) -> RewardFunction:
    """Sentence BLEU (Papineni et al., 2002) against all references, divided by 100.

    sacrebleu's ``sentence_bleu`` defaults: exponential smoothing and effective order, so a
    completion shorter than 4 words can still score (Post, 2018, "A Call for Clarity in
    Reporting BLEU Scores").

    Kwargs:
        tokenize: a sacrebleu tokenizer, one of 13a, intl, char, none, zh.
        lowercase: compare lowercased text.

    Task fields:
        references: per sample, a list of str (or one str).

    Returns:
        In [0, 1]; identical text scores 1.0 (for a completion of at least one word).
    """
    if tokenize not in _BLEU_TOKENIZERS:
        raise ValueError(
            f"bleu reward: kwarg 'tokenize' must be one of {', '.join(_BLEU_TOKENIZERS)}, got {tokenize!r}"
        )
    if not isinstance(lowercase, bool):
        raise ValueError(f"bleu reward: kwarg 'lowercase' must be a bool, got {lowercase!r}")
    from sacrebleu.metrics import BLEU

    metric = BLEU(tokenize=tokenize, lowercase=lowercase, effective_order=True)

    def bleu_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        references = text_lists(task_fields, "references", len(completions))
        scores = []
        for i, completion in enumerate(completions):
            refs = references[i] if references is not None else None
            if not refs:
                scores.append(0.0)
                continue
            # sacrebleu sums to 100.00000000000004 for identical text; keep the range exact.
            scores.append(min(1.0, max(0.0, metric.sentence_score(completion, refs).score / 100.0)))
        return scores

    return bleu_reward


@register_reward("rouge")
def rouge(*, rouge_type: str = "rougeL", use_stemmer: bool = False) -> RewardFunction:
    """ROUGE F-measure (Lin, 2004), the best over the references.

    rouge-score's tokenizer keeps only ASCII letters and digits (lowercased), so text in other
    scripts scores 0.

    Kwargs:
        rouge_type: rouge1 ... rouge9, rougeL or rougeLsum (sentences split on newlines).
        use_stemmer: Porter-stem words before matching.

    Task fields:
        references: per sample, a list of str (or one str).

    Returns:
        In [0, 1]; identical (ASCII-alphanumeric) text scores 1.0.
    """
    if rouge_type not in _ROUGE_TYPES:
        raise ValueError(
            f"rouge reward: kwarg 'rouge_type' must be one of {', '.join(_ROUGE_TYPES)}, got {rouge_type!r}"
        )
    if not isinstance(use_stemmer, bool):
        raise ValueError(f"rouge reward: kwarg 'use_stemmer' must be a bool, got {use_stemmer!r}")
    try:
        from rouge_score import rouge_scorer
    except ImportError as err:  # a core dependency, but say how to get it back
        raise ImportError("the rouge reward needs rouge-score: pip install 'rouge-score>=0.1.2'") from err
    scorer = rouge_scorer.RougeScorer([rouge_type], use_stemmer=use_stemmer)

    def rouge_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        references = text_lists(task_fields, "references", len(completions))
        scores = []
        for i, completion in enumerate(completions):
            refs = references[i] if references is not None else None
            best = max((scorer.score(ref, completion)[rouge_type].fmeasure for ref in refs or ()), default=0.0)
            scores.append(min(1.0, max(0.0, float(best))))
        return scores

    return rouge_reward

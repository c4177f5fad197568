"""Rewards that run a neural model: ``fluency`` (a causal LM), ``fluent_sentiment`` (sentiment
counted only for fluent text) and ``similarity`` (MiniLM).

Models load lazily, on the first call, and stay loaded: making the reward is free, and the
per-step cost in dense mode is one batched forward pass. torch and sentence-transformers are
imported only here, when the reward is first called.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np

from lm_envs.rewards.base import RewardFunction, check_texts, text_lists
from lm_envs.rewards.registry import register_reward

__all__ = ["fluency", "fluent_sentiment", "similarity"]


# --- fluency ---------------------------------------------------------------------------


@register_reward("fluency")
def fluency(
    *,
    model: Any = "tiny-shop",
    tokenizer: Any = None,
    device: str = "cpu",
    batch_size: int = 16,
    floor: float = -20.0,
) -> RewardFunction:
    """Mean log-probability per token (nats) of the completion given the prompt, under a reference LM.

    The prompt and the completion are tokenized separately (no special tokens added) and
    concatenated, as a token env builds them; an empty prompt is replaced by the BOS token
    (EOS when the tokenizer has no BOS) so that the first completion token is scored too.
    Sequences longer than the model's context keep their last tokens. Runs without gradients,
    ``batch_size`` rows per forward pass, on the model's device. A model object is used as
    given: put it in eval mode yourself, or dropout makes the reward noisy.

    Kwargs:
        model: a name for ``lm_envs.models.load_policy`` (``"tiny-shop"``, ``"smollm2-135m"``,
            a local HF folder) or a causal LM object.
        tokenizer: a name for ``lm_envs.models.load_tokenizer`` or a tokenizer object;
            default: the tokenizer of ``model`` (required when ``model`` is an object).
        device: where a model loaded by name runs (a model object stays where it is).
        batch_size: rows per forward pass (>= 1).
        floor: lowest score (finite); a very unlikely completion scores ``floor``.

    Task fields: none.

    Returns:
        In [floor, 0]. An empty completion (no tokens) scores 0.0.
    """
    if not isinstance(model, str) and tokenizer is None:
        raise ValueError("fluency reward: kwarg 'tokenizer' is required when 'model' is a model object")
    if not isinstance(device, str):
        raise ValueError(f"fluency reward: kwarg 'device' must be a str such as 'cpu' or 'cuda', got {device!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"fluency reward: kwarg 'batch_size' must be an int >= 1, got {batch_size!r}")
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not math.isfinite(floor) or floor > 0:
        raise ValueError(f"fluency reward: kwarg 'floor' must be a finite number <= 0, got {floor!r}")
    loaded: list[tuple[Any, Any]] = []

    def fluency_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        if not completions:
            return []
        if not loaded:
            lm = _load_lm(model, device) if isinstance(model, str) else model
            loaded.append((lm, _load_tok(model if tokenizer is None else tokenizer)))
        lm, tok = loaded[0]
        return _mean_logprobs(lm, tok, prompts, completions, batch_size=int(batch_size), floor=float(floor))

    return fluency_reward


@functools.lru_cache(maxsize=None)
def _load_lm(name: str, device: str) -> Any:
    # One copy per (name, device), shared by every fluency reward in the process; only read.
    from lm_envs.models import load_policy

    return load_policy(name, device=device)


def _load_tok(tokenizer: Any) -> Any:
    if not isinstance(tokenizer, str):
        return tokenizer
    from lm_envs.models import load_tokenizer

    return load_tokenizer(tokenizer)


def _mean_logprobs(
    lm: Any, tok: Any, prompts: list[str], completions: list[str], *, batch_size: int, floor: float
) -> list[float]:
    """Mean log p(completion token | everything before it), per sample; see :func:`fluency`."""
    try:
        import torch
    except ImportError as err:
        raise ImportError("the fluency reward needs torch: see https://pytorch.org/get-started/locally/") from err

    start = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    context_ids = tok(prompts, add_special_tokens=False)["input_ids"]
    completion_ids = tok(completions, add_special_tokens=False)["input_ids"]
    from lm_envs.models.loading import max_positions

    max_len = max_positions(lm)

    # Each row: token ids and the index of the first scored (completion) token.
    rows: list[tuple[list[int], int]] = []
    for ctx, comp in zip(context_ids, completion_ids):
        ctx = list(ctx) if ctx or start is None else [start]
        seq = ctx + list(comp)
        first = len(ctx)
        if max_len and len(seq) > max_len:
            first = max(first - (len(seq) - max_len), 0)
            seq = seq[len(seq) - max_len :]
        rows.append((seq, max(first, 1)))  # token 0 has nothing before it to predict it

    scores = [0.0] * len(rows)
    todo = [i for i, (seq, first) in enumerate(rows) if first < len(seq)]
    todo.sort(key=lambda i: len(rows[i][0]))  # similar lengths share a batch: less padding
    device = next(lm.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    with torch.inference_mode():
        for lo in range(0, len(todo), batch_size):
            chunk = todo[lo : lo + batch_size]
            width = max(len(rows[i][0]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            scored = torch.zeros((len(chunk), width - 1), dtype=torch.bool)  # targets 1..width-1
            for r, i in enumerate(chunk):
                seq, first = rows[i]
                ids[r, : len(seq)] = torch.tensor(seq, dtype=torch.long)
                mask[r, : len(seq)] = 1  # right padding: real tokens keep positions 0..n-1
                scored[r, first - 1 : len(seq) - 1] = True
            ids, mask, scored = ids.to(device), mask.to(device), scored.to(device)
            logits = lm(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            logp = torch.nan_to_num(logp, nan=floor, neginf=floor).clamp(min=floor)
            mean = (logp * scored).sum(1) / scored.sum(1)
            for r, i in enumerate(chunk):
                scores[i] = min(0.0, max(floor, float(mean[r])))
    return scores


# --- fluent_sentiment ------------------------------------------------------------------


@register_reward("fluent_sentiment")
def fluent_sentiment(
    *,
    target: str = "positive",
    model: Any = "tiny-shop",
    tokenizer: Any = None,
    device: str = "cpu",
    batch_size: int = 16,
    low: float = -8.0,
    high: float = -4.0,
) -> RewardFunction:
    """Sentiment towards the target, counted only for fluent text: ``gate * (1 + s) / 2``.

    ``s`` is the ``sentiment`` reward (VADER's compound score signed by the target, in
    [-1, 1]) and ``gate = clip((f - low) / (high - low), 0, 1)``, where ``f`` is the
    ``fluency`` reward (mean log-probability per token under the reference LM). A text on
    target scores up to 1, one against it 0, a neutral one 0.5; text the reference LM finds
    unlikely is gated towards 0, so token soup, which VADER may still find words in, cannot
    earn sentiment. "Fluent" means likely under the reference LM: with tiny-shop, text in the
    style of its shop corpus (its own samples and the corpus reviews score -3 to -0.2 nats per
    token, uniformly random tokens -15 to -11, hence the defaults), while English it never
    saw may score -7 to -11; give a policy of another family its own model as the reference.
    An empty completion scores 0: saying nothing is not on target.

    Kwargs:
        target: ``"positive"`` or ``"negative"`` (default where a sample has no target).
        model, tokenizer, device, batch_size: the reference LM, as for ``fluency``.
        low, high: the gate is 0 at mean log-prob ``low`` and below, 1 at ``high`` and above
            (finite, ``low < high <= 0``).

    Task fields:
        sentiment_target: per sample, ``"positive"``, ``"negative"`` or ``None``.

    Returns:
        In [0, 1].
    """
    for name, value in (("low", low), ("high", high)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"fluent_sentiment reward: kwarg {name!r} must be a finite number, got {value!r}")
    if not low < high <= 0:
        raise ValueError(f"fluent_sentiment reward: kwargs must satisfy low < high <= 0, got low={low!r}, high={high!r}")
    from lm_envs.rewards.sentiment import sentiment

    signed = sentiment(target=target)
    # the gate only needs to tell -4 from -8, so the floor stays well below low
    likelihood = fluency(model=model, tokenizer=tokenizer, device=device, batch_size=batch_size, floor=min(-20.0, low))

    def fluent_sentiment_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        if not completions:
            return []
        on_target = signed(prompts, completions, **task_fields)
        mean_logp = likelihood(prompts, completions)
        scores = []
        for text, s, f in zip(completions, on_target, mean_logp):
            gate = min(1.0, max(0.0, (f - low) / (high - low))) if text.strip() else 0.0
            scores.append(gate * (1.0 + s) / 2.0)
        return scores

    return fluent_sentiment_reward


# --- similarity ------------------------------------------------------------------------


@register_reward("similarity")
def similarity(*, encoder: Any = None, batch_size: int = 64, dtype: str = "float32") -> RewardFunction:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2), best over the references.

    Completions and references are embedded together in one ``encode`` call per batch
    (repeated references once), then L2-normalised. sentence-transformers truncates text
    longer than 256 word pieces. (Reference embeddings are not cached across calls: a
    cached one differs in the last bits from one encoded in the current batch, which would
    break same-seed equality of an env's rollouts.)

    Kwargs:
        encoder: an object with a sentence-transformers ``encode``; default
            ``lm_envs.models.minilm.load_sentence_encoder()`` (loaded on the first call).
        batch_size: texts per encoder forward pass (>= 1).
        dtype: ``"float32"`` or ``"bfloat16"``: the default encoder in bfloat16 runs
            ~1.4-1.9x faster on CPUs with AMX-bf16 and moves cosines by ~0.002 at most
            (a given ``encoder`` is used as it is and needs ``"float32"``).

    Task fields:
        references: per sample, a list of str (or one str).

    Returns:
        In [-1, 1]; identical text scores ~1.0. A sample without references scores 0.0.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"similarity reward: kwarg 'batch_size' must be an int >= 1, got {batch_size!r}")
    if dtype not in ("float32", "bfloat16"):
        raise ValueError(f"similarity reward: kwarg 'dtype' must be 'float32' or 'bfloat16', got {dtype!r}")
    if encoder is not None and dtype != "float32":
        raise ValueError("similarity reward: kwarg 'dtype' applies to the default encoder; cast your encoder yourself")
    loaded: list[Any] = [] if encoder is None else [encoder]

    def similarity_reward(prompts: list[str], completions: list[str], **task_fields: Any) -> list[float]:
        prompts, completions = check_texts(prompts, completions)
        references = text_lists(task_fields, "references", len(completions))
        if references is None or not any(references):
            return [0.0] * len(completions)
        rows = [i for i, refs in enumerate(references) if refs]
        unique_refs = list(dict.fromkeys(ref for i in rows for ref in references[i]))
        ref_index = {ref: len(rows) + k for k, ref in enumerate(unique_refs)}
        if not loaded:
            loaded.append(_default_encoder(dtype))
        # One encode call for the whole batch: completions first, then the distinct references.
        texts = [completions[i] for i in rows] + unique_refs
        emb = loaded[0].encode(texts, batch_size=int(batch_size), convert_to_numpy=True, show_progress_bar=False)
        emb = np.nan_to_num(np.asarray(emb, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        scores = [0.0] * len(completions)
        for r, i in enumerate(rows):
            cosines = emb[[ref_index[ref] for ref in references[i]]] @ emb[r]
            scores[i] = float(np.clip(cosines.max(), -1.0, 1.0))
        return scores

    return similarity_reward


def _default_encoder(dtype: str) -> Any:
    from lm_envs.models.minilm import load_sentence_encoder

    return load_sentence_encoder() if dtype == "float32" else _bf16_encoder()


@functools.lru_cache(maxsize=None)
def _bf16_encoder() -> Any:
    # a copy: the fp32 encoder is shared with every other user of load_sentence_encoder
    import copy

    import torch

    from lm_envs.models.minilm import load_sentence_encoder

    return copy.deepcopy(load_sentence_encoder()).to(torch.bfloat16)

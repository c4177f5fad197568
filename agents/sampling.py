"""Logit filtering (action mask, temperature, top-k, top-p) and a fast sampler.

The sampler draws by inverse CDF: ``softmax -> cumsum -> searchsorted`` with
uniforms from a seeded ``torch.Generator``. On CPU this is ~30x faster than
``torch.multinomial`` over a 49k vocabulary (2 ms vs 65 ms per step for 16 rows),
and it is deterministic for a given generator state.

All functions take batch-first ``(N, V)`` logits.
"""

from __future__ import annotations

import torch

__all__ = ["process_logits", "sample_inverse_cdf", "sample", "log_prob_entropy", "sample_log_prob_entropy"]


def process_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    action_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Return the logits of the sampling distribution; filtered entries are ``-inf``.

    Order (as in Hugging Face ``generate``): action mask, temperature, top-k, top-p.
    The same function is used when acting and when re-scoring actions in an update,
    so the behaviour policy and the optimised policy are the same distribution.

    Args:
        logits: ``(N, V)`` raw logits.
        temperature: ``> 0``; logits are divided by it.
        top_k: keep the ``k`` largest logits per row (``None`` or 0: keep all).
        top_p: nucleus sampling (Holtzman et al., 2020): keep the smallest set of
            tokens whose probability reaches ``top_p`` (``None`` or 1: keep all).
        action_mask: ``(N, V)`` bool, ``True`` where the action is allowed.

    Returns:
        ``(N, V)`` float logits.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0; got {temperature}")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1]; got {top_p}")
    if top_k is not None and top_k < 0:
        raise ValueError(f"top_k must be >= 0; got {top_k}")
    out = logits.float()
    if action_mask is not None:
        mask = action_mask.to(device=out.device, dtype=torch.bool)
        if mask.shape != out.shape:
            raise ValueError(f"action_mask shape {tuple(mask.shape)} != logits shape {tuple(out.shape)}")
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            rows = torch.nonzero(empty).flatten().tolist()
            raise ValueError(f"action mask allows no action in rows {rows}")
        out = out.masked_fill(~mask, float("-inf"))
    if temperature != 1.0:
        out = out / temperature
    if top_k and top_k < out.shape[-1]:
        kth = torch.topk(out, top_k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # mass strictly before each token; the first token is always kept
        before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def sample_inverse_cdf(logits: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one index per row from ``softmax(logits)`` by inverse CDF.

    ``-inf`` logits have probability 0 and are never drawn: their CDF step is empty
    and ``searchsorted(right=True)`` returns the first index whose CDF exceeds ``u``.

    Args:
        logits: ``(N, V)`` logits (already processed).
        generator: source of the uniforms; seed it for reproducible draws.

    Returns:
        ``(N,)`` int64 indices.
    """
    return _inverse_cdf(torch.softmax(logits.float(), dim=-1), generator)


def _inverse_cdf(probs: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    cdf = torch.cumsum(probs, dim=-1)
    u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device, dtype=cdf.dtype)
    # scale by the total rather than assume 1: float32 cumsum over 50k entries drifts
    idx = torch.searchsorted(cdf, u * cdf[:, -1:], right=True)
    return idx.squeeze(-1).clamp_(max=probs.shape[-1] - 1)


def sample(
    logits: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    deterministic: bool = False,
) -> torch.Tensor:
    """Sample (or take the argmax when ``deterministic``) from processed logits; ``(N,)``."""
    if deterministic:
        return torch.argmax(logits, dim=-1)
    return sample_inverse_cdf(logits, generator=generator)


def log_prob_entropy(logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of ``actions`` ``(N,)`` and entropy ``(N,)`` of ``softmax(logits)``.

    ``-inf`` (filtered) logits contribute 0 to the entropy instead of ``0 * -inf = nan``.
    """
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    return _gather(logp_all, actions), _entropy(logp_all, logp_all.exp())


def sample_log_prob_entropy(
    logits: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    deterministic: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`sample` then :func:`log_prob_entropy` with one softmax: ``(actions, logp,
    entropy)``, each ``(N,)``. The draw uses the same uniforms as :func:`sample` (its CDF
    is ``exp(log_softmax)`` instead of ``softmax``, equal to float rounding); acting calls
    this once per step, where the vocabulary-wide passes are a visible share of the time."""
    logp_all = torch.log_softmax(logits.float(), dim=-1)
    probs = logp_all.exp()
    actions = torch.argmax(logits, dim=-1) if deterministic else _inverse_cdf(probs, generator)
    return actions, _gather(logp_all, actions), _entropy(logp_all, probs)


def _gather(logp_all: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    return logp_all.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1)


def _entropy(logp_all: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    # one pass that maps -inf to 0 (isinf + masked_fill is three); torch.where would still
    # back-propagate 0 * -inf = nan
    return -(probs * torch.nan_to_num(logp_all, neginf=0.0)).sum(dim=-1)

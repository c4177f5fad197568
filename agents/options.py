"""Config validation, and :class:`LMOptions`: the options every on-policy config shares.

Each config dataclass checks itself in ``__post_init__`` with the ``check_*`` helpers
below; every error names the field, the rule and the value::

    ValueError: temperature must be > 0; got 0.0

``PPOConfig``, ``A2CConfig`` and ``REINFORCEConfig`` inherit :class:`LMOptions`, so its
fields stay flat (``PPOConfig(kl_coef=0.05, temperature=0.9)``) and are checked in one place.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CACHE_MODES",
    "DEVICES",
    "DTYPES",
    "REFERENCES",
    "LMOptions",
    "check_cache_mode",
    "check_group_size",
    "check_hidden_sizes",
    "check_int",
    "check_lm_options",
    "check_non_negative",
    "check_positive",
    "check_seed",
    "check_total_steps",
    "check_unit_interval",
    "resolve_device",
]

REFERENCES = ("fp32", "bf16", "none")
"""Kinds of frozen reference policy: fp32 copy, bfloat16 copy, or none."""
CACHE_MODES = ("per_row", "rebuild")
"""How an LM rollout refreshes its KV cache when rows reset (see ``agents.kv_cache``)."""
DTYPES = ("float32", "bfloat16")
"""Compute precisions of an LM policy (``LMOptions.dtype``); weights and Adam stay fp32."""
DEVICES = ("cpu", "cuda", "auto")
"""Device names every agent and perf script takes (``cuda:N`` too); ``auto``: CUDA when present."""


def resolve_device(device: Any) -> Any:
    """``"auto"`` -> ``cuda`` when torch sees a GPU, else ``cpu``; other names and
    ``torch.device`` pass through ``torch.device``.

    Raises:
        ValueError: not a device name, or ``cuda`` asked for where torch sees no GPU.
    """
    import torch

    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        out = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be one of {', '.join(DEVICES)} or a torch device; got {device!r}") from err
    if out.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch {torch.__version__} sees no CUDA device; use 'cpu' or 'auto'")
    return out


def _fail(name: str, rule: str, value: Any) -> None:
    raise ValueError(f"{name} must be {rule}; got {value!r}")


def check_positive(cfg: Any, *names: str) -> None:
    """Each field in ``names`` is a finite number > 0."""
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and v > 0 and math.isfinite(v)):
            _fail(n, "> 0", v)


def check_non_negative(cfg: Any, *names: str) -> None:
    """Each field in ``names`` is a finite number >= 0."""
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and v >= 0 and math.isfinite(v)):
            _fail(n, ">= 0", v)


def check_unit_interval(cfg: Any, *names: str) -> None:
    """Each field in ``names`` is a number in [0, 1]."""
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
            _fail(n, "in [0, 1]", v)


def check_int(cfg: Any, *names: str, minimum: int = 1) -> None:
    """Each field in ``names`` is an int (not a bool) >= ``minimum``."""
    for n in names:
        v = getattr(cfg, n)
        if not (isinstance(v, int) and not isinstance(v, bool) and v >= minimum):
            _fail(n, f"an int >= {minimum}", v)


def check_seed(seed: Any) -> int:
    """An agent's seed: an int in ``[0, 2**32)`` (what numpy and torch both take)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        _fail("seed", "an int in [0, 2**32)", seed)
    return int(seed)


def check_total_steps(total_steps: Any) -> None:
    """``learn``'s step count: an int >= 1 (0 or less would still train one rollout)."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Integral) or total_steps < 1:
        _fail("total_steps", "an int >= 1", total_steps)


def check_group_size(cfg: Any) -> None:
    """``group_size`` is an int >= 2 that divides ``num_envs`` (rows of a group share a prompt)."""
    check_int(cfg, "group_size", minimum=2)
    if cfg.num_envs % cfg.group_size:
        raise ValueError(f"group_size must divide num_envs={cfg.num_envs} for the RLOO baseline; got {cfg.group_size}")


def check_hidden_sizes(cfg: Any) -> None:
    """``hidden_sizes`` is a non-empty sequence of positive ints."""
    sizes: Sequence[Any] = cfg.hidden_sizes
    if not sizes or any(not isinstance(h, int) or h < 1 for h in sizes):
        _fail("hidden_sizes", "a non-empty sequence of positive ints", sizes)


def check_cache_mode(cache_mode: Any) -> None:
    """``cache_mode`` is one of :data:`CACHE_MODES`."""
    if cache_mode not in CACHE_MODES:
        _fail("cache_mode", " or ".join(map(repr, CACHE_MODES)), cache_mode)


@dataclass(kw_only=True)
class LMOptions:
    """The options every on-policy config shares: the batch of rows, how an LM policy
    samples, the frozen reference it is anchored to, and its KV cache.

    The sampling options shape the policy distribution itself (acting and re-scoring alike,
    see ``agents.sampling.process_logits``); they do not apply to MLP policies.
    """

    num_envs: int = 8
    """Parallel environments: the rows of the vector env (and of an LM's decode batch)."""
    temperature: float = 1.0
    """Sampling temperature of an LM policy (acting and re-scoring alike)."""
    top_k: int | None = None
    """Top-k filter of an LM policy; ``None`` keeps all tokens."""
    top_p: float | None = None
    """Nucleus filter of an LM policy (Holtzman et al., 2020); ``None`` keeps all tokens."""
    kl_coef: float = 0.0
    """``beta`` of the per-token penalty ``-beta * (logp - ref_logp)`` to the reference
    (Ziegler et al., 2019); 0 disables. PPO's ``adaptive_kl`` starts from this value."""
    reference: str = "fp32"
    """Frozen copy of the initial policy for ``kl_coef`` and the logged ``kl_ref``: ``"fp32"``
    (LM policies always carry one, other policies when ``kl_coef > 0``), ``"bf16"`` (an LM
    reference in bfloat16: half the memory, ~1.5x faster scoring, log-probs within ~0.01
    nats per token) or ``"none"`` (no reference and no ``kl_ref``; needs ``kl_coef == 0``)."""
    cache_mode: str = "per_row"
    """LM rollouts: ``"per_row"`` re-prefills only rows that reset, ``"rebuild"`` the batch."""
    dtype: str = "float32"
    """Compute precision of an LM policy, in the rollout and the update alike: ``"float32"``
    or ``"bfloat16"`` (autocast: matmuls in bf16, weights, gradients and Adam's moments stay
    fp32; ~1.5x faster on CPUs with AVX512-BF16 / AMX and on GPUs). With bf16, PPO scores the
    batch's old log-probs with the update's own forward, so its first ratio is exactly 1."""

    def __post_init__(self) -> None:
        check_lm_options(self)

    @property
    def sampling(self) -> dict[str, Any]:
        """``temperature``, ``top_k`` and ``top_p`` as keyword arguments of an LM policy."""
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


def check_lm_options(options: LMOptions) -> None:
    """Raise a ``ValueError`` naming the first bad field of ``options``.

    ``num_envs`` an int >= 1; ``temperature > 0``; ``top_k`` None or an int >= 0; ``top_p``
    None or in (0, 1]; ``kl_coef >= 0``; ``reference`` one of :data:`REFERENCES`, and
    ``"none"`` only when ``kl_coef == 0``; ``cache_mode`` one of :data:`CACHE_MODES`.
    """
    check_int(options, "num_envs")
    check_positive(options, "temperature")
    if options.top_k is not None:
        check_int(options, "top_k", minimum=0)
    top_p = options.top_p
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0.0 < top_p <= 1.0):
        _fail("top_p", "None or in (0, 1]", top_p)
    check_non_negative(options, "kl_coef")
    if options.reference not in REFERENCES:
        _fail("reference", f"one of {', '.join(map(repr, REFERENCES))}", options.reference)
    if options.reference == "none" and options.kl_coef > 0:
        raise ValueError(
            f"reference must be 'fp32' or 'bf16' when kl_coef > 0 (the penalty needs it); "
            f"got 'none' with kl_coef={options.kl_coef}"
        )
    check_cache_mode(options.cache_mode)
    if options.dtype not in DTYPES:
        _fail("dtype", f"one of {', '.join(map(repr, DTYPES))}", options.dtype)


"""Discounted returns and generalized advantage estimation, written once.

Every function takes time-major arrays of shape ``(T, N)``: ``T`` steps of ``N``
parallel environments. ``dones[t, n]`` is true when the episode of row ``n`` ended
*at* step ``t`` (after action ``t``), so nothing from step ``t + 1`` flows back into
step ``t``. Both torch tensors and numpy arrays are accepted; the result has the type
of ``rewards``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

__all__ = ["discounted_returns", "gae", "leave_one_out_baseline", "rloo_advantages"]

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def _as_tensor(x: torch.Tensor | np.ndarray | float, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x, dtype=like.dtype, device=like.device)


def _float_tensor(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.as_tensor(x)
    return t if t.is_floating_point() else t.to(torch.float64 if isinstance(x, np.ndarray) else torch.float32)


def _check_2d(name: str, x: torch.Tensor) -> None:
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (T, N); got {tuple(x.shape)}")


def _check_gamma(gamma: float, lam: float = 1.0) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1]; got {gamma}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1]; got {lam}")


def discounted_returns(
    rewards: ArrayT,
    dones: ArrayT,
    last_value: ArrayT | None = None,
    *,
    gamma: float,
) -> ArrayT:
    """Discounted returns-to-go ``G_t = r_t + gamma * (1 - done_t) * G_{t+1}``.

    Args:
        rewards: ``(T, N)`` rewards.
        dones: ``(T, N)`` episode-ended-at-step-t flags (bool or 0/1).
        last_value: ``(N,)`` value of the state after the last step, used as
            ``G_T`` for rows still running; ``None`` means 0 (Monte Carlo returns of
            complete episodes).
        gamma: discount factor in ``[0, 1]``.

    Returns:
        ``(T, N)`` returns, same type as ``rewards``.
    """
    _check_gamma(gamma)
    is_numpy = isinstance(rewards, np.ndarray)
    r = _float_tensor(rewards)
    _check_2d("rewards", r)
    d = _as_tensor(dones, r)
    if d.shape != r.shape:
        raise ValueError(f"dones shape {tuple(d.shape)} != rewards shape {tuple(r.shape)}")
    g = torch.zeros_like(r[0]) if last_value is None else _as_tensor(last_value, r).reshape(r.shape[1])
    out = torch.empty_like(r)
    for t in reversed(range(r.shape[0])):
        g = r[t] + gamma * (1.0 - d[t]) * g
        out[t] = g
    return out.numpy() if is_numpy else out


def gae(
    rewards: ArrayT,
    values: ArrayT,
    dones: ArrayT,
    last_value: ArrayT,
    *,
    gamma: float,
    lam: float,
) -> tuple[ArrayT, ArrayT]:
    """Generalized advantage estimation (Schulman et al., 2016, arXiv:1506.02438).

    ``delta_t = r_t + gamma * (1 - done_t) * V_{t+1} - V_t`` and
    ``A_t = delta_t + gamma * lam * (1 - done_t) * A_{t+1}``, with ``V_T = last_value``.
    ``lam = 1`` gives n-step (Monte Carlo bootstrapped) advantages, ``lam = 0`` the
    one-step TD error.

    Args:
        rewards: ``(T, N)`` rewards.
        values: ``(T, N)`` value estimates ``V(s_t)`` of the states acted in.
        dones: ``(T, N)`` episode-ended-at-step-t flags.
        last_value: ``(N,)`` value of the state after step ``T - 1``.
        gamma: discount factor in ``[0, 1]``.
        lam: GAE lambda in ``[0, 1]``.

    Returns:
        ``(advantages, returns)``, both ``(T, N)``; ``returns = advantages + values``
        are the value-function targets.
    """
    _check_gamma(gamma, lam)
    is_numpy = isinstance(rewards, np.ndarray)
    r = _float_tensor(rewards)
    _check_2d("rewards", r)
    v = _as_tensor(values, r)
    d = _as_tensor(dones, r)
    for name, x in (("values", v), ("dones", d)):
        if x.shape != r.shape:
            raise ValueError(f"{name} shape {tuple(x.shape)} != rewards shape {tuple(r.shape)}")
    next_value = _as_tensor(last_value, r).reshape(r.shape[1])
    adv = torch.empty_like(r)
    running = torch.zeros_like(next_value)
    for t in reversed(range(r.shape[0])):
        not_done = 1.0 - d[t]
        delta = r[t] + gamma * not_done * next_value - v[t]
        running = delta + gamma * lam * not_done * running
        adv[t] = running
        next_value = v[t]
    ret = adv + v
    if is_numpy:
        return adv.numpy(), ret.numpy()
    return adv, ret


def leave_one_out_baseline(returns: ArrayT, *, group_size: int) -> ArrayT:
    """Leave-one-out baseline over groups of ``k`` samples of the same prompt.

    RLOO (Kool et al., 2019; Ahmadian et al., 2024): the baseline of sample ``i`` is
    the mean return of the other ``k - 1`` samples of its group, which is independent
    of sample ``i``'s actions, so the gradient stays unbiased.

    Args:
        returns: ``(N,)`` episode returns, consecutive groups of ``group_size`` rows
            share a prompt: rows ``[0, k)``, ``[k, 2k)``, ...
        group_size: ``k >= 2``; ``N`` must be divisible by it.

    Returns:
        ``(N,)`` baselines.
    """
    x = _float_tensor(returns)
    if x.ndim != 1:
        raise ValueError(f"returns must have shape (N,); got {tuple(x.shape)}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for a leave-one-out baseline; got {group_size}")
    if x.shape[0] % group_size:
        raise ValueError(f"number of samples {x.shape[0]} is not divisible by group_size {group_size}")
    g = x.reshape(-1, group_size)
    base = (g.sum(dim=1, keepdim=True) - g) / (group_size - 1)
    base = base.reshape(-1)
    return base.numpy() if isinstance(returns, np.ndarray) else base


def rloo_advantages(rewards: torch.Tensor, dones: torch.Tensor, *, gamma: float, group_size: int) -> torch.Tensor:
    """Returns-to-go minus the leave-one-out mean episode return of the sample's group.

    For a batch of one episode per row (``Rollout.collect_episodes``) whose consecutive
    groups of ``group_size`` rows answered the same prompt: every row is valid at ``t = 0``,
    so ``returns[0]`` is each episode's return. ``(T, N)`` in, ``(T, N)`` out.
    """
    returns = discounted_returns(rewards, dones, None, gamma=gamma)
    return returns - leave_one_out_baseline(returns[0], group_size=group_size)[None, :]

"""The rollout batch and the small tensor helpers every algorithm shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

__all__ = [
    "RolloutBatch",
    "Episode",
    "episode_ids",
    "minibatch_indices",
    "masked_mean",
    "explained_variance",
    "kl_penalized_rewards",
    "check_finite_loss",
]


class RolloutBatch(NamedTuple):
    """One rollout of ``T`` steps in ``N`` parallel environments, time-major.

    Step ``t`` of row ``n`` is the transition from observation ``obs[t, n]`` with
    action ``actions[t, n]``. Flat sample index ``i = t * N + n``.
    """

    obs: torch.Tensor
    """``(T, N, D)`` float observations (MLP policies) or ``(T, N, L)`` int64 token
    contexts packed to the left (LM policies)."""
    obs_len: torch.Tensor | None
    """``(T, N)`` context lengths for token envs, else ``None``."""
    actions: torch.Tensor
    """``(T, N)`` int64 for Discrete, ``(T, N, K)`` for MultiDiscrete / Box."""
    logprobs: torch.Tensor
    """``(T, N)`` log-probability of the action under the behaviour policy."""
    values: torch.Tensor
    """``(T, N)`` value estimates ``V(obs[t, n])``."""
    entropies: torch.Tensor
    """``(T, N)`` entropy of the behaviour policy."""
    rewards: torch.Tensor
    """``(T, N)`` environment rewards."""
    terminated: torch.Tensor
    """``(T, N)`` bool."""
    truncated: torch.Tensor
    """``(T, N)`` bool."""
    bootstrap_values: torch.Tensor
    """``(T, N)`` ``V(final_obs)`` on steps that were truncated and are bootstrapped
    (Pardo et al., 2018), 0 elsewhere; add ``gamma * bootstrap_values`` to rewards."""
    valid: torch.Tensor
    """``(T, N)`` bool; ``False`` for steps that must not be trained on (steps after a
    row's first episode in episodic collection)."""
    episode_ids: torch.Tensor
    """``(T, N)`` int64 index of the episode within its row (0, 1, ...)."""
    last_value: torch.Tensor
    """``(N,)`` value of the observation after the last step, for rows still mid-episode;
    0 for rows whose last step ended an episode (GAE never bootstraps across a done, so the
    rollout does not pay a forward pass for the next episode's prompt) and 0 for every row
    in episodic collection."""
    ref_logprobs: torch.Tensor | None = None
    """``(T, N)`` log-probability of the action under the frozen reference policy."""
    action_masks: torch.Tensor | None = None
    """``(T, N, V)`` bool action masks where the env provides them."""

    @property
    def num_steps(self) -> int:
        return self.rewards.shape[0]

    @property
    def num_envs(self) -> int:
        return self.rewards.shape[1]

    @property
    def dones(self) -> torch.Tensor:
        """``(T, N)`` float: the episode ended at this step."""
        return (self.terminated | self.truncated).float()

    def flat(self, x: torch.Tensor) -> torch.Tensor:
        """Merge the ``(T, N)`` leading dims of ``x`` into one sample dim."""
        return x.reshape(-1, *x.shape[2:])


@dataclass
class Episode:
    """A finished episode, as reported by the rollout and by ``evaluate_policy``."""

    env_index: int
    """Row of the vector env that played it (0 for a single env)."""
    episode_return: float
    """Undiscounted sum of the rewards."""
    length: int
    """Steps (tokens, for a token env)."""
    reward_terms: dict[str, float] = field(default_factory=dict)
    """Raw value of each reward term, for the whole episode."""
    success: float | None = None
    """1/0 where the env reports success (``info["success"]`` or ``info["is_success"]``)."""
    prompt: str | None = None
    completion: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    """The info of the episode's last step."""

    @classmethod
    def from_info(cls, env_index: int, episode_return: float, length: int, info: dict[str, Any]) -> Episode:
        """The episode whose last step returned ``info``."""
        # Envs that pay per step (the recommender) total their terms over the episode in
        # "episode_reward_terms"; token envs report the finished episode's "reward_terms".
        terms_info = info.get("episode_reward_terms") or info.get("reward_terms") or {}
        success = info.get("success", info.get("is_success"))
        return cls(
            env_index=env_index,
            episode_return=float(episode_return),
            length=int(length),
            reward_terms={k: float(v) for k, v in terms_info.items()},
            success=None if success is None else float(success),
            prompt=info.get("prompt"),
            completion=info.get("completion"),
            info=info,
        )


def episode_ids(dones: torch.Tensor) -> torch.Tensor:
    """``(T, N)`` episode index within each row: 0 until the first done, then 1, ..."""
    d = dones.long()
    return torch.cumsum(d, dim=0) - d


def minibatch_indices(
    batch: RolloutBatch,
    num_minibatches: int,
    *,
    generator: torch.Generator,
    by_segment: bool = False,
) -> list[torch.Tensor]:
    """Shuffle the valid samples of ``batch`` into ``num_minibatches`` index tensors.

    With ``by_segment`` (LM policies) the unit of shuffling is a segment: the steps of
    one episode inside one row. A segment is re-scored with a single teacher-forced
    forward pass over its longest context, so splitting it across minibatches would
    cost one forward per piece. Segments are dealt greedily so the minibatches hold
    about the same number of tokens.

    Returns:
        A list of 1-D int64 tensors of flat sample indices ``t * N + n``.
    """
    valid = batch.flat(batch.valid)
    idx = torch.nonzero(valid).flatten()
    if idx.numel() == 0:
        return []
    if not by_segment:
        perm = idx[torch.randperm(idx.numel(), generator=generator)]
        return [chunk for chunk in torch.tensor_split(perm, num_minibatches) if chunk.numel()]
    n_envs = batch.num_envs
    rows = idx % n_envs
    eps = batch.flat(batch.episode_ids)[idx]
    key = rows * (int(eps.max()) + 1) + eps
    uniq, inverse = torch.unique(key, return_inverse=True)
    counts = torch.bincount(inverse, minlength=uniq.numel())
    order = torch.randperm(uniq.numel(), generator=generator)
    target = math.ceil(idx.numel() / num_minibatches)
    groups: list[list[int]] = [[]]
    filled = 0
    for seg in order.tolist():
        if filled >= target and len(groups) < num_minibatches:
            groups.append([])
            filled = 0
        groups[-1].append(seg)
        filled += int(counts[seg])
    out = []
    for segs in groups:
        member = torch.zeros(uniq.numel(), dtype=torch.bool)
        member[torch.tensor(segs, dtype=torch.long)] = True
        out.append(idx[member[inverse]])
    return [o for o in out if o.numel()]


def masked_mean(x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``x`` over entries where ``mask`` is true (all entries if ``None``)."""
    if mask is None:
        return x.mean()
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1.0)


def explained_variance(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    """``1 - Var[y_true - y_pred] / Var[y_true]``; nan when ``y_true`` is constant."""
    var_y = torch.var(y_true)
    if y_true.numel() < 2 or float(var_y) == 0.0:
        return float("nan")
    return float(1.0 - torch.var(y_true - y_pred) / var_y)


def kl_penalized_rewards(
    rewards: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor | None,
    *,
    kl_coef: float,
) -> torch.Tensor:
    """Per-token ``r_t - beta * (log pi(a_t) - log pi_ref(a_t))`` (Ziegler et al., 2019).

    The sum over an episode is ``R - beta * KL(pi || pi_ref)`` estimated on the sampled
    tokens, which keeps the policy near the pretrained model it started from.
    All arguments are ``(T, N)``; ``ref_logprobs=None`` or ``kl_coef=0`` returns ``rewards``.
    """
    if ref_logprobs is None or kl_coef == 0.0:
        return rewards
    return rewards - kl_coef * (logprobs - ref_logprobs)


def check_finite_loss(loss: torch.Tensor, *, algorithm: str, update: int) -> None:
    """Raise a ``FloatingPointError`` naming ``algorithm`` and ``update`` if ``loss`` is nan or inf."""
    if not bool(torch.isfinite(loss)):
        raise FloatingPointError(
            f"{algorithm}: non-finite loss ({float(loss.detach())}) at update {update}; "
            "lower learning_rate, check the rewards for nan/inf, or clip gradients"
        )

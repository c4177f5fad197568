"""Play N evaluation episodes with any policy, and summarise episodes: the one loop and the
one summary behind ``Agent.evaluate``, ``DDPG.evaluate``, the recommender baselines and the
benchmarks' fixed baselines.

```python
from agents.evaluation import evaluate_policy, summarize
env = gym.make("CartPole-v1")
episodes = evaluate_policy(env, lambda obs, new_episode, info: env.action_space.sample(), 10, seed=0)
summarize(episodes)   # n_episodes, reward_mean, reward_std, episode_length, ..., samples
```
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import comb
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import VectorEnv

from agents.buffers import Episode
from agents.envs import check_same_step, row_info

__all__ = ["PASS_K", "Act", "episode_stats", "evaluate_policy", "evaluate_tries", "pass_hat_k", "pass_k_summary", "summarize"]

PASS_K = (1, 2, 4)
"""The ``k`` of the pass^k that evaluations report (tau-bench reports k = 1 to 8)."""

Act = Callable[[Any, Any, dict[str, Any]], Any]
"""``act(obs, new_episode, info) -> actions``; see :func:`evaluate_policy`."""


def evaluate_policy(env: gym.Env | VectorEnv, act: Act, n_episodes: int, *, seed: int) -> list[Episode]:
    """Play ``n_episodes`` full episodes of ``act`` in ``env``.

    ``act(obs, new_episode, info)`` is called once per step, before the step:

    - on a ``gym.Env``: ``obs`` is one observation, ``new_episode`` a bool (True on the
      first step of an episode), ``info`` the last reset's or step's info; it returns one action.
    - on a vector env: ``obs`` is batched ``(N, ...)`` (a dict of such arrays for Dict
      spaces), ``new_episode`` an ``(N,)`` bool array (rows whose episode starts with this
      step: all rows on the first call, then the rows that just autoreset), ``info`` the
      vectorized info (``info["action_mask"]`` where the env gives masks that way); it returns
      ``(N, ...)`` actions.

    A stateless policy ignores ``new_episode``; a stateful one (the KV-cached LM actor of
    :class:`agents.actors.ActorPolicy`) starts fresh state for exactly those rows. ``act`` is
    called for every row on every step, also for rows that have played their share (a vector
    env steps all rows), so a sampling policy consumes the same random numbers however the
    episodes are counted. A stateful ``act`` serves one call of this function.

    Seeding, so that two policies evaluated with the same ``seed`` meet the same tasks:

    - a ``gym.Env`` resets episode ``k`` with ``seed + k``: each episode's task is fixed by
      its index, whatever the policy did in earlier episodes;
    - a vector env is reset once with ``seed`` (row ``i`` gets ``seed + i``) and autoresets
      in the same step (``AutoresetMode.SAME_STEP``). Row ``i`` contributes its first
      ``(n_episodes + i) // N`` episodes (as stable-baselines3's ``evaluate_policy``): taking
      the first ``n_episodes`` to finish would favour short episodes.

    Returns:
        ``n_episodes`` episodes (:class:`Episode`): in play order for a ``gym.Env``, in the order they
        finish (ties by row) for a vector env. Each is built from its last step's info
        (``info["final_info"]`` row for a vector env), see :meth:`Episode.from_info`.
    """
    if not (isinstance(n_episodes, (int, np.integer)) and not isinstance(n_episodes, bool) and n_episodes >= 1):
        raise ValueError(f"n_episodes must be >= 1; got {n_episodes}")
    if isinstance(env, VectorEnv):
        return _vector_episodes(env, act, int(n_episodes), seed=seed)
    return _single_episodes(env, act, int(n_episodes), seed=seed)


def _single_episodes(env: gym.Env, act: Act, n_episodes: int, *, seed: int) -> list[Episode]:
    episodes = []
    for k in range(n_episodes):
        obs, info = env.reset(seed=seed + k)
        total, length, new_episode = 0.0, 0, True
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(act(obs, new_episode, info))
            total += float(reward)
            length += 1
            new_episode = False
            done = bool(terminated or truncated)
        episodes.append(Episode.from_info(0, total, length, info))
    return episodes


def _vector_episodes(env: VectorEnv, act: Act, n_episodes: int, *, seed: int) -> list[Episode]:
    check_same_step(env)
    n = env.num_envs
    targets = (n_episodes + np.arange(n)) // n
    counts = np.zeros(n, dtype=np.int64)
    returns = np.zeros(n)
    lengths = np.zeros(n, dtype=np.int64)
    episodes: list[Episode] = []
    obs, info = env.reset(seed=seed)
    new_episode = np.ones(n, dtype=bool)
    while (counts < targets).any():
        obs, rewards, terminated, truncated, info = env.step(act(obs, new_episode, info))
        returns += np.asarray(rewards, dtype=np.float64)
        lengths += 1
        new_episode = np.logical_or(terminated, truncated)
        if new_episode.any():
            final_info = info.get("final_info", {})
            for i in np.flatnonzero(new_episode):
                if counts[i] < targets[i]:
                    episodes.append(Episode.from_info(int(i), returns[i], lengths[i], row_info(final_info, int(i))))
                    counts[i] += 1
            returns[new_episode] = 0.0
            lengths[new_episode] = 0
    return episodes


def episode_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """``reward_mean``, ``reward_std``, ``episode_length``, ``reward/<term>`` (mean raw value
    of each reward term), ``success_rate`` (where the env reports success) and
    ``reward_mean[<group>]`` (where episodes name a group in ``info["group"]``) of ``episodes``.

    The part of :func:`summarize` that training logs per update; ``nan`` mean and length
    when no episode finished.
    """
    if not episodes:
        return {"reward_mean": float("nan"), "episode_length": float("nan")}
    out = {
        "reward_mean": float(np.mean([e.episode_return for e in episodes])),
        "reward_std": float(np.std([e.episode_return for e in episodes])),
        "episode_length": float(np.mean([e.length for e in episodes])),
    }
    for name in sorted({k for e in episodes for k in e.reward_terms}):
        out[f"reward/{name}"] = float(np.mean([e.reward_terms[name] for e in episodes if name in e.reward_terms]))
    successes = [e.success for e in episodes if e.success is not None]
    if successes:
        out["success_rate"] = float(np.mean(successes))
    # envs that name a group per episode (the text env's sentiment target) are reported per
    # group too: a mean over a skewed mix hides a policy that ignores the instruction
    groups: dict[str, list[float]] = {}
    for e in episodes:
        if e.info.get("group") is not None:
            groups.setdefault(str(e.info["group"]), []).append(e.episode_return)
    for group in sorted(groups):
        out[f"reward_mean[{group}]"] = float(np.mean(groups[group]))
    return out


def summarize(episodes: Sequence[Episode], *, n_samples: int = 3) -> dict[str, Any]:
    """The evaluation record of ``episodes``: ``n_episodes``, the :func:`episode_stats`, and
    ``samples``: the first ``n_samples`` episodes with a text, as ``{prompt, completion,
    reward}`` (plus ``transcript``, the whole dialog, on multi-turn envs)."""
    out: dict[str, Any] = {"n_episodes": len(episodes), **episode_stats(episodes)}
    texts = [e for e in episodes if e.completion is not None][:n_samples]
    out["samples"] = [
        {"prompt": e.prompt, "completion": e.completion, "reward": e.episode_return}
        | ({"transcript": e.info["transcript"]} if "transcript" in e.info else {})
        for e in texts
    ]
    return out


# ---------------------------------------------------------------------------------------
# pass^k: reliability over repeated tries at the same task
# ---------------------------------------------------------------------------------------


def pass_hat_k(successes: Sequence[Sequence[bool]], k: int) -> float:
    """tau-bench's pass^k (Yao et al., 2024): the chance that ``k`` independent tries at the
    same task all succeed, averaged over tasks.

    ``successes[task]`` lists the outcomes of the task's ``n`` tries (``n >= k``, the same
    ``n`` or not for every task). The unbiased estimator from ``c`` successes in ``n`` tries is
    ``C(c, k) / C(n, k)`` (as pass@k's is ``1 - C(n - c, k) / C(n, k)``, Chen et al., 2021);
    pass^1 is the success rate.

    Raises:
        ValueError: ``k < 1``, no task, or a task with fewer than ``k`` tries.
    """
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    if not successes:
        raise ValueError("pass^k needs at least one task")
    values = []
    for index, tries in enumerate(successes):
        n, c = len(tries), int(sum(bool(t) for t in tries))
        if n < k:
            raise ValueError(f"pass^{k} needs at least {k} tries per task; task {index} has {n}")
        values.append(comb(c, k) / comb(n, k))
    return float(np.mean(values))


def pass_k_summary(successes: Sequence[Sequence[bool]], ks: Sequence[int] = PASS_K) -> dict[str, float]:
    """``{"pass^k": value}`` for each ``k`` in ``ks`` that every task has tries enough for."""
    n = min(len(t) for t in successes) if successes else 0
    return {f"pass^{k}": pass_hat_k(successes, k) for k in ks if k <= n}


def evaluate_tries(
    env: gym.Env | VectorEnv, make_act: Callable[[int], Act], n_tasks: int, n_tries: int, *, seed: int
) -> list[list[Episode]]:
    """Play each of ``n_tasks`` tasks ``n_tries`` times: ``episodes[task][try]``.

    Try ``t`` plays with ``make_act(t)`` (e.g. the policy with sampler seed ``t``). A task is
    an env seed: task ``i`` starts from seed ``seed + i`` in every try, on a single env and on
    a vector env (which plays the tasks in blocks of its rows, one episode per row). The tries of a task meet the same task
    and customer; they differ by the policy's samples (and by what a simulator draws along a
    different conversation). Use a sampling policy: greedy tries are all alike.
    """
    if not (isinstance(n_tasks, (int, np.integer)) and n_tasks >= 1 and isinstance(n_tries, (int, np.integer))
            and n_tries >= 1):
        raise ValueError(f"n_tasks and n_tries must be ints >= 1; got {n_tasks!r} and {n_tries!r}")
    tasks: list[list[Episode]] = [[] for _ in range(n_tasks)]
    if not isinstance(env, VectorEnv):
        for t in range(n_tries):
            for i, episode in enumerate(evaluate_policy(env, make_act(t), n_tasks, seed=seed)):
                tasks[i].append(episode)
        return tasks
    n = env.num_envs
    for start in range(0, n_tasks, n):
        m = min(n, n_tasks - start)
        for t in range(n_tries):
            # with m < n, rows n - m .. n - 1 play one episode each (see evaluate_policy):
            # shift the seeds so that task i still starts from seed + i
            for episode in evaluate_policy(env, make_act(t), m, seed=seed + start - (n - m)):
                tasks[start + episode.env_index - (n - m)].append(episode)
    return tasks

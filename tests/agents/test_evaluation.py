"""evaluate_policy and summarize against returns worked out by hand."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from agents.buffers import Episode
from agents.evaluation import episode_stats, evaluate_policy, summarize


class TaskEnv(gym.Env):
    """Episode length ``1 + task % 3``, reward = the action at every step.

    A seeded reset sets ``task = seed``; an unseeded one (an autoreset) moves on to ``task + 100``.
    The last step's info carries the task, the ``steps`` term (the length), success (a
    one-step episode) and a text.
    """

    observation_space = spaces.Box(0.0, 10.0, (1,), np.float32)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.task = seed if seed is not None else self.task + 100
        self.t = 0
        return np.zeros(1, np.float32), {"task": self.task}

    def step(self, action):
        self.t += 1
        done = self.t >= 1 + self.task % 3
        info = {}
        if done:
            info = {"task": self.task, "reward_terms": {"steps": float(self.t)}, "success": self.t == 1,
                    "prompt": f"p{self.task}", "completion": f"c{self.task}"}
        return np.full(1, self.t, np.float32), float(action), done, False, info


def vector(n: int) -> SyncVectorEnv:
    return SyncVectorEnv([TaskEnv for _ in range(n)], autoreset_mode=AutoresetMode.SAME_STEP)


def recording(action):
    calls = []

    def act(obs, new_episode, info):
        calls.append(np.array(new_episode, copy=True))
        return action

    return act, calls


def test_single_env_resets_each_episode_with_its_own_seed():
    act, calls = recording(1)
    episodes = evaluate_policy(TaskEnv(), act, 4, seed=0)
    # tasks 0, 1, 2, 3 -> lengths 1, 2, 3, 1; reward 1 per step
    assert [e.info["task"] for e in episodes] == [0, 1, 2, 3]
    assert [e.episode_return for e in episodes] == [1.0, 2.0, 3.0, 1.0]
    assert [e.length for e in episodes] == [1, 2, 3, 1]
    assert [e.env_index for e in episodes] == [0, 0, 0, 0]
    assert [bool(c) for c in calls] == [True, True, False, True, False, False, True]


def test_vector_env_resets_once_and_row_i_plays_its_share():
    act, calls = recording(np.array([1, 2]))
    episodes = evaluate_policy(vector(2), act, 3, seed=10)
    # row 0: task 10 (2 steps), then 110 (3 steps, past its share of (3 + 0) // 2 = 1)
    # row 1: task 11 (3 steps), then 111 (1 step): its share is (3 + 1) // 2 = 2
    assert [(e.env_index, e.info["task"]) for e in episodes] == [(0, 10), (1, 11), (1, 111)]
    assert [e.episode_return for e in episodes] == [2.0, 6.0, 2.0]
    assert [e.length for e in episodes] == [2, 3, 1]
    # new_episode marks every row on the first call, then the rows that just autoreset
    assert [c.tolist() for c in calls] == [[True, True], [False, False], [True, False], [False, True]]


def test_vector_env_rows_share_episodes_evenly():
    episodes = evaluate_policy(vector(3), lambda obs, new, info: np.ones(3, np.int64), 7, seed=0)
    # (7 + i) // 3 = 2, 2, 3 episodes for rows 0, 1, 2
    assert np.bincount([e.env_index for e in episodes]).tolist() == [2, 2, 3]


def test_same_seed_same_episodes_and_the_seed_matters():
    def run(seed):
        return [e.info["task"] for e in evaluate_policy(vector(2), lambda obs, new, info: np.ones(2, np.int64), 4,
                                                        seed=seed)]

    assert run(5) == run(5) != run(6)


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_n_episodes_must_be_a_positive_int(n):
    with pytest.raises(ValueError, match="n_episodes must be >= 1"):
        evaluate_policy(TaskEnv(), lambda obs, new, info: 1, n, seed=0)


def test_next_step_vector_envs_are_refused():
    env = SyncVectorEnv([TaskEnv, TaskEnv], autoreset_mode=AutoresetMode.NEXT_STEP)
    with pytest.raises(ValueError, match="SAME_STEP"):
        evaluate_policy(env, lambda obs, new, info: np.ones(2, np.int64), 2, seed=0)


def test_summarize_by_hand():
    act, _ = recording(1)
    out = summarize(evaluate_policy(TaskEnv(), act, 4, seed=0), n_samples=2)
    assert out["n_episodes"] == 4
    assert out["reward_mean"] == pytest.approx(1.75)
    # deviations -0.75, 0.25, 1.25, -0.75: population variance 2.75 / 4
    assert out["reward_std"] == pytest.approx(math.sqrt(2.75 / 4))
    assert out["episode_length"] == pytest.approx(1.75)
    assert out["reward/steps"] == pytest.approx(1.75)
    assert out["success_rate"] == pytest.approx(0.5)  # tasks 0 and 3 end after one step
    assert out["samples"] == [{"prompt": "p0", "completion": "c0", "reward": 1.0},
                              {"prompt": "p1", "completion": "c1", "reward": 2.0}]


def test_summarize_terms_samples_and_transcripts():
    episodes = [
        Episode(0, 1.0, 2, reward_terms={"a": 1.0}),
        Episode(1, 3.0, 4, reward_terms={"a": 3.0, "b": 5.0}, prompt="p", completion="c",
                info={"transcript": [{"role": "agent", "text": "hi"}]}),
        Episode(0, 2.0, 3, prompt="q", completion="d"),
    ]
    out = summarize(episodes)
    assert out["reward/a"] == pytest.approx(2.0)  # over the episodes that report the term
    assert out["reward/b"] == pytest.approx(5.0)
    assert "success_rate" not in out  # no episode reports success
    # the first episodes that have a text; a transcript travels with its sample
    assert out["samples"] == [
        {"prompt": "p", "completion": "c", "reward": 3.0, "transcript": [{"role": "agent", "text": "hi"}]},
        {"prompt": "q", "completion": "d", "reward": 2.0},
    ]
    assert set(episode_stats(episodes)) == {"reward_mean", "reward_std", "episode_length", "reward/a", "reward/b"}


def test_episode_stats_of_no_episode():
    stats = episode_stats([])
    assert set(stats) == {"reward_mean", "episode_length"} and all(math.isnan(v) for v in stats.values())


def test_episode_from_info_prefers_episode_totals():
    info = {"episode_reward_terms": {"click": 3}, "reward_terms": {"click": 1}, "is_success": True}
    ep = Episode.from_info(2, np.float64(4.5), np.int64(7), info)
    assert (ep.env_index, ep.episode_return, ep.length, ep.reward_terms, ep.success) == (2, 4.5, 7, {"click": 3.0}, 1.0)
    assert type(ep.episode_return) is float and type(ep.length) is int


def test_summary_reports_each_group_named_by_the_env():
    from agents.buffers import Episode
    from agents.evaluation import episode_stats

    episodes = [Episode(0, r, 3, info={"group": g}) for r, g in ((1.0, "positive"), (0.0, "negative"), (0.5, "negative"))]
    stats = episode_stats(episodes + [Episode(0, 2.0, 3)])
    assert stats["reward_mean[positive]"] == 1.0 and stats["reward_mean[negative]"] == 0.25
    assert stats["reward_mean"] == pytest.approx(3.5 / 4)
    assert not any(k.startswith("reward_mean[") for k in episode_stats([Episode(0, 1.0, 3)]))


# --- pass^k ---------------------------------------------------------------------------------


def test_pass_hat_k_against_hand_worked_counts():
    from agents.evaluation import pass_hat_k, pass_k_summary

    half = [True, False, True, False]  # c=2 of n=4: pass^1 2/4, pass^2 C(2,2)/C(4,2) = 1/6, pass^4 0
    always = [True] * 4
    never = [False] * 4
    assert pass_hat_k([half], 1) == pytest.approx(0.5)
    assert pass_hat_k([half], 2) == pytest.approx(1 / 6)
    assert pass_hat_k([half], 4) == 0.0
    assert pass_k_summary([half, always, never]) == pytest.approx(
        {"pass^1": (0.5 + 1 + 0) / 3, "pass^2": (1 / 6 + 1 + 0) / 3, "pass^4": 1 / 3})
    # three successes in five tries: pass^2 = C(3,2)/C(5,2) = 3/10, pass^3 = 1/10
    assert pass_hat_k([[1, 1, 0, 1, 0]], 2) == pytest.approx(0.3)
    assert pass_hat_k([[1, 1, 0, 1, 0]], 3) == pytest.approx(0.1)
    assert pass_k_summary([[True, False]]) == {"pass^1": 0.5, "pass^2": 0.0}  # no k = 4 from 2 tries
    with pytest.raises(ValueError, match="at least 4 tries per task; task 1 has 2"):
        pass_hat_k([half, [True, True]], 4)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        pass_hat_k([half], 0)


class CoinEnv(gym.Env):
    """One step; success when the action equals the task's bit, drawn with np_random at reset."""

    observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.bit = int(self.np_random.integers(2))
        self.seed_used = seed
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, True, False, {"success": int(action) == self.bit, "bit": self.bit,
                                                            "seed": self.seed_used}


@pytest.mark.parametrize("vector", [False, True])
def test_evaluate_tries_replays_each_task(vector):
    from agents.evaluation import evaluate_tries

    env = SyncVectorEnv([CoinEnv for _ in range(3)], autoreset_mode=AutoresetMode.SAME_STEP) if vector else CoinEnv()

    def make_act(t):
        rng = np.random.default_rng(t)
        if vector:
            return lambda obs, new, info: rng.integers(2, size=3)
        return lambda obs, new, info: int(rng.integers(2))

    tasks = evaluate_tries(env, make_act, 5, 4, seed=100)
    assert [len(t) for t in tasks] == [4] * 5
    for i, tries in enumerate(tasks):
        assert {e.info["seed"] for e in tries} == {100 + i}  # every try of a task meets the same task
        assert len({e.info["bit"] for e in tries}) == 1
    outcomes = {tuple(e.success for e in tries) for tries in tasks}
    assert len(outcomes) > 1  # the tries differ by the policy's samples

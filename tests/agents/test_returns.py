"""Discounted returns, GAE and the leave-one-out baseline against hand-worked numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.returns import discounted_returns, gae, leave_one_out_baseline, rloo_advantages


def test_discounted_returns_hand_worked():
    # gamma 0.5, the episode of the only row ends at t=1, a new one runs past the end
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    dones = torch.tensor([[0.0], [1.0], [0.0]])
    # t2: 3 + .5 * 10 = 8;  t1: done -> 2;  t0: 1 + .5 * 2 = 2
    out = discounted_returns(rewards, dones, torch.tensor([10.0]), gamma=0.5)
    torch.testing.assert_close(out, torch.tensor([[2.0], [2.0], [8.0]]))
    # without a bootstrap value the running episode is cut at the end: t2 = 3
    out = discounted_returns(rewards, dones, None, gamma=0.5)
    torch.testing.assert_close(out, torch.tensor([[2.0], [2.0], [3.0]]))


def test_gae_hand_worked():
    # column 0: V = 0.5 everywhere, episode ends at t=2; column 1: V = 0, no end, V_T = 10
    rewards = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    values = torch.tensor([[0.5, 0.0], [0.5, 0.0], [0.5, 0.0]])
    dones = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    adv, ret = gae(rewards, values, dones, torch.tensor([2.0, 10.0]), gamma=0.9, lam=0.8)
    # col 0: A2 = 1 - .5 = .5 (done: V_T ignored); delta1 = 1 + .9*.5 - .5 = .95,
    #        A1 = .95 + .72 * .5 = 1.31; A0 = .95 + .72 * 1.31 = 1.8932
    # col 1: A2 = 1 + .9 * 10 = 10; A1 = .72 * 10 = 7.2; A0 = .72 * 7.2 = 5.184
    expected = torch.tensor([[1.8932, 5.184], [1.31, 7.2], [0.5, 10.0]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_gae_lambda_one_is_discounted_return_minus_value():
    g = torch.Generator().manual_seed(0)
    rewards = torch.randn(7, 3, generator=g)
    values = torch.randn(7, 3, generator=g)
    dones = (torch.rand(7, 3, generator=g) < 0.3).float()
    last = torch.randn(3, generator=g)
    adv, ret = gae(rewards, values, dones, last, gamma=0.97, lam=1.0)
    torch.testing.assert_close(ret, discounted_returns(rewards, dones, last, gamma=0.97))
    torch.testing.assert_close(adv, ret - values)
    adv0, _ = gae(rewards, values, dones, last, gamma=0.97, lam=0.0)
    next_v = torch.cat([values[1:], last[None]])
    torch.testing.assert_close(adv0, rewards + 0.97 * (1 - dones) * next_v - values)


def test_numpy_in_numpy_out():
    adv, ret = gae(np.ones((2, 1)), np.zeros((2, 1)), np.zeros((2, 1)), np.zeros(1), gamma=1.0, lam=1.0)
    assert isinstance(adv, np.ndarray) and isinstance(ret, np.ndarray)
    np.testing.assert_allclose(ret[:, 0], [2.0, 1.0])
    out = discounted_returns(np.array([[1], [1]]), np.array([[0], [0]]), gamma=1.0)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out[:, 0], [2.0, 1.0])


def test_shape_and_range_errors():
    with pytest.raises(ValueError, match=r"\(T, N\)"):
        gae(torch.ones(3), torch.ones(3), torch.zeros(3), torch.zeros(1), gamma=0.9, lam=0.9)
    with pytest.raises(ValueError, match="values shape"):
        gae(torch.ones(3, 2), torch.ones(3, 1), torch.zeros(3, 2), torch.zeros(2), gamma=0.9, lam=0.9)
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(torch.ones(2, 2), torch.zeros(2, 2), gamma=1.5)
    with pytest.raises(ValueError, match="lam"):
        gae(torch.ones(2, 1), torch.ones(2, 1), torch.zeros(2, 1), torch.zeros(1), gamma=0.9, lam=-0.1)


def test_leave_one_out_baseline():
    # groups (1, 2, 3) and (10, 20, 30): the baseline of each is the mean of the other two
    base = leave_one_out_baseline(torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0, 30.0]), group_size=3)
    torch.testing.assert_close(base, torch.tensor([2.5, 2.0, 1.5, 25.0, 20.0, 15.0]))
    with pytest.raises(ValueError, match="divisible"):
        leave_one_out_baseline(torch.ones(5), group_size=2)
    with pytest.raises(ValueError, match="group_size"):
        leave_one_out_baseline(torch.ones(4), group_size=1)


def test_rloo_advantages_by_hand():
    # two groups of two one-episode rows; row 1's episode is one step long, the others two
    rewards = torch.tensor([[0.0, 1.0, 0.5, 0.0], [1.0, 0.0, 0.0, 3.0]])
    dones = torch.tensor([[False, True, False, False], [True, False, True, True]])
    # returns-to-go: t=0 -> (1, 1, 0.5, 3); t=1 -> (1, 0, 0, 3); baselines: other member's return
    adv = rloo_advantages(rewards, dones, gamma=1.0, group_size=2)
    torch.testing.assert_close(adv, torch.tensor([[0.0, 0.0, -2.5, 2.5], [0.0, -1.0, -3.0, 2.5]]))

"""The inverse-CDF sampler and the logit filters."""

from __future__ import annotations

import pytest
import torch

from agents.sampling import log_prob_entropy, process_logits, sample, sample_inverse_cdf, sample_log_prob_entropy

PROBS = torch.tensor([0.5, 0.3, 0.15, 0.05])


def _draws(logits: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return sample_inverse_cdf(logits.expand(n, -1), generator=g)


def test_frequencies_match_probabilities():
    n = 20_000
    counts = torch.bincount(_draws(PROBS.log()[None], n), minlength=4).double()
    expected = PROBS.double() * n
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 18.47  # chi-square, 3 degrees of freedom, p = 0.0004


def test_seeded_generator_is_deterministic():
    logits = torch.randn(8, 1000, generator=torch.Generator().manual_seed(1))
    a = sample_inverse_cdf(logits, generator=torch.Generator().manual_seed(7))
    b = sample_inverse_cdf(logits, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert a.shape == (8,) and a.dtype == torch.int64


def test_zero_probability_tokens_are_never_drawn():
    mask = torch.tensor([[False, True, False, True]])
    logits = process_logits(PROBS.log()[None], action_mask=mask)
    draws = _draws(logits, 5000)
    assert set(draws.tolist()) <= {1, 3}
    assert {1, 3} <= set(draws.tolist())


def test_top_k_keeps_the_k_largest():
    logits = process_logits(PROBS.log()[None], top_k=2)
    assert torch.isinf(logits[0, 2:]).all() and torch.isfinite(logits[0, :2]).all()
    assert set(_draws(logits, 3000).tolist()) == {0, 1}


@pytest.mark.parametrize(("top_p", "kept"), [(0.7, {0, 1}), (0.5, {0}), (0.96, {0, 1, 2, 3}), (0.9, {0, 1, 2})])
def test_top_p_keeps_the_smallest_set_reaching_p(top_p, kept):
    # shuffle the vocab so the filter cannot rely on sorted input
    perm = torch.tensor([2, 0, 3, 1])
    logits = process_logits(PROBS.log()[perm][None], top_p=top_p)
    allowed = {int(perm[i]) for i in torch.nonzero(torch.isfinite(logits[0])).flatten()}
    assert allowed == kept
    draws = {int(perm[i]) for i in _draws(logits, 3000).tolist()}
    assert draws <= kept


def test_temperature_sharpens():
    hot = torch.softmax(process_logits(PROBS.log()[None], temperature=2.0), -1)
    cold = torch.softmax(process_logits(PROBS.log()[None], temperature=0.5), -1)
    assert cold[0, 0] > PROBS[0] > hot[0, 0]


def test_deterministic_is_argmax():
    logits = torch.tensor([[0.0, 3.0, 1.0], [5.0, 0.0, 1.0]])
    assert sample(logits, deterministic=True).tolist() == [1, 0]


def test_entropy_and_gradients_stay_finite_with_masks():
    logits = torch.randn(3, 6, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 0, 1, 0]] * 3, dtype=torch.bool)
    processed = process_logits(logits, action_mask=mask, top_k=2)
    logp, ent = log_prob_entropy(processed, torch.argmax(processed, -1))
    (logp.sum() + ent.sum()).backward()
    assert torch.isfinite(ent).all() and torch.isfinite(logits.grad).all()
    uniform = log_prob_entropy(torch.zeros(1, 4), torch.tensor([0]))[1]
    torch.testing.assert_close(uniform, torch.log(torch.tensor([4.0])))


@pytest.mark.parametrize("deterministic", [False, True])
def test_one_softmax_sampler_draws_and_scores_as_the_two_calls(deterministic):
    # what acting uses: the same draws from the same uniforms, the same log-probs and entropies
    logits = torch.randn(64, 2195, generator=torch.Generator().manual_seed(3)) * 3
    mask = torch.rand(64, 2195, generator=torch.Generator().manual_seed(4)) > 0.3
    for processed in (logits, process_logits(logits, action_mask=mask, top_k=50)):
        actions, logp, ent = sample_log_prob_entropy(
            processed, generator=torch.Generator().manual_seed(5), deterministic=deterministic
        )
        expected = sample(processed, generator=torch.Generator().manual_seed(5), deterministic=deterministic)
        assert torch.equal(actions, expected)
        ref_logp, ref_ent = log_prob_entropy(processed, expected)
        torch.testing.assert_close(logp, ref_logp, rtol=0, atol=0)
        torch.testing.assert_close(ent, ref_ent, rtol=0, atol=0)
        assert torch.isfinite(ent).all()
    masked = process_logits(PROBS.log()[None].expand(4000, -1), action_mask=torch.tensor([[False, True, False, True]]).expand(4000, -1))
    draws = sample_log_prob_entropy(masked, generator=torch.Generator().manual_seed(0))[0]
    assert set(draws.tolist()) == {1, 3}


def test_filter_errors():
    with pytest.raises(ValueError, match="temperature"):
        process_logits(torch.zeros(1, 3), temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        process_logits(torch.zeros(1, 3), top_p=0.0)
    with pytest.raises(ValueError, match="no action in rows \\[1\\]"):
        process_logits(torch.zeros(2, 3), action_mask=torch.tensor([[1, 0, 0], [0, 0, 0]], dtype=torch.bool))
    with pytest.raises(ValueError, match="shape"):
        process_logits(torch.zeros(2, 3), action_mask=torch.ones(2, 4, dtype=torch.bool))

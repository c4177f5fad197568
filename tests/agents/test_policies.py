"""LMActorCritic: the padding-free (packed) update forward equals the padded one; bf16 compute."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from agents.policies import LMActorCritic, pack_rows, shared_prefix_layout
from agents.sampling import log_prob_entropy

VOCAB = 50


def _gpt2() -> torch.nn.Module:  # tiny-shop's architecture
    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=2, n_positions=64))


def _llama() -> torch.nn.Module:  # smollm2-135m's architecture
    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64))  # fmt: skip


def _hand_made_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """4 segments of lengths 7, 3, 11, 1 (right-padded to 11, 36% padding), 2 scored positions
    each except the 1-token one, and the scored actions."""
    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([7, 3, 11, 1])
    contexts = torch.randint(2, VOCAB, (4, 11), generator=g)
    contexts[torch.arange(11)[None, :] >= lengths[:, None]] = 0  # the padding
    seq_index = torch.tensor([0, 0, 1, 1, 2, 2, 3])
    positions = torch.tensor([2, 6, 0, 2, 5, 10, 0])
    actions = torch.randint(0, VOCAB, (7,), generator=g)
    return contexts, lengths, seq_index, positions, actions


def _grouped_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """5 segments: 0, 1 and 2 answer the same 4-token prompt (an RLOO group; their first scored
    position is 3), 3 has its own prompt, and 4 begins with the same 4 tokens but is first
    scored at 5 (its prefix is 6 tokens: not the group's)."""
    g = torch.Generator().manual_seed(1)
    lengths = torch.tensor([7, 9, 4, 5, 8])
    contexts = torch.randint(2, VOCAB, (5, 9), generator=g)
    contexts[[1, 2, 4], :4] = contexts[0, :4]
    contexts[torch.arange(9)[None, :] >= lengths[:, None]] = 0
    seq_index = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3, 4])
    positions = torch.tensor([3, 5, 3, 4, 8, 3, 1, 2, 5])
    actions = torch.randint(0, VOCAB, (9,), generator=g)
    return contexts, lengths, seq_index, positions, actions


def _score(policy: LMActorCritic, packed: bool, batch=_hand_made_batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    policy.packed = packed
    policy.zero_grad(set_to_none=True)
    contexts, lengths, seq_index, positions, actions = batch()
    logits, values = policy.score_positions(contexts, lengths, seq_index, positions)
    logp, entropy = log_prob_entropy(policy.distribution_logits(logits), actions)
    (logp.sum() + entropy.sum() + values.sum()).backward()
    grads = {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}
    return logp.detach(), values.detach(), grads


@pytest.mark.parametrize("make", [_gpt2, _llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("pack_width", [0.6, 1.5, 100.0], ids=["3-rows-with-leftover-padding", "default", "wide"])
def test_packed_update_forward_equals_padded(make, pack_width):
    torch.manual_seed(0)
    policy = LMActorCritic(make())
    torch.nn.init.normal_(policy.value_head.weight, std=0.1)  # a value head that is not all zero
    policy.pack_width = pack_width
    logp_pad, values_pad, grads_pad = _score(policy, packed=False)
    logp, values, grads = _score(policy, packed=True)
    torch.testing.assert_close(logp, logp_pad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values, values_pad, atol=1e-5, rtol=1e-5)
    assert grads.keys() == grads_pad.keys() and len(grads) > 4
    for name in grads:
        torch.testing.assert_close(grads[name], grads_pad[name], atol=1e-5, rtol=1e-5, msg=name)


def test_packed_rows_hold_only_the_leftover_padding(monkeypatch):
    import agents.policies as policies

    policy = LMActorCritic(_gpt2())
    seen: list[tuple[int, ...]] = []
    forward = policies.packed_forward

    def spy(model, ids, position_ids, mask=None):
        seen.append(tuple(ids.shape))
        return forward(model, ids, position_ids, mask)

    monkeypatch.setattr(policies, "packed_forward", spy)
    contexts, lengths, seq_index, positions, _ = _hand_made_batch()
    policy.score_positions(contexts, lengths, seq_index, positions)
    (rows, width), = seen  # one forward
    assert (rows, width) == (2, 11)  # 22 real tokens in 2 rows of 11: no padding left (44 padded before)
    ids, position_ids, starts = policy.pack(contexts, lengths)
    assert ids.shape == (2, 11) and starts.tolist() == [11, 18, 0, 21]  # 11 | 7 + 3 + 1, longest first
    flat = ids.reshape(-1)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(flat[starts[b] : starts[b] + n], contexts[b, :n])
        assert position_ids.reshape(-1)[starts[b] : starts[b] + n].tolist() == list(range(n))


@pytest.mark.parametrize("make", [_gpt2, _llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("pack_width", [0.6, 2.0, 100.0], ids=["narrow", "default", "wide"])
def test_a_shared_prompt_runs_once_and_changes_nothing(make, pack_width):
    torch.manual_seed(0)
    policy = LMActorCritic(make())
    torch.nn.init.normal_(policy.value_head.weight, std=0.1)
    policy.pack_width = pack_width
    logp_pad, values_pad, grads_pad = _score(policy, packed=False, batch=_grouped_batch)
    logp, values, grads = _score(policy, packed=True, batch=_grouped_batch)
    torch.testing.assert_close(logp, logp_pad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values, values_pad, atol=1e-5, rtol=1e-5)
    assert grads.keys() == grads_pad.keys() and len(grads) > 4
    for name in grads:
        torch.testing.assert_close(grads[name], grads_pad[name], atol=1e-5, rtol=1e-5, msg=name)


def test_shared_prefix_layout_holds_a_group_prompt_once():
    contexts, lengths, seq_index, positions, _ = _grouped_batch()
    first = torch.full_like(lengths, 9).scatter_reduce(0, seq_index, positions, "amin")
    ids, position_ids, index, mask = shared_prefix_layout(contexts, lengths, first + 1, 100.0)
    # 33 tokens, of which segments 1 and 2 do not repeat the group's 4-token prompt
    assert ids.numel() == 33 - 2 * 4 and mask.shape == (1, 1, 25, 25)
    flat_ids, flat_pos = ids.reshape(-1), position_ids.reshape(-1)
    for b, n in enumerate(lengths.tolist()):
        assert torch.equal(flat_ids[index[b, :n]], contexts[b, :n])
        assert flat_pos[index[b, :n]].tolist() == list(range(n))
        # each token sees exactly its own segment's earlier tokens
        seen = mask[0, 0][index[b, :n]][:, index[b, :n]]
        assert torch.equal(seen, torch.ones(n, n, dtype=torch.bool).tril())
        assert int(mask[0, 0][index[b, n - 1]].sum()) == n
    assert torch.equal(index[1, :4], index[0, :4]) and torch.equal(index[2, :4], index[0, :4])
    assert not torch.equal(index[4, :4], index[0, :4])  # another prefix length: not shared


def test_pack_rows_fills_rows_evenly():
    row, offset, fill = pack_rows([7, 3, 11, 1], 11)
    assert fill == [11, 11] and row == [1, 1, 0, 1] and offset == [0, 7, 0, 10]
    assert pack_rows([7, 3, 11, 1], 100)[2] == [11, 11]  # no padding in 2 rows: no need for 1 longer row
    assert pack_rows([7, 3, 11, 1], 6)[2] == [11, 7, 3, 1]  # at most 6 wide: a row per segment, as padded
    _, _, fill = pack_rows([20, 1], 5)  # a segment longer than the width: rows as many as segments
    assert sorted(fill) == [1, 20]
    assert pack_rows([5, 5, 5, 5, 5, 5], 10)[2] == [5] * 6  # equal lengths: the padded layout has no padding either
    assert pack_rows([9, 8, 5, 4, 3, 2, 2, 1], 18)[2] == [17, 17]  # 34 tokens in 2 rows, none left over


def test_bf16_policy_computes_in_bf16_with_fp32_weights():
    policy = LMActorCritic(_llama(), dtype="bfloat16")
    contexts, lengths, seq_index, positions, _ = _hand_made_batch()
    logits, values = policy.score_positions(contexts, lengths, seq_index, positions)
    assert logits.dtype == torch.float32 and values.dtype == torch.float32  # heads return fp32
    assert all(p.dtype == torch.float32 for p in policy.parameters())
    fp32 = LMActorCritic(policy.model, dtype="float32")
    fp32.value_head = policy.value_head
    logits32, _ = fp32.score_positions(contexts, lengths, seq_index, positions)
    diff = (logits - logits32).abs().max()
    assert 0 < diff < 0.1  # bf16 rounding: not the fp32 figures, yet close
    with pytest.raises(ValueError, match="dtype must be one of"):
        LMActorCritic(_gpt2(), dtype="float16")


def test_a_model_left_in_train_mode_is_scored_through_transformers_forward():
    # the lean blocks have no dropout, so a model in train mode (someone else's training loop,
    # disable_dropout=False) takes transformers' forward; scoring must not fail on it
    torch.manual_seed(0)
    policy = LMActorCritic(_gpt2(), disable_dropout=False)
    contexts, lengths, seq_index, positions, _ = _hand_made_batch()
    with torch.no_grad():
        logits_eval, _ = policy.score_positions(contexts, lengths, seq_index, positions)
        for module in policy.model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0  # train mode without randomness, to compare
        policy.model.train()
        logits_train, _ = policy.score_positions(contexts, lengths, seq_index, positions)
    torch.testing.assert_close(logits_train, logits_eval, atol=1e-5, rtol=1e-5)

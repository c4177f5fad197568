"""The lean decode step equals transformers' forward through the same KV cache."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers import GPT2Config, GPT2Model, LlamaConfig, LlamaModel

from agents.decode import cached_forward, lean_decoder, packed_forward, prefix_nodes, segment_mask, step_mask
from agents.kv_cache import InPlaceLayer
from agents.policies import forward_with_cache

VOCAB = 61


def gpt2(**changes) -> GPT2Model:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, **changes)
    return GPT2Model(config).eval()


def llama(**changes) -> LlamaModel:
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **changes)  # fmt: skip
    return LlamaModel(config).eval()


def prompts() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """3 left-padded prompts (lengths 5, 2, 4): ids, mask, positions."""
    ids = torch.randint(1, VOCAB, (3, 5), generator=torch.Generator().manual_seed(1))
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 0, 1, 1], [0, 1, 1, 1, 1]])
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def prefilled(model, in_place: bool):
    """The prompts' mask and their cache, prefilled by transformers' forward."""
    ids, mask, positions = prompts()
    with torch.no_grad():
        _, cache = forward_with_cache(model, ids, mask, positions, None)
    if in_place:
        cache.layers = [InPlaceLayer(layer.keys, layer.values, room=8) for layer in cache.layers]
    return mask, cache


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
@pytest.mark.parametrize("in_place", [True, False], ids=["in-place", "dynamic"])
def test_decode_step_equals_the_transformers_forward(make, in_place):
    model = make()
    assert lean_decoder(model) is not None
    mask, cache = prefilled(model, in_place)
    lean_cache, hf_cache = cache, copy.deepcopy(cache)
    # step 1: one token per row; step 2: three tokens for row 0, one for row 2, none for row 1 (a hole row)
    steps = [
        (torch.tensor([[7], [8], [9]]), torch.ones(3, 1, dtype=torch.long), torch.tensor([[5], [2], [4]])),
        (torch.tensor([[3, 4, 5], [0, 0, 0], [0, 0, 6]]), torch.tensor([[1, 1, 1], [0, 0, 0], [0, 0, 1]]),
         torch.tensor([[6, 7, 8], [0, 0, 0], [5, 5, 5]])),
    ]  # fmt: skip
    for ids, new_mask, positions in steps:
        mask = torch.cat([mask, new_mask], dim=1)
        with torch.no_grad():
            lean, lean_cache = cached_forward(model, ids, mask, positions, lean_cache)
            hf, hf_cache = forward_with_cache(model, ids, mask, positions, hf_cache)
        assert lean.shape == hf.shape and torch.isfinite(lean).all()
        real = new_mask.bool()
        torch.testing.assert_close(lean[real], hf[real], atol=1e-5, rtol=1e-5)
        for a, b in zip(lean_cache.layers, hf_cache.layers, strict=True):
            seen = mask.bool()[:, None, :, None].expand_as(a.keys)
            torch.testing.assert_close(a.keys[seen], b.keys[seen], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(a.values[seen], b.values[seen], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
def test_a_prefill_equals_the_transformers_forward(make):
    model = make()
    ids, mask, positions = prompts()
    with torch.no_grad():
        lean, cache = cached_forward(model, ids, mask, positions, None)
        hf, hf_cache = forward_with_cache(model, ids, mask, positions, None)
    assert torch.isfinite(lean).all()  # padding slots too: they attend to themselves
    real = mask.bool()
    torch.testing.assert_close(lean[real], hf[real], atol=1e-5, rtol=1e-5)
    assert type(cache) is type(hf_cache) and len(cache.layers) == len(hf_cache.layers)
    for a, b in zip(cache.layers, hf_cache.layers, strict=True):
        assert type(a) is type(b)
        torch.testing.assert_close(a.keys[:, :, -1], b.keys[:, :, -1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(a.values[real[:, None, :, None].expand_as(a.values)],
                                   b.values[real[:, None, :, None].expand_as(b.values)], atol=1e-5, rtol=1e-5)  # fmt: skip


def shared_prompts() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """6 left-padded prompts that share openings: a template's first 3 tokens (rows 0-3), a
    repeated prompt (rows 1 and 2), a prefix of another prompt (row 3 of row 0), and a row
    that starts with the same token as the template but at a later column (row 4)."""
    rows = [[9, 8, 7, 1, 2, 3], [9, 8, 7, 4, 5], [9, 8, 7, 4, 5], [9, 8, 7, 1], [9, 8, 2], [30, 31, 32, 33, 34, 35]]
    width = max(map(len, rows))
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row)
        mask[i, width - len(row) :] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)


def test_prefix_nodes_hold_each_shared_prefix_once():
    ids, mask, _ = shared_prompts()
    nodes = prefix_nodes(ids, mask)
    # 9-8-7 once, then 1-2-3, 4-5 and the 2 after 9-8; the last prompt on its own
    assert nodes.input_ids.tolist() == [9, 8, 7, 1, 2, 3, 4, 5, 2, 30, 31, 32, 33, 34, 35]
    assert nodes.position_ids.tolist() == [0, 1, 2, 3, 4, 5, 3, 4, 2, 0, 1, 2, 3, 4, 5]
    real = mask.bool()
    assert torch.equal(nodes.input_ids[nodes.index][real], ids[real])
    assert torch.equal(nodes.index[1], nodes.index[2])
    assert torch.equal(nodes.index.flatten()[nodes.representative], torch.arange(15))
    # not right-aligned, or nothing shared: the plain forward
    assert prefix_nodes(ids, torch.tensor([[1, 0, 1, 1, 1, 1]] * 6)) is None
    assert prefix_nodes(torch.arange(12).view(2, 6), torch.ones(2, 6)) is None


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
def test_a_prefill_of_shared_prefixes_equals_the_transformers_forward(make, monkeypatch):
    model = make()
    ids, mask, positions = shared_prompts()
    calls = []
    monkeypatch.setattr("agents.decode.prefix_nodes", lambda *a: calls.append(1) or prefix_nodes(*a))
    with torch.no_grad():
        lean, cache = cached_forward(model, ids, mask, positions, None)
        hf, hf_cache = forward_with_cache(model, ids, mask, positions, None)
    assert calls, "the prefill runs through the prefix nodes"
    real = mask.bool()
    torch.testing.assert_close(lean[real], hf[real], atol=1e-5, rtol=1e-5)
    for a, b in zip(cache.layers, hf_cache.layers, strict=True):
        for x, y in ((a.keys, b.keys), (a.values, b.values)):
            assert torch.isfinite(x).all()
            seen = real[:, None, :, None].expand_as(x)
            torch.testing.assert_close(x[seen], y[seen], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
def test_decode_step_in_bf16_autocast_is_close_to_the_transformers_forward(make):
    model = make()
    mask, cache = prefilled(model, in_place=True)
    hf_cache = copy.deepcopy(cache)
    ids, positions = torch.tensor([[7], [8], [9]]), torch.tensor([[5], [2], [4]])
    mask = torch.cat([mask, torch.ones(3, 1, dtype=torch.long)], dim=1)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        lean, _ = cached_forward(model, ids, mask, positions, cache)
        hf, _ = forward_with_cache(model, ids, mask, positions, hf_cache)
    torch.testing.assert_close(lean.float(), hf.float(), atol=0.05, rtol=0.05)


@pytest.mark.parametrize(
    "model",
    [
        lambda: gpt2(scale_attn_by_inverse_layer_idx=True),
        lambda: gpt2(reorder_and_upcast_attn=True),
        lambda: gpt2(activation_function="relu"),
        lambda: gpt2(add_cross_attention=True),
        lambda: torch.nn.Linear(2, 2),
    ],
    ids=["layer-idx-scaling", "upcast-attention", "relu", "cross-attention", "not-a-decoder"],
)
def test_other_configurations_take_the_transformers_forward(model):
    model = model()
    assert lean_decoder(model) is None
    assert cached_forward(model, torch.zeros(1, 1, dtype=torch.long), torch.ones(1, 1), torch.zeros(1, 1), None) is None


def test_step_mask_is_causal_among_new_tokens_and_never_empty():
    mask = step_mask(torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0]]), 2)
    assert mask.shape == (2, 1, 2, 5)
    assert mask[0, 0].tolist() == [[True, False, True, True, False], [True, False, True, True, True]]
    assert mask[1, 0].tolist() == [[False, False, False, True, False], [False, False, False, False, True]]
    one = step_mask(torch.tensor([[1, 0, 0]]), 1)
    assert one[0, 0].tolist() == [[True, False, True]]



def test_the_rollout_runs_no_forward_through_transformers(make_lm, monkeypatch):
    # prefills and decode steps take the lean path; the test would see transformers' forward
    import agents.policies as policies
    from agents import LMActorCritic, Rollout
    from test_rollout import chatty_vec

    calls = []
    forward = policies.forward_with_cache
    monkeypatch.setattr(policies, "forward_with_cache", lambda *a, **k: calls.append(a) or forward(*a, **k))
    policy = LMActorCritic(make_lm(seed=1, vocab_size=50))
    rollout = Rollout(chatty_vec(3), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, _ = rollout.collect(10)
    assert not calls, "a prefill or decode step went through transformers' forward"
    every = torch.arange(batch.num_steps * batch.num_envs)
    with torch.no_grad():
        logp, _, values = policy.evaluate_actions(batch, every)
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-4, rtol=1e-4)
    # lean=False: transformers' forward everywhere (the path before), the same numbers
    policy.lean = False
    with torch.no_grad():
        logp_hf, _, values_hf = policy.evaluate_actions(batch, every)
        rollout.collect(3)
    assert any(c[4] is not None for c in calls), "lean=False decoded without transformers' forward"
    torch.testing.assert_close(logp_hf, logp, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values_hf, values, atol=1e-5, rtol=1e-5)


def test_segment_mask_is_block_diagonal_and_causal():
    # one row: a segment of 3, one of 2, then 1 slot of leftover padding (a segment of its own)
    mask = segment_mask(torch.tensor([[0, 1, 2, 0, 1, 0]]))[0, 0].int().tolist()
    assert mask == [
        [1, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 0, 0, 1, 0, 0],
        [0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1],
    ]


@pytest.mark.parametrize("make", [gpt2, llama], ids=["gpt2", "llama"])
def test_packed_forward_equals_the_transformers_padding_free_forward(make):
    model = make()
    ids = torch.randint(1, VOCAB, (2, 6), generator=torch.Generator().manual_seed(2))
    position_ids = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]])
    lean = packed_forward(model, ids, position_ids)
    hf, _ = forward_with_cache(model, ids, None, position_ids, None, use_cache=False)
    torch.testing.assert_close(lean, hf, atol=1e-5, rtol=1e-5)
    assert packed_forward(gpt2(scale_attn_by_inverse_layer_idx=True), ids, position_ids) is None

"""Cached LM rollouts agree with a full recompute; MLP rollouts over gymnasium envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from torch.utils._python_dispatch import TorchDispatchMode

from agents.actors import ActorPolicy
from agents.buffers import minibatch_indices
from agents.envs import row_info
from agents.evaluation import evaluate_policy
from agents.kv_cache import InPlaceLayer, LMActor, left_pad, step_block
from agents.policies import LMActorCritic, MLPActorCritic
from agents.rollout import Rollout

VOCAB = 50


class ChattyTokenEnv(gym.Env):
    """A token env whose context grows by 1 to 3 tokens a step: the action, then 0-2
    tokens of "the other speaker". Prompts have 1 to 7 tokens; episodes end on token 0
    (terminated) or after a random budget (truncated)."""

    def __init__(self, max_len: int = 48) -> None:
        self.max_len = max_len
        self.observation_space = spaces.Dict(
            {
                "input_ids": spaces.Box(0, VOCAB - 1, (max_len,), np.int64),
                "attention_mask": spaces.Box(0, 1, (max_len,), np.int8),
            }
        )
        self.action_space = spaces.Discrete(VOCAB)

    def _obs(self):
        ids = np.zeros(self.max_len, np.int64)
        mask = np.zeros(self.max_len, np.int8)
        ids[: len(self.ctx)] = self.ctx
        mask[: len(self.ctx)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.ctx = list(self.np_random.integers(1, VOCAB, size=int(self.np_random.integers(1, 8))))
        self.budget = int(self.np_random.integers(2, 9))
        self.t = 0
        return self._obs(), {"prompt": "p"}

    def step(self, action):
        self.ctx.append(int(action))
        self.ctx += list(self.np_random.integers(1, VOCAB, size=int(self.np_random.integers(0, 3))))
        self.t += 1
        terminated = int(action) == 0
        truncated = not terminated and self.t >= self.budget
        info = {"completion": "c", "reward_terms": {"a": 1.0}} if terminated or truncated else {}
        return self._obs(), float(self.t), terminated, truncated, info


def chatty_vec(n: int) -> SyncVectorEnv:
    return SyncVectorEnv([ChattyTokenEnv for _ in range(n)], autoreset_mode=AutoresetMode.SAME_STEP)


def random_lm_policy(make_lm) -> LMActorCritic:
    policy = LMActorCritic(make_lm(seed=1, vocab_size=VOCAB))
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)  # non-trivial values to compare
    return policy


@pytest.mark.parametrize("cache_mode", ["per_row", "rebuild"])
def test_cached_rollout_matches_full_recompute(make_lm, cache_mode):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(chatty_vec(5), policy, generator=torch.Generator().manual_seed(0), cache_mode=cache_mode)
    rollout.reset(seed=3)
    batch, episodes = rollout.collect(40)
    assert batch.obs.shape == (40, 5, 48) and batch.obs_len.shape == (40, 5)
    assert int(batch.dones.sum()) >= 15, "the test needs many resets to exercise re-prefill"
    assert len(episodes) == int(batch.dones.sum())
    # teacher-forced scoring of every step (one forward per segment) equals what the
    # rollout computed incrementally through the KV cache, across resets and multi-token steps
    with torch.no_grad():
        for idx in minibatch_indices(batch, 3, generator=torch.Generator().manual_seed(0), by_segment=True):
            logp, _, values = policy.evaluate_actions(batch, idx)
            torch.testing.assert_close(logp, batch.flat(batch.logprobs)[idx], atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(values, batch.flat(batch.values)[idx], atol=1e-4, rtol=1e-4)
    # the per-row cache is cropped: it never holds much more than the longest context
    if cache_mode == "per_row":
        assert rollout.actor.cache_mask.shape[1] <= 48 + 3


def test_episode_ids_segment_rows(make_lm):
    rollout = Rollout(chatty_vec(3), random_lm_policy(make_lm), generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, _ = rollout.collect(12)
    ep = batch.episode_ids
    assert (ep[0] == 0).all()
    # the id goes up by one exactly after a done
    torch.testing.assert_close(ep[1:] - ep[:-1], batch.dones[:-1].long())


def test_reference_logprobs_of_an_identical_policy_are_the_logprobs(make_lm):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(chatty_vec(3), policy, generator=torch.Generator().manual_seed(0), ref_policy=policy)
    rollout.reset(seed=1)
    batch, _ = rollout.collect(10)
    torch.testing.assert_close(batch.ref_logprobs, batch.logprobs, atol=1e-4, rtol=1e-4)


def test_lm_rollout_on_text_generation(make_token_vec, make_lm):
    env = make_token_vec(4)
    policy = LMActorCritic(make_lm())
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, episodes = rollout.collect(14)  # max_new_tokens=6: every row finishes twice
    assert len(episodes) >= 8
    for ep in episodes:
        assert ep.completion is not None and ep.prompt and "length" in ep.reward_terms
        assert ep.episode_return == pytest.approx(ep.reward_terms["length"])
    # the action taken is the next token of the context
    t, n = 0, 0
    assert batch.obs[t + 1, n, batch.obs_len[t, n]] == batch.actions[t, n]
    assert not batch.bootstrap_values.any()


def test_collect_episodes_gives_one_episode_per_row(make_token_vec, make_lm):
    rollout = Rollout(make_token_vec(4), LMActorCritic(make_lm()), generator=torch.Generator().manual_seed(0))
    batch, episodes = rollout.collect_episodes(seed=[5, 5, 9, 9])
    assert [e.env_index for e in episodes] == [0, 1, 2, 3]
    assert episodes[0].prompt == episodes[1].prompt and episodes[2].prompt == episodes[3].prompt
    # valid until (and including) each row's first done
    first_done = torch.argmax(batch.dones, dim=0)
    for n in range(4):
        assert batch.valid[: first_done[n] + 1, n].all() and not batch.valid[first_done[n] + 1 :, n].any()


def test_mlp_rollout_bootstraps_only_truncated_steps():
    env = gym.make_vec(
        "CartPole-v1",
        num_envs=3,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
        max_episode_steps=10,
    )
    policy = MLPActorCritic(env.single_observation_space, env.single_action_space)
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0), bootstrap_truncated=True)
    rollout.reset(seed=0)
    batch, episodes = rollout.collect(25)
    assert batch.obs.shape == (25, 3, 4) and batch.actions.shape == (25, 3)
    only_trunc = batch.truncated & ~batch.terminated
    assert only_trunc.any()
    assert (batch.bootstrap_values[~only_trunc] == 0).all()
    assert (batch.bootstrap_values[only_trunc] != 0).all()
    assert all(e.length <= 10 for e in episodes)


class MaskedEnv(gym.Env):
    """Discrete(6) actions; only even actions are allowed (``action_masks()``)."""

    observation_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = spaces.Discrete(6)

    def action_masks(self) -> np.ndarray:
        return np.array([True, False, True, False, True, False])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), {}

    def step(self, action):
        assert action % 2 == 0, f"masked action {action} was taken"
        self.t += 1
        return self.np_random.uniform(-1, 1, 3).astype(np.float32), float(action == 4), self.t >= 5, False, {}


def test_action_masks_from_env_call_are_respected():
    env = SyncVectorEnv([MaskedEnv for _ in range(4)], autoreset_mode=AutoresetMode.SAME_STEP)
    policy = MLPActorCritic(env.single_observation_space, env.single_action_space)
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, _ = rollout.collect(20)
    assert batch.action_masks is not None and batch.action_masks.shape == (20, 4, 6)
    assert (batch.actions % 2 == 0).all()
    logp, _, _ = policy.evaluate_actions(batch, torch.arange(80))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-5, rtol=1e-5)


def test_box_and_multidiscrete_actions():
    pend = gym.make_vec(
        "Pendulum-v1", num_envs=2, vectorization_mode="sync", vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}
    )
    policy = MLPActorCritic(pend.single_observation_space, pend.single_action_space)
    rollout = Rollout(pend, policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, _ = rollout.collect(5)
    assert batch.actions.shape == (5, 2, 1)
    logp, _, _ = policy.evaluate_actions(batch, torch.arange(10))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-5, rtol=1e-5)

    md = MLPActorCritic(
        spaces.Dict({"a": spaces.Box(0, 1, (2,)), "b": spaces.Discrete(3)}), spaces.MultiDiscrete([2, 3])
    )
    x = md.obs_to_tensor({"a": np.zeros((4, 2), np.float32), "b": np.array([0, 1, 2, 1])})
    assert x.shape == (4, 5)
    actions, logp, ent, value = md.act(x, generator=torch.Generator().manual_seed(0))
    assert actions.shape == (4, 2) and (actions[:, 1] < 3).all() and logp.shape == ent.shape == value.shape == (4,)


def test_row_info_unpacks_vector_infos():
    info = {
        "final_info": {"x": np.array([1, 0]), "_x": np.array([True, False]), "t": {"a": np.array([0.5, 0.0]), "_a": np.array([True, False])}, "_t": np.array([True, False])},
        "_final_info": np.array([True, False]),
    }
    assert row_info(info["final_info"], 0) == {"x": 1, "t": {"a": 0.5}}
    assert row_info(info["final_info"], 1) == {}
    assert row_info([{"a": 1}, None], 1) == {}


def test_next_step_vector_envs_are_refused():
    env = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    policy = MLPActorCritic(env.single_observation_space, env.single_action_space)
    with pytest.raises(ValueError, match="SAME_STEP"):
        Rollout(env, policy, generator=torch.Generator())


@pytest.mark.parametrize("native", [True, False])
def test_lm_bootstrap_values_use_the_final_context(make_token_vec, make_lm, native):
    env = make_token_vec(3) if native else chatty_vec(3)
    policy = LMActorCritic(make_lm(seed=2, vocab_size=None if native else VOCAB))
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0), bootstrap_truncated=True)
    rollout.reset(seed=0)
    batch, _ = rollout.collect(10)
    only_trunc = batch.truncated & ~batch.terminated
    assert only_trunc.any()
    assert (batch.bootstrap_values[~only_trunc] == 0).all() and (batch.bootstrap_values[only_trunc] != 0).all()
    # V(final context) = the value at the step's context extended by the action (and any appended tokens)
    t, n = [int(i) for i in torch.nonzero(only_trunc)[0]]
    if native:  # the native env appends exactly the action
        ctx = batch.obs[t, n].clone()
        ctx[batch.obs_len[t, n]] = batch.actions[t, n]
        expected = policy.context_values(ctx[None], batch.obs_len[t, n][None] + 1)
        torch.testing.assert_close(batch.bootstrap_values[t, n], expected[0], atol=1e-4, rtol=1e-4)


def test_cached_rollout_with_rotary_positions():
    # Llama-style models rotate keys by position: holes in the cache must not shift them
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128,
    )
    policy = LMActorCritic(LlamaForCausalLM(config).eval())
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    rollout = Rollout(chatty_vec(4), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=5)
    batch, _ = rollout.collect(25)
    assert int(batch.dones.sum()) >= 8
    with torch.no_grad():
        logp, _, values = policy.evaluate_actions(batch, torch.arange(100))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values, batch.flat(batch.values), atol=1e-4, rtol=1e-4)


def _token_env_ids() -> list[str]:
    import lm_envs

    return list(lm_envs.token_env_ids())


CHEAP_REWARDS = {"lm_envs/TextGeneration-v1": {"length": 1.0}, "lm_envs/CustomerServiceQA-v0": {"facts": 1.0}}


@pytest.mark.parametrize("env_id", _token_env_ids(), ids=_token_env_ids())
def test_cached_rollout_on_registered_token_envs(env_id):
    """Every registered token env (multi-turn ones append the customer's reply in a step)."""
    from lm_envs.models import load_policy
    from lm_envs.models.tiny_shop import SHIPPED_DIR

    if not (SHIPPED_DIR / "model.safetensors").is_file():
        pytest.skip("the tiny-shop model is not shipped in this checkout")
    kwargs = {"max_new_tokens": 8}
    if env_id in CHEAP_REWARDS:
        kwargs["reward"] = CHEAP_REWARDS[env_id]
    env = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **kwargs)
    policy = LMActorCritic(load_policy("tiny-shop"))
    torch.nn.init.normal_(policy.value_head.weight, std=0.1)
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    batch, episodes = rollout.collect(20)
    assert episodes and all(e.reward_terms for e in episodes)
    with torch.no_grad():
        logp, _, values = policy.evaluate_actions(batch, torch.arange(60))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values, batch.flat(batch.values), atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------------------------
# lazy re-prefill and the in-place KV cache
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cache_mode", ["per_row", "rebuild"])
def test_splitting_a_collect_changes_nothing(make_lm, cache_mode):
    # collect(7) + collect(13) leaves re-prefills pending at the split (and catches up the
    # other rows for last_value without them); the second half must match collect(20)
    def run(pieces):
        rollout = Rollout(chatty_vec(4), random_lm_policy(make_lm), generator=torch.Generator().manual_seed(0), cache_mode=cache_mode)
        rollout.reset(seed=2)
        return [rollout.collect(n)[0] for n in pieces]

    (whole,) = run([20])
    first, second = run([7, 13])
    assert first.dones[-1].any() and not first.dones[-1].all(), "the split must fall on a step where some rows reset"
    for name in ("actions", "logprobs", "values", "rewards", "entropies"):
        joined = torch.cat([getattr(first, name), getattr(second, name)])
        torch.testing.assert_close(joined, getattr(whole, name), atol=1e-5, rtol=1e-5, msg=name)


def test_last_value_is_the_current_value_or_zero_after_a_done(make_lm):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(chatty_vec(4), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=2)
    batch, _ = rollout.collect(7)
    done = batch.dones[-1].bool()
    assert done.any() and not done.all()
    ids, lens = rollout.actor.record()
    expected = policy.context_values(ids, lens).float().cpu()
    torch.testing.assert_close(batch.last_value[~done], expected[~done], atol=1e-4, rtol=1e-4)
    assert (batch.last_value[done] == 0).all()


def test_prompts_no_action_follows_are_not_prefilled(make_token_vec, make_lm):
    env, policy = make_token_vec(4), LMActorCritic(make_lm())
    rollout = Rollout(env, policy, generator=torch.Generator().manual_seed(0))
    batch, episodes = rollout.collect_episodes(seed=0)
    ended = int(batch.dones.sum())
    ended_last = int(batch.dones[-1].sum())
    assert ended_last >= 1
    # every episode that ended before the last step was followed by an action, those on it were not
    # in episodic collection a finished row is retired: its next episodes are never prefilled
    assert rollout.actor.reprefilled_rows == 0
    assert (batch.last_value == 0).all()
    # evaluation prefills every episode that was followed by an action, not those on the last step
    act = ActorPolicy(policy, env, generator=torch.Generator().manual_seed(0))
    evaluate_policy(env, act, 8, seed=0)
    assert act.actor.reprefilled_rows > 0


def test_in_place_layer_matches_concatenation(monkeypatch):
    # fresh buffers hold NaN here: what attention reads (the window, the holes grow_front adds)
    # must all have been written or zeroed
    new_empty = torch.Tensor.new_empty
    monkeypatch.setattr(torch.Tensor, "new_empty", lambda self, *a, **k: new_empty(self, *a, **k).fill_(float("nan")))
    torch.manual_seed(0)
    keys, values = torch.randn(3, 2, 5, 4), torch.randn(3, 2, 5, 4)
    layer = InPlaceLayer(keys, values, room=4)
    ref_k, ref_v = keys, values
    for step in range(12):  # past the room: the buffers are reallocated
        k, v = torch.randn(3, 2, 1 + step % 2, 4), torch.randn(3, 2, 1 + step % 2, 4)
        out_k, out_v = layer.update(k, v)
        ref_k, ref_v = torch.cat([ref_k, k], dim=2), torch.cat([ref_v, v], dim=2)
        torch.testing.assert_close(out_k, ref_k)
        torch.testing.assert_close(out_v, ref_v)
        if step % 3 == 2:
            layer.drop_front(2)
            ref_k, ref_v = ref_k[:, :, 2:], ref_v[:, :, 2:]
    assert layer.get_seq_length() == ref_k.shape[2]
    extra = layer.start + 3  # more than the room in front: reallocated
    layer.grow_front(extra)
    assert layer.keys.shape[2] == ref_k.shape[2] + extra
    torch.testing.assert_close(layer.keys[:, :, -ref_k.shape[2] :], ref_k)
    torch.testing.assert_close(layer.values[:, :, -ref_v.shape[2] :], ref_v)
    assert torch.isfinite(layer.keys).all()  # the new leading holes are finite (masked, never NaN)


@pytest.mark.parametrize("most", [1, 3])
def test_step_block_matches_left_pad(most):
    # the one-token fast path (most=1) and the general path give left_pad's block and mask,
    # and positions that continue each row's context; rows feeding nothing are all holes
    g = torch.Generator().manual_seed(most)
    ids = torch.randint(0, VOCAB, (9, 12), generator=g)
    lens = torch.randint(1, 13, (9,), generator=g)
    k = torch.randint(0, most + 1, (9,), generator=g).minimum(lens)
    k[0], k[1] = 0, most
    start = lens - k
    block, mask, positions = step_block(ids, lens, start)
    ref_block, ref_mask = left_pad(ids, lens, start=start)
    assert torch.equal(block, ref_block) and torch.equal(mask, ref_mask)
    assert block.shape == (9, most)
    for i in range(9):
        real = mask[i].bool()
        assert torch.equal(block[i, real], ids[i, start[i] : lens[i]])
        assert torch.equal(positions[i, real], torch.arange(start[i], lens[i]))
    assert not mask[0].any()


class RepeatingPromptsEnv(ChattyTokenEnv):
    """ChattyTokenEnv whose prompts come from a pool of three, as in envs with a prompt set."""

    POOL = ([5, 6, 7, 8, 9], [11, 12, 13], [20, 21, 22, 23, 24, 25, 26])

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.ctx = list(self.POOL[int(self.np_random.integers(len(self.POOL)))])
        return self._obs(), info


def repeating_vec(n: int) -> SyncVectorEnv:
    return SyncVectorEnv([RepeatingPromptsEnv for _ in range(n)], autoreset_mode=AutoresetMode.SAME_STEP)


def assert_matches_recompute(policy, batch):
    with torch.no_grad():
        logp, _, values = policy.evaluate_actions(batch, torch.arange(batch.num_steps * batch.num_envs))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values, batch.flat(batch.values), atol=1e-4, rtol=1e-4)


def test_repeated_prompts_reuse_their_kv_and_still_match_recompute(make_lm):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(repeating_vec(5), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=3)
    batch, _ = rollout.collect(30)
    actor = rollout.actor
    assert actor.reused_prompts >= 10 and actor.reused_prompts <= actor.reprefilled_rows
    assert_matches_recompute(policy, batch)


def test_changed_weights_are_not_served_from_remembered_prompts(make_lm):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(repeating_vec(5), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=3)
    rollout.collect(10)
    with torch.no_grad():  # an update in place, as an optimizer step does
        for p in policy.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    rollout.reset(seed=4)  # fresh episodes: every cached token comes from the new weights
    batch, _ = rollout.collect(20)
    assert rollout.actor.reused_prompts > 0
    assert_matches_recompute(policy, batch)


# ---------------------------------------------------------------------------------------
# episodic collection retires finished rows; repeated prompts are prefilled once
# ---------------------------------------------------------------------------------------


def assert_valid_steps_match_recompute(policy, batch):
    idx = torch.nonzero(batch.flat(batch.valid)).flatten()
    with torch.no_grad():
        logp, _, values = policy.evaluate_actions(batch, idx)
    torch.testing.assert_close(logp, batch.flat(batch.logprobs)[idx], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(values, batch.flat(batch.values)[idx], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cache_mode", ["per_row", "rebuild"])
def test_collect_episodes_retires_finished_rows(make_lm, cache_mode):
    policy = random_lm_policy(make_lm)
    rollout = Rollout(chatty_vec(6), policy, generator=torch.Generator().manual_seed(0), cache_mode=cache_mode)
    batch, episodes = rollout.collect_episodes(seed=4)
    actor = rollout.actor
    assert [e.env_index for e in episodes] == list(range(6))
    first_done = torch.argmax(batch.dones.long(), dim=0)
    assert int(first_done.min()) < int(first_done.max()), "the test needs rows that finish early"
    assert int(batch.dones.sum()) > 6, "finished rows keep stepping the env (and resetting)"
    # no prefill for finished rows, and they left the decode batch: only the valid steps
    # (after the first) fed tokens, one each (ChattyTokenEnv adds 0-2 tokens per step)
    assert actor.reprefilled_rows == 0
    assert actor.live is not None and actor.live.numel() == 0
    valid_after_first = int(batch.valid[1:].sum())
    assert actor.step_tokens <= 3 * valid_after_first + 3 * batch.num_steps
    assert_valid_steps_match_recompute(policy, batch)


def test_collect_episodes_is_deterministic_and_keeps_live_rows_unchanged(make_lm):
    # retiring rows changes nothing for the rows still running: a per-row cached collect of
    # the same seed (where finished rows kept decoding) takes the same valid actions
    def episodic():
        r = Rollout(chatty_vec(5), random_lm_policy(make_lm), generator=torch.Generator().manual_seed(1))
        return r.collect_episodes(seed=7)[0]

    a, b = episodic(), episodic()
    for name in ("actions", "logprobs", "values", "valid"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), msg=name)
    r = Rollout(chatty_vec(5), random_lm_policy(make_lm), generator=torch.Generator().manual_seed(1))
    r.reset(seed=7)
    full, _ = r.collect(a.num_steps)
    v = a.valid
    torch.testing.assert_close(a.actions[v], full.actions[v])
    torch.testing.assert_close(a.logprobs[v], full.logprobs[v], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(a.values[v], full.values[v], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cache_mode", ["per_row", "rebuild"])
def test_deduplicated_prefill_matches_per_row_prefill(make_lm, cache_mode, monkeypatch):
    seeds = [5, 5, 5, 9, 9, 9, 2, 2]  # RLOO groups: each prompt 3 (or 2) times

    def run():
        policy = random_lm_policy(make_lm)
        rollout = Rollout(chatty_vec(8), policy, generator=torch.Generator().manual_seed(0), cache_mode=cache_mode)
        batch, _ = rollout.collect_episodes(seed=seeds)
        return policy, batch, rollout.actor.prefill_tokens

    policy, dedup, dedup_tokens = run()
    assert_valid_steps_match_recompute(policy, dedup)

    def per_row(self, block, mask):
        self.prefill_tokens += block.numel()
        return self.policy.prefill(block, mask)

    monkeypatch.setattr(LMActor, "prefill_unique", per_row)
    _, plain, plain_tokens = run()
    assert dedup_tokens * 8 == plain_tokens * 3  # 3 distinct prompts of the 8 rows
    torch.testing.assert_close(dedup.actions, plain.actions)
    for name in ("logprobs", "values"):
        torch.testing.assert_close(getattr(dedup, name), getattr(plain, name), atol=1e-5, rtol=1e-5, msg=name)


def test_deduplicated_prefill_does_not_merge_a_hole_with_token_zero(make_lm):
    policy = random_lm_policy(make_lm)
    actor = LMActor(policy, "per_row")
    ids = torch.tensor([[0, 7, 0], [7, 0, 0], [0, 7, 0]])
    lens = torch.tensor([2, 1, 2])  # [0, 7] and [7] give the same left-padded tokens
    block, mask = left_pad(ids, lens)
    with torch.no_grad():
        logits, values, _ = actor.prefill_unique(block, mask)
        ref_logits, ref_values, _ = policy.prefill(block, mask)
    assert actor.prefill_tokens == 2 * block.shape[1]
    torch.testing.assert_close(logits, ref_logits, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values, ref_values, atol=1e-5, rtol=1e-5)



class _ParameterCasts(TorchDispatchMode):
    """Counts the casts (``aten._to_copy``) of each parameter of ``module`` while active."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.names = {id(p): name for name, p in module.named_parameters()}
        self.casts: dict[str, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._to_copy.default and id(args[0]) in self.names:
            name = self.names[id(args[0])]
            self.casts[name] = self.casts.get(name, 0) + 1
        return func(*args, **(kwargs or {}))


def test_a_bf16_rollout_casts_each_weight_once_per_collect(make_lm):
    # autocast drops its bf16 copies of the weights when the outermost autocast exits; the
    # rollout holds one open around its steps, so a weight is cast once, not once per step
    # (per-step casts made SmolLM2's bf16 rollout slower than fp32)
    policy = LMActorCritic(make_lm(seed=1, vocab_size=VOCAB), dtype="bfloat16")
    rollout = Rollout(chatty_vec(3), policy, generator=torch.Generator().manual_seed(0))
    rollout.reset(seed=0)
    for collect in (lambda: rollout.collect(12), lambda: rollout.collect_episodes(seed=1)):
        with _ParameterCasts(policy) as counter:
            collect()
        assert counter.casts and set(counter.casts.values()) == {1}, counter.casts
    # between collects the weights may change, and the next collect casts them again
    with torch.no_grad():
        policy.model.get_output_embeddings().weight.mul_(2.0)
    batch, _ = rollout.collect(6)
    with torch.no_grad():
        logp, _, _ = policy.evaluate_actions(batch, torch.arange(batch.num_steps * batch.num_envs))
    torch.testing.assert_close(logp, batch.flat(batch.logprobs), atol=0.05, rtol=0.05)


# ---------------------------------------------------------------------------------------
# new episodes' prompts run in the decode step's forward (agents.decode.NewPrompts)
# ---------------------------------------------------------------------------------------


class LockstepEnv(ChattyTokenEnv):
    """Every row's episode lasts 3 steps and its k-th episode starts with the same new prompt
    (never seen before), so all rows reset together onto one prompt: a deduplication case."""

    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed, options=options)
        self.episode = getattr(self, "episode", -1) + 1
        self.ctx = [1 + (self.episode * 7 + j) % (VOCAB - 1) for j in range(2 + self.episode % 4)]
        self.budget = 3
        return self._obs(), info

    def step(self, action):
        obs, reward, _, truncated, info = super().step(max(int(action), 1))  # never ends on token 0
        return obs, reward, False, truncated, info


def _llama_policy() -> LMActorCritic:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128,
    )  # fmt: skip
    policy = LMActorCritic(LlamaForCausalLM(config).eval())
    torch.nn.init.normal_(policy.value_head.weight, std=0.5)
    return policy


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
@pytest.mark.parametrize("make_env", [chatty_vec, lambda n: SyncVectorEnv([LockstepEnv] * n, autoreset_mode=AutoresetMode.SAME_STEP)],
                         ids=["chatty", "lockstep"])  # fmt: skip
def test_new_prompts_in_the_step_match_a_separate_prefill(make_lm, monkeypatch, arch, make_env):
    def collect(lean_prompts: bool):
        policy = random_lm_policy(make_lm) if arch == "gpt2" else _llama_policy()
        calls = []
        prefill = policy.prefill
        monkeypatch.setattr(policy, "prefill", lambda *a: calls.append(a[0].shape) or prefill(*a))
        if not lean_prompts:  # the forward as before: each step's new prompts prefilled on their own
            monkeypatch.setattr(type(policy), "runs_lean", property(lambda self: False))
        rollout = Rollout(make_env(5), policy, generator=torch.Generator().manual_seed(0))
        rollout.reset(seed=3)
        batch, _ = rollout.collect(24)
        monkeypatch.undo()
        return batch, calls, rollout.actor, policy

    batch, calls, actor, policy = collect(True)
    ref, ref_calls, ref_actor, _ = collect(False)
    assert int(batch.dones.sum()) >= 12 and actor.reprefilled_rows >= 12
    assert len(calls) == 1, "only the first prompts run in a prefill of their own"
    assert len(ref_calls) > 1
    assert torch.equal(batch.actions, ref.actions)
    torch.testing.assert_close(batch.logprobs, ref.logprobs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batch.values, ref.values, atol=1e-5, rtol=1e-5)
    assert actor.reused_prompts == ref_actor.reused_prompts
    assert actor.prefill_tokens == ref_actor.prefill_tokens  # a prompt shared by rows runs once either way
    assert_matches_recompute(policy, batch)

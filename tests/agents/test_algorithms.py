"""Every algorithm: config checks, smoke runs, determinism, save/load, failures.

The classic-control tests run all four agents, each on a small env of its action kind
(CartPole for the on-policy agents, Pendulum for DDPG); the token-env tests run the
on-policy agents, which are the ones that act with an LM.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from agents import A2C, DDPG, PPO, REINFORCE, A2CConfig, DDPGConfig, PPOConfig, REINFORCEConfig
from agents.base import TIMING_METRICS
from agents.ppo import adaptive_kl_coef, episodes_in_batch

ALGOS = {
    "PPO": (PPO, PPOConfig(num_envs=4, n_steps=16, minibatch_size=32, update_epochs=2)),
    "A2C": (A2C, A2CConfig(num_envs=4, n_steps=5)),
    "REINFORCE": (REINFORCE, REINFORCEConfig(num_envs=4, group_size=2)),
    "DDPG": (DDPG, DDPGConfig(num_envs=4, learning_starts=100, batch_size=32, buffer_size=2_000,
                              hidden_sizes=(32, 32), log_interval=100)),
}
NAMES = list(ALGOS)
ON_POLICY = ["PPO", "A2C", "REINFORCE"]
CLASSIC_ENV = {name: "Pendulum-v1" if name == "DDPG" else "CartPole-v1" for name in NAMES}


def lm_config(name: str):
    _, cfg = ALGOS[name]
    if name == "PPO":
        return dataclasses.replace(cfg, n_steps=8, minibatch_size=16, kl_coef=0.05, adaptive_kl=True, kl_horizon=100)
    return dataclasses.replace(cfg, kl_coef=0.05) if name == "A2C" else cfg


def comparable(metrics: pd.DataFrame) -> pd.DataFrame:
    return metrics.drop(columns=[c for c in TIMING_METRICS if c in metrics])


# -- config validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_cls", "kwargs", "field"),
    [
        (PPOConfig, {"learning_rate": 0.0}, "learning_rate"),
        (PPOConfig, {"learning_rate": -1e-3}, "learning_rate"),
        (PPOConfig, {"clip_coef": 0.0}, "clip_coef"),
        (PPOConfig, {"num_envs": 4, "n_steps": 10, "minibatch_size": 16}, "minibatch_size"),
        (PPOConfig, {"minibatch_size": 10_000}, "minibatch_size"),
        (PPOConfig, {"gamma": 1.5}, "gamma"),
        (PPOConfig, {"gae_lambda": -0.1}, "gae_lambda"),
        (PPOConfig, {"adaptive_kl": True, "kl_coef": 0.0}, "kl_coef"),
        (PPOConfig, {"target_kl": 0.0}, "target_kl"),
        (PPOConfig, {"num_envs": 0}, "num_envs"),
        (PPOConfig, {"ent_coef": float("nan")}, "ent_coef"),
        (PPOConfig, {"temperature": 0.0}, "temperature"),
        (PPOConfig, {"top_p": 1.5}, "top_p"),
        (PPOConfig, {"cache_mode": "none"}, "cache_mode"),
        (PPOConfig, {"advantage": "gre"}, "advantage"),
        (PPOConfig, {"advantage": "rloo", "num_envs": 6, "group_size": 4}, "group_size"),
        (PPOConfig, {"advantage": "rloo", "group_size": 1}, "group_size"),
        (A2CConfig, {"learning_rate": 0.0}, "learning_rate"),
        (A2CConfig, {"optimizer": "sgd"}, "optimizer"),
        (A2CConfig, {"n_steps": 0}, "n_steps"),
        (A2CConfig, {"max_grad_norm": -1.0}, "max_grad_norm"),
        (REINFORCEConfig, {"learning_rate": -1.0}, "learning_rate"),
        (REINFORCEConfig, {"num_envs": 6, "group_size": 4}, "group_size"),
        (REINFORCEConfig, {"group_size": 1}, "group_size"),
        (REINFORCEConfig, {"baseline": "mean"}, "baseline"),
        (REINFORCEConfig, {"hidden_sizes": ()}, "hidden_sizes"),
        (PPOConfig, {"reference": "fp16"}, "reference"),
        (PPOConfig, {"reference": "none", "kl_coef": 0.1}, "reference"),
        (A2CConfig, {"reference": None}, "reference"),
        (REINFORCEConfig, {"reference": "none", "kl_coef": 0.1}, "reference"),
    ],
)
def test_invalid_config_names_the_field(config_cls, kwargs, field):
    with pytest.raises(ValueError, match=field):
        config_cls(**kwargs)


def test_wrong_config_type_is_refused():
    with pytest.raises(TypeError, match="PPOConfig"):
        PPO("CartPole-v1", config=A2CConfig())


def test_adaptive_kl_coef_moves_towards_target():
    # Ziegler et al. (2019): error clipped to +-0.2, step n / horizon
    assert adaptive_kl_coef(0.1, 12.0, 100, target=6.0, horizon=1000) == pytest.approx(0.1 * (1 + 0.2 * 0.1))
    assert adaptive_kl_coef(0.1, 3.0, 100, target=6.0, horizon=1000) == pytest.approx(0.1 * (1 - 0.2 * 0.1))
    assert adaptive_kl_coef(0.1, 6.6, 100, target=6.0, horizon=1000) == pytest.approx(0.1 * (1 + 0.1 * 0.1))


def test_episodes_in_batch_counts_whole_episodes_not_pieces():
    # 4 rows x 64 steps of 48-token episodes: 256 tokens are 5.33 episodes, although the rollout
    # edges cut them into 4 + (finished) pieces
    assert episodes_in_batch(256, [48, 48, 48]) == pytest.approx(256 / 48)
    assert episodes_in_batch(100, [10, 30]) == pytest.approx(5.0)
    assert episodes_in_batch(256, []) == 1.0  # nothing finished: the batch is one long episode
    assert episodes_in_batch(5, [48]) == 1.0


# -- classic control ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_classic_smoke_and_metrics(name, tmp_path):
    cls, cfg = ALGOS[name]
    agent = cls(CLASSIC_ENV[name], config=cfg, seed=0)
    seen = []
    agent.learn(300, callback=lambda a, row: seen.append(row["timesteps"]))
    m = agent.metrics
    assert len(m) == len(seen) >= 2 and agent.num_timesteps >= 300
    losses = ("critic_loss", "actor_loss") if name == "DDPG" else ("entropy", "policy_loss")
    for col in ("steps_per_s", "timesteps", *losses):
        assert col in m
    if name != "DDPG":
        assert "reward_mean" in m and m["entropy"].between(0, np.log(2) + 1e-6).all()
    agent.metrics_to_csv(tmp_path / "m.csv")
    assert len(pd.read_csv(tmp_path / "m.csv")) == len(m)
    out = agent.evaluate(3)
    assert out["n_episodes"] == 3 and np.isfinite(out["reward_mean"])
    if name != "DDPG":
        assert 1 <= out["reward_mean"] <= 500


def test_callback_false_stops_learning():
    agent = A2C("CartPole-v1", config=A2CConfig(num_envs=2), seed=0)
    agent.learn(1000, callback=lambda a, row: row["update"] < 3)
    assert len(agent.metrics) == 3


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_metrics(name):
    cls, cfg = ALGOS[name]
    env_id = CLASSIC_ENV[name]
    runs = [comparable(cls(env_id, config=cfg, seed=3).learn(200).metrics) for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0], runs[1])
    other = comparable(cls(env_id, config=cfg, seed=4).learn(200).metrics)
    assert not runs[0].equals(other)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_evaluate_roundtrip(name, tmp_path):
    cls, cfg = ALGOS[name]
    agent = cls(CLASSIC_ENV[name], config=cfg, seed=0).learn(200)
    before = agent.evaluate(4, deterministic=False)
    agent.save(tmp_path / "agent")
    assert sorted(p.name for p in (tmp_path / "agent").iterdir()) == ["config.json", "model.safetensors"]
    loaded = cls.load(tmp_path / "agent")
    assert loaded.config == agent.config and loaded.num_timesteps == agent.num_timesteps
    after = loaded.evaluate(4, deterministic=False)
    assert after["reward_mean"] == before["reward_mean"]
    for p, q in zip(agent.policy.parameters(), loaded.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ValueError, match="load it with"):
        (A2C if cls is not A2C else PPO).load(tmp_path / "agent")
    if cls is not DDPG:
        with pytest.raises(ValueError, match="load it with"):
            DDPG.load(tmp_path / "agent")


@pytest.mark.parametrize("name", ON_POLICY)
def test_nan_loss_names_the_update(name):
    cls, cfg = ALGOS[name]
    agent = cls("CartPole-v1", config=cfg, seed=0)
    agent.learn(1)
    # poison the actor: every log-prob, hence the loss, becomes nan
    agent.policy.action_head.register_forward_hook(lambda module, args, out: out * float("nan"))
    with pytest.raises((FloatingPointError, ValueError), match="update 2"):
        agent.learn(200)


def test_nan_value_loss_raises():
    agent = PPO("CartPole-v1", config=ALGOS["PPO"][1], seed=0)
    agent.policy.value_head.register_forward_hook(lambda module, args, out: out * float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite loss.*update 1"):
        agent.learn(100)


def test_env_instance_and_single_env():
    agent = PPO(gym.make("CartPole-v1"), config=ALGOS["PPO"][1], seed=0)
    assert agent.env.num_envs == 4
    agent.learn(100)
    assert agent.evaluate(2)["n_episodes"] == 2


# -- token envs ----------------------------------------------------------------------------


def test_vocab_mismatch_names_both_sizes(make_token_vec, make_lm):
    env = make_token_vec(2)
    vocab = env.single_action_space.n
    with pytest.raises(ValueError, match=rf"policy vocabulary size 50 < env action space size {vocab}"):
        PPO(env, policy=make_lm(vocab_size=50), config=ALGOS["PPO"][1])


@pytest.mark.parametrize("name", ON_POLICY)
def test_token_env_smoke(name, make_token_vec, make_lm):
    cls, _ = ALGOS[name]
    agent = cls(make_token_vec(4), policy=make_lm(), config=lm_config(name), seed=0)
    agent.learn(64)
    m = agent.metrics
    assert "reward/length" in m and m["kl_ref"].notna().all()
    if name == "PPO":
        assert {"clip_fraction", "approx_kl", "kl_coef", "value_loss"} <= set(m)
        # the first epoch of each update starts on-policy: rollout and re-scoring agree
        assert (m["approx_kl"] < 0.05).all()
    out = agent.evaluate(4, deterministic=False)
    assert len(out["samples"]) == 3 and all(isinstance(s["completion"], str) for s in out["samples"])
    assert "reward/length" in out


def test_token_env_from_id_with_env_kwargs(token_env_kwargs, make_lm):
    agent = REINFORCE(
        "lm_envs/TextGeneration-v1", policy=make_lm(), config=REINFORCEConfig(num_envs=4, group_size=2), seed=0,
        env_kwargs=token_env_kwargs,
    )
    assert type(agent.env).__name__ == "TextGenerationEnvV1Vector"
    agent.learn(20)
    assert agent.evaluate(2)["n_episodes"] == 2


def test_rloo_groups_share_a_prompt(make_token_vec, make_lm):
    agent = REINFORCE(make_token_vec(6), policy=make_lm(), config=REINFORCEConfig(num_envs=6, group_size=3), seed=0)
    prompts = []
    agent.rollout.collect_episodes = _spy(agent.rollout.collect_episodes, prompts)
    agent.learn(30)
    for episodes in prompts:
        assert episodes[0] == episodes[1] == episodes[2] and episodes[3] == episodes[4] == episodes[5]
    assert any(eps[0] != eps[3] for eps in prompts)


def test_ppo_rloo_groups_share_a_prompt_and_learn_without_a_critic(make_token_vec, make_lm):
    config = PPOConfig(num_envs=6, minibatch_size=16, update_epochs=2, advantage="rloo", group_size=3, kl_coef=0.05)
    agent = PPO(make_token_vec(6), policy=make_lm(), config=config, seed=0)
    value_head = [p.detach().clone() for p in agent.policy.value_head.parameters()]
    prompts = []
    agent.rollout.collect_episodes = _spy(agent.rollout.collect_episodes, prompts)
    agent.learn(60)
    assert len(prompts) == len(agent.metrics) >= 2
    for episodes in prompts:
        assert episodes[0] == episodes[1] == episodes[2] and episodes[3] == episodes[4] == episodes[5]
    assert any(eps[0] != eps[3] for eps in prompts)
    assert agent.num_timesteps >= 60 and agent.metrics["explained_variance"].isna().all()
    assert agent.metrics["value_loss"].isna().all()
    # no value loss: the critic is left as it was, the policy moved
    assert all(torch.equal(p, q) for p, q in zip(value_head, agent.policy.value_head.parameters(), strict=True))
    assert (agent.metrics["approx_kl"] < 0.05).all() and agent.metrics["kl_ref"].notna().all()
    # the policy moved away from its reference (a sampled KL estimate of a small move can be < 0)
    assert any(not torch.equal(p, q) for p, q in zip(agent.policy.model.parameters(), agent.ref_policy.model.parameters()))
    # deterministic given the seed
    again = PPO(make_token_vec(6), policy=make_lm(), config=config, seed=0).learn(60)
    pd.testing.assert_frame_equal(comparable(agent.metrics), comparable(again.metrics))


def _spy(fn, sink):
    def wrapped(*args, **kwargs):
        batch, episodes = fn(*args, **kwargs)
        sink.append([e.prompt for e in episodes])
        return batch, episodes

    return wrapped


@pytest.mark.parametrize("name", ON_POLICY)
def test_token_env_same_seed_same_metrics(name, make_token_vec, make_lm):
    runs = []
    for _ in range(2):
        agent = _lm_agent(name, make_token_vec, make_lm)
        runs.append(comparable(agent.learn(48).metrics))
    pd.testing.assert_frame_equal(runs[0], runs[1])


def _lm_agent(name, make_token_vec, make_lm, seed=0):
    cls, _ = ALGOS[name]
    return cls(make_token_vec(4), policy=make_lm(), config=lm_config(name), seed=seed)


def test_token_env_save_load(make_token_vec, make_lm, tmp_path):
    agent = _lm_agent("PPO", make_token_vec, make_lm).learn(32)
    before = agent.evaluate(4, deterministic=False)
    agent.save(tmp_path / "ppo", include_reference=True)
    with pytest.raises(ValueError, match="pass env="):
        PPO.load(tmp_path / "ppo")
    loaded = PPO.load(tmp_path / "ppo", env=make_token_vec(4))
    assert loaded.kl_coef == agent.kl_coef != agent.config.kl_coef
    after = loaded.evaluate(4, deterministic=False)
    assert after["samples"] == before["samples"] and after["reward_mean"] == before["reward_mean"]
    for p, q in zip(agent.ref_policy.parameters(), loaded.ref_policy.parameters(), strict=True):
        assert torch.equal(p, q)


# -- the frozen reference ------------------------------------------------------------


@pytest.mark.parametrize("name", ON_POLICY)
def test_reference_none_skips_the_copy_and_kl_ref(name, make_token_vec, make_lm):
    cls, _ = ALGOS[name]
    changes = {"kl_coef": 0.0, "reference": "none", **({"adaptive_kl": False} if name == "PPO" else {})}
    config = dataclasses.replace(lm_config(name), **changes)
    agent = cls(make_token_vec(4), policy=make_lm(), config=config, seed=0).learn(32)
    assert agent.ref_policy is None and agent.rollout.ref_policy is None
    assert agent.metrics["kl_ref"].isna().all()


def test_reference_bf16_is_a_frozen_bf16_copy(make_token_vec, make_lm):
    config = dataclasses.replace(lm_config("PPO"), reference="bf16")
    agent = PPO(make_token_vec(4), policy=make_lm(), config=config, seed=0)
    ref = agent.ref_policy
    assert agent.rollout.ref_policy is ref
    assert {p.dtype for p in ref.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in agent.policy.parameters()} == {torch.float32}
    assert not any(p.requires_grad for p in ref.parameters())
    for p, q in zip(agent.policy.model.parameters(), ref.model.parameters(), strict=True):
        assert torch.equal(p.detach().to(torch.bfloat16), q)
    m = agent.learn(32).metrics
    # the policy starts as the reference: bf16 rounding is all that separates them at first
    assert m["kl_ref"].notna().all() and abs(m["kl_ref"].iloc[0]) < 0.05


def test_reference_bf16_needs_an_lm_policy():
    config = dataclasses.replace(ALGOS["PPO"][1], kl_coef=0.1, reference="bf16")
    with pytest.raises(ValueError, match="reference='bf16' is for LM policies"):
        PPO("CartPole-v1", config=config)


def test_reference_bf16_save_load(make_token_vec, make_lm, tmp_path):
    agent = PPO(make_token_vec(4), policy=make_lm(), config=dataclasses.replace(lm_config("PPO"), reference="bf16"))
    agent.learn(16).save(tmp_path / "ppo", include_reference=True)
    loaded = PPO.load(tmp_path / "ppo", env=make_token_vec(4))
    for p, q in zip(agent.ref_policy.parameters(), loaded.ref_policy.parameters(), strict=True):
        assert p.dtype == q.dtype and torch.equal(p, q)


def test_adam_is_fused_on_cpu():
    agent = PPO("CartPole-v1", config=ALGOS["PPO"][1])
    assert agent.optimizer.defaults["fused"] is True


def test_importing_agents_leaves_pandas_unloaded():
    import subprocess
    import sys

    code = "import sys, agents; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.parametrize("baseline", ["moving_average", "none"])
def test_reinforce_other_baselines(baseline):
    agent = REINFORCE("CartPole-v1", config=REINFORCEConfig(num_envs=4, baseline=baseline), seed=0).learn(200)
    m = agent.metrics
    assert len(m) >= 2 and m["policy_loss"].notna().all()
    if baseline == "none":
        assert (m["baseline_mean"] == 0).all()
    else:
        assert agent.baseline_value is not None and (m["baseline_mean"] > 0).all()


def test_tensorboard_is_optional(tmp_path):
    agent = A2C("CartPole-v1", config=A2CConfig(num_envs=2), seed=0, tensorboard_log=str(tmp_path / "tb"))
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.warns(UserWarning, match="pip install tensorboard"):
            agent.learn(20)
    else:
        agent.learn(20)
        assert any((tmp_path / "tb").iterdir())
    assert len(agent.metrics) == 2


def _tiny_shop_available() -> bool:
    from lm_envs.models.tiny_shop import SHIPPED_DIR

    return (SHIPPED_DIR / "model.safetensors").is_file()


@pytest.mark.skipif(not _tiny_shop_available(), reason="the tiny-shop model is not shipped in this checkout")
def test_tiny_shop_policy_by_name_roundtrip(tmp_path):
    kwargs = {"max_new_tokens": 4, "max_prompt_tokens": 48, "reward": {"length": 1.0}}
    cfg = PPOConfig(num_envs=2, n_steps=4, minibatch_size=8, update_epochs=1, learning_rate=1e-5)
    agent = PPO("lm_envs/TextGeneration-v1", policy="auto", config=cfg, seed=0, env_kwargs=kwargs)
    assert agent.policy.vocab_size == agent.env.single_action_space.n
    agent.learn(8)
    assert agent.metrics["approx_kl"].iloc[0] < 0.01
    before = agent.evaluate(2, deterministic=True)
    agent.save(tmp_path / "tiny")
    loaded = PPO.load(tmp_path / "tiny")  # the env id and JSON env_kwargs rebuild the env
    assert loaded.evaluate(2, deterministic=True)["samples"] == before["samples"]


@pytest.mark.parametrize("name", ["PPO", "A2C"])
def test_critic_lr_scale_puts_the_value_head_in_its_own_group(name):
    cls, cfg = ALGOS[name]
    agent = cls("CartPole-v1", config=dataclasses.replace(cfg, critic_lr_scale=30.0, learning_rate=1e-3), seed=0)
    groups = agent.optimizer.param_groups
    head = {id(p) for p in agent.policy.value_head.parameters()}
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 3e-2])
    assert {id(p) for p in groups[1]["params"]} == head and not head & {id(p) for p in groups[0]["params"]}
    agent._set_lr(5e-4)  # annealing keeps the ratio
    assert [g["lr"] for g in agent.optimizer.param_groups] == pytest.approx([5e-4, 1.5e-2])
    assert len(cls("CartPole-v1", config=cfg, seed=0).optimizer.param_groups) == 1  # 1.0: one group, as before
    with pytest.raises(ValueError, match="critic_lr_scale"):
        dataclasses.replace(cfg, critic_lr_scale=0.0)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_ppo_first_ratio_is_exactly_one_in_bf16(make_token_vec, make_lm, dtype):
    config = PPOConfig(num_envs=4, n_steps=8, minibatch_size=32, update_epochs=1, learning_rate=1e-3, dtype=dtype)
    agent = PPO(make_token_vec(4), policy=make_lm(), config=config, seed=0)
    assert agent.policy.dtype_name == dtype and agent.ref_policy.dtype_name == "float32"
    assert all(p.dtype == torch.float32 for p in agent.policy.parameters())  # master weights fp32
    agent.learn(32)  # one update of one minibatch: its ratio is the first ratio
    row = agent.metrics.iloc[0]
    if dtype == "bfloat16":
        assert row["approx_kl"] == 0.0 and row["clip_fraction"] == 0.0
        # Adam's moments are fp32 too
        assert all(v.dtype == torch.float32 for s in agent.optimizer.state.values() for v in s.values() if v.dim())
    else:  # fp32: the cached decode and the teacher-forced forward agree to float rounding
        assert abs(row["approx_kl"]) < 1e-6


def test_ppo_bf16_old_logprobs_over_several_minibatches(make_token_vec, make_lm):
    # a learning rate too small to move an fp32 weight: every first-epoch ratio must be exactly 1,
    # the first minibatch's (its own training forward) and the others' (the no-grad pass)
    config = PPOConfig(num_envs=4, n_steps=8, minibatch_size=8, update_epochs=1, learning_rate=1e-12, dtype="bfloat16")
    agent = PPO(make_token_vec(4), policy=make_lm(), config=config, seed=0)
    calls = []
    score = agent.policy.evaluate_actions
    agent.policy.evaluate_actions = lambda batch, idx: calls.append(torch.is_grad_enabled()) or score(batch, idx)
    agent.learn(32)
    row = agent.metrics.iloc[0]
    assert row["approx_kl"] == 0.0 and row["clip_fraction"] == 0.0
    # the first minibatch is not scored twice: n - 1 no-grad forwards, then n training ones
    n = calls.count(True)
    assert n >= 2 and calls == [False] * (n - 1) + [True] * n


def test_bf16_rollout_logprobs_differ_from_the_update_forward(make_token_vec, make_lm):
    """Why PPO rescores the old log-probs in bf16: the rollout's cached decode rounds differently."""
    config = PPOConfig(num_envs=4, n_steps=8, minibatch_size=32, update_epochs=1, dtype="bfloat16")
    agent = PPO(make_token_vec(4), policy=make_lm(), config=config, seed=0)
    batch, _ = agent._collect(8)
    idx = torch.nonzero(batch.valid.reshape(-1)).flatten()
    with torch.no_grad():
        rescored = agent.policy.evaluate_actions(batch, idx)[0]
    assert not torch.equal(rescored, batch.logprobs.reshape(-1)[idx])
    assert (rescored - batch.logprobs.reshape(-1)[idx]).abs().max() < 0.1


def test_mlp_policy_rejects_bf16():
    with pytest.raises(ValueError, match="dtype='bfloat16' is for LM policies"):
        PPO("CartPole-v1", config=PPOConfig(num_envs=2, n_steps=8, minibatch_size=16, dtype="bfloat16"))
    with pytest.raises(ValueError, match="dtype must be one of"):
        PPOConfig(dtype="float16")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_lm_agents_run_on_cuda(make_token_vec, make_lm, dtype):
    """Policy, sampler and update on the GPU; the batch comes back to the host for the env."""
    config = PPOConfig(num_envs=4, n_steps=8, minibatch_size=32, update_epochs=1, dtype=dtype, kl_coef=0.01)
    agent = PPO(make_token_vec(4), policy=make_lm(), config=config, seed=0, device="auto")
    assert agent.device.type == "cuda" and agent.generator.device.type == "cuda"
    assert all(p.device.type == "cuda" for p in agent.policy.parameters())
    agent.learn(64)
    assert np.isfinite(agent.metrics["policy_loss"]).all() and agent.metrics["kl_ref"].notna().all()
    assert abs(agent.metrics["approx_kl"].iloc[0]) < 1e-6  # one minibatch: the first ratio is 1
    assert all(p.dtype == torch.float32 for p in agent.policy.parameters())
    rf = REINFORCE(make_token_vec(4), policy=make_lm(), config=REINFORCEConfig(num_envs=4, group_size=2, dtype=dtype),
                   seed=0, device="cuda")  # fmt: skip
    rf.learn(16)
    assert rf.evaluate(2)["n_episodes"] == 2

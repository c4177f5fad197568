"""The hyperparameter table: the shipped files parse and name real envs and fields, the
resolution order (entry, policy-kind default, dataclass default, override) on hand-made
tables, an LM never gets the `mlp` settings, and each bad file is refused naming its key."""

from __future__ import annotations

import dataclasses
import textwrap

import gymnasium as gym
import pytest

import lm_envs
from agents import A2C, DDPG, PPO, DDPGConfig, PPOConfig
from agents.hyperparams import (
    ALGORITHMS,
    DEFAULT,
    LM_REQUIRED,
    MLP,
    ORIGINS,
    HyperparamsError,
    config_class,
    config_for,
    load_table,
    policy_key,
    resolve,
)
from agents.options import LMOptions
from lm_envs.models import MODELS

LM_ALGORITHMS = [a for a in ALGORITHMS if issubclass(config_class(a), LMOptions)]


# ---------------------------------------------------------------------------------------
# the shipped tables
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_every_shipped_entry_names_a_registered_env_and_real_fields(algorithm):
    table = load_table(algorithm)
    names = {f.name for f in dataclasses.fields(config_class(algorithm))}
    assert MLP in table.entries[DEFAULT] or getattr(config_class(algorithm), "lm_only", False)
    for env, by_policy in table.entries.items():
        assert env == DEFAULT or env in lm_envs.ENV_IDS or env in gym.registry
        for key, entry in by_policy.items():
            assert key in (MLP, "lm", *MODELS)
            assert entry.source and set(entry.values) <= names
            if key != MLP:
                assert set(LM_REQUIRED) <= set(entry.values)
            config_class(algorithm)(**entry.values)  # valid as a whole


def test_sft_resolves_for_lms_only():
    sft = resolve("sft", "lm_envs/CustomerServiceDialog-v1", "tiny-shop-reader")
    assert (sft.key, sft.config.learning_rate, sft.config.kl_coef, sft.config.reference) == ("tiny-shop-reader", 1e-3, 0.0, "none")
    assert resolve("sft", "lm_envs/CustomerServiceQA-v0", "runs/my-model").key == "lm"
    with pytest.raises(HyperparamsError, match="sft trains LM policies only"):
        resolve("sft", "CartPole-v1")
    with pytest.raises(HyperparamsError, match="kl_coef must be 0"):
        resolve("sft", "lm_envs/CustomerServiceQA-v0", "tiny-shop", {"kl_coef": 0.1})


def test_the_shipped_ppo_settings_on_the_named_envs():
    assert resolve("ppo", "CartPole-v1").config.update_epochs == 20  # rl-zoo's
    text = resolve("ppo", "lm_envs/TextGeneration-v0")  # auto: tiny-shop on a token env
    assert (text.policy, text.key, text.config.learning_rate, text.config.adaptive_kl) == ("tiny-shop", "tiny-shop", 3e-5, True)
    reader = resolve("ppo", "lm_envs/CustomerServiceQA-v0", "tiny-shop-reader").config
    assert (reader.advantage, reader.learning_rate, reader.reference) == ("rloo", 5e-5, "none")
    assert resolve("ddpg", "lm_envs/ProductRecommendation-v0").config.k_neighbors == 20


# ---------------------------------------------------------------------------------------
# resolution order, on hand-made tables
# ---------------------------------------------------------------------------------------


def _table(tmp_path, text, algorithm="ppo", name="ppo.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return load_table(algorithm, path)


HAND_MADE = """
    default:
      mlp: {source: kind mlp, learning_rate: 1.0e-3, n_steps: 64, minibatch_size: 64}
      lm: {source: kind lm, learning_rate: 1.0e-5, kl_coef: 0.1}
      tiny-shop: {source: kind tiny-shop, learning_rate: 2.0e-5, kl_coef: 0.2}
    CartPole-v1:
      mlp: {source: cartpole mlp, learning_rate: 5.0e-4, gamma: 0.98}
    lm_envs/TextGeneration-v0:
      tiny-shop-reader: {source: text reader, learning_rate: 3.0e-5, kl_coef: 0.3}
      lm: {source: text lm, learning_rate: 4.0e-5, kl_coef: 0.4}
"""


@pytest.mark.parametrize(
    ("env_id", "policy", "where", "learning_rate"),
    [
        ("CartPole-v1", "auto", "CartPole-v1 / mlp", 5e-4),  # the env's entry
        ("Pendulum-v1", "mlp", "default / mlp", 1e-3),  # an env not listed: the kind default
        ("lm_envs/TextGeneration-v0", "tiny-shop-reader", "lm_envs/TextGeneration-v0 / tiny-shop-reader", 3e-5),
        ("lm_envs/TextGeneration-v0", "tiny-shop", "lm_envs/TextGeneration-v0 / lm", 4e-5),  # env/lm before default/model
        ("lm_envs/TextGeneration-v0", "/some/folder", "lm_envs/TextGeneration-v0 / lm", 4e-5),
        ("lm_envs/CustomerServiceQA-v0", "tiny-shop", "default / tiny-shop", 2e-5),  # default/model before default/lm
        ("lm_envs/CustomerServiceQA-v0", "smollm2-135m", "default / lm", 1e-5),
        (None, "mlp", "default / mlp", 1e-3),  # an env instance
    ],
)
def test_resolution_picks_the_most_specific_entry(tmp_path, env_id, policy, where, learning_rate):
    table = _table(tmp_path, HAND_MADE)
    r = resolve("ppo", env_id, policy, table=table, token_env=env_id is not None and "TextGen" in env_id or None)
    assert r.entry.where == f"ppo.yml: {where}" and r.config.learning_rate == learning_rate


def test_one_entry_then_dataclass_defaults_then_overrides(tmp_path):
    table = _table(tmp_path, HAND_MADE)
    r = resolve("ppo", "CartPole-v1", "mlp", {"n_steps": 16, "minibatch_size": 32}, table=table)
    defaults = PPOConfig()
    # the env's entry is used alone: n_steps of the kind default does not leak into it
    assert (r.config.learning_rate, r.config.gamma) == (5e-4, 0.98)
    assert (r.config.n_steps, r.config.minibatch_size) == (16, 32)
    assert r.config.update_epochs == defaults.update_epochs
    assert r.origins["learning_rate"] == r.origins["gamma"] == "table entry"
    assert r.origins["n_steps"] == r.origins["minibatch_size"] == "override"
    assert r.origins["update_epochs"] == "dataclass default"
    assert set(r.origins.values()) <= set(ORIGINS)
    kind = resolve("ppo", "Pendulum-v1", "mlp", table=table)
    assert kind.origins["learning_rate"] == "kind default" and kind.config.n_steps == 64
    assert r.as_dict()["policy"] == "mlp" and set(r.as_dict()) == {"policy"} | {f.name for f in dataclasses.fields(PPOConfig)}


def test_an_lm_policy_never_gets_the_mlp_settings():
    envs = sorted({e for a in LM_ALGORITHMS for e in load_table(a).entries if e != DEFAULT} | {"Pendulum-v1"})
    for algorithm in LM_ALGORITHMS:
        mlp = load_table(algorithm).entries[DEFAULT].get(MLP)  # SFT has none
        for env_id in envs:
            for policy in (*MODELS, "/a/local/model"):
                r = resolve(algorithm, env_id, policy, token_env=True)
                assert r.entry.policy != MLP and r.entry is not mlp, (algorithm, env_id, policy)
                assert r.origins["learning_rate"] == r.origins["kl_coef"] != "dataclass default"


def test_policy_keys():
    assert policy_key("auto", token_env=True) == ("tiny-shop", "tiny-shop")
    assert policy_key("auto", token_env=False) == ("mlp", "mlp")
    assert policy_key("smollm2-135m", token_env=True) == ("smollm2-135m", "smollm2-135m")
    assert policy_key("/models/mine", token_env=True) == ("/models/mine", "lm")


def test_override_errors_name_the_field():
    with pytest.raises(HyperparamsError, match="unknown PPOConfig field 'learning_rat'; known: num_envs"):
        resolve("ppo", "CartPole-v1", overrides={"learning_rat": 1e-3})
    with pytest.raises(HyperparamsError, match=r"minibatch_size must divide .* \(the settings of ppo.yml: CartPole-v1 / mlp"):
        resolve("ppo", "CartPole-v1", overrides={"minibatch_size": 7})
    with pytest.raises(HyperparamsError, match="unknown algorithm 'dqn'; known: a2c, ddpg, ppo, reinforce"):
        resolve("dqn", "CartPole-v1")
    with pytest.raises(HyperparamsError, match="unknown env id 'Nope-v0'"):
        resolve("ppo", "Nope-v0")
    with pytest.raises(HyperparamsError, match="ddpg builds its own MLP networks and takes no LM policy"):
        resolve("ddpg", "lm_envs/TextGeneration-v0")


# ---------------------------------------------------------------------------------------
# a bad table is refused on load, naming the file and key
# ---------------------------------------------------------------------------------------

GOOD_DEFAULT = """
    default:
      mlp: {source: s}
      lm: {source: s, learning_rate: 1.0e-5, kl_coef: 0.05}
"""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("CartPole-v1:\n  mlp: {source: s, learning_rat: 1.0e-3}",
         "ppo.yml: CartPole-v1 / mlp: unknown PPOConfig field 'learning_rat'; known: num_envs"),
        ("CartPol-v1:\n  mlp: {source: s}", "ppo.yml: unknown env id 'CartPol-v1'; use 'default', an lm_envs id"),
        ("CartPole-v1:\n  mlp: {source: s, minibatch_size: 7}", "ppo.yml: CartPole-v1 / mlp: minibatch_size must divide"),
        ("CartPole-v1:\n  mlp: {source: s, learning_rate: 1e-3}",
         "ppo.yml: CartPole-v1 / mlp: learning_rate must be > 0; got '1e-3' (learning_rate: '1e-3' is a string; "
         "YAML needs a dot in a number with an exponent: write 0.001)"),
        ("CartPole-v1:\n  mlp: {learning_rate: 1.0e-3}", "ppo.yml: CartPole-v1 / mlp: needs a 'source'"),
        ("CartPole-v1:\n  tiny-shp: {source: s}", "ppo.yml: CartPole-v1 / tiny-shp: unknown policy key 'tiny-shp'; known: mlp, lm, smollm2-135m"),
        ("lm_envs/TextGeneration-v0:\n  tiny-shop: {source: s, kl_coef: 0.1}",
         "ppo.yml: lm_envs/TextGeneration-v0 / tiny-shop: an LM entry must set learning_rate"),
        ("CartPole-v1: [1]", "ppo.yml: CartPole-v1: must map policy keys"),
    ],
)
def test_a_bad_entry_is_refused_naming_file_and_key(tmp_path, extra, message):
    with pytest.raises(HyperparamsError) as err:
        _table(tmp_path, GOOD_DEFAULT + textwrap.indent(extra, "    "))
    assert message in str(err.value)


def test_a_table_without_kind_defaults_or_with_lm_keys_for_ddpg_is_refused(tmp_path):
    with pytest.raises(HyperparamsError, match="ppo.yml: default / lm: missing"):
        _table(tmp_path, "default:\n  mlp: {source: s}\n")
    with pytest.raises(HyperparamsError, match=r"ddpg.yml: default / lm: unknown policy key 'lm'; known: mlp \(ddpg has no LM"):
        _table(tmp_path, GOOD_DEFAULT, algorithm="ddpg", name="ddpg.yml")


# ---------------------------------------------------------------------------------------
# agents use the table when given no config or a dict
# ---------------------------------------------------------------------------------------


def test_agents_take_the_table_a_dict_over_it_or_a_config_as_is():
    assert PPO("CartPole-v1").config == resolve("ppo", "CartPole-v1").config
    agent = PPO("CartPole-v1", config={"learning_rate": 1e-5, "num_envs": 16})
    assert (agent.config.learning_rate, agent.config.num_envs, agent.config.update_epochs) == (1e-5, 16, 20)
    given = PPOConfig(num_envs=2, n_steps=8, minibatch_size=16)
    assert PPO("CartPole-v1", config=given).config is given
    assert A2C(gym.make("Pendulum-v1")).config == resolve("a2c", None, "mlp").config  # an instance: kind default
    ddpg = DDPG("lm_envs/ProductRecommendation-v0", config={"batch_size": 32, "learning_starts": 10})
    assert (ddpg.config.batch_size, ddpg.config.k_neighbors) == (32, 20)
    with pytest.raises(HyperparamsError, match="unknown PPOConfig field 'lr'"):
        PPO("CartPole-v1", config={"lr": 1e-3})
    with pytest.raises(TypeError, match="config must be a PPOConfig, a dict of its fields or None; got DDPGConfig"):
        PPO("CartPole-v1", config=DDPGConfig())


def test_config_for_an_lm_on_a_token_env_without_building_the_agent():
    config = config_for("reinforce", config_class("reinforce"), {"num_envs": 8}, "lm_envs/TextGeneration-v0", "tiny-shop")
    assert (config.learning_rate, config.gamma, config.num_envs) == (3e-5, 1.0, 8)

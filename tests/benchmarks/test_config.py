"""Configs are checked before any run starts; errors name the bad key and the valid ones."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks.presets import PRESETS, ConfigError, get_preset, load_config
from benchmarks.suite import AGENTS, RunSpec, plan, resolve_config
from bench_helpers import cli, rec_config


def test_plan_expands_agents_envs_and_seeds():
    specs = plan(rec_config(seeds=2))
    assert [s.key for s in specs] == [
        "ProductRecommendation-v0__ppo__seed0", "ProductRecommendation-v0__ppo__seed1",
        "ProductRecommendation-v0__random__seed0", "ProductRecommendation-v0__random__seed1",
        "ProductRecommendation-v0__oracle__seed0", "ProductRecommendation-v0__oracle__seed1",
    ]
    ppo = specs[0]
    assert ppo.steps == 256 and ppo.eval_episodes == 8 and ppo.env_kwargs == {"max_steps": 5}
    assert ppo.agent_config["n_steps"] == 16
    assert specs[2].steps == 0  # baselines are not trained
    assert RunSpec.from_dict(ppo.to_dict()) == ppo and ppo.digest() == RunSpec.from_dict(ppo.to_dict()).digest()


def test_default_agents_are_the_applicable_ones():
    config = rec_config()
    config["baselines"] = ["random", "initial", "oracle"]
    config["agents"]["ddpg"] = {"learning_starts": 10}
    del config["envs"][0]["agents"]
    names = {s.agent for s in plan(config)}
    assert names == {"ppo", "ddpg", "random", "oracle"}  # "initial" is only for LM envs


def test_env_agent_config_overrides_the_global_one():
    config = rec_config()
    config["envs"][0]["agent_config"] = {"ppo": {"learning_rate": 1e-3}}
    ppo = next(s for s in plan(config) if s.agent == "ppo")
    assert ppo.agent_config["learning_rate"] == 1e-3 and ppo.agent_config["num_envs"] == 4


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c["envs"][0]["agents"].append("dqn"), "unknown agent 'dqn'; known: a2c, ddpg, initial"),
        (lambda c: c["envs"][0].update(id="lm_envs/Nope-v0"), "unknown env 'lm_envs/Nope-v0'; known: "),
        (lambda c: c.update(stepz=3), "unknown key 'stepz'; known: name, description, seeds"),
        (lambda c: c["envs"][0].update(kwarg={}), "unknown key 'kwarg'; known: id, kwargs"),
        (lambda c: c["agents"]["ppo"].update(learning_rat=1.0), "unknown ppo hyperparameter 'learning_rat'; known: policy, num_envs"),
        (lambda c: c["agents"]["ppo"].update(minibatch_size=7), "minibatch_size must divide"),
        (lambda c: c["envs"][0]["kwargs"].update(reward={"clik": 1.0}), "unknown reward term 'clik'; known: click"),
        (lambda c: c["envs"][0]["agents"].append("initial"), "agent 'initial' does not apply"),
        (lambda c: c.update(seeds=0), "seeds must be an int >= 1"),
        (lambda c: c["envs"][0].update(score={"low": "randm"}), "score.low: unknown agent 'randm'"),
        (lambda c: c.update(baselines=["orcle"]), "unknown baseline 'orcle'; known: initial, oracle, popular, random"),
    ],
)
def test_bad_configs_are_refused_with_the_valid_choices(mutate, message):
    config = rec_config()
    mutate(config)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        plan(config)


def test_bad_token_env_reward_names_the_known_rewards():
    config = {"seeds": 1, "agents": {}, "baselines": ["random"],
              "envs": [{"id": "lm_envs/TextGeneration-v0", "kwargs": {"reward": {"sentimnt": 1.0}}}]}
    with pytest.raises(ConfigError, match="unknown reward 'sentimnt'; known: .*sentiment"):
        plan(config)


def test_all_errors_are_reported_at_once():
    config = rec_config()
    config["agents"]["ppox"] = {}
    config["envs"][0]["agents"].append("dqn")
    with pytest.raises(ConfigError) as err:
        plan(config)
    assert "'ppox'" in str(err.value) and "'dqn'" in str(err.value)


def test_unknown_preset_and_config_sources():
    with pytest.raises(ConfigError, match="unknown preset 'quik'; known: smoke, quick, full"):
        get_preset("quik")
    with pytest.raises(ConfigError, match="exactly one"):
        resolve_config()
    assert set(PRESETS) == {"smoke", "quick", "full"}


def test_toml_and_yaml_read_the_same_config(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        'name = "c"\nseeds = [0, 2]\nsteps = 64\n[agents.ppo]\nnum_envs = 4\nhidden_sizes = [32, 32]\n'
        '[[envs]]\nid = "lm_envs/ProductRecommendation-v0"\nkwargs = { max_steps = 5 }\nagents = ["ppo", "random"]\n'
    )
    yaml = tmp_path / "c.yaml"
    yaml.write_text(
        "name: c\nseeds: [0, 2]\nsteps: 64\nagents:\n  ppo: {num_envs: 4, hidden_sizes: [32, 32]}\n"
        "envs:\n  - id: lm_envs/ProductRecommendation-v0\n    kwargs: {max_steps: 5}\n    agents: [ppo, random]\n"
    )
    a, b = load_config(toml), load_config(yaml)
    assert a == b
    assert [s.key for s in plan(a)] == [s.key for s in plan(b)]
    assert {s.seed for s in plan(a)} == {0, 2}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "seeds = [", "is malformed: TOMLDecodeError"),
        ("bad.yaml", "seeds: [1, 2\nenvs: x", "is malformed"),
        ("evil.yaml", "!!python/object/apply:os.system ['echo hi']", "is malformed: ConstructorError"),
        ("list.yaml", "- 1\n- 2\n", "must hold a mapping"),
        ("c.ini", "[x]", "unknown suffix '.ini'"),
    ],
)
def test_malformed_config_files_are_refused(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_cli_refuses_a_bad_config_before_any_run(tmp_path, subprocess_env):
    config = rec_config()
    config["envs"][0]["agents"] = ["ppo", "sac"]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "out"
    proc = subprocess.run(cli("bench", "--config", str(path), "--out", str(out)), capture_output=True, text=True,
                          env=subprocess_env, timeout=120)
    assert proc.returncode == 2
    assert "unknown agent 'sac'; known: a2c, ddpg, initial, oracle, popular, ppo, random, reinforce" in proc.stderr
    assert not out.exists()
    proc = subprocess.run(cli("bench", "--preset", "smok"), capture_output=True, text=True, env=subprocess_env,
                          timeout=120)
    assert proc.returncode == 2 and "unknown preset 'smok'; known: smoke, quick, full" in proc.stderr


def test_registry_kinds():
    assert {n for n, e in AGENTS.items() if e.kind == "learner"} == {"reinforce", "a2c", "ppo", "ddpg"}
    assert {n for n, e in AGENTS.items() if e.kind == "baseline"} == {"random", "initial", "oracle", "popular"}


def test_the_example_config_and_every_preset_plan():
    from bench_helpers import ROOT

    specs = plan(load_config(ROOT / "benchmarks" / "configs" / "example.toml"))
    assert {s.agent for s in specs} == {"ppo", "reinforce", "random", "initial", "oracle", "popular"}
    for name in PRESETS:
        assert plan(get_preset(name))


def test_the_initial_baseline_starts_from_the_learners_lm():
    config = {"seeds": 1, "steps": 8, "baselines": ["initial", "random"],
              "agents": {"ppo": {"policy": "tiny-shop", "num_envs": 4, "n_steps": 2, "minibatch_size": 8}},
              "envs": [{"id": "lm_envs/TextGeneration-v0", "kwargs": {"max_new_tokens": 4}}]}
    specs = {s.agent: s for s in plan(config)}
    assert set(specs) == {"ppo", "initial", "random"}
    assert specs["initial"].agent_config == {"policy": "tiny-shop"} and specs["initial"].steps == 0

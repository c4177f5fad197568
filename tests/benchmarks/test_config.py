"""Configs are checked before any run starts; errors name the bad key and the valid ones."""

from __future__ import annotations

import json
import subprocess

import pytest

from benchmarks.config import BenchConfig, EnvEntry, Score, parse_config
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
              "envs": [{"id": "lm_envs/TextGeneration-v1", "kwargs": {"reward": {"sentimnt": 1.0}}}]}
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
    assert "unknown agent 'sac'; known: a2c, ddpg, initial, oracle, popular, ppo, random, reinforce, sft" in proc.stderr
    assert not out.exists()
    proc = subprocess.run(cli("bench", "--preset", "smok"), capture_output=True, text=True, env=subprocess_env,
                          timeout=120)
    assert proc.returncode == 2 and "unknown preset 'smok'; known: smoke, quick, full" in proc.stderr


def test_registry_kinds():
    assert {n for n, e in AGENTS.items() if e.kind == "learner"} == {"reinforce", "a2c", "ppo", "ddpg", "sft"}
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
              "envs": [{"id": "lm_envs/TextGeneration-v1", "kwargs": {"max_new_tokens": 4}}]}
    specs = {s.agent: s for s in plan(config)}
    assert set(specs) == {"ppo", "initial", "random"}
    assert specs["initial"].agent_config == {"policy": "tiny-shop"} and specs["initial"].steps == 0


# ---------------------------------------------------------------------------------------
# the parsed config: typed dataclasses, each field checked once
# ---------------------------------------------------------------------------------------


def test_parse_config_gives_typed_dataclasses():
    config = parse_config(rec_config(seeds=2))
    assert isinstance(config, BenchConfig)
    assert config.name == "rec-test" and config.seeds == (0, 1) and config.steps == 256
    assert config.eval_every == 128 and config.eval_episodes == 8 and config.deterministic is False
    assert config.baselines == () and set(config.agents) == {"ppo"}
    (env,) = config.envs
    assert isinstance(env, EnvEntry) and env.env_id == "lm_envs/ProductRecommendation-v0"
    assert env.kwargs == {"max_steps": 5} and env.agents == ("ppo", "random", "oracle")
    assert env.info.recommender and not env.info.token_env and env.info.action_space == "Discrete"
    assert env.score == Score(low="random", high="oracle")
    assert env.agent_configs["ppo"]["n_steps"] == 16 and env.agent_configs["random"] == {}
    assert (env.steps, env.eval_every, env.eval_episodes) == (256, 128, 8)


def test_defaults_of_an_empty_entry():
    config = parse_config({"baselines": ["random"], "envs": [{"id": "lm_envs/ProductRecommendation-v0"}]})
    assert config.name == "bench" and config.seeds == (0, 1, 2)
    assert (config.steps, config.eval_every, config.eval_episodes) == (2048, 512, 16)
    (env,) = config.envs
    assert env.kwargs == {} and env.agents == ("random",) and env.score == Score()
    assert (env.steps, env.eval_every, env.eval_episodes) == (2048, 512, 16)


def test_seed_lists_keep_order_and_drop_repeats():
    config = rec_config()
    config["seeds"] = [3, 1, 3]
    assert parse_config(config).seeds == (3, 1)


def test_env_counts_override_the_config_ones():
    config = rec_config()
    config["envs"][0].update(steps=64, eval_every=32, eval_episodes=2)
    (env,) = parse_config(config).envs
    assert (env.steps, env.eval_every, env.eval_episodes) == (64, 32, 2)


def test_plan_expands_a_parsed_config_exactly_as_its_raw_data():
    raw = rec_config(seeds=2)
    parsed = parse_config(raw)
    assert plan(parsed) == plan(raw) == parsed.run_specs()
    assert [s.steps for s in plan(parsed)] == [256, 256, 0, 0, 0, 0]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_expands_to_envs_x_agents_x_seeds(name):
    parsed = parse_config(get_preset(name))
    specs = parsed.run_specs()
    assert len(specs) == len({s.key for s in specs}) == sum(len(e.agents) for e in parsed.envs) * len(parsed.seeds)
    for env in parsed.envs:
        assert all(AGENTS[a].applies(env.info) for a in env.agents) and set(env.agent_configs) == set(env.agents)


def _set(path: str, value):
    """A mutation of rec_config(): set the dotted ``path`` (``envs.0.score``) to ``value``."""

    def mutate(config: dict) -> None:
        *parents, last = path.split(".")
        node = config
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


ENV = "envs[0] (lm_envs/ProductRecommendation-v0)"
KNOWN_AGENTS = "a2c, ddpg, initial, oracle, popular, ppo, random, reinforce"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set("seeds", -1), "seeds must be an int >= 1; got -1"),
        (_set("seeds", True), "seeds must be a positive int or a non-empty list of ints >= 0; got True"),
        (_set("seeds", [0, -1]), "seeds must be a positive int or a non-empty list of ints >= 0; got [0, -1]"),
        (_set("seeds", []), "seeds must be a positive int or a non-empty list of ints >= 0; got []"),
        (_set("steps", 0), "steps must be an int >= 1; got 0"),
        (_set("steps", 10.0), "steps must be an int >= 1; got 10.0"),
        (_set("eval_every", True), "eval_every must be an int >= 1; got True"),
        (_set("eval_episodes", "8"), "eval_episodes must be an int >= 1; got '8'"),
        (_set("deterministic", "yes"), "deterministic must be true or false; got 'yes'"),
        (_set("agents", ["ppo"]), "agents must be a mapping of agent name -> hyperparameters; got list"),
        (_set("agents.dqn", {}), f"agents: unknown agent 'dqn'; known: {KNOWN_AGENTS}"),
        (_set("agents.ppo", [1]), "agents.ppo must be a mapping of hyperparameters; got list"),
        (_set("agents.ppo", {"num_envs": "x"}), "agents.ppo on lm_envs/ProductRecommendation-v0: num_envs must be an int >= 1; got 'x'"),
        (_set("agents.random", {"x": 1}), "agents.random: baseline 'random' takes no option 'x'"),
        (_set("agents.initial", {"x": 1}), "agents.initial: baseline 'initial' takes no option 'x'; known: policy"),
        (_set("baselines", "random"), "baselines must be a list of names; got 'random'; known: initial, oracle"),
        (_set("baselines", ["ppo"]), "unknown baseline 'ppo'; known: initial, oracle, popular, random"),
        (_set("envs", []), "envs must be a non-empty list of env entries"),
        (_set("envs", {"id": "x"}), "envs must be a non-empty list of env entries"),
        (_set("envs.0", "lm_envs/TextGeneration-v1"), "envs[0] must be a mapping with an 'id'"),
        (_set("envs.0", {"kwargs": {}}), "envs[0] must be a mapping with an 'id'; got {'kwargs': {}}"),
        (_set("envs.0.kwargs", [1]), f"{ENV}.kwargs must be a mapping; got [1]"),
        (_set("envs.0.kwargs", {"max_stepz": 3}), f"{ENV}.kwargs: TypeError: "),
        (_set("envs.0.agents", "ppo"), f"{ENV}.agents must be a list of agent names; got 'ppo'; known: {KNOWN_AGENTS}"),
        (_set("envs.0.steps", 0), f"{ENV}.steps must be an int >= 1; got 0"),
        (_set("envs.0.eval_every", "x"), f"{ENV}.eval_every must be an int >= 1; got 'x'"),
        (_set("envs.0.eval_episodes", -1), f"{ENV}.eval_episodes must be an int >= 1; got -1"),
        (_set("envs.0.agent_config", [1]), f"{ENV}.agent_config must be a mapping of agent name -> hyperparameters; got list"),
        (_set("envs.0.agent_config", {"dqn": {}}), f"{ENV}.agent_config: unknown agent 'dqn'; known: {KNOWN_AGENTS}"),
        (_set("envs.0.agent_config", {"ppo": [1]}), f"{ENV}.agent_config.ppo must be a mapping of hyperparameters; got list"),
        (_set("envs.0.agent_config", {"ppo": {"lr": 1}}), f"{ENV}.agent_config.ppo: unknown ppo hyperparameter 'lr'; known: policy, "),
        (_set("envs.0.agent_config", {"random": {"x": 1}}), f"{ENV}.agent_config.random: baseline 'random' takes no option 'x'"),
        (_set("envs.0.agents", ["a2c"]), ""),  # a learner missing from `agents` runs with its defaults
        (_set("envs.0.score", [1]), f"{ENV}.score must be a mapping with keys low and high; got [1]"),
        (_set("envs.0.score", {"lo": "random"}), f"{ENV}.score must be a mapping with keys low and high"),
        (_set("envs.0.score", {"high": True}), f"{ENV}.score.high must be an agent name or a number; got True"),
        (_set("envs.0.score", {"high": "orcle"}), f"{ENV}.score.high: unknown agent 'orcle'; known: {KNOWN_AGENTS}"),
    ],
)
def test_each_field_names_itself_and_the_valid_choices(mutate, message):
    config = rec_config()
    mutate(config)
    if not message:
        assert parse_config(config)
        return
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    assert message in str(err.value)


def test_a_config_must_be_a_mapping():
    with pytest.raises(ConfigError, match="a benchmark config must be a mapping; got list"):
        parse_config([1])  # type: ignore[arg-type]


def test_an_env_listed_twice_is_refused_and_no_runs_is_refused():
    config = rec_config()
    config["envs"].append(dict(config["envs"][0]))
    with pytest.raises(ConfigError, match=r"the same \(env, agent, seed\) appears twice: ProductRecommendation-v0__oracle"):
        parse_config(config)
    config = rec_config()
    config["envs"][0]["agents"] = []
    with pytest.raises(ConfigError, match="the config expands to no runs"):
        parse_config(config)


def test_every_problem_of_a_config_in_one_error():
    config = rec_config()
    config.update(stepz=1, seeds=0, deterministic=1)
    config["envs"][0]["score"] = {"low": "randm"}
    config["envs"].append({"id": "lm_envs/Nope-v0"})
    with pytest.raises(ConfigError) as err:
        parse_config(config)
    lines = str(err.value).splitlines()
    assert lines[0] == "invalid benchmark config:" and len(lines) == 6
    for part in ("'stepz'", "seeds must", "deterministic must", "score.low", "'lm_envs/Nope-v0'"):
        assert any(part in line for line in lines[1:]), part


# ---------------------------------------------------------------------------------------
# learners' settings: the hyperparameter table, resolved into every run spec
# ---------------------------------------------------------------------------------------


def test_a_spec_holds_every_setting_of_its_learner():
    import dataclasses as dc

    from agents.hyperparams import resolve

    for spec in plan(get_preset("smoke")):
        if AGENTS[spec.agent].kind != "learner":
            continue
        cls = AGENTS[spec.agent].load().config_class
        assert set(spec.agent_config) == {"policy"} | {f.name for f in dc.fields(cls)}
        assert spec.agent_config["policy"] in ("tiny-shop", "mlp")  # "auto" made concrete
    ppo = next(s for s in plan(rec_config()) if s.agent == "ppo")
    table = resolve("ppo", "lm_envs/ProductRecommendation-v0", "mlp").config
    assert ppo.agent_config["learning_rate"] == table.learning_rate  # not set by the config: the table's
    assert ppo.agent_config["n_steps"] == 16  # set by the config


def test_a_table_change_changes_the_run_digests(tmp_path, monkeypatch):
    import agents.hyperparams as hyperparams

    before = {s.key: s.digest() for s in plan(rec_config())}
    for algorithm in hyperparams.ALGORITHMS:
        (tmp_path / f"{algorithm}.yml").write_text(hyperparams.load_table(algorithm).path.read_text())
    table = tmp_path / "ppo.yml"
    table.write_text(table.read_text().replace("learning_rate: 3.0e-3", "learning_rate: 2.0e-3"))
    monkeypatch.setattr(hyperparams, "TABLE_DIR", tmp_path)
    after = {s.key: s.digest() for s in plan(rec_config())}
    assert after["ProductRecommendation-v0__ppo__seed0"] != before["ProductRecommendation-v0__ppo__seed0"]
    assert after["ProductRecommendation-v0__random__seed0"] == before["ProductRecommendation-v0__random__seed0"]

"""`lm-envs hyperparams` and `lm-envs tune`: the printed settings, clear errors before anything
runs, search spaces of real fields, a study that resumes after its process is killed, and a
best entry that the table accepts."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import subprocess
import time

import pytest
import yaml

from agents.hyperparams import ALGORITHMS, config_class, load_table
from benchmarks.cli import main
from benchmarks.tune import SEARCH_SPACES, TuneError, TuneSettings, check_settings, search_space
from bench_helpers import cli

optuna = pytest.importorskip("optuna")


# ---------------------------------------------------------------------------------------
# lm-envs hyperparams
# ---------------------------------------------------------------------------------------


def test_hyperparams_prints_each_field_with_its_origin(capsys):
    assert main(["hyperparams", "ppo", "lm_envs/TextGeneration-v0", "--agent-config", '{"learning_rate": 2e-5}']) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "ppo on lm_envs/TextGeneration-v0, policy tiny-shop"
    assert lines[1] == "table entry: agents/hyperparams/ppo.yml: lm_envs/TextGeneration-v0 / tiny-shop"
    assert lines[2].startswith("source: python -m benchmarks.learning text")
    rows = {line.split()[0]: line.split() for line in lines[5:]}
    assert rows["n_steps"][1:] == ["128", "table", "entry"]
    assert rows["clip_coef"][1:] == ["0.2", "dataclass", "default"]
    assert rows["learning_rate"][1:] == ["2e-05", "override"]
    assert len(rows) == len(dataclasses.fields(config_class("ppo")))


def test_hyperparams_of_an_env_not_in_the_table_is_the_kind_default(capsys):
    assert main(["hyperparams", "a2c", "Acrobot-v1"]) == 0
    out = capsys.readouterr().out
    assert "policy-kind default: agents/hyperparams/a2c.yml: default / mlp" in out
    assert "learning_rate        0.0007     kind default" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["hyperparams", "dqn", "CartPole-v1"], "unknown algorithm 'dqn'; known: a2c, ddpg, ppo, reinforce"),
        (["hyperparams", "ppo", "CartPol-v1"], "unknown env id 'CartPol-v1'"),
        (["hyperparams", "ppo", "CartPole-v1", "--agent-config", '{"lr": 1}'], "unknown PPOConfig field 'lr'"),
        (["hyperparams", "ppo", "CartPole-v1", "--policy", "tiny-shp"], "unknown policy 'tiny-shp'; use auto, mlp"),
    ],
)
def test_hyperparams_errors(capsys, args, message):
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_list_mentions_the_hyperparameters(capsys):
    assert main(["list"]) == 0
    assert "lm-envs hyperparams ALGO ENV [--policy NAME]" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# lm-envs tune: settings checked before anything runs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"agent": "dqn"}, "--agent 'dqn' is not an agent; learners: a2c, ddpg, ppo, reinforce"),
        ({"agent": "random"}, "--agent 'random' is a baseline: it is not trained; learners:"),
        ({"env": "CartPol-v1"}, "unknown env 'CartPol-v1'; lm_envs ids: lm_envs/TextGeneration-v0"),
        ({"policy": "tiny-shp"}, "unknown policy 'tiny-shp'; use auto, mlp, a model name (smollm2-135m"),
        ({"policy": "tiny-shop"}, "--policy 'tiny-shop' is an LM, and CartPole-v1 is not a token env"),
        ({"agent": "ddpg", "env": "lm_envs/TextGeneration-v1"}, "agent 'ddpg' does not apply to lm_envs/TextGeneration-v1"),
        ({"trials": 0}, "--trials must be an int in [1, 10,000]; got 0"),
        ({"trials": 10**6}, "--trials must be an int in [1, 10,000]"),
        ({"steps": 0}, "--steps must be an int in [1, 100,000,000]; got 0"),
        ({"seeds": ()}, "--seeds takes 1 to 32 seeds; got 0"),
        ({"seeds": tuple(range(33))}, "--seeds takes 1 to 32 seeds; got 33"),
        ({"seeds": (-1,)}, "--seeds must be an int in [0, 2,147,483,647]; got -1"),
        ({"seeds": (1, 1)}, "--seeds lists a seed twice"),
        ({"eval_episodes": 0}, "--eval-episodes must be an int in [1, 10,000]"),
        ({"workers": 0}, "--workers must be an int in [1, 64]"),
        ({"fixed": {"lr": 1e-3}}, "unknown ppo hyperparameter 'lr'"),
        ({"fixed": {"minibatch_size": 7}}, "minibatch_size must divide"),
    ],
)
def test_bad_tune_settings_are_refused_before_anything_runs(tmp_path, changes, message):
    settings = dataclasses.replace(TuneSettings(agent="ppo", env="CartPole-v1", trials=2, out=str(tmp_path / "t")), **changes)
    with pytest.raises(TuneError) as err:
        check_settings(settings)
    assert message in str(err.value)
    assert not (tmp_path / "t").exists()


def test_the_cli_reports_a_bad_tune_setting(tmp_path):
    proc = subprocess.run(cli("tune", "--agent", "dqn", "--env", "CartPole-v1", "--trials", "2", "--out", str(tmp_path)),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "lm-envs tune: error: --agent 'dqn' is not an agent" in proc.stderr


@pytest.mark.parametrize("algorithm", list(SEARCH_SPACES))
def test_search_spaces_name_config_fields(algorithm):
    assert set(SEARCH_SPACES) == set(ALGORITHMS)
    names = {f.name for f in dataclasses.fields(config_class(algorithm))} | {"minibatches"}
    for kind, space in SEARCH_SPACES[algorithm].items():
        assert kind in ("mlp", "lm") and set(space) <= names
        for kind_of, *args in space.values():
            assert kind_of in ("log", "float", "int", "choice") and args
    assert "learning_rate" not in search_space("ppo", "mlp", {"learning_rate": 1e-3})
    assert "minibatches" not in search_space("ppo", "tiny-shop", {"minibatch_size": 8})


def test_base_spec_is_the_table_plus_fixed_fields():
    base = check_settings(TuneSettings(agent="ppo", env="CartPole-v1", trials=2, steps=1000,
                                       fixed={"ent_coef": 0.01}))
    assert base.agent_config["policy"] == "mlp" and base.agent_config["update_epochs"] == 20
    assert base.agent_config["ent_coef"] == 0.01 and base.eval_every == 250


# ---------------------------------------------------------------------------------------
# a tiny study: it resumes after a kill, and its best entry loads into the table
# ---------------------------------------------------------------------------------------

TINY = ["--agent", "ppo", "--env", "CartPole-v1", "--steps", "1024", "--eval-every", "512", "--eval-episodes", "2",
        "--agent-config", '{"num_envs": 4, "update_epochs": 1, "minibatch_size": 64}']


def _trials(db, name="ppo-CartPole-v1-mlp"):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=name, storage=f"sqlite:///{db}").trials
    except Exception:  # not created yet, or locked mid-write
        return None


def _running_states(db) -> list[str]:
    """Trial states, read read-only while the tuner writes: opening the study through optuna
    would create the schema itself and race the tuner creating it."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as con:
            return [state for (state,) in con.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.Error:  # the schema is not there yet, or the file is locked mid-write
        return []


@pytest.mark.slow
def test_a_killed_study_resumes_and_the_killed_trial_does_not_count(tmp_path, subprocess_env):
    out, db = tmp_path / "tune", tmp_path / "tune" / "study.db"
    command = cli("tune", *TINY, "--trials", "4", "--out", str(out))
    log = tmp_path / "tune.log"
    # A trial can finish between the poll that sees it running and the kill. Then nothing died:
    # start the study again (it resumes) and kill it during a later trial.
    for _ in range(3):
        with log.open("w") as stderr:
            proc = subprocess.Popen(command, env=subprocess_env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.time() + 300
            while time.time() < deadline:  # kill it while a trial runs, after one has finished
                states = _running_states(db)
                if any(s in ("COMPLETE", "PRUNED") for s in states) and states and states[-1] == "RUNNING":
                    break
                assert proc.poll() is None, f"the study ended before it could be killed:\n{log.read_text()}"
                time.sleep(0.2)
            else:
                pytest.fail("no trial finished in time")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        if _trials(db)[-1].state.name == "RUNNING":
            break
    else:
        pytest.fail("three kills in a row landed between trials")
    killed = _trials(db)[-1].number
    finished_before = sum(t.state.name in ("COMPLETE", "PRUNED") for t in _trials(db))

    done = subprocess.run(command, env=subprocess_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"resuming after {finished_before} finished trials" in done.stderr
    assert f"trial(s) {killed} died with their process: marked failed" in done.stderr
    trials = _trials(db)
    by_number = {t.number: t.state.name for t in trials}
    assert by_number[killed] == "FAIL"
    assert sum(s in ("COMPLETE", "PRUNED") for s in by_number.values()) == 4
    assert min(n for n in by_number if n > killed) == killed + 1  # numbering goes on
    assert "4 of 4 trials finished" in done.stderr

    entry = (out / "ppo-CartPole-v1-mlp.yml").read_text()
    assert entry.strip() in done.stdout
    # the printed entry loads into a table as it is
    table = yaml.safe_load((load_table("ppo").path).read_text())
    table.update(yaml.safe_load(entry))
    path = tmp_path / "ppo.yml"
    path.write_text(yaml.safe_dump(table))
    loaded = load_table("ppo", path).entries["CartPole-v1"]["mlp"]
    assert loaded.source.startswith("lm-envs tune --agent ppo --env CartPole-v1") and "best trial" in loaded.source
    assert loaded.values["num_envs"] == 4 and loaded.values["update_epochs"] == 1

    # a study made with other settings does not resume
    other = subprocess.run(cli("tune", *TINY[:-2], "--trials", "4", "--out", str(out)), env=subprocess_env,
                           capture_output=True, text=True, timeout=300)
    assert other.returncode == 2 and "was made with other settings (base_config" in other.stderr

"""Hyperparameter tuning with Optuna: ``lm-envs tune``.

    lm-envs tune --agent ppo --env CartPole-v1 --trials 50 --steps 50000 --seeds 0 1
    lm-envs tune --agent ppo --env lm_envs/TextGeneration-v0 --policy tiny-shop --trials 20 \\
        --steps 8192 --env-kwargs '{"max_new_tokens": 16}' --agent-config '{"num_envs": 16}'

Each trial samples the algorithm's search space (:data:`SEARCH_SPACES`, an MLP and an LM
variant) over the hyperparameter table's settings for the env and policy; fields fixed with
``--agent-config`` are not searched. It trains one run per seed through
``benchmarks.runs.run_learner``, the benchmark's own code path, and reports each
evaluation's mean return to Optuna, whose pruner (the median rule, or successive halving)
may stop it early. A trial scores the mean (or IQM) of its seeds' final evaluation returns.
The seeds and the sampler's seed are fixed, so a study is reproducible.

The study lives in SQLite (``--storage``, default ``OUT/study.db``): rerunning the same
command resumes it until ``--trials`` trials have finished (completed or pruned). A trial
whose process died (killed, out of memory) is marked failed and does not count; a study made
with other settings refuses to resume. At the end the best parameters are printed and a
ready-to-paste entry for ``agents/hyperparams/<agent>.yml`` is written to ``OUT``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import socket
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.runs import AGENTS, RunSpec, make_agent_config

if TYPE_CHECKING:
    import optuna

__all__ = [
    "LIMITS",
    "SEARCH_SPACES",
    "TuneError",
    "TuneSettings",
    "best_entry",
    "check_settings",
    "sample_fields",
    "search_space",
    "tune",
]


class TuneError(ValueError):
    """Tuning settings that cannot run, or a study that cannot resume; raised before any trial."""


# ---------------------------------------------------------------------------------------
# search spaces: algorithm -> policy kind -> config field -> (kind, ...)
#   ("log", low, high): float, log-uniform    ("float", low, high): float, uniform
#   ("int", low, high): int, uniform          ("choice", [values]): categorical
# `minibatches` (PPO) is not a field: minibatch_size = num_envs * n_steps // minibatches.
# ---------------------------------------------------------------------------------------

SEARCH_SPACES: dict[str, dict[str, dict[str, tuple[Any, ...]]]] = {
    "ppo": {
        "mlp": {  # after rl-baselines3-zoo's PPO sampler
            "learning_rate": ("log", 1e-4, 3e-3),
            "n_steps": ("choice", [16, 32, 64, 128, 256]),
            "minibatches": ("choice", [1, 2, 4, 8]),
            "update_epochs": ("choice", [1, 4, 10, 20]),
            # low discounts too: the recommender's short sessions favour them (0.7 there), where
            # rl-baselines3-zoo's ranges are for long-horizon control
            "gamma": ("choice", [0.5, 0.7, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]),
            "gae_lambda": ("choice", [0.8, 0.9, 0.95, 0.98, 1.0]),
            "clip_coef": ("choice", [0.1, 0.2, 0.3]),
            "ent_coef": ("log", 1e-8, 1e-1),
        },
        "lm": {  # an LM fine-tunes at 1e-5..1e-4; the KL penalty keeps the text text
            "learning_rate": ("log", 3e-6, 1e-4),
            "kl_coef": ("log", 1e-3, 0.2),
            "n_steps": ("choice", [16, 32, 64, 128]),
            "minibatches": ("choice", [1, 2, 4, 8]),
            "update_epochs": ("choice", [1, 2, 4]),
            "clip_coef": ("choice", [0.1, 0.2, 0.3]),
            "group_size": ("choice", [2, 4]),
        },
    },
    "a2c": {
        "mlp": {
            "learning_rate": ("log", 1e-4, 3e-3),
            "n_steps": ("choice", [5, 8, 16, 32]),
            "gamma": ("choice", [0.5, 0.7, 0.9, 0.95, 0.98, 0.99, 0.995]),
            "gae_lambda": ("choice", [0.9, 0.95, 1.0]),
            "ent_coef": ("log", 1e-8, 1e-1),
        },
        "lm": {
            "learning_rate": ("log", 3e-6, 1e-4),
            "kl_coef": ("log", 1e-3, 0.2),
            "n_steps": ("choice", [16, 32, 64]),
            "gae_lambda": ("choice", [0.9, 0.95, 1.0]),
        },
    },
    "reinforce": {
        "mlp": {
            "learning_rate": ("log", 1e-4, 3e-3),
            "gamma": ("choice", [0.5, 0.7, 0.9, 0.95, 0.98, 0.99, 0.995]),
            "norm_adv": ("choice", [False, True]),
        },
        "lm": {
            "learning_rate": ("log", 3e-6, 1e-4),
            "kl_coef": ("log", 1e-3, 0.2),
            "group_size": ("choice", [2, 4]),
            "norm_adv": ("choice", [False, True]),
        },
    },
    "sft": {
        "lm": {  # LM policies only
            "learning_rate": ("log", 1e-4, 3e-3),
            "epochs": ("choice", [2, 4, 8, 16]),
            "batch_size": ("choice", [8, 16, 32]),
            "weight_decay": ("choice", [0.0, 0.01, 0.1]),
        },
    },
    "ddpg": {
        "mlp": {
            "actor_lr": ("log", 1e-4, 1e-3),
            "critic_lr": ("log", 3e-4, 3e-3),
            "tau": ("choice", [0.005, 0.01, 0.02, 0.05]),
            "noise_std": ("choice", [0.1, 0.2, 0.3, 0.5]),
            "batch_size": ("choice", [64, 128, 256]),
            "gamma": ("choice", [0.7, 0.9, 0.95, 0.99]),
        },
    },
}
"""What ``lm-envs tune`` searches, per algorithm and policy kind (``mlp`` or ``lm``)."""
_DERIVED = {"minibatches": "minibatch_size"}  # search parameter -> the field it sets

LIMITS = {"trials": 10_000, "steps": 100_000_000, "seeds": 32, "seed": 2**31 - 1, "eval_episodes": 10_000,
          "workers": 64}
"""Bounds of every size a user gives ``lm-envs tune``."""
OBJECTIVES = ("mean", "iqm")
PRUNERS = ("median", "halving", "none")


def search_space(algorithm: str, key: str, fixed: Mapping[str, Any] = ()) -> dict[str, tuple[Any, ...]]:
    """The space of ``algorithm`` for policy table key ``key`` (``mlp``, ``lm`` or a model
    name), without the fields in ``fixed``."""
    spaces = SEARCH_SPACES[algorithm]
    space = spaces["mlp" if key == "mlp" else "lm"]
    fixed = set(fixed)
    return {name: dist for name, dist in space.items() if name not in fixed and _DERIVED.get(name) not in fixed}


def sample_fields(trial: optuna.Trial, space: Mapping[str, tuple[Any, ...]], base: Mapping[str, Any]) -> dict[str, Any]:
    """Config fields of one trial: ``space`` sampled by ``trial``, over the resolved ``base``."""
    fields: dict[str, Any] = {}
    for name, (kind, *args) in space.items():
        if kind == "log":
            fields[name] = trial.suggest_float(name, args[0], args[1], log=True)
        elif kind == "float":
            fields[name] = trial.suggest_float(name, args[0], args[1])
        elif kind == "int":
            fields[name] = trial.suggest_int(name, args[0], args[1])
        else:
            fields[name] = trial.suggest_categorical(name, args[0])
    return _as_fields(fields, base)


def _as_fields(params: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """Search parameters -> config fields (``minibatches`` -> ``minibatch_size``)."""
    fields = dict(params)
    if "minibatches" in fields:
        batch = fields.get("num_envs", base["num_envs"]) * fields.get("n_steps", base["n_steps"])
        fields["minibatch_size"] = max(1, batch // fields.pop("minibatches"))
    # a KL penalty needs its reference model
    if fields.get("kl_coef", 0) > 0 and base.get("reference") == "none":
        fields["reference"] = "fp32"
    return fields


# ---------------------------------------------------------------------------------------
# settings, checked before anything runs
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneSettings:
    """What ``lm-envs tune`` was asked to do."""

    agent: str
    env: str
    trials: int
    steps: int = 10_000
    policy: str = "auto"
    seeds: tuple[int, ...] = (0,)
    eval_every: int | None = None
    """Steps between the evaluations reported to the pruner (default: a quarter of ``steps``)."""
    eval_episodes: int = 16
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    """Config fields set for every trial (not searched)."""
    storage: str | None = None
    study_name: str | None = None
    out: str | None = None
    workers: int = 1
    pruner: str = "median"
    objective: str = "mean"
    sampler_seed: int = 0
    command: str = ""

    @property
    def label(self) -> str:
        """``ppo-CartPole-v1-mlp``: the default study name and output folder (``auto`` named
        for what it means on the env)."""
        policy = self.policy
        if policy == "auto":
            import lm_envs

            policy = "tiny-shop" if lm_envs.is_token_env(self.env) else "mlp"
        return f"{self.agent}-{self.env.split('/')[-1]}-{Path(policy).name}"

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("tune") / self.label

    @property
    def storage_url(self) -> str:
        if self.storage and "://" in self.storage:
            return self.storage
        path = Path(self.storage) if self.storage else self.out_dir / "study.db"
        return f"sqlite:///{path.resolve()}"

    @property
    def name(self) -> str:
        return self.study_name or self.label

    @property
    def evaluation_interval(self) -> int:
        return min(self.eval_every or max(1, self.steps // 4), self.steps)


def _bounded(name: str, value: Any, low: int, high: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise TuneError(f"--{name.replace('_', '-')} must be an int in [{low}, {high:,}]; got {value!r}")


def check_settings(settings: TuneSettings) -> RunSpec:
    """Check ``settings`` and return the run spec every trial starts from (the table's
    settings for the env and policy, plus the fixed fields), before anything runs.

    Raises:
        TuneError: an unknown agent, env or policy, a size out of :data:`LIMITS`, or a fixed
            field the agent's config does not have.
    """
    entry = AGENTS.get(settings.agent)
    learners = sorted(n for n, e in AGENTS.items() if e.kind == "learner")
    if entry is None or entry.kind != "learner":
        what = "is a baseline: it is not trained" if entry is not None else "is not an agent"
        raise TuneError(f"--agent {settings.agent!r} {what}; learners: {', '.join(learners)}")
    if settings.agent not in SEARCH_SPACES:  # pragma: no cover - every learner has a space
        raise TuneError(f"no search space for {settings.agent!r}; known: {', '.join(sorted(SEARCH_SPACES))}")
    _bounded("trials", settings.trials, 1, LIMITS["trials"])
    _bounded("steps", settings.steps, 1, LIMITS["steps"])
    if not 1 <= len(settings.seeds) <= LIMITS["seeds"]:
        raise TuneError(f"--seeds takes 1 to {LIMITS['seeds']} seeds; got {len(settings.seeds)}")
    for seed in settings.seeds:
        _bounded("seeds", seed, 0, LIMITS["seed"])
    if len(set(settings.seeds)) != len(settings.seeds):
        raise TuneError(f"--seeds lists a seed twice: {list(settings.seeds)}")
    if settings.eval_every is not None:
        _bounded("eval_every", settings.eval_every, 1, LIMITS["steps"])
    _bounded("eval_episodes", settings.eval_episodes, 1, LIMITS["eval_episodes"])
    _bounded("workers", settings.workers, 1, LIMITS["workers"])
    _bounded("sampler_seed", settings.sampler_seed, 0, LIMITS["seed"])
    if settings.pruner not in PRUNERS:
        raise TuneError(f"--pruner must be one of {', '.join(PRUNERS)}; got {settings.pruner!r}")
    if settings.objective not in OBJECTIVES:
        raise TuneError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {settings.objective!r}")
    _check_env(settings.env)
    _check_policy(settings)
    if "policy" in settings.fixed:
        raise TuneError("give the policy with --policy, not in --agent-config")
    from benchmarks.config import plan
    from benchmarks.presets import ConfigError

    config = {"name": "tune", "seeds": [settings.seeds[0]], "steps": settings.steps,
              "eval_every": settings.evaluation_interval, "eval_episodes": settings.eval_episodes,
              "agents": {settings.agent: {**settings.fixed, "policy": settings.policy}},
              "envs": [{"id": settings.env, "kwargs": dict(settings.env_kwargs), "agents": [settings.agent]}]}
    try:
        (base,) = plan(config)
    except ConfigError as err:
        raise TuneError(str(err)) from None
    return base


def _check_env(env_id: str) -> None:
    import gymnasium as gym

    import lm_envs

    if env_id not in gym.registry:
        raise TuneError(f"unknown env {env_id!r}; lm_envs ids: {', '.join(lm_envs.ENV_IDS)}, or a registered "
                        "Gymnasium id such as CartPole-v1")


def _check_policy(settings: TuneSettings) -> None:
    import lm_envs
    from lm_envs.models import MODELS

    policy = settings.policy
    if policy in ("auto", "mlp"):
        return
    if policy not in MODELS and not Path(policy).is_dir():
        raise TuneError(f"unknown policy {policy!r}; use auto, mlp, a model name ({', '.join(MODELS)}) or a model folder")
    if settings.agent == "ddpg":
        raise TuneError(f"ddpg builds its own MLP networks: --policy must be auto or mlp; got {policy!r}")
    if not lm_envs.is_token_env(settings.env):
        raise TuneError(f"--policy {policy!r} is an LM, and {settings.env} is not a token env; use auto or mlp")


# ---------------------------------------------------------------------------------------
# the study
# ---------------------------------------------------------------------------------------


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:  # pragma: no cover - the test extra installs it
        raise TuneError("lm-envs tune needs Optuna: pip install 'lm-envs[tune]'") from None
    return optuna


def _study_attrs(settings: TuneSettings, base: RunSpec) -> dict[str, Any]:
    """What a study's trials depend on; a study resumes only with the same."""
    return {"agent": settings.agent, "env": settings.env, "env_kwargs": base.env_kwargs, "steps": settings.steps,
            "seeds": list(settings.seeds), "eval_every": settings.evaluation_interval,
            "eval_episodes": settings.eval_episodes, "objective": settings.objective,
            "base_config": base.agent_config, "fixed": dict(settings.fixed)}


def _engine_kwargs(settings: TuneSettings) -> dict[str, Any] | None:
    """SQLite waits up to a minute for a lock held by another process (another worker, a
    dashboard reading the study) instead of failing the write."""
    return {"connect_args": {"timeout": 60}} if settings.storage_url.startswith("sqlite") else None


def _open_study(settings: TuneSettings, base: RunSpec, *, create: bool) -> Any:
    """The study of ``settings`` in its storage (created when ``create``), checked to hold
    trials of the same settings."""
    optuna = _optuna()
    with warnings.catch_warnings():  # the heartbeat is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        storage = optuna.storages.RDBStorage(settings.storage_url, heartbeat_interval=30, grace_period=120,
                                             engine_kwargs=_engine_kwargs(settings))
    pruner = {"median": lambda: optuna.pruners.MedianPruner(n_startup_trials=max(1, min(5, settings.trials // 3)),
                                                            n_warmup_steps=max(1, _evaluations(settings) // 3)),
              "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
              "none": lambda: optuna.pruners.NopPruner()}[settings.pruner]()
    study = optuna.create_study(storage=storage, study_name=settings.name, direction="maximize", pruner=pruner,
                                load_if_exists=True) if create else optuna.load_study(
        storage=storage, study_name=settings.name, pruner=pruner)
    attrs = _study_attrs(settings, base)
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", attrs)
        study.set_user_attr("command", settings.command)
    else:
        # a study mixes nothing: the same trials, steps, seeds, env and table settings
        import json

        stored, attrs = json.loads(json.dumps(stored)), json.loads(json.dumps(attrs))
        changed = [key for key in attrs if stored.get(key) != attrs[key]]
        if changed:
            raise TuneError(f"study {settings.name!r} in {settings.storage_url} was made with other settings "
                            f"({', '.join(changed)}: {', '.join(f'{stored.get(k)!r} now {attrs[k]!r}' for k in changed)}); "
                            "rerun its own command to resume it, or give another --study-name or --storage")
    return study


def _evaluations(settings: TuneSettings) -> int:
    """Evaluations per seed after the start (the pruner's steps per seed)."""
    return math.ceil(settings.steps / settings.evaluation_interval)


def _finished(study: Any) -> list[Any]:
    from optuna.trial import TrialState

    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def fail_dead_trials(settings: TuneSettings) -> list[int]:
    """Mark failed the running trials of the study whose process on this host has died
    (killed, out of memory); trials on other hosts are failed by Optuna's heartbeat after its
    grace period. Returns their numbers."""
    optuna = _optuna()
    from optuna.trial import TrialState

    storage = optuna.storages.RDBStorage(settings.storage_url, engine_kwargs=_engine_kwargs(settings))
    study_id = storage.get_study_id_from_name(settings.name)
    host, dead = socket.gethostname(), []
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        pid = trial.user_attrs.get("pid")
        if trial.user_attrs.get("host") == host and isinstance(pid, int) and not _alive(pid):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
            try:
                storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
                dead.append(trial.number)
            except RuntimeError:  # it finished meanwhile
                pass
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _objective(settings: TuneSettings, base: RunSpec) -> Any:
    optuna = _optuna()
    from benchmarks.runs import run_learner

    space = search_space(settings.agent, _policy_key(base), settings.fixed)
    cls = AGENTS[settings.agent].load()
    per_seed = _evaluations(settings)

    def objective(trial: optuna.Trial) -> float:
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        options = {**base.agent_config, **sample_fields(trial, space, base.agent_config)}
        try:
            make_agent_config(cls.config_class, {k: v for k, v in options.items() if k != "policy"})
        except (TypeError, ValueError) as err:  # a combination the config refuses: nothing to learn from
            trial.set_user_attr("invalid", str(err))
            raise optuna.TrialPruned(f"invalid settings: {err}") from None
        finals = []
        for i, seed in enumerate(settings.seeds):
            spec = dataclasses.replace(base, seed=seed, agent_config=options)
            evaluation = [0]

            def on_eval(step: int, value: float, i: int = i, seed: int = seed, evaluation: list[int] = evaluation) -> None:
                if step == 0:  # the untrained policy
                    return
                evaluation[0] += 1
                trial.report(value, i * per_seed + min(evaluation[0], per_seed) - 1)
                last = i == len(settings.seeds) - 1 and step >= settings.steps  # the trial's result: keep it
                if not last and trial.should_prune():
                    trial.set_user_attr("pruned_at", {"seed": seed, "step": step, "return": value})
                    raise optuna.TrialPruned(f"pruned at {step} steps of seed {seed} (return {value:.4g})")

            try:
                finals.append(float(run_learner(spec, on_eval=on_eval)["last"]["reward_mean"]))
            except optuna.TrialPruned:
                raise
            except Exception as err:  # the trial fails (and is not counted); the study goes on
                trial.set_user_attr("error", f"seed {seed}: {type(err).__name__}: {err}")
                raise
            trial.set_user_attr("final_returns", finals)
        return _score(finals, settings.objective)

    return objective


def _score(values: Sequence[float], objective: str) -> float:
    if objective == "iqm":
        from benchmarks.stats import iqm

        return float(iqm(values))
    return float(np.mean(values))


def _policy_key(base: RunSpec) -> str:
    from agents.hyperparams import policy_key
    from lm_envs import is_token_env

    return policy_key(base.agent_config["policy"], token_env=is_token_env(base.env_id))[1]


def _trial_line(study: Any, trial: Any) -> str:
    state = trial.state.name.lower()
    params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
    if state == "complete":
        finals = ", ".join(f"{v:.4g}" for v in trial.user_attrs.get("final_returns", []))
        best = " (best so far)" if study.best_trial.number == trial.number else ""
        return f"trial {trial.number}: {trial.value:.4g}{best} [seeds: {finals}]  {params}"
    if state == "pruned":
        why = trial.user_attrs.get("invalid")
        at = trial.user_attrs.get("pruned_at")
        reason = (f"invalid: {why}" if why else
                  f"at {at['step']:,} steps of seed {at['seed']}, return {at['return']:.4g}" if at else "")
        return f"trial {trial.number}: pruned {reason}  {params}"
    return f"trial {trial.number}: {state}  {params}"


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _run_worker(settings: TuneSettings, base: RunSpec, index: int, quiet: bool, parent_pid: int) -> None:
    """One worker process of ``--workers N``: trials until the study has ``settings.trials``;
    it exits when the tuner (``parent_pid``) dies."""
    from benchmarks.runs import init_worker

    init_worker(None, threads=1, parent_pid=parent_pid)
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(settings, base, create=False)
    study.sampler = _sampler(settings, len(study.trials) + 7919 * index)
    objective = _objective(settings, base)
    while len(_finished(study)) < settings.trials:
        study.optimize(objective, n_trials=1, catch=(Exception,),
                       callbacks=[lambda s, t: None if quiet else print(_trial_line(s, t), flush=True)])


def _sampler(settings: TuneSettings, offset: int) -> Any:
    # seeded by the trials already in the study, so a resumed study does not redraw its first trials
    optuna = _optuna()
    return optuna.samplers.TPESampler(seed=settings.sampler_seed + offset,
                                      n_startup_trials=min(10, max(2, settings.trials // 3)))


def tune(settings: TuneSettings, *, quiet: bool = False) -> dict[str, Any]:
    """Run (or resume) the study of ``settings`` until ``settings.trials`` trials have
    finished; print a line per trial, the best parameters and a YAML entry for the table.

    Returns:
        ``study`` (name), ``storage``, ``finished``, ``complete``, ``pruned``, ``failed``,
        ``best`` (number, value, params) or ``None``, ``entry`` (YAML text) and ``entry_path``.
    """
    optuna = _optuna()
    from tqdm.auto import tqdm

    from benchmarks.runs import init_worker

    base = check_settings(settings)
    out = settings.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if settings.storage and "://" not in settings.storage:
        Path(settings.storage).resolve().parent.mkdir(parents=True, exist_ok=True)
    init_worker(None, threads=1)  # small models; trials are the unit of parallelism
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = _open_study(settings, base, create=True)
    dead = fail_dead_trials(settings)
    done = len(_finished(study))
    say = (lambda text: None) if quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    say(f"tuning {settings.agent} on {settings.env} (policy {base.agent_config.get('policy')}): "
        f"{settings.trials} trials of {settings.steps:,} steps x seeds {' '.join(map(str, settings.seeds))}, "
        f"evaluated every {settings.evaluation_interval:,} steps on {settings.eval_episodes} episodes; "
        f"study {settings.name!r} in {settings.storage_url}"
        + (f"; resuming after {done} finished trials" if done else "")
        + (f"; trial(s) {', '.join(map(str, dead))} died with their process: marked failed" if dead else ""))
    remaining = settings.trials - done
    if remaining > 0 and settings.workers == 1:
        study.sampler = _sampler(settings, len(study.trials))
        objective = _objective(settings, base)
        with tqdm(total=settings.trials, initial=done, desc="trials", unit="trial", disable=quiet) as bar:
            def callback(s: Any, trial: Any) -> None:
                bar.write(_trial_line(s, trial), file=sys.stderr)
                bar.n = len(_finished(s))
                bar.refresh()

            while len(_finished(study)) < settings.trials:
                study.optimize(objective, n_trials=settings.trials - len(_finished(study)), catch=(Exception,),
                               callbacks=[callback])
                if _all_failed_lately(study):
                    break
    elif remaining > 0:
        _run_workers(settings, base, quiet=quiet, done=done)
    return _summary(settings, base, study, say)


def _all_failed_lately(study: Any, n: int = 3) -> bool:
    """The last ``n`` trials failed: a broken setup, not bad luck; stop and show the error."""
    trials = study.get_trials(deepcopy=False)
    return len(trials) >= n and all(t.state.name == "FAIL" for t in trials[-n:])


def _run_workers(settings: TuneSettings, base: RunSpec, *, quiet: bool, done: int) -> None:
    import multiprocessing

    from tqdm.auto import tqdm

    context = multiprocessing.get_context("spawn")  # no forked torch thread pools
    procs = [context.Process(target=_run_worker, args=(settings, base, i, quiet, os.getpid()))
             for i in range(settings.workers)]
    for proc in procs:
        proc.start()
    study = _open_study(settings, base, create=False)
    try:
        with tqdm(total=settings.trials, initial=done, desc="trials", unit="trial", disable=quiet) as bar:
            while any(p.is_alive() for p in procs):
                time.sleep(2.0)
                bar.n = min(len(_finished(study)), settings.trials)
                bar.refresh()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()


def _summary(settings: TuneSettings, base: RunSpec, study: Any, say: Any) -> dict[str, Any]:
    from optuna.trial import TrialState

    counts = {state: len(study.get_trials(deepcopy=False, states=(state,)))
              for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)}
    summary: dict[str, Any] = {
        "study": settings.name, "storage": settings.storage_url, "finished": counts[TrialState.COMPLETE] + counts[TrialState.PRUNED],
        "complete": counts[TrialState.COMPLETE], "pruned": counts[TrialState.PRUNED], "failed": counts[TrialState.FAIL],
        "best": None, "entry": None, "entry_path": None,
    }
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    of = (f"of {settings.trials}" if summary["finished"] <= settings.trials
          else f"({settings.trials} asked; workers side by side may each start one more)")
    say(f"\n{summary['finished']} {of} trials finished: {summary['complete']} complete, "
        f"{summary['pruned']} pruned; {summary['failed']} failed (not counted)")
    if failed and failed[-1].user_attrs.get("error"):
        say(f"last failure: {failed[-1].user_attrs['error']}")
    if not counts[TrialState.COMPLETE]:
        say("no trial has completed yet: rerun the same command to go on")
        return summary
    best = study.best_trial
    summary["best"] = {"number": best.number, "value": best.value, "params": dict(best.params)}
    entry = best_entry(settings, base, best, summary)
    path = settings.out_dir / f"{settings.label}.yml"
    from benchmarks.results import atomic_write_text

    atomic_write_text(path, entry)
    try:
        trials = study.trials_dataframe()
        atomic_write_text(settings.out_dir / "trials.csv", trials.to_csv(index=False))
    except Exception:  # pandas' view of odd attrs is best effort; the study itself is in the storage
        pass
    summary.update(entry=entry, entry_path=str(path))
    finals = ", ".join(f"{v:.4g}" for v in best.user_attrs.get("final_returns", []))
    print(f"best: trial {best.number}, {settings.objective} final return {best.value:.4g} (seeds {finals})")
    for name, value in best.params.items():
        print(f"  {name}: {_short(value)}")
    print(f"\nentry for agents/hyperparams/{settings.agent}.yml (also in {path}):\n")
    print(entry)
    return summary


def best_entry(settings: TuneSettings, base: RunSpec, best: Any, summary: Mapping[str, Any]) -> str:
    """The YAML entry of the best trial, ready to paste into ``agents/hyperparams/<agent>.yml``:
    every field that differs from the config dataclass's default (the entry replaces the
    table's, it does not merge with it), the LM fields every LM entry sets, and a ``source``
    naming the command, the study and the result."""
    import yaml

    from agents.hyperparams import LM_REQUIRED, MLP
    from benchmarks.results import environment_metadata

    key = _policy_key(base)
    options = {**base.agent_config, **_as_fields(best.params, base.agent_config)}
    options.pop("policy", None)
    cls = AGENTS[settings.agent].load().config_class
    config = make_agent_config(cls, options)
    defaults = cls()
    searched = set(_as_fields(best.params, base.agent_config)) | set(settings.fixed)
    values = {}
    for f in dataclasses.fields(cls):
        value = getattr(config, f.name)
        if value != getattr(defaults, f.name) or f.name in searched or (key != MLP and f.name in LM_REQUIRED):
            values[f.name] = list(value) if isinstance(value, tuple) else value
    git = environment_metadata()["git"]
    commit = f"commit {git['commit'][:7]}{' + local changes' if git.get('dirty') else ''}, " if git.get("commit") else ""
    finals = ", ".join(f"{v:.4g}" for v in best.user_attrs.get("final_returns", []))
    source = (f"{settings.command or 'lm-envs tune'} ({commit}study {settings.name!r}: {summary['finished']} trials, "
              f"{summary['complete']} complete, {summary['pruned']} pruned, {settings.steps:,} steps per run): best "
              f"trial {best.number}, {settings.objective} final return {best.value:.4g} over seeds "
              f"{' '.join(map(str, settings.seeds))} ({finals})")
    if settings.env_kwargs:
        source += f", env kwargs {settings.env_kwargs}"
    return yaml.safe_dump({settings.env: {key: {"source": source, **values}}}, sort_keys=False, width=10_000)


def command_line(argv: Sequence[str]) -> str:
    """``argv`` as one shell command, for the ``source`` of an entry."""
    return " ".join(shlex.quote(a) for a in argv)

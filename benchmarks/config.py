"""Benchmark configs as typed data: :func:`parse_config` checks a preset or a config file
once, :func:`plan` expands it into run specs.

```python
from benchmarks.config import parse_config, plan
from benchmarks.presets import get_preset
config = parse_config(get_preset("smoke"))   # a BenchConfig, or ConfigError
specs = plan(config)                          # list[RunSpec]: envs x agents x seeds
```

Each field is checked once, and an error names the field and the valid choices; every
problem of a config is collected and raised in one :class:`~benchmarks.presets.ConfigError`
before any run starts. The config format is described in :mod:`benchmarks.presets`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lm_envs
from benchmarks.presets import ConfigError, get_preset, load_config
from benchmarks.runs import AGENTS, RECOMMENDER_ENVS, AgentEntry, EnvInfo, RunSpec

__all__ = ["BenchConfig", "EnvEntry", "Score", "parse_config", "plan", "resolve_config"]

_TOP_KEYS = ("name", "description", "seeds", "steps", "eval_every", "eval_episodes", "deterministic", "baselines",
             "agents", "envs")
_ENV_KEYS = ("id", "kwargs", "agents", "steps", "eval_every", "eval_episodes", "agent_config", "score")
_SCORE_KEYS = ("low", "high")
# what a config leaves out (`envs` has no default)
_DEFAULTS: dict[str, Any] = {"name": "bench", "description": "", "seeds": 3, "steps": 2048, "eval_every": 512,
                             "eval_episodes": 16, "deterministic": False, "baselines": [], "agents": {}}


# ---------------------------------------------------------------------------------------
# the parsed config
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """The references of an env's normalised score: ``score = {low = ..., high = ...}``."""

    low: str | float | None = None
    """The score's 0: an agent name (its mean final return) or a number; ``None``: the
    report's default, ``random`` where it ran, else ``initial``."""
    high: str | float | None = None
    """The score's 1: an agent name or a number; ``None``: the report's default, ``oracle``."""


@dataclass(frozen=True)
class EnvEntry:
    """One entry of ``envs``, resolved against the whole config."""

    env_id: str
    """A registered env id, e.g. ``lm_envs/TextGeneration-v1``."""
    kwargs: dict[str, Any]
    """Keyword arguments of ``gym.make`` (the env was made once with them)."""
    info: EnvInfo
    """The env's spaces: they decide which agents apply."""
    agents: tuple[str, ...]
    """The agents that run, in order: the entry's ``agents``, else every agent of the config's
    ``agents`` and ``baselines`` that applies."""
    agent_configs: dict[str, dict[str, Any]]
    """The options of each agent in ``agents``. A learner's are resolved: its ``policy`` and
    every field of its config, from the hyperparameter table (``agents.hyperparams``) for this
    env and policy, overridden by the config's ``agents.<name>`` and then by the entry's
    ``agent_config.<name>``; so a run spec, and its digest, hold every setting of the run."""
    steps: int
    """Training env steps of each learner run."""
    eval_every: int
    """Env steps between the evaluations of the learning curve."""
    eval_episodes: int
    """Episodes per evaluation."""
    score: Score
    """The references of the normalised score."""


@dataclass(frozen=True)
class BenchConfig:
    """A checked benchmark config: every (env, agent, seed) it expands to can start."""

    name: str
    """Names the results folder (``results/<name>``) and the report."""
    description: str
    """One line for ``lm-envs list``."""
    seeds: tuple[int, ...]
    """The seeds of every (env, agent) pair."""
    steps: int
    """Default training env steps per learner run."""
    eval_every: int
    """Default env steps between evaluations."""
    eval_episodes: int
    """Default episodes per evaluation."""
    deterministic: bool
    """Evaluate the argmax policy (``True``) or the sampling one."""
    baselines: tuple[str, ...]
    """Baselines run on every env they apply to (unless the env lists its agents)."""
    agents: dict[str, dict[str, Any]]
    """Options per agent as given: config fields that override the hyperparameter table on
    every env, plus ``policy`` for learners."""
    envs: tuple[EnvEntry, ...]
    """The envs, each with its agents."""

    def run_specs(self) -> list[RunSpec]:
        """One spec per (env, agent, seed), in config order; baselines are not trained."""
        return [
            RunSpec(
                agent=agent,
                env_id=env.env_id,
                seed=seed,
                steps=env.steps if AGENTS[agent].kind == "learner" else 0,
                eval_every=env.eval_every,
                eval_episodes=env.eval_episodes,
                deterministic=self.deterministic,
                agent_config=dict(env.agent_configs[agent]),
                env_kwargs=env.kwargs,
            )
            for env in self.envs
            for agent in env.agents
            for seed in self.seeds
        ]


def plan(config: BenchConfig | Mapping[str, Any]) -> list[RunSpec]:
    """The run specs of ``config`` (parsed first when it is plain data).

    Raises:
        ConfigError: the config cannot run as given (see :func:`parse_config`).
    """
    parsed = config if isinstance(config, BenchConfig) else parse_config(config)
    return parsed.run_specs()


def resolve_config(*, preset: str | None = None, config: str | Path | dict[str, Any] | None = None) -> dict[str, Any]:
    """The config named by ``preset`` or read from ``config`` (a path or a dict), as plain data."""
    if (preset is None) == (config is None):
        raise ConfigError("give exactly one of a preset (--preset) and a config file (--config)")
    if preset is not None:
        return get_preset(preset)
    if isinstance(config, dict):
        return json.loads(json.dumps(config))
    return load_config(config)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# parsing: one function per field, each appending its problems to `errors`
# ---------------------------------------------------------------------------------------


def parse_config(raw: Mapping[str, Any]) -> BenchConfig:
    """Check a whole config (a preset, or a file's plain data) and resolve its envs' agents.

    Every problem is collected, so one error names all bad keys, agents, envs, rewards and
    hyperparameters, each with the valid choices.

    Raises:
        ConfigError: the config cannot run as given.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a benchmark config must be a mapping; got {type(raw).__name__}")
    errors: list[str] = []
    _check_keys("config", raw, _TOP_KEYS, errors)
    values = {**_DEFAULTS, **raw}
    # a bad count is replaced by its default so that checking goes on to the envs
    config = BenchConfig(
        name=_name(values["name"], errors),
        description=_text("description", values["description"], errors),
        seeds=_seeds(values["seeds"], errors),
        steps=_count("steps", values["steps"], errors, default=_DEFAULTS["steps"]),
        eval_every=_count("eval_every", values["eval_every"], errors, default=_DEFAULTS["eval_every"]),
        eval_episodes=_count("eval_episodes", values["eval_episodes"], errors, default=_DEFAULTS["eval_episodes"]),
        deterministic=_flag("deterministic", values["deterministic"], errors),
        agents=_agents(values["agents"], errors),
        baselines=_baselines(values["baselines"], errors),
        envs=(),
    )
    envs = raw.get("envs")
    if not isinstance(envs, list) or not envs:
        errors.append("envs must be a non-empty list of env entries ({id = ..., kwargs = {...}})")
        envs = []
    entries = [_env_entry(index, entry, config, errors) for index, entry in enumerate(envs)]
    config = dataclasses.replace(config, envs=tuple(e for e in entries if e is not None))
    keys = [spec.key for spec in config.run_specs()]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        errors.append(f"the same (env, agent, seed) appears twice: {', '.join(duplicates)}; "
                      "list each env once (put variants in a separate config)")
    if errors:
        raise ConfigError("invalid benchmark config:\n  " + "\n  ".join(dict.fromkeys(errors)))
    if not keys:
        raise ConfigError("the config expands to no runs (no agent applies to any env)")
    return config


def _check_keys(where: str, data: Mapping[str, Any], known: Iterable[str], errors: list[str]) -> None:
    for key in data:
        if key not in known:
            errors.append(f"{where}: unknown key {key!r}; known: {', '.join(known)}")


def _unknown(kind: str, name: Any, known: Iterable[str]) -> str:
    return f"unknown {kind} {name!r}; known: {', '.join(sorted(known))}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # TOML/YAML `true` is no count


def _count(where: str, value: Any, errors: list[str], *, default: int) -> int:
    """A count (steps, episodes): an int >= 1, else ``default``."""
    if _is_int(value) and value >= 1:
        return value
    errors.append(f"{where} must be an int >= 1; got {value!r}")
    return default


def _text(where: str, value: Any, errors: list[str]) -> str:
    if isinstance(value, str):
        return value
    errors.append(f"{where} must be a string; got {type(value).__name__} {value!r:.80}")
    return ""


def _name(value: Any, errors: list[str]) -> str:
    """The config's name: it names the default results folder, so it is one path component."""
    name = _text("name", value, errors)
    if isinstance(value, str) and (not name.strip() or name in (".", "..") or any(c in name for c in "/\\\0")):
        errors.append(f"name must be a non-empty string without path separators; got {name!r}")
    return name or _DEFAULTS["name"]


def _flag(where: str, value: Any, errors: list[str]) -> bool:
    if isinstance(value, bool):
        return value
    errors.append(f"{where} must be true or false; got {value!r}")
    return False


def _seeds(value: Any, errors: list[str]) -> tuple[int, ...]:
    """``n`` (seeds 0..n-1) or a list of seeds (repeats dropped)."""
    if _is_int(value):
        return tuple(range(_count("seeds", value, errors, default=0)))
    if isinstance(value, list) and value and all(_is_int(s) and s >= 0 for s in value):
        return tuple(dict.fromkeys(value))
    errors.append(f"seeds must be a positive int or a non-empty list of ints >= 0; got {value!r}")
    return ()


def _baselines(value: Any, errors: list[str]) -> tuple[str, ...]:
    known = [n for n, e in AGENTS.items() if e.kind == "baseline"]
    if not isinstance(value, list):
        errors.append(f"baselines must be a list of names; got {value!r}; known: {', '.join(sorted(known))}")
        return ()
    for name in value:
        if name not in known:
            errors.append(_unknown("baseline", name, known))
    return tuple(name for name in value if name in known)


def _agent_names(where: str, value: Any, errors: list[str]) -> list[str] | None:
    """An env entry's ``agents``: ``None`` when not given (every agent that applies)."""
    if value is None:
        return None
    if not isinstance(value, list):
        errors.append(f"{where} must be a list of agent names; got {value!r}; known: {', '.join(sorted(AGENTS))}")
        return []
    for name in value:
        if name not in AGENTS:
            errors.append(f"{where}: " + _unknown("agent", name, AGENTS))
    return [name for name in value if name in AGENTS]


def _agents(value: Any, errors: list[str]) -> dict[str, dict[str, Any]]:
    """The config's ``agents``, each agent's option names checked (values are checked per env,
    over the hyperparameter table's settings for that env)."""
    agents = _options_by_agent("agents", value, errors)
    for name, options in agents.items():
        _check_agent_options(AGENTS[name], options, f"agents.{name}", errors)
    return agents


def _options_by_agent(where: str, value: Any, errors: list[str]) -> dict[str, dict[str, Any]]:
    """Options per agent name: the config's ``agents``, or an env entry's ``agent_config``
    (over the config's ``agents``)."""
    if not isinstance(value, Mapping):
        errors.append(f"{where} must be a mapping of agent name -> hyperparameters; got {type(value).__name__}")
        return {}
    by_agent: dict[str, dict[str, Any]] = {}
    for name, options in value.items():
        if name not in AGENTS:
            errors.append(f"{where}: " + _unknown("agent", name, AGENTS))
            continue
        options = options or {}
        if not isinstance(options, Mapping):
            errors.append(f"{where}.{name} must be a mapping of hyperparameters; got {type(options).__name__}")
            options = {}
        by_agent[name] = dict(options)
    return by_agent


def _score(where: str, value: Any, errors: list[str]) -> Score:
    if not isinstance(value, Mapping) or any(k not in _SCORE_KEYS for k in value):
        errors.append(f"{where} must be a mapping with keys low and high; got {value!r}")
        return Score()
    for side, ref in value.items():
        if isinstance(ref, str) and ref not in AGENTS:
            errors.append(f"{where}.{side}: " + _unknown("agent", ref, AGENTS))
        elif not isinstance(ref, (str, int, float)) or isinstance(ref, bool):
            errors.append(f"{where}.{side} must be an agent name or a number; got {ref!r}")
    return Score(low=value.get("low"), high=value.get("high"))


def _check_agent_options(entry: AgentEntry, options: dict[str, Any], where: str, errors: list[str]) -> bool:
    """Check an agent's option names: a learner's are ``policy`` and its config's fields; a
    baseline takes none, but ``initial`` takes the ``policy`` it evaluates. ``False`` when
    one is wrong."""
    if entry.kind == "baseline":
        allowed = {"policy"} if entry.name == "initial" else set()
        bad = [key for key in options if key not in allowed]
        for key in bad:
            errors.append(f"{where}: baseline {entry.name!r} takes no option {key!r}"
                          + (f"; known: {', '.join(sorted(allowed))}" if allowed else ""))
        return not bad
    try:
        cls = entry.load()
    except Exception as err:
        errors.append(f"{where}: agent {entry.name!r} cannot be imported ({type(err).__name__}: {err})")
        return False
    names = [f.name for f in dataclasses.fields(cls.config_class)]
    bad = [k for k in options if k != "policy" and k not in names]
    for key in bad:
        errors.append(f"{where}: unknown {entry.name} hyperparameter {key!r}; known: policy, {', '.join(names)}")
    return not bad


def _resolve_learner(entry: AgentEntry, info: EnvInfo, options: dict[str, Any], where: str,
                     errors: list[str]) -> dict[str, Any] | None:
    """A learner's options resolved against the hyperparameter table: ``policy`` ("auto" made
    concrete) and every config field; ``None`` when they cannot make a config."""
    from agents.hyperparams import HyperparamsError, resolve

    overrides = {k: v for k, v in options.items() if k != "policy"}
    try:
        resolved = resolve(entry.name, info.env_id, options.get("policy", "auto"), overrides,
                           token_env=info.token_env)
    except (HyperparamsError, TypeError, ValueError) as err:
        errors.append(f"{where}: {err}")
        return None
    return resolved.as_dict()


# ---------------------------------------------------------------------------------------
# env entries
# ---------------------------------------------------------------------------------------


def _env_entry(index: int, raw: Any, config: BenchConfig, errors: list[str]) -> EnvEntry | None:
    """Entry ``index`` of ``envs`` resolved against ``config``; ``None`` when it cannot be made."""
    where = f"envs[{index}]"
    if not isinstance(raw, Mapping) or "id" not in raw:
        errors.append(f"{where} must be a mapping with an 'id'; got {raw!r}")
        return None
    _check_keys(where, raw, _ENV_KEYS, errors)
    env_id = raw["id"]
    if not _registered(env_id):
        errors.append(f"{where}: " + _unknown("env", env_id, lm_envs.ENV_IDS) + ", or a registered Gymnasium id")
        return None
    where = f"envs[{index}] ({env_id})"
    kwargs = raw.get("kwargs", {}) or {}
    if not isinstance(kwargs, Mapping):
        errors.append(f"{where}.kwargs must be a mapping; got {kwargs!r}")
        return None
    kwargs = dict(kwargs)
    listed = _agent_names(f"{where}.agents", raw.get("agents"), errors)
    info = _env_info(where, env_id, kwargs, errors)
    if info is None:
        return None

    def count(key: str, default: int) -> int:  # the entry's own value, else the config's
        return _count(f"{where}.{key}", raw[key], errors, default=default) if key in raw else default

    steps, eval_every, eval_episodes = (count("steps", config.steps), count("eval_every", config.eval_every),
                                        count("eval_episodes", config.eval_episodes))
    overrides = _options_by_agent(f"{where}.agent_config", raw.get("agent_config", {}) or {}, errors)

    def options_of(name: str) -> dict[str, Any]:  # the config's agent options, then this env's overrides
        return {**config.agents.get(name, {}), **overrides.get(name, {})}

    if listed is None:
        listed = [n for n in (*config.agents, *config.baselines) if AGENTS[n].applies_given(info, options_of(n))]
    score = _score(f"{where}.score", raw.get("score", {}) or {}, errors)
    agent_configs: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(listed):
        agent = AGENTS[name]
        options = options_of(name)
        if not agent.applies_given(info, options):
            errors.append(f"{where}: agent {name!r} does not apply to {env_id} ({info.action_space} actions"
                          f"{', token env' if info.token_env else ''})")
            continue
        if name == "initial" and "policy" not in options:
            options["policy"] = _learners_lm(listed, config.agents, overrides)
        label = f"{where}.agent_config.{name}" if name in overrides else f"agents.{name} on {env_id}"
        # names of the config's own `agents` block were checked (and reported) once, above
        if not _check_agent_options(agent, options, label, errors if name in overrides else []):
            continue
        if agent.kind == "learner":
            resolved = _resolve_learner(agent, info, options, label, errors)
            if resolved is None:
                continue
            options = resolved
        agent_configs[name] = options
    return EnvEntry(env_id=env_id, kwargs=kwargs, info=info, agents=tuple(agent_configs), agent_configs=agent_configs,
                    steps=steps, eval_every=eval_every, eval_episodes=eval_episodes, score=score)


def _learners_lm(names: list[str], agents: dict[str, dict[str, Any]], overrides: dict[str, dict[str, Any]]) -> str:
    """The ``initial`` baseline is the learners' starting point: the LM they fine-tune here."""
    policies = [{**agents.get(n, {}), **overrides.get(n, {})}.get("policy")
                for n in names if AGENTS[n].kind == "learner"]
    return next((p for p in policies if p not in (None, "auto", "mlp")), "tiny-shop")


def _registered(env_id: Any) -> bool:
    import gymnasium as gym

    return isinstance(env_id, str) and (env_id in lm_envs.ENV_IDS or env_id in gym.registry)


def _env_info(where: str, env_id: str, kwargs: dict[str, Any], errors: list[str]) -> EnvInfo | None:
    """Make the env once (cheap: no policy is loaded) to check its kwargs and learn its spaces."""
    import gymnasium as gym

    from agents.policies import is_token_observation_space
    from lm_envs import is_token_env
    from lm_envs.rewards import make_reward

    if "reward" in kwargs and is_token_env(env_id):
        try:
            make_reward(kwargs["reward"])
        except (TypeError, ValueError) as err:
            errors.append(f"{where}.kwargs.reward: {err}")
            return None
    try:
        env = gym.make(env_id, **kwargs)
        try:
            return EnvInfo(
                env_id=env_id,
                token_env=is_token_observation_space(env.observation_space),
                action_space=type(env.action_space).__name__,
                recommender=env_id in RECOMMENDER_ENVS,
            )
        finally:
            env.close()
    except Exception as err:  # a bad kwarg: each env raises its own error type
        errors.append(f"{where}.kwargs: {type(err).__name__}: {err}")
        return None

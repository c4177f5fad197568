"""The table of tuned hyperparameters: one YAML file per algorithm, keyed by env id and policy.

Like rl-baselines3-zoo's ``hyperparams/*.yml``. ``agents/hyperparams/ppo.yml``::

    lm_envs/TextGeneration-v0:          # an env id (lm_envs or Gymnasium), or `default`
      tiny-shop:                        # `mlp`, an LM by model name, or `lm` (any LM)
        source: "python -m benchmarks.learning text (commit 6672ef8): ..."
        learning_rate: 3.0e-5           # fields of agents.ppo.PPOConfig
        kl_coef: 0.05
    default:                            # the policy-kind defaults, for envs not listed
      mlp: {source: "CleanRL's classic-control defaults", learning_rate: 2.5e-4}
      lm: {source: "...", learning_rate: 1.0e-5, kl_coef: 0.05}

An agent built with no config (or with a dict of overrides) gets, field by field:

1. the table entry for (algorithm, env, policy): ``env/<model name>``, else ``env/lm`` for
   an LM; else the policy-kind default: ``default/<model name>``, else ``default/lm`` or
   ``default/mlp``. One entry is used, never a blend of two;
2. the config dataclass's default for a field the entry does not set;
3. the user's overrides, last.

An LM never falls back to ``mlp`` (the dataclass defaults are for classic control, and
PPO's ``learning_rate=2.5e-4`` wrecks an LM), and every LM entry sets ``learning_rate`` and
``kl_coef``. Every file is checked on load; an error names the file and the key.

```python
from agents.hyperparams import resolve
r = resolve("ppo", "CartPole-v1")                    # policy "auto": mlp here
r.config                                             # a PPOConfig
r.origins["learning_rate"]                           # "table entry", "kind default", "dataclass default" or "override"
r.entry.source                                       # where the entry's values came from
resolve("ppo", "lm_envs/TextGeneration-v0", "tiny-shop", {"learning_rate": 1e-5}).config
```
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ALGORITHMS",
    "DEFAULT",
    "LM",
    "LM_REQUIRED",
    "MLP",
    "ORIGINS",
    "TABLE_DIR",
    "Entry",
    "HyperparamsError",
    "Resolved",
    "Table",
    "config_class",
    "config_for",
    "load_table",
    "policy_key",
    "resolve",
]

TABLE_DIR = Path(__file__).resolve().parent
"""Where the shipped tables live: ``<algorithm>.yml``."""
ALGORITHMS: dict[str, str] = {
    "reinforce": "agents.reinforce:REINFORCEConfig",
    "a2c": "agents.actor_critic:A2CConfig",
    "ppo": "agents.ppo:PPOConfig",
    "ddpg": "agents.ddpg:DDPGConfig",
    "sft": "agents.sft:SFTConfig",
}
"""Algorithm name (the table's file name) -> its config dataclass, imported when first needed."""
DEFAULT = "default"
"""The table key that holds the policy-kind defaults, used for envs the table does not list."""
MLP = "mlp"
LM = "lm"
LM_REQUIRED = ("learning_rate", "kl_coef")
"""Fields every LM entry sets: their dataclass defaults are for classic control."""
ORIGINS = ("table entry", "kind default", "dataclass default", "override")
"""Where a resolved field's value came from."""
SOURCE = "source"


class HyperparamsError(ValueError):
    """A table file, an algorithm name or an override that cannot be used."""


def config_class(algorithm: str) -> type:
    """The config dataclass of ``algorithm`` (``"ppo"`` -> ``PPOConfig``)."""
    if algorithm not in ALGORITHMS:
        raise HyperparamsError(f"unknown algorithm {algorithm!r}; known: {', '.join(sorted(ALGORITHMS))}")
    module, _, name = ALGORITHMS[algorithm].partition(":")
    return getattr(importlib.import_module(module), name)


def _takes_lm(cls: type) -> bool:
    from agents.options import LMOptions

    return issubclass(cls, LMOptions)


def _policy_keys(cls: type) -> tuple[str, ...]:
    """The policy keys a table of ``cls`` may hold: ``mlp``, plus ``lm`` and the model names
    for the on-policy algorithms (DDPG builds its own MLPs)."""
    if not _takes_lm(cls):
        return (MLP,)
    from lm_envs.models import MODELS

    if getattr(cls, "lm_only", False):  # SFT: LM policies only
        return (LM, *MODELS)
    return (MLP, LM, *MODELS)


# ---------------------------------------------------------------------------------------
# the table: entries, loading and checking
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One entry of a table: the settings of ``algorithm`` on ``env`` for ``policy``."""

    algorithm: str
    env: str
    """An env id, or :data:`DEFAULT` for a policy-kind default."""
    policy: str
    """``"mlp"``, ``"lm"`` or a model name."""
    values: Mapping[str, Any]
    """Config fields, as the config dataclass takes them (lists made tuples)."""
    source: str
    """The command and result that chose these values, or the defaults they copy."""
    path: Path

    @property
    def where(self) -> str:
        """``ppo.yml: CartPole-v1 / mlp``: the file and key, for messages."""
        return f"{self.path.name}: {self.env} / {self.policy}"

    @property
    def is_default(self) -> bool:
        return self.env == DEFAULT


@dataclass(frozen=True)
class Table:
    """The entries of one algorithm's file: ``entries[env][policy]``."""

    algorithm: str
    path: Path
    entries: Mapping[str, Mapping[str, Entry]]

    def lookup(self, env_id: str | None, key: str) -> Entry:
        """The entry for ``env_id`` and policy ``key`` (``mlp``, ``lm`` or a model name):
        ``env/key``, ``env/lm`` (LMs), ``default/key``, ``default/lm`` (LMs) or ``default/mlp``."""
        keys = [key] if key == MLP else list(dict.fromkeys([key, LM]))
        for env in ([env_id] if env_id is not None else []) + [DEFAULT]:
            for k in keys:
                entry = self.entries.get(env, {}).get(k)
                if entry is not None:
                    return entry
        raise HyperparamsError(f"{self.path.name} has no entry for policy {key!r} and no default for it")  # pragma: no cover - checked on load


def load_table(algorithm: str, path: str | Path | None = None) -> Table:
    """Read and check ``algorithm``'s table (the shipped ``<algorithm>.yml`` unless ``path``).

    Raises:
        HyperparamsError: naming the file and key of an unknown env id, policy key or
            config field, a missing ``source``, an LM entry without ``learning_rate`` and
            ``kl_coef``, or a value the config dataclass refuses.
    """
    return _load(algorithm, Path(path).resolve() if path is not None else TABLE_DIR / f"{algorithm}.yml")


@functools.cache
def _load(algorithm: str, path: Path) -> Table:
    import yaml

    cls = config_class(algorithm)
    if not path.is_file():
        raise HyperparamsError(f"{path}: no such hyperparameter table")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise HyperparamsError(f"{path.name}: not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not raw:
        raise HyperparamsError(f"{path.name}: must map env ids (and {DEFAULT!r}) to entries; got {type(raw).__name__}")
    keys = _policy_keys(cls)
    entries: dict[str, dict[str, Entry]] = {}
    for env, by_policy in raw.items():
        _check_env(path, env)
        if not isinstance(by_policy, dict) or not by_policy:
            raise HyperparamsError(f"{path.name}: {env}: must map policy keys ({', '.join(keys)}) to entries")
        entries[env] = {}
        for key, body in by_policy.items():
            if key not in keys:
                raise HyperparamsError(f"{path.name}: {env} / {key}: unknown policy key {key!r}; known: {', '.join(keys)}"
                                       + ("" if _takes_lm(cls) else f" ({algorithm} has no LM policies)"))
            entries[env][key] = _entry(algorithm, cls, path, env, key, body)
    defaults = entries.get(DEFAULT, {})
    for kind in (LM,) if getattr(cls, "lm_only", False) else (MLP, LM) if _takes_lm(cls) else (MLP,):
        if kind not in defaults:
            raise HyperparamsError(f"{path.name}: {DEFAULT} / {kind}: missing; every policy kind needs a default")
    return Table(algorithm=algorithm, path=path, entries=entries)


def _check_env(path: Path, env: Any) -> None:
    import gymnasium as gym

    import lm_envs  # registers the lm_envs ids

    if env == DEFAULT:
        return
    if not isinstance(env, str) or env not in gym.registry:
        raise HyperparamsError(f"{path.name}: unknown env id {env!r}; use {DEFAULT!r}, an lm_envs id "
                               f"({', '.join(lm_envs.ENV_IDS)}) or a registered Gymnasium id")


def _entry(algorithm: str, cls: type, path: Path, env: str, key: str, body: Any) -> Entry:
    where = f"{path.name}: {env} / {key}"
    if not isinstance(body, dict):
        raise HyperparamsError(f"{where}: must be a mapping of {SOURCE} and config fields; got {body!r}")
    source = body.get(SOURCE)
    if not isinstance(source, str) or not source.strip():
        raise HyperparamsError(f"{where}: needs a {SOURCE!r}: the command and result that chose it, or the defaults it copies")
    values = {k: v for k, v in body.items() if k != SOURCE}
    _check_fields(cls, values, where)
    if key != MLP:
        missing = [f for f in LM_REQUIRED if f not in values]
        if missing:
            raise HyperparamsError(f"{where}: an LM entry must set {' and '.join(missing)} "
                                   "(the config defaults are for classic control)")
    values = _as_config_values(values)
    try:
        cls(**values)
    except (TypeError, ValueError) as err:
        raise HyperparamsError(f"{where}: {err}{_yaml_hint(values)}") from None
    return Entry(algorithm=algorithm, env=env, policy=key, values=values, source=source.strip(), path=path)


def _check_fields(cls: type, values: Mapping[str, Any], where: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    for name in values:
        if name not in names:
            raise HyperparamsError(f"{where}: unknown {cls.__name__} field {name!r}; known: {', '.join(names)}")


def _as_config_values(values: Mapping[str, Any]) -> dict[str, Any]:
    # YAML and JSON give lists where the dataclasses want tuples (hidden_sizes)
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def _yaml_hint(values: Mapping[str, Any]) -> str:
    """YAML 1.1 reads ``1e-5`` (no dot) as a string: say so when a string looks like a number."""
    for name, value in values.items():
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                continue
            if math.isfinite(number):
                return f" ({name}: {value!r} is a string; YAML needs a dot in a number with an exponent: write {number!r})"
    return ""


# ---------------------------------------------------------------------------------------
# resolution
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    """The settings an agent gets: its config, and where each field's value came from."""

    algorithm: str
    env_id: str | None
    policy: Any
    """The policy to build: ``"mlp"``, a model name, a folder, or the module given."""
    key: str
    """The policy's table key: ``"mlp"``, a model name or ``"lm"``."""
    config: Any
    """The config dataclass instance."""
    entry: Entry
    """The table entry used (a policy-kind default when ``entry.is_default``)."""
    origins: Mapping[str, str]
    """Config field -> one of :data:`ORIGINS`."""

    def as_dict(self) -> dict[str, Any]:
        """``policy`` (when it is a name) and every config field, as plain data."""
        fields = {f.name: _plain(getattr(self.config, f.name)) for f in dataclasses.fields(self.config)}
        return ({"policy": self.policy} if isinstance(self.policy, str) else {}) | fields

    def describe(self) -> str:
        """The settings as text: the entry used, its source, and one line per field with its
        value and origin (table entry, then overrides, then the dataclass defaults)."""
        policy = self.policy if isinstance(self.policy, str) else type(self.policy).__name__
        kind = "policy-kind default" if self.entry.is_default else "table entry"
        lines = [
            f"{self.algorithm} on {self.env_id or 'an env instance'}, policy {policy}",
            f"{kind}: agents/hyperparams/{self.entry.where}",
            f"source: {self.entry.source}",
            "",
        ]
        rows = [(name, repr(_plain(getattr(self.config, name))), origin) for name, origin in self.origins.items()]
        rows.sort(key=lambda row: ORIGINS.index(row[2]))
        width = max(len(row[0]) for row in rows)
        value_width = max(len(row[1]) for row in rows)
        lines.append(f"{'field':<{width}}  {'value':<{value_width}}  from")
        lines += [f"{name:<{width}}  {value:<{value_width}}  {origin}" for name, value, origin in rows]
        return "\n".join(lines)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def policy_key(policy: Any, *, token_env: bool) -> tuple[Any, str]:
    """``(policy to build, table key)`` of a policy argument.

    ``"auto"``: tiny-shop on a token env, else an MLP; ``"mlp"`` and an
    :class:`~agents.policies.MLPActorCritic` are ``mlp``; a shipped model name is its own
    key; any other LM (a folder, a module) is ``lm``.
    """
    from lm_envs.models import MODELS

    if isinstance(policy, str):
        if policy == "auto":
            policy = "tiny-shop" if token_env else MLP
        return policy, (policy if policy == MLP or policy in MODELS else LM)
    from agents.policies import MLPActorCritic

    return policy, (MLP if isinstance(policy, MLPActorCritic) else LM)


def resolve(
    algorithm: str,
    env_id: str | None,
    policy: Any = "auto",
    overrides: Mapping[str, Any] | None = None,
    *,
    token_env: bool | None = None,
    table: Table | None = None,
) -> Resolved:
    """The settings of ``algorithm`` on ``env_id`` with ``policy``: the table entry (or the
    policy-kind default), then the dataclass defaults, then ``overrides``.

    Args:
        algorithm: ``"ppo"``, ``"a2c"``, ``"reinforce"``, ``"ddpg"`` or ``"sft"``.
        env_id: a registered env id; ``None`` (an env instance) uses the kind defaults.
        policy: ``"auto"``, ``"mlp"``, a model name, a folder or a module.
        overrides: config fields that replace the table's values.
        token_env: whether the env's observations are tokens (what ``"auto"`` means);
            looked up from ``env_id`` when ``None``.
        table: a table to use instead of the shipped one (:func:`load_table`).

    Raises:
        HyperparamsError: an unknown algorithm, env id or field, an LM policy for DDPG, or
            overrides the config dataclass refuses.
    """
    cls = config_class(algorithm)
    table = load_table(algorithm) if table is None else table
    if token_env is None:
        token_env = _is_token_env(env_id)
    built, key = policy_key(policy, token_env=token_env)
    if key not in _policy_keys(cls) and getattr(cls, "lm_only", False):
        raise HyperparamsError(f"{algorithm} trains LM policies only; got {policy!r}"
                               + (f" (an MLP on {env_id})" if policy == "auto" else ""))
    if key not in _policy_keys(cls):
        meaning = f", which means tiny-shop on the token env {env_id}" if policy == "auto" else ""
        raise HyperparamsError(f"{algorithm} builds its own MLP networks and takes no LM policy; got {policy!r}{meaning}")
    overrides = dict(overrides or {})
    _check_fields(cls, overrides, f"{algorithm} overrides")
    entry = table.lookup(env_id, key)
    values = {**entry.values, **_as_config_values(overrides)}
    try:
        config = cls(**values)
    except (TypeError, ValueError) as err:
        raise HyperparamsError(f"{err} (the settings of {entry.where}"
                               + (f" with overrides of {', '.join(overrides)})" if overrides else ")")) from None
    from_entry = "kind default" if entry.is_default else "table entry"
    origins = {
        f.name: "override" if f.name in overrides else from_entry if f.name in entry.values else "dataclass default"
        for f in dataclasses.fields(cls)
    }
    return Resolved(algorithm=algorithm, env_id=env_id, policy=built, key=key, config=config, entry=entry, origins=origins)


def _is_token_env(env_id: str | None) -> bool:
    if env_id is None:
        return False
    import gymnasium as gym

    import lm_envs

    if env_id not in gym.registry:
        raise HyperparamsError(f"unknown env id {env_id!r}; lm_envs ids: {', '.join(lm_envs.ENV_IDS)}, "
                               "or any registered Gymnasium id")
    return lm_envs.is_token_env(env_id)


def config_for(algorithm: str | None, cls: type, config: Any, env: Any, policy: Any) -> Any:
    """The config an agent runs with: ``config`` itself when it is a ``cls``; the table's
    settings for ``env`` and ``policy`` when it is ``None``; the table's settings updated by
    ``config`` when it is a dict of fields. ``algorithm=None`` (an agent with no table) uses
    the dataclass defaults in place of the table.

    ``env`` is an env id, an env or a vector env (an instance uses the kind defaults).
    """
    if isinstance(config, cls):
        return config
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"config must be a {cls.__name__}, a dict of its fields or None; got {type(config).__name__}")
    if algorithm is None:
        return cls(**_as_config_values(config or {}))
    if isinstance(env, str):
        return resolve(algorithm, env, policy, config).config
    from agents.policies import is_token_observation_space

    space = getattr(env, "single_observation_space", None) or env.observation_space
    return resolve(algorithm, None, policy, config, token_env=is_token_observation_space(space)).config

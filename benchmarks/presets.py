"""Benchmark presets (``smoke``, ``quick``, ``full``) and config files (TOML or YAML).

A config is plain data, checked by :func:`benchmarks.config.parse_config` before any run starts:

```toml
name = "mine"
seeds = 3                  # or a list: [0, 1, 2]
steps = 4096               # training steps per run (env steps, summed over the vector rows)
eval_every = 1024          # steps between the evaluations that make the learning curve
eval_episodes = 16         # episodes per evaluation
deterministic = false      # evaluate the sampling policy (false) or its argmax (true)
baselines = ["random", "initial", "oracle", "popular"]   # kept where they apply

[agents.ppo]               # the agents that run; each gets the hyperparameter table's settings
num_envs = 8               # for the env and policy (`lm-envs hyperparams ppo ENV`), and a field
policy = "tiny-shop"       # of agents.ppo.PPOConfig set here overrides them on every env;
                           # policy: "auto", "mlp" or an LM name (not a config field)

[[envs]]
id = "lm_envs/TextGeneration-v1"
kwargs = { reward = { fluent_sentiment = 1.0 }, max_new_tokens = 16 }
agents = ["ppo", "random", "initial"]       # optional: default = all agents that apply
steps = 2048                                # optional per-env overrides of steps,
agent_config = { ppo = { n_steps = 16 } }   # eval_every, eval_episodes, agent settings
score = { low = "initial", high = 1.0 }     # optional: the normalised score's 0 and 1
```

``score.low`` and ``score.high`` name a baseline (its mean final return) or give a number.
By default 0 is ``random`` (else ``initial``) and 1 is ``oracle``; an env with no 1 is left
out of the normalised aggregates.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["PRESETS", "ConfigError", "get_preset", "load_config"]


class ConfigError(ValueError):
    """A preset, config file or run spec that cannot run; raised before any run starts."""


# ---------------------------------------------------------------------------------------
# env entries: adding an env family to a preset is one line in its *_ENVS list
# ---------------------------------------------------------------------------------------

# Sentiment on target, gated by fluency under tiny-shop: cheap on a CPU (one small forward
# per finished text), learnable by a tiny LM in minutes, and zero for token soup; its range
# [0, 1] gives the normalised score a fixed 1 (fluent text fully on target).
_TEXT_REWARD = {"fluent_sentiment": 1.0}


def text_generation(max_new_tokens: int, **extra: Any) -> dict[str, Any]:
    """TextGeneration-v1 (balanced positive/negative prompts) with short completions; RL
    starts from the pretrained LM, so the untrained policy (``initial``) is the 0 to beat."""
    return {
        "id": "lm_envs/TextGeneration-v1",
        "kwargs": {"reward": _TEXT_REWARD, "max_new_tokens": max_new_tokens, "max_prompt_tokens": 48},
        "score": {"low": "initial", "high": 1.0},
        **extra,
    }


def customer_service(max_new_tokens: int, **extra: Any) -> dict[str, Any]:
    """CustomerServiceQA-v0 scored on the facts alone (no sentence encoder: fast on a CPU);
    the facts score is at most 1 (every required fact stated, none contradicted)."""
    return {
        "id": "lm_envs/CustomerServiceQA-v0",
        "kwargs": {"reward": {"facts": 1.0}, "max_new_tokens": max_new_tokens},
        "score": {"low": "initial", "high": 1.0},
        **extra,
    }


def customer_dialog(max_new_tokens: int, max_turn_tokens: int, **extra: Any) -> dict[str, Any]:
    """CustomerServiceDialog-v1 with its default ConvLab-style reward (+1 success, -1
    failure or running out of the token budget, a cost per turn): 1 is a first-turn success,
    0 the untrained LM. (Under v0 a cut dialog scored 0, so random tokens, which ramble
    until the budget runs out, beat every learner.)"""
    return {
        "id": "lm_envs/CustomerServiceDialog-v1",
        "kwargs": {"max_new_tokens": max_new_tokens, "max_turn_tokens": max_turn_tokens},
        "score": {"low": "initial", "high": 1.0},
        **extra,
    }


# ---------------------------------------------------------------------------------------
# agent settings: every learner gets the hyperparameter table's settings for its env and
# policy (agents/hyperparams/*.yml; `lm-envs hyperparams ALGO ENV` prints them); a preset
# sets only what its budget needs, as overrides
# ---------------------------------------------------------------------------------------

LEARNERS = {"reinforce": {}, "a2c": {}, "ppo": {}, "ddpg": {}}
"""Every learner with the table's settings (``policy`` "auto": tiny-shop on the LM envs, an MLP
elsewhere); DDPG applies to the recommenders only."""

# The smoke preset only checks the code path: a few tiny updates per learner.
TINY_LM = {
    "reinforce": {"num_envs": 4, "group_size": 2},
    "ppo": {"num_envs": 4, "n_steps": 6, "minibatch_size": 12, "update_epochs": 1},
}
# QA learners fine-tune tiny-shop-reader, which copies facts from a snippet better than
# tiny-shop (sampled fact accuracy about 0.25 untrained, against 0.12); `initial` follows
READER = {name: {"policy": "tiny-shop-reader"} for name in ("reinforce", "a2c", "ppo")}
# full: A2C's rollouts as long as a text (48 tokens)
LONG_ROLLOUTS = {"a2c": {"n_steps": 48}}
# one gradient step every other vector step: DDPG's updates dominate its run time
FAST_DDPG = {"learning_starts": 1000, "batch_size": 128, "train_freq": 2}


def merge(*settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Agent settings merged agent by agent, later ones winning field by field."""
    out: dict[str, dict[str, Any]] = {}
    for layer in settings:
        for agent, fields in layer.items():
            out[agent] = {**out.get(agent, {}), **fields}
    return out


def recommendation(continuous: bool = False, *, max_steps: int = 20, steps: int = 20_000,
                   rollout: int | None = None, **extra: Any) -> dict[str, Any]:
    """A recommender env: 0 = random available items, 1 = the myopic oracle. ``rollout``:
    PPO's steps per row and update, when not the table's."""
    env = "ProductRecommendationContinuous-v0" if continuous else "ProductRecommendation-v0"
    ppo = {} if rollout is None else {"n_steps": rollout, "minibatch_size": 2 * rollout}
    return {
        "id": f"lm_envs/{env}",
        "kwargs": {"max_steps": max_steps},
        "score": {"low": "random", "high": "oracle"},
        "steps": steps,
        "eval_every": steps // 4,
        "eval_episodes": 64,
        "agent_config": {"ddpg": FAST_DDPG, **({"ppo": ppo} if ppo else {})},
        **extra,
    }


SMOKE_ENVS = [
    text_generation(6, agents=["ppo", "reinforce", "random"], score={"low": "random", "high": 1.0},
                    agent_config=TINY_LM),
    recommendation(max_steps=10, steps=512, rollout=16, agents=["ppo", "random", "oracle"], eval_episodes=16),
]

# LM envs: 12,288 steps, and 64 (QA) or 256 (text: a sampled text's reward varies more)
# evaluation episodes per run, so that a learner's gain over
# the untrained policy stands out of the evaluation noise over 3 seeds
QUICK_ENVS = [
    text_generation(16, steps=12_288, eval_every=6144, eval_episodes=256),
    recommendation(steps=16_000),
    recommendation(continuous=True, steps=16_000),
    customer_service(20, steps=12_288, eval_every=4096, eval_episodes=64, agent_config=READER),
    customer_dialog(96, 24, steps=1536, eval_every=384),
]

FULL_ENVS = [
    text_generation(48, agent_config=LONG_ROLLOUTS),
    recommendation(max_steps=40, steps=500_000, rollout=128),
    recommendation(continuous=True, max_steps=40, steps=500_000, rollout=128),
    customer_service(48, agent_config=merge(READER, LONG_ROLLOUTS)),
    customer_dialog(192, 48, agent_config=LONG_ROLLOUTS),
]

PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {
        "name": "smoke",
        "description": "under a minute on 2 CPU cores: a few updates per agent, 2 seeds; used by the tests",
        "seeds": 2,
        "steps": 96,
        "eval_every": 48,
        "eval_episodes": 4,
        "baselines": ["random", "oracle"],
        "agents": {"ppo": {}, "reinforce": {}},
        "envs": SMOKE_ENVS,
    },
    "quick": {
        "name": "quick",
        "description": "about 12 min on 2 CPU cores: every env and applicable agent, baselines, 3 seeds",
        "seeds": 3,
        "steps": 4096,
        "eval_every": 1024,
        "eval_episodes": 32,
        "baselines": ["random", "initial", "oracle", "popular"],
        "agents": LEARNERS,
        "envs": QUICK_ENVS,
    },
    "full": {
        "name": "full",
        "description": "a GPU box or a Ray cluster: 5 seeds, far longer runs, full-length texts",
        "seeds": 5,
        "steps": 65_536,
        "eval_every": 8192,
        "eval_episodes": 64,
        "baselines": ["random", "initial", "oracle", "popular"],
        "agents": LEARNERS,
        "envs": FULL_ENVS,
    },
}


def get_preset(name: str) -> dict[str, Any]:
    """A deep copy of preset ``name``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def _no_alias_loader(yaml: Any) -> type:
    """``yaml.SafeLoader`` that refuses aliases: nested aliases expand exponentially
    (a "billion laughs" file of a few hundred bytes), and a config never needs them."""

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise ConfigError(f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not "
                                  "allowed in a config; write the value out")
            return super().compose_node(parent, index)

    return NoAliasLoader


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a benchmark config from TOML (``.toml``), YAML (``.yaml``/``.yml``) or JSON.

    YAML is read with a safe loader (no arbitrary objects) that refuses aliases (``*name``),
    so a small file cannot expand into a huge config; nothing is evaluated.

    Raises:
        ConfigError: the file is missing, a folder, unreadable, not UTF-8, not a mapping, has
            another suffix or (YAML) uses an alias.
    """
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"config file {str(p)!r} is a folder, not a config file")
    if not p.is_file():
        raise ConfigError(f"config file {str(p)!r} does not exist")
    suffix = p.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml", ".json"):
        raise ConfigError(f"config file {str(p)!r}: unknown suffix {suffix!r}; use .toml, .yaml, .yml or .json")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text (byte {err.start}: {err.reason})") from None
    except OSError as err:
        raise ConfigError(f"config file {str(p)!r} cannot be read: {err.strerror or err}") from None
    try:
        if suffix == ".toml":
            if sys.version_info >= (3, 11):
                import tomllib
            else:  # pragma: no cover - Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:  # pragma: no cover - pyyaml is a dependency
                raise ConfigError("reading YAML configs needs PyYAML: pip install pyyaml") from None
            data = yaml.load(text, Loader=_no_alias_loader(yaml))  # a SafeLoader subclass
        else:
            data = json.loads(text)
    except ConfigError as err:
        raise ConfigError(f"config file {str(p)!r}, {err}") from None
    except Exception as err:  # each parser has its own error type; all mean "malformed"
        raise ConfigError(f"config file {str(p)!r} is malformed: {type(err).__name__}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(p)!r} must hold a mapping of settings; got {type(data).__name__}")
    data.setdefault("name", p.stem)
    return data

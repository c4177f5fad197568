"""Saved agents: atomic saves, weights checked against their hashes and their shapes before
anything is allocated, unknown config keys refused; learn() and seeds checked."""

from __future__ import annotations

import json
import shutil
import warnings

import pytest
import torch
import transformers

from agents import A2C, DDPG, PPO, REINFORCE
from agents.persistence import CONFIG_FILE, MODEL_FILE
from lm_envs.models import load_tokenizer

SMALL = {"num_envs": 2, "n_steps": 8, "minibatch_size": 16, "update_epochs": 1}


def _weights(agent) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in agent.policy.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def tiny_gpt2(vocab_size: int, *, n_layer: int = 1) -> torch.nn.Module:
    config = transformers.GPT2Config(vocab_size=vocab_size, n_positions=256, n_embd=16, n_layer=n_layer, n_head=2)
    return transformers.GPT2LMHeadModel(config)


def test_a_save_that_fails_keeps_the_previous_save_whole(tmp_path):
    path = tmp_path / "agent"
    first = PPO("CartPole-v1", config=SMALL, seed=0)
    first.save(path)
    second = PPO("CartPole-v1", config=SMALL, seed=1)
    second.env_kwargs = {"not json": object()}  # fails after the weights are written
    with pytest.raises(ValueError, match="JSON"):
        second.save(path)
    assert _same(_weights(PPO.load(path)), _weights(first))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent"]  # no temp folder left beside it


def test_weights_that_do_not_match_their_hash_are_refused_naming_the_file(tmp_path):
    PPO("CartPole-v1", config=SMALL, seed=0).save(tmp_path / "a")
    PPO("CartPole-v1", config=SMALL, seed=1).save(tmp_path / "b")
    shutil.copy(tmp_path / "b" / MODEL_FILE, tmp_path / "a" / MODEL_FILE)
    with pytest.raises(ValueError, match=f"{tmp_path / 'a' / MODEL_FILE}.*hash"):
        PPO.load(tmp_path / "a")


@pytest.mark.filterwarnings("ignore:.*records no hashes")
def test_a_truncated_weights_file_is_named(tmp_path):
    PPO("CartPole-v1", config=SMALL, seed=0).save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    meta.pop("files")  # a save without hashes: the file itself is checked
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps(meta))
    weights = tmp_path / "a" / MODEL_FILE
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{weights}: not a whole safetensors file"):
        PPO.load(tmp_path / "a")


def test_a_save_without_hashes_loads_with_a_warning(tmp_path):
    agent = PPO("CartPole-v1", config=SMALL, seed=0)
    agent.save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    meta.pop("files")
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.warns(UserWarning, match="no hashes of its weights"):
        loaded = PPO.load(tmp_path / "a")
    assert _same(_weights(loaded), _weights(agent))


def test_a_config_asking_for_400_layers_is_refused_before_allocating(tmp_path, monkeypatch):
    vocab = len(load_tokenizer("tiny-shop"))
    PPO("lm_envs/TextGeneration-v1", policy=tiny_gpt2(vocab), config=SMALL, seed=0).save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    meta["policy"]["hf_config"]["n_layer"] = 400
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps(meta))
    build = transformers.AutoModelForCausalLM.from_config

    def build_without_memory(*args, **kwargs):  # building on the meta device allocates nothing
        if torch.get_default_device().type != "meta":
            pytest.fail("the model was allocated before its shapes were checked")
        return build(*args, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_config", build_without_memory)
    with pytest.raises(ValueError, match=f"{tmp_path / 'a' / MODEL_FILE}.*h.1.*config.json"):
        PPO.load(tmp_path / "a")


@pytest.mark.parametrize(("where", "message"), [("config", "unknown PPOConfig field 'learning_rat'"),
                                               ("top", "config.json: unknown key 'learning_rat'")])
def test_unknown_keys_in_a_saved_config_are_refused(tmp_path, where, message):
    PPO("CartPole-v1", config=SMALL, seed=0).save(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    (meta["config"] if where == "config" else meta)["learning_rat"] = 1.0
    (tmp_path / "a" / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=message):
        PPO.load(tmp_path / "a")


ALGORITHMS = [(PPO, "CartPole-v1", SMALL), (A2C, "CartPole-v1", {"num_envs": 2, "n_steps": 4}),
              (REINFORCE, "CartPole-v1", {"num_envs": 4}), (DDPG, "Pendulum-v1", {"learning_starts": 4})]


@pytest.mark.parametrize(("cls", "env_id", "config"), ALGORITHMS, ids=[a[0].__name__ for a in ALGORITHMS])
@pytest.mark.parametrize("steps", [0, -5, 2.5, True])
def test_learn_needs_a_positive_step_count(cls, env_id, config, steps):
    agent = cls(env_id, config=config, seed=0)
    with pytest.raises(ValueError, match=f"total_steps must be an int >= 1; got {steps!r}"):
        agent.learn(steps)
    assert agent.num_timesteps == 0


@pytest.mark.parametrize(("cls", "env_id", "config"), ALGORITHMS, ids=[a[0].__name__ for a in ALGORITHMS])
@pytest.mark.parametrize("seed", [-1, "7", 1.5, 2**64, None])
def test_a_bad_seed_is_named(cls, env_id, config, seed):
    with pytest.raises(ValueError, match=f"seed must be an int in \\[0, 2\\*\\*32\\); got {seed!r}"):
        cls(env_id, config=config, seed=seed)


def test_a_save_with_hashes_loads_without_a_warning(tmp_path):
    agent = PPO("CartPole-v1", config=SMALL, seed=0)
    agent.save(tmp_path / "a")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PPO.load(tmp_path / "a")  # a save with hashes loads without a warning

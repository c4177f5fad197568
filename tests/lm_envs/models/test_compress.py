"""Compressed policies: int8 and pruned folders round-trip, are smaller or sparser, and act in every token env."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import lm_envs
from lm_envs.models import load_policy, load_tokenizer
from lm_envs.models.compress import COMPRESSION_FILE, compress, is_compressed

TOKEN_ENVS = [env_id for env_id in lm_envs.ENV_IDS if lm_envs.is_token_env(env_id)]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("compressed")
    return {"int8": compress("tiny-shop", root / "int8", int8=True),
            "pruned": compress("tiny-shop", root / "pruned", prune=0.3),
            "both": compress("tiny-shop", root / "both", int8=True, prune=0.5)}


def test_int8_round_trips_and_is_smaller(folders, tmp_path):
    base = load_policy("tiny-shop")
    model = load_policy(folders["int8"])
    assert is_compressed(folders["int8"]) and not is_compressed(folders["pruned"])
    layer = model.transformer.h[0].attn.c_attn
    assert isinstance(layer, torch.ao.nn.quantized.dynamic.Linear)
    size = (folders["int8"] / "model.safetensors").stat().st_size
    base_size = sum(p.numel() * 4 for p in base.parameters())
    assert size < 0.6 * base_size
    text = "Hi, the lamp I ordered arrived damaged. I'd like a refund. Could you tell me your order number?"
    x = torch.tensor([load_tokenizer("tiny-shop").encode(text)])
    with torch.no_grad():
        a, b = base(x).logits, model(x).logits
    assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.8  # int8 keeps the predictions on shop text
    assert len(load_tokenizer(folders["int8"])) == len(load_tokenizer("tiny-shop"))
    # compressing again from the compressed folder's source gives the same weights
    again = load_policy(compress("tiny-shop", tmp_path / "again", int8=True))
    with torch.no_grad():
        assert torch.equal(again(x).logits, b)


def test_pruning_is_permanent_and_leaves_embeddings_alone(folders):
    model = load_policy(folders["pruned"])
    base = load_policy("tiny-shop")
    weight = model.transformer.h[1].mlp.c_fc.weight
    assert abs(float((weight == 0).float().mean()) - 0.3) < 0.01
    assert not any("weight_orig" in n or "weight_mask" in n for n, _ in model.named_parameters())
    assert torch.equal(model.transformer.wte.weight, base.transformer.wte.weight)
    meta = json.loads((folders["pruned"] / COMPRESSION_FILE).read_text())
    assert meta["prune"] == 0.3 and meta["int8"] is False


@pytest.mark.parametrize("env_id", TOKEN_ENVS)
def test_a_compressed_policy_acts_in_every_token_env(folders, env_id):
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy
    from agents.policies import LMActorCritic

    policy = LMActorCritic(load_policy(folders["both"]))
    env = make_vector_env(env_id, num_envs=2, env_kwargs={"max_new_tokens": 16})
    act = ActorPolicy(policy, env, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        episodes = evaluate_policy(env, act, 2, seed=0)
    assert len(episodes) == 2 and all(np.isfinite(e.episode_return) for e in episodes)


def test_compress_refuses_bad_requests(tmp_path):
    with pytest.raises(ValueError, match="needs int8=True, prune"):
        compress("tiny-shop", tmp_path / "x")
    with pytest.raises(ValueError, match=r"prune must be a share in \(0, 1\)"):
        compress("tiny-shop", tmp_path / "x", prune=1.5)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_the_cli_compresses(tmp_path):
    out = tmp_path / "int8"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", "tiny-shop", "--int8", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert is_compressed(out)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", "tiny-shop", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert proc.returncode == 2 and "give --int8, --prune SHARE, or both" in proc.stderr

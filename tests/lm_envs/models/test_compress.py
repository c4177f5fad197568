"""Compressed policies: int8 and pruned folders round-trip, are smaller, come from SFT folders and RL agents' saves,
and act in every token env."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import lm_envs
from lm_envs.models import load_policy, load_tokenizer
from lm_envs.models.compress import CALIBRATION_ENV, COMPRESSION_FILE, calibration_sequences, compress, is_compressed
from lm_envs.models.int8 import (
    DEFAULT_SMOOTH_ALPHA,
    Int8Linear,
    _quantize_per_tensor_input,
    linear_names,
    pack_sparse,
    quantize,
    save_compressed,
    smoothing_scales,
    unpack_sparse,
)

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
    assert is_compressed(folders["int8"]) and is_compressed(folders["pruned"])
    layer = model.transformer.h[0].attn.c_attn
    assert isinstance(layer, Int8Linear) and layer.weight_int8.dtype == torch.int8 and layer.smooth_scale is not None
    assert layer.weight_scale.shape == (layer.out_features,)  # one scale per output row
    meta = json.loads((folders["int8"] / COMPRESSION_FILE).read_text())
    assert meta["smooth_alpha"] == DEFAULT_SMOOTH_ALPHA and meta["calibration"] == CALIBRATION_ENV
    assert meta["activations"] == "per-token"
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


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    """A tiny PPO agent on tiny-shop, trained a few steps and saved as `lm-envs train` does (RUN_DIR/model)."""
    from agents import PPO, PPOConfig

    kwargs = {"max_new_tokens": 4, "max_prompt_tokens": 48, "reward": {"length": 1.0}}
    config = PPOConfig(num_envs=2, n_steps=4, minibatch_size=8, update_epochs=1, learning_rate=1e-3)
    ppo = PPO("lm_envs/TextGeneration-v1", policy="tiny-shop", config=config, seed=0, env_kwargs=kwargs)
    ppo.learn(8)
    run = tmp_path_factory.mktemp("run")
    ppo.save(run / "model")
    root = tmp_path_factory.mktemp("agent-compressed")
    return {"run": run, "model": ppo.policy.model.eval(), "int8": compress(run / "model", root / "int8", int8=True),
            "pruned": compress(run, root / "pruned", prune=0.3)}


def test_an_rl_agents_save_compresses_to_its_language_model(agent):
    from safetensors import safe_open

    trained, base = agent["model"], load_policy("tiny-shop")
    assert not torch.equal(trained.transformer.h[0].mlp.c_fc.weight, base.transformer.h[0].mlp.c_fc.weight)
    pruned = load_policy(agent["pruned"])  # the run folder's model/, the value head dropped
    for name, tensor in trained.state_dict().items():
        kept = pruned.state_dict()[name]
        if name.endswith(".weight") and name.rpartition(".")[0] in linear_names(trained):
            assert torch.equal(kept[kept != 0], tensor[kept != 0]) and float((kept == 0).float().mean()) > 0.29
        else:
            assert torch.equal(kept, tensor), name
    with safe_open(str(agent["int8"] / "model.safetensors"), framework="pt") as f:
        assert not any("value_head" in k or k.startswith("model.") for k in f.keys())
    meta = json.loads((agent["int8"] / COMPRESSION_FILE).read_text())
    assert meta["source_kind"] == "agent" and meta["int8"] and meta["per_channel"]
    # the tokenizer is the agent's env's (TextGeneration's default, tiny-shop's)
    assert load_tokenizer(agent["int8"]).get_vocab() == load_tokenizer("tiny-shop").get_vocab()
    text = "Hi, the lamp I ordered arrived damaged. I'd like a refund. Could you tell me your order number?"
    x = torch.tensor([load_tokenizer("tiny-shop").encode(text)])
    with torch.no_grad():
        assert (trained(x).logits.argmax(-1) == load_policy(agent["int8"])(x).logits.argmax(-1)).float().mean() >= 0.8


@pytest.mark.parametrize("env_id", TOKEN_ENVS)
@pytest.mark.parametrize("version", ["both", "agent-int8", "agent-pruned"])
def test_a_compressed_policy_acts_in_every_token_env(folders, agent, env_id, version):
    from agents.actors import ActorPolicy
    from agents.envs import make_vector_env
    from agents.evaluation import evaluate_policy
    from agents.policies import LMActorCritic

    folder = folders[version] if version in folders else agent[version.removeprefix("agent-")]
    policy = LMActorCritic(load_policy(folder))
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


def test_compress_names_a_source_that_is_no_policy(tmp_path, folders):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"neither a Hugging Face model folder .* an RL agent.s save .* `lm-envs train`"):
        compress(empty, tmp_path / "x", int8=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"name": "not a model"}')
    with pytest.raises(ValueError, match="neither a Hugging Face model config .* nor an RL agent's"):
        compress(other, tmp_path / "x", int8=True)
    with pytest.raises(FileNotFoundError, match="no policy folder"):
        compress(tmp_path / "missing", tmp_path / "x", int8=True)
    with pytest.raises(ValueError, match="already compressed"):
        compress(folders["int8"], tmp_path / "x", prune=0.3)
    assert not (tmp_path / "x").exists()


def test_compress_names_what_is_wrong_with_an_agents_save(tmp_path, agent):
    import shutil

    from agents import PPO, PPOConfig

    mlp = PPO("CartPole-v1", policy="mlp", config=PPOConfig(num_envs=1, n_steps=8, minibatch_size=8), seed=0)
    mlp.save(tmp_path / "mlp")
    with pytest.raises(ValueError, match="PPO agent whose policy is 'mlp', not a language model"):
        compress(tmp_path / "mlp", tmp_path / "x", int8=True)
    tampered = tmp_path / "tampered"
    shutil.copytree(agent["run"] / "model", tampered)
    with (tampered / "model.safetensors").open("r+b") as f:
        f.seek(-4, 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ValueError, match="does not match the hash"):
        compress(tampered, tmp_path / "x", int8=True)
    foreign = tmp_path / "foreign"  # trained on an env lm_envs does not know: no tokenizer to take
    shutil.copytree(agent["run"] / "model", foreign)
    meta = json.loads((foreign / "config.json").read_text())
    (foreign / "config.json").write_text(json.dumps(meta | {"env_id": "MyTextEnv-v0", "env_kwargs": {}}))
    with pytest.raises(ValueError, match="pass tokenizer="):
        compress(foreign, tmp_path / "x", int8=True)
    assert not (tmp_path / "x").exists()
    assert is_compressed(compress(foreign, tmp_path / "x", int8=True, tokenizer="tiny-shop"))
    with pytest.raises(ValueError, match="tokenizer has .* tokens but the model's vocabulary only"):
        compress(foreign, tmp_path / "y", int8=True, tokenizer="smollm2-135m")


def test_a_pruned_file_is_smaller_and_round_trips_exactly(folders, tmp_path):
    from torch.nn.utils import prune

    base = load_policy("tiny-shop")
    expected = load_policy("tiny-shop")
    for layer in linear_names(expected):
        prune.l1_unstructured(expected.get_submodule(layer), "weight", amount=0.3)
        prune.remove(expected.get_submodule(layer), "weight")
    loaded = load_policy(folders["pruned"])
    assert is_compressed(folders["pruned"])
    state = loaded.state_dict()
    assert all(torch.equal(state[name], tensor) for name, tensor in expected.state_dict().items())
    fp32 = sum(p.numel() * 4 for p in base.parameters())
    linear = sum(base.get_submodule(n).weight.numel() for n in linear_names(base))
    size = (folders["pruned"] / "model.safetensors").stat().st_size
    # each pruned linear weight: 70% of its fp32 entries plus one bit per entry
    assert size < fp32 - linear * (0.3 * 4 - 1 / 8) + 100_000
    # int8 and pruned: the int8 zeros are left out too
    assert (folders["both"] / "model.safetensors").stat().st_size < (folders["int8"] / "model.safetensors").stat().st_size


def test_a_damaged_compressed_folder_is_named(folders, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(folders["pruned"], broken)
    (broken / COMPRESSION_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=r"compression.json: not JSON"):
        load_policy(broken)
    shutil.copytree(folders["pruned"], tmp_path / "cut")
    meta = json.loads((tmp_path / "cut" / COMPRESSION_FILE).read_text())
    meta["sparse"].append("transformer.wte.weight")  # names a tensor the file does not hold packed
    (tmp_path / "cut" / COMPRESSION_FILE).write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="the sparse tensor 'transformer.wte.weight' .* is missing"):
        load_policy(tmp_path / "cut")


def test_pack_sparse_round_trips_and_refuses_a_mask_that_does_not_fit():
    tensor = torch.tensor([[0.0, 1.5, 0.0], [-2.0, 0.0, 0.0], [0.0, 0.0, 3.0]])
    mask, values = pack_sparse(tensor)
    assert mask.dtype == torch.uint8 and mask.numel() == 2 and values.tolist() == [1.5, -2.0, 3.0]
    assert torch.equal(unpack_sparse(mask, values, tensor.shape), tensor)
    ints = torch.tensor([0, -3, 0, 7, 0, 0, 0, 0, 1], dtype=torch.int8)
    assert torch.equal(unpack_sparse(*pack_sparse(ints), ints.shape), ints)
    with pytest.raises(ValueError, match="does not fit a tensor of shape"):
        unpack_sparse(mask, values, (5, 5))
    with pytest.raises(ValueError, match="marks 3 nonzero entries but 2 values"):
        unpack_sparse(mask, values[:2], tensor.shape)


@pytest.mark.parametrize("per_channel", [False, True])
def test_an_int8_folder_of_torch_ao_layers_still_loads(tmp_path, per_channel):
    """Folders written before per-token activations (torch.ao dynamic int8, one weight scale per layer or per
    output row, no ``activations`` key) load as they were saved."""
    model = load_policy("tiny-shop")
    names = linear_names(model)
    _quantize_per_tensor_input(model, names, per_channel=per_channel)
    folder = tmp_path / "old"
    folder.mkdir()
    model.config.save_pretrained(folder)
    load_tokenizer("tiny-shop").save_pretrained(folder)
    save_compressed(model, folder / "model.safetensors", layers=names, sparse_layers=[])
    (folder / COMPRESSION_FILE).write_text(json.dumps({"source": "tiny-shop", "int8": True, "prune": None,
                                                       "per_channel": per_channel, "layers": names}))
    loaded = load_policy(folder)
    layer = loaded.transformer.h[0].attn.c_attn.weight()
    assert layer.qscheme() == (torch.per_channel_affine if per_channel else torch.per_tensor_affine)
    x = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        assert torch.equal(loaded(x).logits, model(x).logits)


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
    plain = tmp_path / "plain"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", "tiny-shop", "--int8", "--no-smooth",
                           "--out", str(plain)],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "smooth_alpha" not in json.loads((plain / COMPRESSION_FILE).read_text())
    assert json.loads((out / COMPRESSION_FILE).read_text())["smooth_alpha"] == DEFAULT_SMOOTH_ALPHA
    for flags, message in [(["--smooth", "2"], "--smooth must be"), (["--smooth", "0.5", "--no-smooth"], "not both"),
                           (["--calibration", "lm_envs/NoSuchEnv-v0"], "NoSuchEnv")]:
        proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", "tiny-shop", "--int8", *flags,
                               "--out", str(tmp_path / "bad")], capture_output=True, text=True, timeout=300,
                              env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
        assert proc.returncode == 2 and message in proc.stderr, (flags, proc.stderr)


@pytest.mark.slow
def test_the_cli_compresses_a_train_run_folder(tmp_path, agent):
    out = tmp_path / "pruned"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", str(agent["run"]), "--prune", "0.3",
                           "--int8", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / COMPRESSION_FILE).read_text())["source_kind"] == "agent"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.cli", "compress", str(tmp_path), "--int8", "--out",
                           str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=300, env={"HF_HUB_OFFLINE": "1", "PATH": ""}, check=False)
    assert proc.returncode == 2 and "is neither a Hugging Face model folder" in proc.stderr


def test_a_llama_policy_round_trips_with_its_rotary_buffers(tmp_path):
    # Llama-family models (SmolLM2) hold their rotary frequencies in non-persistent buffers,
    # which a state_dict (and so the compressed file) leaves out
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer("tiny-shop")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=128, tie_word_embeddings=True)).eval()
    source = tmp_path / "llama"
    model.save_pretrained(source)
    tok.save_pretrained(source)
    x = torch.tensor([tok.encode("Hi, where is my order?")])
    for name, options in {"int8": {"int8": True}, "pruned": {"prune": 0.3}}.items():
        loaded = load_policy(compress(source, tmp_path / name, **options))
        with torch.no_grad():
            a, b = model(x).logits, loaded(x).logits
        assert torch.allclose(loaded.model.rotary_emb.inv_freq, model.model.rotary_emb.inv_freq)
        assert (a.argmax(-1) == b.argmax(-1)).float().mean() >= 0.8, name


class _Block(torch.nn.Module):
    """One linear layer behind an embedding: what ``smoothing_scales`` needs (``model(input_ids=...)``)."""

    def __init__(self, features: int = 64, outlier: float = 60.0):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.embed = torch.nn.Embedding(50, features)
        self.embed.weight.data = torch.randn(50, features, generator=generator)
        self.embed.weight.data[:, 3] *= outlier  # one input feature runs far larger than the rest, as in LLMs
        self.proj = torch.nn.Linear(features, 32)
        self.proj.weight.data = torch.randn(32, features, generator=generator) / features**0.5
        self.proj.weight.data[:, 3] /= outlier  # ... and its weights are small: it does not drown the output
        self.proj.bias.data = torch.randn(32, generator=generator) / 10

    def forward(self, input_ids):
        return self.proj(self.embed(input_ids))


def test_smoothing_keeps_the_precision_an_outlier_feature_takes_from_plain_int8():
    ids = [list(range(0, 25)), list(range(25, 50))]
    block = _Block().eval()
    x = torch.tensor(ids)
    with torch.no_grad():
        exact = block(x)
        plain = quantize(_Block().eval(), ["proj"])(x)  # per-token int8: the outlier feature is in every token
        scales = smoothing_scales(block, ["proj"], ids, alpha=0.8)
        smoothed_model = quantize(_Block().eval(), ["proj"], smooth=scales)
        smoothed = smoothed_model(x)
    error = lambda y: float((y - exact).norm() / exact.norm())  # noqa: E731
    assert isinstance(smoothed_model.proj, Int8Linear) and smoothed_model.proj.smooth_scale is not None
    assert error(plain) > 0.02 and error(smoothed) < error(plain) / 3
    # s_j = max|x_j| ** alpha / max|W_:,j| ** (1 - alpha), by hand for the outlier feature
    x_max = block.embed.weight[:, 3].abs().max()
    w_max = block.proj.weight[:, 3].abs().max()
    assert torch.isclose(scales["proj"][3], x_max**0.8 / w_max**0.2, rtol=1e-5)
    with pytest.raises(ValueError, match="alpha"):
        smoothing_scales(block, ["proj"], ids, alpha=1.5)
    with pytest.raises(ValueError, match="calibration sequences"):
        smoothing_scales(block, ["proj"], [], alpha=0.5)


def test_int8_smoothing_is_optional_and_its_calibration_is_checked(tmp_path, folders):
    plain = compress("tiny-shop", tmp_path / "plain", int8=True, smooth=None)
    meta = json.loads((plain / COMPRESSION_FILE).read_text())
    assert "smooth_alpha" not in meta
    layer = load_policy(plain).transformer.h[0].attn.c_attn
    assert isinstance(layer, Int8Linear) and layer.smooth_scale is None
    texts = compress("tiny-shop", tmp_path / "texts", int8=True, calibration=["Where is my order?", "A lamp."])
    assert json.loads((texts / COMPRESSION_FILE).read_text())["calibration"] == "2 texts"
    for bad, match in [({"smooth": 1.5}, "smooth"), ({"smooth": True}, "smooth"),
                       ({"calibration": "lm_envs/NoSuchEnv-v0"}, "NoSuchEnv"),
                       ({"calibration": "lm_envs/ProductRecommendation-v0"}, "ProductRecommendation"),
                       ({"calibration": []}, "calibration texts"), ({"calibration_samples": 0}, "calibration_samples"),
                       ({"calibration_samples": 10**6}, "calibration_samples")]:
        with pytest.raises(ValueError, match=match):
            compress("tiny-shop", tmp_path / "bad", int8=True, **bad)
    assert not (tmp_path / "bad").exists()
    tok = load_tokenizer("tiny-shop")
    prompts = calibration_sequences(CALIBRATION_ENV, tok, 3)
    assert len(prompts) == 3 and all(len(p) > 10 for p in prompts) and prompts[0] != prompts[1]
    assert calibration_sequences(CALIBRATION_ENV, tok, 3) == prompts  # env seeds 0, 1, 2: the same every time


def test_a_smoothed_folder_without_its_scales_is_named(folders, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(folders["int8"], broken)
    tensors = load_file(str(broken / "model.safetensors"))
    del tensors["transformer.h.0.attn.c_attn.smooth_scale"]
    save_file(tensors, str(broken / "model.safetensors"), metadata={"format": "lm-envs-compressed"})
    with pytest.raises(ValueError, match="smoothing scales.*transformer.h.0.attn.c_attn"):
        load_policy(broken)


def test_int8_scales_each_token_so_one_loud_token_costs_the_others_nothing():
    """A few tokens of a transformer carry activations ~100x the rest: one scale for the whole input (torch.ao's
    dynamic int8) lets them take the other tokens' precision; Int8Linear's scale per token does not."""
    block = _Block(outlier=1.0).eval()
    block.embed.weight.data[7] *= 100.0  # token 7 is loud in every feature
    x = torch.tensor([[7, *range(8, 40)]])
    with torch.no_grad():
        exact = block(x)[0, 1:]
        per_tensor = _quantize_per_tensor_input(_Block(outlier=1.0).eval(), ["proj"], per_channel=True)
        per_tensor.embed.weight.data[7] *= 100.0
        per_token = quantize(_Block(outlier=1.0).eval(), ["proj"])
        per_token.embed.weight.data[7] *= 100.0
        error = lambda m: float((m(x)[0, 1:] - exact).norm() / exact.norm())  # noqa: E731  (the quiet tokens)
        assert error(per_tensor) > 0.1 and error(per_token) < 0.02


def test_int8_linear_matches_its_float_layer_and_keeps_shapes_and_dtypes():
    linear = torch.nn.Linear(48, 24)
    torch.nn.init.normal_(linear.weight, generator=torch.Generator().manual_seed(1))
    int8 = Int8Linear.from_linear(linear)
    x = torch.randn(2, 3, 48, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y, exact = int8(x), linear(x)
        assert y.shape == (2, 3, 24) and float((y - exact).norm() / exact.norm()) < 0.02
        assert int8(x.bfloat16()).dtype == torch.bfloat16
        assert int8(torch.zeros(0, 48)).shape == (0, 24) and torch.equal(int8(torch.zeros(1, 48)), linear.bias[None])
    assert int(int8.weight_int8.abs().max()) == 127  # symmetric: each row's largest weight maps to 127
    with pytest.raises(ValueError, match="input features"):
        Int8Linear.from_linear(linear, torch.ones(5))

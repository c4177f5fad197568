"""Name resolution, offline errors and special-token ids."""

import socket

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from lm_envs.models import MODELS, load_policy, load_tokenizer, special_token_ids


def test_models_lists_builtin_names():
    assert set(MODELS) == {"tiny-shop", "tiny-shop-reader", "smollm2-135m"}
    assert all(isinstance(d, str) and d for d in MODELS.values())


@pytest.mark.parametrize("loader", [load_tokenizer, load_policy], ids=["tokenizer", "policy"])
@pytest.mark.parametrize("name", ["tiny-shopp", "no-such-org/no-such-model"])
def test_unknown_name_fails_fast_and_helpfully(loader, name, monkeypatch):
    connections = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connections.append(address))
    with pytest.raises(ValueError) as e:
        loader(name)
    assert connections == []  # looked up locally only: no network, so no retries to wait for
    msg = str(e.value)
    assert repr(name) in msg and "smollm2-135m, tiny-shop, tiny-shop-reader" in msg and "locally" in msg


@pytest.mark.parametrize("loader", [load_tokenizer, load_policy], ids=["tokenizer", "policy"])
def test_missing_folder_raises_file_not_found(loader, tmp_path):
    with pytest.raises(FileNotFoundError, match="no model folder"):
        loader(str(tmp_path / "missing"))


def _word_tokenizer(**specials) -> PreTrainedTokenizerFast:
    vocab = {"<eos>": 0, "<pad>": 1, "hello": 2, "<|im_end|>": 3, "<|eot|>": 4}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=raw, **specials)


def test_special_token_ids_prefers_own_eot():
    assert special_token_ids(_word_tokenizer(eos_token="<eos>", pad_token="<pad>")) == {"eos": 0, "pad": 1, "eot": 4}


def test_special_token_ids_pad_falls_back_to_eos():
    ids = special_token_ids(_word_tokenizer(eos_token="<pad>"))
    assert ids["eos"] == ids["pad"] == 1


def test_special_token_ids_eot_falls_back_to_eos():
    vocab = {"<eos>": 0, "hi": 1}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<eos>")
    assert special_token_ids(tok) == {"eos": 0, "pad": 0, "eot": 0}


def test_special_token_ids_needs_eos():
    with pytest.raises(ValueError, match="no eos token"):
        special_token_ids(_word_tokenizer(pad_token="<pad>"))

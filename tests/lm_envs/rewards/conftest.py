"""Fixtures for the reward tests: offline mode, a tiny random GPT-2, and strange strings."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402

from lm_envs.rewards import REWARDS  # noqa: E402

_STRANGE_TEXTS = (
    "",
    " ",
    "\n\n\t\r",
    "\x00\x01\x07\x1b[31mred\x1b[0m\x7f",
    "😀🔥👍🏽 👨‍👩‍👧‍👦",
    "مرحبا بالعالم",  # RTL
    "\u202eevil\u202c \u200f\u200e",  # bidi controls
    "\ufeff\u200b\u200d",  # BOM, zero-width
    "日本語のテキストです。",
    "Ω≈ç√∫˜µ≤≥÷ ﷽",
    "a" * 5000,
    "word " * 2000,
    "c++ (.*)?[]{}|^$\\",
)


@pytest.fixture(scope="session")
def strange_texts() -> list[str]:
    """Texts every reward must score with a finite float."""
    return list(_STRANGE_TEXTS)


@pytest.fixture
def restore_registry():
    """Undo any registration a test makes."""
    saved = dict(REWARDS)
    yield REWARDS
    REWARDS.clear()
    REWARDS.update(saved)


@pytest.fixture(scope="session")
def tiny_lm():
    """A 2-layer random GPT-2 (eval mode) and a byte-level BPE tokenizer trained on shop sentences.

    Byte-level, so it encodes any unicode string; ``n_positions=32`` so truncation is exercised.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    corpus = [
        "the battery lasts all day and the screen is bright",
        "great phone, fast shipping, would buy again",
        "the headphones broke after a week, terrible quality",
    ] * 10
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator(corpus, trainer=trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=raw, eos_token="<|endoftext|>", pad_token="<|pad|>")
    config = GPT2Config(
        vocab_size=len(tok), n_positions=32, n_embd=32, n_layer=2, n_head=2,
        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(0)
    return GPT2LMHeadModel(config).eval(), tok


@pytest.fixture(scope="session")
def new_tiny_gpt2(tiny_lm):
    """``new_tiny_gpt2(seed)``: a fresh random model with ``tiny_lm``'s config (train mode)."""
    import torch
    from transformers import GPT2LMHeadModel

    def make(seed: int = 0):
        torch.manual_seed(seed)
        return GPT2LMHeadModel(tiny_lm[0].config)

    return make

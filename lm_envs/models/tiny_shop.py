"""The tiny-shop tokenizer and model: a byte-level BPE and a small GPT-2 trained on shop text.

The shipped copy lives in ``lm_envs/models/tiny_shop/`` (package data) and is produced by
``python -m lm_envs.models.pretrain``; this module holds the pieces both share: the special
tokens, tokenizer training and the model config. ``lm_envs/models/tiny_shop_reader/``
(``"tiny-shop-reader"``) has the same tokenizer and architecture, pretrained longer on reading
exercises: it states more of the facts it reads in a prompt, and writes fewer plain reviews.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from transformers import GPT2Config, PreTrainedTokenizerFast

__all__ = [
    "AGENT",
    "CHAT_TEMPLATE",
    "EOS",
    "EOT",
    "PAD",
    "READER_DIR",
    "SHIPPED_DIR",
    "SPECIAL_TOKENS",
    "USER",
    "make_model_config",
    "train_tokenizer",
    "wrap_tokenizer",
]

SHIPPED_DIR = Path(__file__).resolve().parent / "tiny_shop"
"""Folder of the shipped tiny-shop tokenizer and model (package data)."""
READER_DIR = Path(__file__).resolve().parent / "tiny_shop_reader"
"""Folder of ``"tiny-shop-reader"``: the same tokenizer, weights continued on more reading
exercises (package data; its ``training.json`` holds the recipe)."""

EOS = "<|endoftext|>"  # end of text; also used as BOS, as in GPT-2
PAD = "<|pad|>"
EOT = "<|eot|>"  # end of a dialog turn
USER = "<|user|>"  # dialog role markers
AGENT = "<|agent|>"
SPECIAL_TOKENS = (EOS, PAD, EOT, USER, AGENT)
"""Special tokens, in id order: they take ids 0..4 in every tiny-shop tokenizer."""

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'system' -%}{{ message['content'] + '\\n' }}"
    "{%- else -%}"
    "{{ '<|agent|>' if message['role'] == 'assistant' else '<|user|>' }}{{ message['content'] }}<|eot|>"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|agent|>{%- endif -%}"
)
"""Dialog format: ``<|user|>text<|eot|><|agent|>text<|eot|>``; a system message is plain text
before the first turn. With ``add_generation_prompt`` it ends with ``<|agent|>``."""


def train_tokenizer(texts: Iterable[str], *, vocab_size: int = 3000, split_digits: bool = False) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts``.

    Byte-level BPE (GPT-2 style) can encode any unicode string, so ``decode(encode(s)) == s``
    holds for every ``s`` (no normalizer, no unknown token). Special tokens get ids 0..4 in
    the order of :data:`SPECIAL_TOKENS`. No token is added on encode; callers that want a
    BOS prepend ``eos_token_id`` themselves.

    Args:
        texts: training text; iterated once.
        vocab_size: target size including the 256 byte tokens and the special tokens.
        split_digits: one token per digit (as in LLaMA), so a number is copied digit by digit
            instead of as whichever multi-digit pieces BPE merged.

    Returns:
        A ``PreTrainedTokenizerFast`` with eos/bos ``<|endoftext|>``, pad ``<|pad|>`` (right
        padding), the role and end-of-turn tokens registered as extra specials, and
        :data:`CHAT_TEMPLATE`.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    min_size = 256 + len(SPECIAL_TOKENS)
    if vocab_size < min_size:
        raise ValueError(f"vocab_size must be >= {min_size} (256 bytes + special tokens), got {vocab_size}")
    tok = Tokenizer(models.BPE())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
                         if split_digits else byte_level)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return wrap_tokenizer(tok)


def wrap_tokenizer(tok) -> PreTrainedTokenizerFast:
    """Wrap a raw ``tokenizers.Tokenizer`` with the tiny-shop special-token roles."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        bos_token=EOS,
        unk_token=None,
        pad_token=PAD,
        additional_special_tokens=[EOT, USER, AGENT],
        padding_side="right",
        clean_up_tokenization_spaces=False,
        model_max_length=512,
        chat_template=CHAT_TEMPLATE,
    )


def make_model_config(
    tokenizer: PreTrainedTokenizerFast,
    *,
    n_embd: int = 160,
    n_layer: int = 4,
    n_head: int = 4,
    n_positions: int = 512,
    dropout: float = 0.0,
) -> GPT2Config:
    """GPT-2 config sized to ``tokenizer`` (vocab = ``len(tokenizer)``, tied embeddings).

    The eos/bos/pad ids are the tokenizer's, so ``generate`` stops and pads correctly
    without extra arguments.
    """
    return GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=dropout,
        embd_pdrop=dropout,
        attn_pdrop=dropout,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )

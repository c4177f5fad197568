"""The shipped tiny-shop tokenizer and model, and tokenizer training."""

import pytest
import torch
from transformers import GPT2LMHeadModel, PreTrainedTokenizerFast

from lm_envs.models import load_policy, load_tokenizer, special_token_ids
from lm_envs.models.tiny_shop import READER_DIR, SHIPPED_DIR, SPECIAL_TOKENS, train_tokenizer

ROUND_TRIP = [
    "This lamp is great! I love it.",
    "  two leading spaces, trailing tab\t",
    "Café crème, naïve façade — “quoted” ‘text’…",
    "Emoji: 😀🛒👍🏽 and a family 👨‍👩‍👧",
    "日本語のレビュー、とても良い。 Ünïcödé ß ẞ",
    "line one\nline two\r\n\n",
    "<|user|>where is my order?<|eot|><|agent|>Let me check.<|eot|><|endoftext|>",
    "",
]


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer("tiny-shop")


def test_shipped_tokenizer_vocab_and_specials(tok):
    assert isinstance(tok, PreTrainedTokenizerFast)
    assert 2000 <= len(tok) <= 4000
    for i, token in enumerate(SPECIAL_TOKENS):
        assert tok.convert_tokens_to_ids(token) == i
        assert tok.encode(token) == [i]  # never split
    assert tok.eos_token == tok.bos_token == "<|endoftext|>"
    assert tok.pad_token == "<|pad|>"
    assert tok.padding_side == "right"
    assert special_token_ids(tok) == {"eos": 0, "pad": 1, "eot": 2}


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_shipped_tokenizer_round_trips_unicode(tok, text):
    assert tok.decode(tok.encode(text)) == text


def test_shipped_tokenizer_is_cached(tok):
    assert load_tokenizer("tiny-shop") is tok


def test_shipped_model_matches_tokenizer(tok):
    model = load_policy("tiny-shop")
    assert isinstance(model, GPT2LMHeadModel)
    assert not model.training
    cfg = model.config
    assert cfg.vocab_size == len(tok) == model.get_input_embeddings().weight.shape[0]
    assert (cfg.eos_token_id, cfg.bos_token_id, cfg.pad_token_id) == (0, 0, 1)
    assert (cfg.n_layer, cfg.n_head, cfg.n_positions) == (4, 4, 512)
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied


@pytest.mark.parametrize("folder", [SHIPPED_DIR, READER_DIR], ids=["tiny-shop", "tiny-shop-reader"])
def test_shipped_files_small_and_safetensors_only(folder):
    files = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors", "training.json"} <= set(files)
    # pyproject's package data ships models/tiny_shop*/*.json and *.safetensors, nothing else
    assert all(n.endswith((".json", ".safetensors")) for n in files), sorted(files)
    assert sum(files.values()) < 10 * 2**20


def test_reader_shares_tiny_shop_tokenizer_and_architecture(tok):
    # the same action space: a reader policy acts in any env built with the tiny-shop tokenizer
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (READER_DIR / name).read_bytes() == (SHIPPED_DIR / name).read_bytes(), name
    assert load_tokenizer("tiny-shop-reader").get_vocab() == tok.get_vocab()
    reader, shop = load_policy("tiny-shop-reader"), load_policy("tiny-shop")
    assert not torch.equal(reader.transformer.wte.weight, shop.transformer.wte.weight)  # its own weights


def test_shipped_chat_template(tok):
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    text = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
    assert text == "<|user|>hi<|eot|><|agent|>hello<|eot|>"
    ids = tok.apply_chat_template(chat[:1], add_generation_prompt=True, return_dict=False)
    assert ids[0] == 3 and ids[-2:] == [2, 4]  # <|user|> ... <|eot|><|agent|>


def test_load_policy_is_fresh_and_deterministic(tok):
    a, b = load_policy("tiny-shop"), load_policy("tiny-shop")
    assert a is not b
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb and torch.equal(pa, pb)
    with torch.no_grad():
        a.transformer.wte.weight.add_(1.0)  # agents train in place; the next load is unaffected
    c = load_policy("tiny-shop")
    assert torch.equal(c.transformer.wte.weight, b.transformer.wte.weight)


def test_load_policy_dtype():
    assert load_policy("tiny-shop", dtype=torch.bfloat16).dtype == torch.bfloat16
    assert load_policy("tiny-shop").dtype == torch.float32


def test_shipped_model_generates_shop_text(tok):
    model = load_policy("tiny-shop")
    prompt = torch.tensor([[tok.eos_token_id]])
    outs = [model.generate(prompt, max_new_tokens=30, do_sample=False)[0].tolist() for _ in range(2)]
    assert outs[0] == outs[1]  # greedy decoding is deterministic
    text = tok.decode(outs[0][1:], skip_special_tokens=True)
    assert len(text.split()) >= 3


def test_train_tokenizer_small():
    texts = ["The kettle is great.", "The lamp is awful!", "Free shipping over $50."] * 20
    tok = train_tokenizer(texts, vocab_size=300)
    assert 256 + len(SPECIAL_TOKENS) <= len(tok) <= 300
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok.decode(tok.encode("naïve 😀")) == "naïve 😀"
    # same texts, same tokenizer
    assert train_tokenizer(texts, vocab_size=300).get_vocab() == tok.get_vocab()


def test_train_tokenizer_rejects_tiny_vocab():
    with pytest.raises(ValueError, match="vocab_size must be >= 261"):
        train_tokenizer(["abc"], vocab_size=100)

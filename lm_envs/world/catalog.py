"""The product catalog: ``Product`` records and their seeded generator."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lm_envs.world._compare import ArrayRecordMixin, readonly_float32
from lm_envs.world.categories import CATEGORIES, CategorySpec
from lm_envs.world.sampling import pick, sample
from lm_envs.world.words import grammar, join_words

OUT_OF_STOCK_RATE = 0.15
_MODEL_WORDS = ("Pro", "Air", "Max", "Lite", "Plus", "Ultra", "Nova", "Edge", "Flex", "One",
                "Neo", "Prime")
_MODEL_LETTERS = "AEFGKMQRSTVXZ"


@dataclass(frozen=True, eq=False)
class Product(ArrayRecordMixin):
    """One item of the shop's catalog; ``product_id`` is its index in ``world.products``."""

    product_id: int
    sku: str
    """Category code and number, unique: ``"HDP-1007"``."""
    name: str
    """Brand, model and type, unique: ``"Aurora X2 Wireless Headphones"``."""
    category: str
    """A ``CategorySpec.name``: ``"headphones"``."""
    brand: str
    price: float
    """List price in dollars with two decimals."""
    attributes: tuple[str, ...]
    """2-4 selling points from the category's list: ``("noise cancelling", ...)``."""
    description: str
    """One sentence built from the name and attributes."""
    stock: int
    """Units in stock; 0 means out of stock."""
    warranty_months: int
    topics: np.ndarray
    """float32 (n_topics,), nonnegative, sums to 1, peaked on the category's topic.
    Read-only: worlds are cached and shared."""
    quality: float
    """Latent quality in [0, 1] (RecSim's document quality); pricier items tend to be better
    and reviews of better items tend to be positive."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "topics", readonly_float32(self.topics))

    @property
    def in_stock(self) -> bool:
        return self.stock > 0


def category_topic(category_index: int, n_topics: int) -> int:
    """The topic a category is about; categories share topics when there are fewer topics."""
    return category_index % n_topics


def peaked_distribution(
    rng: np.random.Generator, n_topics: int, peaks: list[int], *, peak_mass: float,
) -> np.ndarray:
    """A nonnegative vector summing to 1: ``peak_mass`` split over ``peaks``, the rest noise.

    Dirichlet noise with concentration < 1 is sparse, so the off-peak mass lands on a few
    topics, as in RecSim's document and user models.
    """
    noise = rng.dirichlet(np.full(n_topics, 0.3))
    vector = (1.0 - peak_mass) * noise
    for topic in peaks:
        vector[topic] += peak_mass / len(peaks)
    return (vector / vector.sum()).astype(np.float32)


_STYLES = ("sleek", "modern", "minimal", "rugged", "compact", "classic", "thoughtful")

_DESCRIPTION_TEMPLATES = (
    "The {name} combine{s} {points} in a {style} design.",
    "Built by {brand}, the {name} offer{s} {points} for {use}.",
    "With {points}, the {name} {is} made for {use}.",
    "The {name} bring{s} {points} to {use}.",
    "Designed for {use}, the {name} feature{s} {points}.",
    "The {name} pair{s} {points} with a {style} look.",
)


def product_description(
    rng: np.random.Generator, spec: CategorySpec, *, name: str, brand: str,
    attributes: Sequence[str],
) -> str:
    """The one-sentence ``Product.description`` written when the catalog is generated."""
    template = pick(rng, _DESCRIPTION_TEMPLATES)
    return template.format(
        name=name, brand=brand, points=join_words(list(attributes)), style=pick(rng, _STYLES),
        use=pick(rng, spec.uses), **grammar(spec),
    )


def _price(rng: np.random.Generator, spec: CategorySpec, quality: float) -> float:
    """A list price ending in .99 or .49; log-uniform in the range, higher for better items."""
    low, high = spec.price_range
    position = 0.6 * quality + 0.4 * rng.random()
    raw = float(np.exp(np.log(low) + position * (np.log(high) - np.log(low))))
    cents = 0.49 if rng.random() < 0.25 else 0.99
    return round(float(max(np.floor(raw), low)) + cents, 2)


def _model(rng: np.random.Generator) -> str:
    style = int(rng.integers(4))
    if style == 0:
        return f"{pick(rng, _MODEL_LETTERS)}{int(rng.integers(1, 10))}"  # X2
    if style == 1:
        return pick(rng, _MODEL_WORDS)  # Air
    if style == 2:
        return f"{pick(rng, _MODEL_WORDS)} {int(rng.integers(2, 10))}"  # Air 3
    return f"{pick(rng, _MODEL_LETTERS)}{int(rng.integers(10, 100))}"  # Q35


def _unique_name(rng: np.random.Generator, spec: CategorySpec, brand: str, taken: set[str]) -> str:
    noun = pick(rng, spec.nouns)
    for _ in range(20):
        name = f"{brand} {_model(rng)} {noun}"
        if name not in taken:
            return name
    # huge catalogs exhaust the short model names; a generation number keeps names unique
    generation = 2
    while (name := f"{brand} {_model(rng)} {noun} Gen {generation}") in taken:
        generation += 1
    return name


def _category_counts(rng: np.random.Generator, n_products: int) -> list[int]:
    """Products per category, as even as possible; which categories get one extra is random."""
    base, extra = divmod(n_products, len(CATEGORIES))
    counts = [base] * len(CATEGORIES)
    for index in rng.choice(len(CATEGORIES), size=extra, replace=False):
        counts[int(index)] += 1
    return counts


def generate_catalog(rng: np.random.Generator, *, n_products: int, n_topics: int) -> list[Product]:
    """``n_products`` products grouped by category (ids ascend through the categories)."""
    products: list[Product] = []
    taken_names: set[str] = set()
    for category_index, count in enumerate(_category_counts(rng, n_products)):
        spec = CATEGORIES[category_index]
        for _ in range(count):
            product_id = len(products)
            brand = pick(rng, spec.brands)
            name = _unique_name(rng, spec, brand, taken_names)
            taken_names.add(name)
            # Beta(2.5, 2) leans good: most shop items are fine, a few are duds
            quality = float(rng.beta(2.5, 2.0))
            points = sample(rng, [point for point, _ in spec.attributes], int(rng.integers(2, 5)))
            primary = category_topic(category_index, n_topics)
            secondary = int(rng.integers(n_topics))
            products.append(Product(
                product_id=product_id,
                sku=f"{spec.code}-{1001 + product_id}",
                name=name,
                category=spec.name,
                brand=brand,
                price=_price(rng, spec, quality),
                attributes=tuple(points),
                description=product_description(rng, spec, name=name, brand=brand,
                                                attributes=points),
                stock=0 if rng.random() < OUT_OF_STOCK_RATE else int(rng.integers(1, 121)),
                warranty_months=pick(rng, spec.warranty_months),
                topics=peaked_distribution(rng, n_topics, [primary, primary, secondary],
                                           peak_mass=0.8),
                quality=round(quality, 4),
            ))
    return products

"""``ShopWorld``: one seeded synthetic shop, and the cached ``make_world``."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from lm_envs.world import text
from lm_envs.world.catalog import Product, generate_catalog
from lm_envs.world.corpus import build_corpus
from lm_envs.world.people import REFERENCE_DATE, Order, User, generate_orders, generate_users
from lm_envs.world.policies import Policies, generate_policies


def _is_int(value: Any) -> bool:
    # bool is an int subclass, but ShopWorld.generate(n_users=True) is a bug, not a size
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int``, or a ValueError that names the field."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_seed(value: Any, name: str = "seed") -> int:
    """A seed must be an int >= 0 (what ``np.random.SeedSequence`` accepts)."""
    if not _is_int(value) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class ShopWorld:
    """A seeded synthetic shop: catalog, customers, their orders and the shop's policies.

    Build one with ``ShopWorld.generate(seed)`` or the cached ``make_world(seed)``; the same
    seed and sizes give an equal world. Worlds from ``make_world`` are shared between envs,
    so treat them as read-only (the topic arrays are).

    Catalog, users, orders and policies each draw from their own child generator of
    ``np.random.default_rng(seed)``, so changing ``n_users`` leaves the catalog and the
    policies as they were.
    """

    seed: int
    n_topics: int
    products: list[Product] = field(repr=False)
    """``products[i].product_id == i``; grouped by category."""
    users: list[User] = field(repr=False)
    """``users[i].user_id == i``."""
    orders: list[Order] = field(repr=False)
    """Listed user by user; see ``orders_of`` and ``order_by_id``."""
    policies: Policies = field(repr=False)
    reference_date: date = REFERENCE_DATE
    """The world's "today", from which all order dates are counted."""
    _orders_by_user: dict[int, list[Order]] = field(
        init=False, repr=False, compare=False, default_factory=dict)
    _order_by_id: dict[str, Order] = field(
        init=False, repr=False, compare=False, default_factory=dict)

    def __post_init__(self) -> None:
        for order in self.orders:
            self._orders_by_user.setdefault(order.user_id, []).append(order)
            self._order_by_id[order.order_id] = order

    def __hash__(self) -> int:
        # equal worlds share seed and sizes, so this agrees with the field-wise __eq__
        return hash((self.seed, self.n_topics, len(self.products), len(self.users),
                     len(self.orders)))

    def __repr__(self) -> str:
        return (f"ShopWorld(seed={self.seed}, n_products={len(self.products)}, "
                f"n_users={len(self.users)}, n_orders={len(self.orders)}, "
                f"n_topics={self.n_topics})")

    @classmethod
    def generate(
        cls, seed: int = 0, *, n_products: int = 60, n_users: int = 40,
        max_orders_per_user: int = 3, n_topics: int = 8,
    ) -> ShopWorld:
        """Generate a world; every random draw comes from ``np.random.default_rng(seed)``."""
        seed = check_seed(seed)
        n_products = check_positive_int("n_products", n_products)
        n_users = check_positive_int("n_users", n_users)
        max_orders_per_user = check_positive_int("max_orders_per_user", max_orders_per_user)
        n_topics = check_positive_int("n_topics", n_topics)

        catalog_rng, users_rng, orders_rng, policies_rng = np.random.default_rng(seed).spawn(4)
        products = generate_catalog(catalog_rng, n_products=n_products, n_topics=n_topics)
        users = generate_users(users_rng, n_users=n_users, n_topics=n_topics)
        orders = generate_orders(orders_rng, users=users, products=products,
                                 max_orders_per_user=max_orders_per_user)
        return cls(seed=seed, n_topics=n_topics, products=products, users=users,
                   orders=orders, policies=generate_policies(policies_rng))

    # ------------------------------------------------------------------------ lookups
    @property
    def categories(self) -> tuple[str, ...]:
        """Category names present in the catalog, in catalog order."""
        return tuple(dict.fromkeys(p.category for p in self.products))

    def orders_of(self, user_id: int) -> list[Order]:
        """The user's orders, oldest listed first by generation; ``[]`` for unknown ids."""
        return list(self._orders_by_user.get(user_id, []))

    def order_by_id(self, order_id: str) -> Order:
        """The order with this id; KeyError with a hint when there is none."""
        try:
            return self._order_by_id[order_id]
        except KeyError:
            raise KeyError(f"no order {order_id!r} in {self!r}") from None

    def products_in(self, category: str) -> list[Product]:
        """Products of one category; ValueError listing the known categories otherwise."""
        if category not in self.categories:
            raise ValueError(f"unknown category {category!r}; known: "
                             f"{', '.join(self.categories)}")
        return [p for p in self.products if p.category == category]

    def order_items(self, order: Order) -> list[Product]:
        """The products of an order."""
        return [self.products[i] for i in order.items]

    # --------------------------------------------------------------------------- text
    def describe_product(self, product: Product | int) -> str:
        """Name, brand, price and selling points of a product (or product id) in two sentences."""
        if not isinstance(product, Product):
            product = self.products[product]
        return text.describe_product(product)

    def corpus(
        self, seed: int = 0, *, n_reviews: int = 4000, n_small_talk: int = 1500,
        n_comparisons: int = 400, n_experience_notes: int = 0,
    ) -> list[str]:
        """Generic shop text for tokenizer training and pretraining; see ``corpus.py``.

        It holds no grounded customer-service answers (orders, dates, policies) and no
        dialog goals. Returns a new list each call.
        """
        for name, value in (("n_reviews", n_reviews), ("n_small_talk", n_small_talk),
                            ("n_comparisons", n_comparisons), ("n_experience_notes", n_experience_notes)):
            check_seed(value, name)  # same rule: an int >= 0
        return build_corpus(self.products, self.seed, check_seed(seed), n_reviews=n_reviews,
                            n_small_talk=n_small_talk, n_comparisons=n_comparisons,
                            n_experience_notes=n_experience_notes)


@functools.lru_cache(maxsize=32)
def _cached_world(seed: int, n_products: int, n_users: int, max_orders_per_user: int,
                  n_topics: int) -> ShopWorld:
    return ShopWorld.generate(seed, n_products=n_products, n_users=n_users,
                              max_orders_per_user=max_orders_per_user, n_topics=n_topics)


def make_world(
    seed: int = 0, *, n_products: int = 60, n_users: int = 40, max_orders_per_user: int = 3,
    n_topics: int = 8,
) -> ShopWorld:
    """``ShopWorld.generate`` cached per (seed, sizes): envs that share a seed share a world."""
    # validate before the cache so that 0 and np.int64(0) hit one entry, and bad sizes
    # raise the same ValueError as generate
    return _cached_world(
        check_seed(seed), check_positive_int("n_products", n_products),
        check_positive_int("n_users", n_users),
        check_positive_int("max_orders_per_user", max_orders_per_user),
        check_positive_int("n_topics", n_topics),
    )

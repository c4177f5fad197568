"""The seeded shop world: determinism, sizes, ids, totals, topic vectors, validation."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lm_envs.world import (
    CARRIERS,
    CATEGORIES,
    ORDER_STATUSES,
    REFERENCE_DATE,
    Product,
    ShopWorld,
    make_world,
)
from lm_envs.world.catalog import category_topic
from lm_envs.world.categories import CATEGORY_BY_NAME

SIZE_FIELDS = ("n_products", "n_users", "max_orders_per_user", "n_topics")
TRACKING_PATTERNS = {
    "UPS": r"1Z[A-Z0-9]{6}\d{10}",
    "FedEx": r"\d{12}",
    "DHL": r"\d{10}",
    "USPS": r"9400\d{18}",
}


def check_invariants(world: ShopWorld, *, n_products: int, n_users: int,
                     max_orders_per_user: int, n_topics: int) -> None:
    """Everything a generated world promises, whatever its sizes."""
    assert len(world.products) == n_products
    assert len(world.users) == n_users
    assert [p.product_id for p in world.products] == list(range(n_products))
    assert [u.user_id for u in world.users] == list(range(n_users))
    for user in world.users:
        assert 1 <= len(world.orders_of(user.user_id)) <= max_orders_per_user

    for vector in [p.topics for p in world.products] + [u.interests for u in world.users]:
        assert vector.shape == (n_topics,) and vector.dtype == np.float32
        assert (vector >= 0).all()
        assert vector.sum() == pytest.approx(1.0, abs=1e-5)

    order_ids = [o.order_id for o in world.orders]
    assert len(set(order_ids)) == len(order_ids)
    assert all(re.fullmatch(r"ORD-\d{5,}", i) for i in order_ids)
    tracking = [o.tracking_number for o in world.orders]
    assert len(set(tracking)) == len(tracking)
    for o in world.orders:
        assert o.status in ORDER_STATUSES and o.carrier in CARRIERS
        assert re.fullmatch(TRACKING_PATTERNS[o.carrier], o.tracking_number)
        assert len(set(o.items)) == len(o.items) >= 1
        assert all(0 <= i < n_products for i in o.items)
        assert o.total == round(sum(world.products[i].price for i in o.items), 2)
    assert len({p.sku for p in world.products}) == n_products
    assert len({p.name for p in world.products}) == n_products
    assert len({u.email for u in world.users}) == n_users


# ------------------------------------------------------------------------ determinism
@pytest.mark.parametrize("seed", [0, 1, 12345])
def test_same_seed_same_world(seed: int) -> None:
    a, b = ShopWorld.generate(seed), ShopWorld.generate(seed)
    assert a is not b
    assert a == b
    assert hash(a) == hash(b)
    assert a.products == b.products and a.users == b.users and a.orders == b.orders


def test_different_seed_different_world() -> None:
    a, b = ShopWorld.generate(0), ShopWorld.generate(1)
    assert a != b
    assert [p.name for p in a.products] != [p.name for p in b.products]
    assert [u.name for u in a.users] != [u.name for u in b.users]
    assert {o.order_id for o in a.orders} != {o.order_id for o in b.orders}
    assert not np.array_equal(a.products[0].topics, b.products[0].topics)


def test_policies_vary_by_seed() -> None:
    policies = {ShopWorld.generate(seed).policies for seed in range(10)}
    assert len(policies) > 1
    assert len({p.return_window_days for p in policies}) > 1


def test_make_world_caches_per_seed_and_sizes() -> None:
    assert make_world(0) is make_world(0)
    assert make_world(np.int64(0)) is make_world(seed=0)
    assert make_world(0) == ShopWorld.generate(0)
    assert make_world(0, n_users=5) is not make_world(0)
    assert len(make_world(0, n_users=5).users) == 5


def test_sizes_change_only_their_own_part() -> None:
    # catalog, users, orders and policies draw from separate child generators
    base, more_users = ShopWorld.generate(3), ShopWorld.generate(3, n_users=70)
    assert base.products == more_users.products
    assert base.policies == more_users.policies
    assert base.users == more_users.users[:40]


# ---------------------------------------------------------------------------- sizes
@pytest.mark.parametrize(
    "sizes",
    [
        {},
        {"n_products": 1, "n_users": 1, "max_orders_per_user": 1, "n_topics": 1},
        {"n_products": 7, "n_users": 3, "max_orders_per_user": 5, "n_topics": 3},
        {"n_products": 500, "n_users": 300, "max_orders_per_user": 6, "n_topics": 16},
    ],
    ids=["default", "minimal", "small", "large"],
)
def test_sizes_respected(sizes: dict[str, int]) -> None:
    world = ShopWorld.generate(0, **sizes)
    full = {"n_products": 60, "n_users": 40, "max_orders_per_user": 3, "n_topics": 8, **sizes}
    check_invariants(world, **full)
    assert world.n_topics == full["n_topics"]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    n_products=st.integers(1, 80),
    n_users=st.integers(1, 25),
    max_orders_per_user=st.integers(1, 5),
    n_topics=st.integers(1, 12),
)
def test_invariants_hold_for_any_sizes(seed: int, n_products: int, n_users: int,
                                       max_orders_per_user: int, n_topics: int) -> None:
    world = ShopWorld.generate(seed, n_products=n_products, n_users=n_users,
                               max_orders_per_user=max_orders_per_user, n_topics=n_topics)
    check_invariants(world, n_products=n_products, n_users=n_users,
                     max_orders_per_user=max_orders_per_user, n_topics=n_topics)


@pytest.mark.parametrize("field", SIZE_FIELDS)
@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "4", None])
def test_invalid_sizes_raise_naming_the_field(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        ShopWorld.generate(0, **{field: bad})
    with pytest.raises(ValueError, match=field):
        make_world(0, **{field: bad})


@pytest.mark.parametrize("bad", [-1, 1.0, "0", None])
def test_invalid_seed_raises(bad: object) -> None:
    with pytest.raises(ValueError, match="seed"):
        ShopWorld.generate(bad)  # type: ignore[arg-type]


# -------------------------------------------------------------------------- catalog
def test_default_world_has_every_category_and_some_out_of_stock() -> None:
    world = make_world(0)
    assert world.categories == tuple(spec.name for spec in CATEGORIES)
    stocks = [p.stock for p in world.products]
    assert 0 in stocks and max(stocks) > 0
    assert [p.in_stock for p in world.products] == [s > 0 for s in stocks]


def test_products_follow_their_category() -> None:
    world = make_world(0)
    for index, spec in enumerate(CATEGORIES):
        for p in world.products_in(spec.name):
            low, high = spec.price_range
            assert low <= p.price <= high + 1
            assert round(p.price, 2) == p.price
            assert p.brand in spec.brands and p.name.startswith(p.brand + " ")
            assert any(p.name.endswith(noun) for noun in spec.nouns)
            assert p.sku.startswith(spec.code + "-")
            assert 2 <= len(p.attributes) <= 4
            assert set(p.attributes) <= {point for point, _ in spec.attributes}
            assert p.warranty_months in spec.warranty_months
            assert 0.0 <= p.quality <= 1.0
            # the category's own topic holds the largest share
            assert int(np.argmax(p.topics)) == category_topic(index, world.n_topics)
            assert p.description.endswith(".") and p.name in p.description


def test_product_prices_never_look_like_shipping_fees() -> None:
    # keeps the corpus (which prints prices) from ever printing a shipping fee
    assert min(spec.price_range[0] for spec in CATEGORIES) > 10


def test_user_interests_peak_on_preferred_categories() -> None:
    world = make_world(0)
    for user in world.users:
        assert 1 <= len(user.preferred_categories) <= 3
        assert set(user.preferred_categories) <= set(CATEGORY_BY_NAME)
        topics = {category_topic([c.name for c in CATEGORIES].index(name), world.n_topics)
                  for name in user.preferred_categories}
        assert user.interests[sorted(topics)].sum() >= 0.7 - 1e-5
        assert re.fullmatch(r"[a-z.]+\d*@[a-z.]+", user.email)
        assert user.budget > 0 and user.address[0].isdigit()


def test_arrays_are_read_only() -> None:
    world = make_world(0)
    with pytest.raises(ValueError):
        world.products[0].topics[0] = 1.0
    with pytest.raises(ValueError):
        world.users[0].interests[0] = 1.0


def test_records_compare_arrays_by_value() -> None:
    p = make_world(0).products[0]
    twin = replace(p, topics=p.topics.copy())
    assert p == twin and hash(p) == hash(twin)
    other = replace(p, topics=np.roll(p.topics, 1))
    assert p != other
    assert p != "not a product"
    assert len({p, twin, other}) == 2


# --------------------------------------------------------------------------- orders
def test_order_dates_agree_with_status() -> None:
    world = make_world(0)
    assert world.reference_date == REFERENCE_DATE == date(2026, 1, 15)
    for o in world.orders:
        assert isinstance(o.order_date, date) and isinstance(o.delivery_date, date)
        assert o.order_date <= REFERENCE_DATE
        assert o.delivery_date > o.order_date
        if o.status in ("processing", "shipped"):
            assert o.delivery_date > REFERENCE_DATE  # still expected
        if o.status in ("delivered", "returned"):
            assert o.delivery_date <= REFERENCE_DATE


def test_order_ids_increase_with_order_date() -> None:
    orders = sorted(make_world(0).orders, key=lambda o: int(o.order_id[4:]))
    dates = [o.order_date for o in orders]
    assert dates == sorted(dates)


def test_every_status_occurs_in_default_world() -> None:
    assert {o.status for o in make_world(0).orders} == set(ORDER_STATUSES)


def test_lookups() -> None:
    world = make_world(0)
    for user in world.users:
        assert world.orders_of(user.user_id) == [o for o in world.orders
                                                 if o.user_id == user.user_id]
    assert world.orders_of(10_000) == []
    order = world.orders[5]
    assert world.order_by_id(order.order_id) is order
    assert world.order_items(order) == [world.products[i] for i in order.items]
    with pytest.raises(KeyError, match="ORD-00000"):
        world.order_by_id("ORD-00000")
    with pytest.raises(ValueError, match="known: headphones"):
        world.products_in("toasters")
    # a returned list is a copy: editing it leaves the cached world alone
    world.orders_of(0).clear()
    assert world.orders_of(0)


def test_repr_is_short() -> None:
    assert repr(make_world(0)).startswith("ShopWorld(seed=0, n_products=60")


def test_describe_product_by_hand() -> None:
    headphones = Product(
        product_id=0, sku="HDP-1001", name="Aurora X2 Wireless Headphones",
        category="headphones", brand="Aurora", price=79.99,
        attributes=("noise cancelling", "long battery life"), description="-", stock=3,
        warranty_months=12, topics=np.ones(1), quality=0.5,
    )
    assert make_world(0).describe_product(headphones) == (
        "The Aurora X2 Wireless Headphones by Aurora cost $79.99. "
        "They offer noise cancelling and long battery life."
    )
    laptop = replace(headphones, name="Helix Air Laptop", category="laptops", brand="Helix",
                     price=1299.0, attributes=("a bright display",))
    assert make_world(0).describe_product(laptop) == (
        "The Helix Air Laptop by Helix costs $1,299.00. It offers a bright display."
    )
    assert make_world(0).describe_product(3) == make_world(0).describe_product(
        make_world(0).products[3])

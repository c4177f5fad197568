"""Customers and their orders: ``User``, ``Order`` and their seeded generators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from lm_envs.world._compare import ArrayRecordMixin, readonly_float32
from lm_envs.world.catalog import Product, category_topic, peaked_distribution
from lm_envs.world.categories import CATEGORIES
from lm_envs.world.sampling import pick, sample

REFERENCE_DATE = date(2026, 1, 15)
"""The world's "today": order dates are counted back from it, so a seed fixes every date."""

ORDER_STATUSES = ("processing", "shipped", "delivered", "cancelled", "returned")
_STATUS_WEIGHTS = (0.15, 0.2, 0.45, 0.1, 0.1)
CARRIERS = ("UPS", "FedEx", "DHL", "USPS")
_TRANSIT_DAYS = {"UPS": (2, 5), "FedEx": (1, 4), "DHL": (3, 7), "USPS": (2, 6)}

_FIRST_NAMES = ("Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "Mateo", "Isabella",
                "Lucas", "Mia", "Amir", "Priya", "Kenji", "Fatima", "Diego", "Chloe", "Omar",
                "Hannah", "Wei", "Grace", "Samuel", "Leila", "Jonas", "Nora", "Ravi", "Elena",
                "Marcus", "Yuki", "Zara")
_LAST_NAMES = ("Smith", "Johnson", "Garcia", "Nguyen", "Patel", "Kim", "Müller", "Rossi",
               "Okafor", "Silva", "Chen", "Brown", "Lopez", "Novak", "Tanaka", "Ahmed", "Cohen",
               "Larsen", "Dubois", "Walker", "Singh", "Moreau", "Fischer", "Reyes", "Murphy")
_STREETS = ("Maple", "Oak", "Cedar", "Elm", "Pine", "Lake", "Hill", "Sunset", "River", "Park",
            "Washington", "Lincoln", "Willow", "Birch", "Highland", "Meadow")
_STREET_KINDS = ("Street", "Avenue", "Road", "Lane", "Drive", "Boulevard", "Court", "Way")
_CITIES = ("Springfield", "Riverton", "Lakewood", "Fairview", "Brookside", "Madison",
           "Georgetown", "Clearwater", "Ashland", "Oakridge", "Portsmouth", "Greenville")
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
_BUDGET_LEVELS = (50.0, 100.0, 150.0, 250.0, 400.0, 600.0, 900.0, 1500.0, 2500.0)


@dataclass(frozen=True, eq=False)
class User(ArrayRecordMixin):
    """A customer of the shop; ``user_id`` is its index in ``world.users``."""

    user_id: int
    name: str
    """First and last name: ``"Priya Patel"``."""
    email: str
    """Unique, on reserved example domains: ``"priya.patel@example.com"``."""
    address: str
    """Street address: ``"42 Maple Street"``."""
    city: str
    budget: float
    """What the user is willing to spend on one item, in dollars."""
    preferred_categories: tuple[str, ...]
    """1-3 category names the user shops most, most preferred first."""
    interests: np.ndarray
    """float32 (n_topics,), nonnegative, sums to 1, peaked on the preferred categories'
    topics (RecSim's user interest vector). Read-only: worlds are cached and shared."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "interests", readonly_float32(self.interests))


@dataclass(frozen=True)
class Order:
    """One order of one user. Dates are ``datetime.date`` counted from ``REFERENCE_DATE``."""

    order_id: str
    """Unique, increasing with ``order_date``: ``"ORD-10234"``."""
    user_id: int
    items: tuple[int, ...]
    """Distinct product ids, one unit each."""
    status: str
    """One of ``ORDER_STATUSES``: processing, shipped, delivered, cancelled, returned."""
    order_date: date
    delivery_date: date
    """Actual delivery date when delivered or returned; the estimated one when processing or
    shipped; the date that had been estimated when cancelled."""
    carrier: str
    """One of ``CARRIERS``; the shipping label (and tracking number) is made at order time."""
    tracking_number: str
    """Unique, in the carrier's style (UPS ``1Z...``, FedEx 12 digits, DHL 10, USPS 22)."""
    total: float
    """Sum of the items' prices (shipping excluded), two decimals."""


# ------------------------------------------------------------------------------ users
def generate_users(
    rng: np.random.Generator, *, n_users: int, n_topics: int,
) -> list[User]:
    """``n_users`` customers with unique emails and topic interests."""
    users: list[User] = []
    taken_emails: set[str] = set()
    for user_id in range(n_users):
        first, last = pick(rng, _FIRST_NAMES), pick(rng, _LAST_NAMES)
        email = _unique_email(rng, first, last, taken_emails)
        taken_emails.add(email)
        favourite = sample(rng, range(len(CATEGORIES)), int(rng.integers(1, 4)))
        users.append(User(
            user_id=user_id,
            name=f"{first} {last}",
            email=email,
            address=f"{int(rng.integers(1, 2000))} {pick(rng, _STREETS)} "
                    f"{pick(rng, _STREET_KINDS)}",
            city=pick(rng, _CITIES),
            budget=pick(rng, _BUDGET_LEVELS),
            preferred_categories=tuple(CATEGORIES[i].name for i in favourite),
            interests=peaked_distribution(
                rng, n_topics, [category_topic(i, n_topics) for i in favourite], peak_mass=0.7),
        ))
    return users


def _unique_email(rng: np.random.Generator, first: str, last: str, taken: set[str]) -> str:
    # ascii local part: "Müller" -> "muller"
    local = f"{first}.{last}".lower().replace("ü", "u")
    domain = pick(rng, _EMAIL_DOMAINS)
    email, suffix = f"{local}@{domain}", 2
    while email in taken:
        email, suffix = f"{local}{suffix}@{domain}", suffix + 1
    return email


# ----------------------------------------------------------------------------- orders
def _tracking_number(rng: np.random.Generator, carrier: str) -> str:
    def digits(n: int) -> str:
        return "".join(str(int(d)) for d in rng.integers(0, 10, size=n))

    if carrier == "UPS":
        chars = "ABCDEFGHJKLMNPRSTVWXYZ0123456789"
        shipper = "".join(chars[int(i)] for i in rng.integers(len(chars), size=6))
        return f"1Z{shipper}{digits(10)}"
    if carrier == "FedEx":
        return digits(12)
    if carrier == "DHL":
        return digits(10)
    return f"9400{digits(18)}"  # USPS


def _dates(rng: np.random.Generator, status: str, carrier: str) -> tuple[date, date]:
    """(order_date, delivery_date) consistent with the status as seen on REFERENCE_DATE."""
    low, high = _TRANSIT_DAYS[carrier]
    transit = int(rng.integers(low, high + 1))
    days_ago = {
        "processing": (0, 2),
        "shipped": (1, transit),  # left the warehouse, not yet arrived
        "delivered": (transit + 1, 120),
        "cancelled": (1, 90),
        "returned": (transit + 15, 150),  # delivered, then sent back
    }[status]
    ordered = REFERENCE_DATE - timedelta(days=int(rng.integers(days_ago[0], days_ago[1] + 1)))
    delivered = ordered + timedelta(days=transit)
    if status in ("processing", "shipped") and delivered <= REFERENCE_DATE:
        delivered = REFERENCE_DATE + timedelta(days=1)  # still on its way
    return ordered, delivered


def _items(rng: np.random.Generator, user: User, products: list[Product]) -> tuple[int, ...]:
    """1-3 distinct products, mostly from the user's preferred categories."""
    n_items = min(len(products), 1 + int(rng.choice(3, p=[0.6, 0.3, 0.1])))
    preferred = [p.product_id for p in products if p.category in user.preferred_categories]
    items: list[int] = []
    while len(items) < n_items:
        pool = preferred if preferred and rng.random() < 0.75 else range(len(products))
        candidate = int(pick(rng, pool))
        if candidate not in items:
            items.append(candidate)
    return tuple(items)


def generate_orders(
    rng: np.random.Generator, *, users: list[User], products: list[Product],
    max_orders_per_user: int,
) -> list[Order]:
    """1 to ``max_orders_per_user`` orders per user, listed user by user.

    Order ids are drawn without replacement and handed out in date order, so a later order
    has a larger id, as in a real shop.
    """
    drafts = []
    for user in users:
        for _ in range(int(rng.integers(1, max_orders_per_user + 1))):
            status = str(rng.choice(ORDER_STATUSES, p=_STATUS_WEIGHTS))
            carrier = pick(rng, CARRIERS)
            ordered, delivered = _dates(rng, status, carrier)
            drafts.append((user.user_id, _items(rng, user, products), status, ordered,
                           delivered, carrier))

    # five digits while they last, as in "ORD-10234"
    id_space = max(90_000, 10 * len(drafts))
    numbers = np.sort(rng.choice(id_space, size=len(drafts), replace=False)) + 10_000
    by_date = sorted(range(len(drafts)), key=lambda i: (drafts[i][3], i))
    number_of = {draft: int(numbers[rank]) for rank, draft in enumerate(by_date)}

    orders: list[Order] = []
    taken_tracking: set[str] = set()
    for i, (user_id, items, status, ordered, delivered, carrier) in enumerate(drafts):
        tracking = _tracking_number(rng, carrier)
        while tracking in taken_tracking:
            tracking = _tracking_number(rng, carrier)
        taken_tracking.add(tracking)
        orders.append(Order(
            order_id=f"ORD-{number_of[i]}",
            user_id=user_id,
            items=items,
            status=status,
            order_date=ordered,
            delivery_date=delivered,
            carrier=carrier,
            tracking_number=tracking,
            total=round(sum(products[j].price for j in items), 2),
        ))
    return orders

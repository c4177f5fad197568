"""The RecSim-style user simulator behind `lm_envs/ProductRecommendation-v0`.

Three pieces, all plain numpy:

- `Catalog`: the item vocabulary (latent topic vectors, quality, price, category, stock) and
  the item embeddings in ``[-1, 1]^d`` that the continuous env and Wolpertinger search.
- `UserModel`: every knob of the user's behaviour, with three difficulty tiers.
- `Sessions`: the hidden state of ``B`` user sessions stepped together. The single env is a
  batch of one with ``np_random`` as its generator; the native vector env is a batch of
  ``N`` with one generator per row. Each row draws the same random numbers in the same order
  in both, so the two give identical trajectories over the same seeds.

The user follows RecSim's interest-evolution model (Ie et al., 2019): the choice is a
multinomial logit over the slate plus a no-click option, scored by the affinity between the
user's interests and the item's topics; the item's quality is *not* seen at choice time but
moves the user's satisfaction after consumption. A click-greedy recommender therefore pushes
attractive low-quality items and loses the user early: planning pays.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Sequence

import numpy as np

__all__ = [
    "DIFFICULTIES",
    "FEEDBACK",
    "REWARD_TERMS",
    "Catalog",
    "Sessions",
    "Simulator",
    "UserModel",
    "UserPool",
    "parse_reward",
]

REWARD_TERMS = ("click", "purchase", "revenue", "rating")
"""Raw per-step reward terms: click (0/1), purchase (0/1), revenue (price when bought, in
units of the catalog's median price), rating (1-5 when clicked, else 0)."""

FEEDBACK = {"none": 0, "skip": 1, "click": 2, "purchase": 3}
"""Codes of the ``feedback`` observation: 0 is padding (no item in that history slot)."""


def parse_reward(reward: Any) -> dict[str, float]:
    """``"click"`` or ``{"click": 1.0, "revenue": 0.1}`` as a checked ``{term: weight}``."""
    if isinstance(reward, str):
        reward = {reward: 1.0}
    if not isinstance(reward, dict) or not reward:
        raise ValueError(f"reward must be a term name or a non-empty dict {{term: weight}}; got {reward!r}")
    weights: dict[str, float] = {}
    for name, weight in reward.items():
        if name not in REWARD_TERMS:
            raise ValueError(f"unknown reward term {name!r}; known: {', '.join(REWARD_TERMS)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float, np.number)) or not np.isfinite(weight):
            raise ValueError(f"reward weight of {name!r} must be a finite number, got {weight!r}")
        weights[name] = float(weight)
    return weights


# ------------------------------------------------------------------------------ user model
@dataclass(frozen=True)
class UserModel:
    """How simulated users choose, respond, tire, drift and leave. Override any field with
    ``user_model={"repeat_fatigue": 0.0, ...}``; 0 turns a mechanism off."""

    choice_sharpness: float = 6.0
    """Multinomial-logit inverse temperature: item score = sharpness * (affinity - fatigue)."""
    no_click_affinity: float = 0.55
    """Affinity of the no-click option; items below it are skipped more often than not."""
    quality_in_choice: float = 0.0
    """Weight of quality in the choice score. 0 (RecSim): quality is only felt afterwards."""
    repeat_fatigue: float = 0.15
    """Affinity lost per recent exposure of the same item (exposures decay, see below)."""
    exposure_decay: float = 0.8
    """Per-step decay of the exposure counts behind ``repeat_fatigue``."""
    streak_fatigue: float = 0.05
    """Affinity lost per consecutive click in the same category, for items of that category."""
    interest_drift: float = 0.05
    """Step size of the interests toward the topics of each clicked item."""
    initial_satisfaction: tuple[float, float] = (0.9, 1.1)
    """Satisfaction at the session start, uniform in this range; the user leaves at 0."""
    step_cost: float = 0.04
    """Satisfaction spent on every step (attention is finite)."""
    skip_penalty: float = 0.08
    """Satisfaction lost when nothing on the slate is clicked (a poor recommendation)."""
    quality_gain: float = 0.4
    """Satisfaction change of a click: ``quality_gain * (quality - quality_threshold)``."""
    quality_threshold: float = 0.55
    purchase_bias: float = -1.5
    """Purchase logit after a click: bias + 3 (quality - 0.5) + 2 (affinity - 0.5)
    - price_sensitivity * log(price / budget)."""
    price_sensitivity: float = 1.0
    feature_noise: float = 0.1
    """Std of the Gaussian noise on the observed user profile (the true interests are hidden)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) for v in values):
                raise ValueError(f"UserModel.{f.name} must be finite numbers, got {value!r}")
        low, high = self.initial_satisfaction
        if not 0 < low <= high:
            raise ValueError(f"UserModel.initial_satisfaction must be (low, high) with 0 < low <= high, got {(low, high)}")
        for name in ("choice_sharpness", "step_cost"):
            if getattr(self, name) <= 0:
                raise ValueError(f"UserModel.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("repeat_fatigue", "streak_fatigue", "skip_penalty", "quality_gain", "price_sensitivity", "feature_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"UserModel.{name} must be >= 0, got {getattr(self, name)!r}")
        for name in ("exposure_decay", "interest_drift"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"UserModel.{name} must be in [0, 1], got {getattr(self, name)!r}")

    @classmethod
    def make(cls, difficulty: str = "default", overrides: Any = None) -> UserModel:
        """The tier's model with ``overrides`` (a dict or a `UserModel`) applied."""
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"unknown difficulty {difficulty!r}; known: {', '.join(DIFFICULTIES)}")
        if isinstance(overrides, UserModel):
            return overrides
        model = DIFFICULTIES[difficulty]
        if overrides is None:
            return model
        if not isinstance(overrides, dict):
            raise ValueError(f"user_model must be a dict of UserModel fields or a UserModel, got {type(overrides).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ValueError(f"unknown user_model field {unknown[0]!r}; known: {', '.join(known)}")
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        return replace(model, **overrides)


DIFFICULTIES: dict[str, UserModel] = {
    # no fatigue, no drift, forgiving users, exact profiles: a myopic policy is near-optimal
    "easy": UserModel(choice_sharpness=8.0, repeat_fatigue=0.0, streak_fatigue=0.0, interest_drift=0.0,
                      skip_penalty=0.03, quality_gain=0.2, feature_noise=0.0),
    "default": UserModel(),
    # noisy profiles, strong fatigue, impatient users
    "hard": UserModel(choice_sharpness=5.0, no_click_affinity=0.6, repeat_fatigue=0.3, streak_fatigue=0.1,
                      interest_drift=0.1, skip_penalty=0.12, quality_gain=0.5, feature_noise=0.25),
}


# --------------------------------------------------------------------------------- catalog
def _minmax_unit(x: np.ndarray) -> np.ndarray:
    """Each column scaled to ``[-1, 1]`` (a constant column maps to 0)."""
    low, high = x.min(axis=0), x.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    return np.where(high > low, 2.0 * (x - low) / span - 1.0, 0.0).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Catalog:
    """The item vocabulary: item ``i`` is token ``i``; token ``n_items`` is the pad."""

    topics: np.ndarray
    """float (n_items, T): latent item vectors (world: topic distributions; ratings: factors)."""
    quality: np.ndarray
    """float (n_items,) in [0, 1]: hidden quality, felt after a click."""
    price: np.ndarray
    """float (n_items,) > 0, in dollars (1.0 for rating tables without prices)."""
    category: np.ndarray
    """int (n_items,): category index, for streak fatigue."""
    stock: np.ndarray
    """int (n_items,): units in stock at the start of every session."""
    popularity: np.ndarray
    """float (n_items,): past demand (world orders, or interactions in a ratings table)."""
    names: tuple[str, ...]
    product_ids: np.ndarray
    """int (n_items,): the world product id of each item (for a ratings table, the row of
    its id in ``Simulator.fit["item_ids"]``)."""
    embeddings: np.ndarray = field(init=False)
    """float32 (n_items, T + 1) in [-1, 1]: per-column scaled [topics, quality]; what the
    continuous env's proto-actions and Wolpertinger's k-NN live in."""

    def __post_init__(self) -> None:
        n = len(self.quality)
        if n < 1:
            raise ValueError("a catalog needs at least one item")
        for name in ("topics", "price", "category", "stock", "popularity", "product_ids"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Catalog.{name} has {len(getattr(self, name))} rows for {n} items")
        raw = np.concatenate([np.asarray(self.topics, np.float64), np.asarray(self.quality, np.float64)[:, None]], axis=1)
        object.__setattr__(self, "embeddings", _minmax_unit(raw))
        unit = np.asarray(self.topics, np.float64)
        norms = np.linalg.norm(unit, axis=1, keepdims=True)
        object.__setattr__(self, "_unit_topics", unit / np.where(norms > 0, norms, 1.0))

    @property
    def n_items(self) -> int:
        return len(self.quality)

    @property
    def n_topics(self) -> int:
        return int(np.asarray(self.topics).shape[1])

    @property
    def unit_topics(self) -> np.ndarray:
        return self._unit_topics  # type: ignore[attr-defined]

    @classmethod
    def from_world(cls, world: Any, *, include_out_of_stock: bool = False) -> Catalog:
        """The shop world's products as items, in product-id order.

        Out-of-stock products are left out by default (nothing can recommend them); with
        ``include_out_of_stock`` they are items whose action is always masked.
        """
        products = [p for p in world.products if include_out_of_stock or p.stock > 0]
        categories = {name: i for i, name in enumerate(world.categories)}
        demand = np.zeros(len(world.products))
        for order in world.orders:
            for item in order.items:
                demand[item] += 1
        return cls(
            topics=np.array([p.topics for p in products], dtype=np.float64),
            quality=np.array([p.quality for p in products], dtype=np.float64),
            price=np.array([p.price for p in products], dtype=np.float64),
            category=np.array([categories[p.category] for p in products], dtype=np.int64),
            stock=np.array([p.stock for p in products], dtype=np.int64),
            popularity=demand[[p.product_id for p in products]],
            names=tuple(p.name for p in products),
            product_ids=np.array([p.product_id for p in products], dtype=np.int64),
        )


@dataclass(frozen=True, eq=False)
class UserPool:
    """The users a session can start with; one is drawn per episode."""

    interests: np.ndarray
    """float (n_users, T): true initial interests, in the catalog's topic space (hidden)."""
    budget: np.ndarray
    """float (n_users,) > 0: what the user is willing to spend on one item."""
    user_ids: np.ndarray
    """int (n_users,): the id of each user in its source."""

    def __post_init__(self) -> None:
        if len(self.interests) < 1:
            raise ValueError("a user pool needs at least one user")
        if not len(self.interests) == len(self.budget) == len(self.user_ids):
            raise ValueError("UserPool fields must have one row per user")

    @property
    def n_users(self) -> int:
        return len(self.budget)

    @classmethod
    def from_world(cls, world: Any) -> UserPool:
        return cls(
            interests=np.array([u.interests for u in world.users], dtype=np.float64),
            budget=np.array([u.budget for u in world.users], dtype=np.float64),
            user_ids=np.array([u.user_id for u in world.users], dtype=np.int64),
        )


# -------------------------------------------------------------------------------- sessions
class Sessions:
    """Hidden state of ``B`` user sessions, stepped together with numpy.

    Every row draws from its own generator: on reset ``integers(n_users)``, ``random()`` and
    ``normal(size=F)``; on each step ``random(3)`` (choice, purchase, rating), whatever
    happens. That fixed order is what makes the native vector env equal to SyncVectorEnv.
    """

    def __init__(
        self,
        catalog: Catalog,
        users: UserPool,
        model: UserModel,
        *,
        num_rows: int,
        history_length: int,
        slate_size: int,
        max_steps: int,
        repurchase: bool,
        reward: dict[str, float],
    ) -> None:
        self.catalog, self.users, self.model = catalog, users, model
        self.B, self.H, self.k, self.max_steps = num_rows, history_length, slate_size, max_steps
        self.repurchase = repurchase
        self.reward_weights = np.array([reward.get(t, 0.0) for t in REWARD_TERMS])
        n, T = catalog.n_items, catalog.n_topics
        self.n_items, self.pad = n, n
        # observed profile: noisy interests (scaled to [-1, 1]) + log budget relative to prices
        self._unit_interests = users.interests / np.maximum(np.abs(users.interests).max(axis=1, keepdims=True), 1e-12)
        self.price_scale = float(np.median(catalog.price))
        self._budget_feature = np.clip(np.log(users.budget / self.price_scale) / 3.0, -1.0, 1.0)
        self.n_features = T + 1

        B = num_rows
        self.user = np.zeros(B, dtype=np.int64)
        self.interests = np.zeros((B, T))
        self.features = np.zeros((B, self.n_features), dtype=np.float32)
        self.satisfaction = np.zeros(B)
        self.exposure = np.zeros((B, n))
        self.bought = np.zeros((B, n), dtype=bool)
        self.stock = np.zeros((B, n), dtype=np.int64)
        self.streak_category = np.full(B, -1, dtype=np.int64)
        self.streak_length = np.zeros(B, dtype=np.int64)
        self.steps = np.zeros(B, dtype=np.int64)
        self.history = np.full((B, self.H), self.pad, dtype=np.int64)
        self.feedback = np.zeros((B, self.H), dtype=np.int64)
        self.ratings = np.zeros((B, self.H), dtype=np.int64)
        self.term_totals = np.zeros((B, len(REWARD_TERMS)))

    # ---------------------------------------------------------------- reset
    def reset_row(self, row: int, rng: np.random.Generator, user: int | None = None) -> None:
        m = self.model
        drawn = int(rng.integers(self.users.n_users))
        u = drawn if user is None else int(user)
        satisfaction = m.initial_satisfaction[0] + rng.random() * (m.initial_satisfaction[1] - m.initial_satisfaction[0])
        noise = rng.normal(size=self.n_features) * m.feature_noise
        self.user[row] = u
        self.interests[row] = self.users.interests[u]
        profile = np.append(self._unit_interests[u], self._budget_feature[u])
        self.features[row] = np.clip(profile + noise, -1.0, 1.0)
        self.satisfaction[row] = satisfaction
        self.exposure[row] = 0.0
        self.bought[row] = False
        self.stock[row] = self.catalog.stock
        self.streak_category[row] = -1
        self.streak_length[row] = 0
        self.steps[row] = 0
        self.history[row] = self.pad
        self.feedback[row] = 0
        self.ratings[row] = 0
        self.term_totals[row] = 0.0

    # ---------------------------------------------------------------- the user model
    def available(self) -> np.ndarray:
        """bool (B, n_items): in stock, and not yet bought unless repurchase is on."""
        ok = self.stock > 0
        return ok if self.repurchase else ok & ~self.bought

    def affinity(self, items: np.ndarray | None = None) -> np.ndarray:
        """Cosine of interests and item topics: (B, n_items), or (B, k) for ``items`` (B, k)."""
        norms = np.linalg.norm(self.interests, axis=1, keepdims=True)
        unit = self.interests / np.where(norms > 0, norms, 1.0)
        if items is None:
            return unit @ self.catalog.unit_topics.T
        return np.einsum("bt,bkt->bk", unit, self.catalog.unit_topics[items])

    def fatigue(self, items: np.ndarray | None = None) -> np.ndarray:
        """Affinity lost to repeats and same-category streaks, shaped like `affinity`."""
        m = self.model
        if items is None:
            exposure, category = self.exposure, self.catalog.category[None, :]
        else:
            exposure = np.take_along_axis(self.exposure, items, axis=1)
            category = self.catalog.category[items]
        same = category == self.streak_category[:, None]
        return m.repeat_fatigue * exposure + m.streak_fatigue * self.streak_length[:, None] * same

    def choice_scores(self, items: np.ndarray | None = None) -> np.ndarray:
        """Multinomial-logit scores of items (the no-click score is ``sharpness * no_click_affinity``)."""
        m = self.model
        quality = self.catalog.quality[None, :] if items is None else self.catalog.quality[items]
        utility = self.affinity(items) - self.fatigue(items) + m.quality_in_choice * (quality - 0.5)
        return m.choice_sharpness * utility

    def choice_probabilities(self, slates: np.ndarray) -> np.ndarray:
        """(B, k + 1): P(no click), then P(click item j) for each slate position (MNL).

        A repeated item in a slate is shown once: its later positions get probability 0, as
        do unavailable items (shown only with ``masked_action="skip"``).
        """
        scores = self.choice_scores(slates)
        k = slates.shape[1]
        duplicate = np.zeros_like(slates, dtype=bool)
        for j in range(1, k):
            duplicate[:, j] = (slates[:, :j] == slates[:, j : j + 1]).any(axis=1)
        # an unavailable item (out of stock, bought) cannot be chosen: the user skips it
        unavailable = ~np.take_along_axis(self.available(), slates, axis=1)
        scores = np.where(duplicate | unavailable, -np.inf, scores)
        logits = np.concatenate([np.full((len(slates), 1), self.model.choice_sharpness * self.model.no_click_affinity), scores], axis=1)
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def purchase_probability(self, items: np.ndarray, affinity: np.ndarray) -> np.ndarray:
        m = self.model
        budget = self.users.budget[self.user]
        budget = budget[:, None] if items.ndim == 2 else budget
        logit = (m.purchase_bias + 3.0 * (self.catalog.quality[items] - 0.5) + 2.0 * (affinity - 0.5)
                 - m.price_sensitivity * np.log(self.catalog.price[items] / budget))
        return 1.0 / (1.0 + np.exp(-logit))

    def expected_rating(self, items: np.ndarray, affinity: np.ndarray) -> np.ndarray:
        """Mean rating 1-5 of a clicked item: mostly its quality, a little the affinity."""
        return 1.0 + 4.0 * np.clip(0.7 * self.catalog.quality[items] + 0.3 * affinity, 0.0, 1.0)

    def expected_terms(self) -> np.ndarray:
        """(B, n_items, n_terms): expected raw reward terms of recommending each item alone
        (what the myopic oracle maximises)."""
        items = np.broadcast_to(np.arange(self.n_items), (self.B, self.n_items))
        p_click = self.choice_probabilities_all()
        affinity = self.affinity()
        p_buy = self.purchase_probability(items, affinity)
        price = self.catalog.price[None, :] / self.price_scale
        return np.stack([p_click, p_click * p_buy, p_click * p_buy * price,
                         p_click * self.expected_rating(items, affinity)], axis=-1)

    def choice_probabilities_all(self) -> np.ndarray:
        """(B, n_items): P(click) of each item shown alone."""
        scores = self.choice_scores()
        no_click = self.model.choice_sharpness * self.model.no_click_affinity
        return 1.0 / (1.0 + np.exp(no_click - scores))

    # ---------------------------------------------------------------- step
    def step(self, slates: np.ndarray, rngs: Sequence[np.random.Generator]) -> dict[str, np.ndarray]:
        """Show ``slates`` (B, k) of available items; return the per-row outcome arrays."""
        m, cat = self.model, self.catalog
        B, k = slates.shape
        rows = np.arange(B)
        draws = np.stack([rng.random(3) for rng in rngs])
        probs = self.choice_probabilities(slates)
        # inverse-CDF choice: position 0 is "no click"
        position = np.minimum((np.cumsum(probs, axis=1) <= draws[:, :1]).sum(axis=1), k)
        clicked = position > 0
        item = np.where(clicked, slates[rows, np.maximum(position - 1, 0)], -1)
        safe_item = np.maximum(item, 0)
        affinity = self.affinity(safe_item[:, None])[:, 0]
        p_buy = self.purchase_probability(safe_item, affinity)
        bought = clicked & (draws[:, 1] < p_buy) & (self.stock[rows, safe_item] > 0)
        # stochastic rounding keeps the mean rating equal to expected_rating
        rating = np.where(clicked, np.clip(np.floor(self.expected_rating(safe_item, affinity) + draws[:, 2]), 1, 5), 0).astype(np.int64)
        quality = cat.quality[safe_item]

        # --- long-term dynamics
        self.exposure *= m.exposure_decay
        shown = np.zeros_like(self.exposure, dtype=bool)
        shown[rows[:, None], slates] = True
        self.exposure += shown
        same = clicked & (cat.category[safe_item] == self.streak_category)
        self.streak_length = np.where(clicked, np.where(same, self.streak_length + 1, 1), self.streak_length)
        self.streak_category = np.where(clicked, cat.category[safe_item], self.streak_category)
        drift = m.interest_drift * clicked[:, None]
        self.interests = (1.0 - drift) * self.interests + drift * cat.topics[safe_item]
        self.satisfaction -= m.step_cost
        self.satisfaction -= np.where(clicked, 0.0, m.skip_penalty)
        self.satisfaction += np.where(clicked, m.quality_gain * (quality - m.quality_threshold), 0.0)
        self.bought[rows[bought], safe_item[bought]] = True
        self.stock[rows[bought], safe_item[bought]] -= 1
        self.steps += 1

        # --- history: the k shown items enter at the front, most recent first
        fb = np.full((B, k), FEEDBACK["skip"], dtype=np.int64)
        rt = np.zeros((B, k), dtype=np.int64)
        chosen = rows[clicked]
        fb[chosen, position[clicked] - 1] = np.where(bought[clicked], FEEDBACK["purchase"], FEEDBACK["click"])
        rt[chosen, position[clicked] - 1] = rating[clicked]
        keep = max(self.H - k, 0)
        for array, new in ((self.history, slates), (self.feedback, fb), (self.ratings, rt)):
            array[:, self.H - keep :] = array[:, :keep].copy()
            array[:, : self.H - keep] = new[:, : self.H - keep]

        terms = np.stack([clicked.astype(np.float64), bought.astype(np.float64),
                          np.where(bought, cat.price[safe_item] / self.price_scale, 0.0),
                          rating.astype(np.float64)], axis=1)
        self.term_totals += terms
        terminated = self.satisfaction <= 0.0
        exhausted = self.available().sum(axis=1) < self.k
        truncated = ~terminated & ((self.steps >= self.max_steps) | exhausted)
        return {
            "reward": terms @ self.reward_weights,
            "terms": terms,
            "item": item,
            "terminated": terminated,
            "truncated": truncated,
        }

    # ---------------------------------------------------------------- observations
    def row_obs(self, row: int) -> dict[str, np.ndarray]:
        return {
            "item_ids": self.history[row].copy(),
            "feedback": self.feedback[row].copy(),
            "ratings": self.ratings[row].copy(),
            "user": self.features[row].copy(),
            "step": np.int64(self.steps[row]),
        }

    def batch_obs(self) -> dict[str, np.ndarray]:
        return {
            "item_ids": self.history.copy(),
            "feedback": self.feedback.copy(),
            "ratings": self.ratings.copy(),
            "user": self.features.copy(),
            "step": self.steps.copy(),
        }


# ------------------------------------------------------------------------------- simulator
@dataclass(frozen=True, eq=False)
class Simulator:
    """A catalog and the users who visit it: what an env simulates.

    Build one from the shop world (`Simulator.from_world`, the env's default) or from a
    ratings table (`lm_envs.data.from_ratings`), then pass it as ``simulator=``.
    """

    catalog: Catalog
    users: UserPool
    source: str = "world"
    """Where it came from, for reprs and reports: ``"world(seed=0)"``, a file path, ..."""
    fit: dict[str, Any] = field(default_factory=dict)
    """Diagnostics of a fitted simulator (``from_ratings``): factors, RMSE, counts."""

    def __post_init__(self) -> None:
        if self.catalog.n_topics != self.users.interests.shape[1]:
            raise ValueError(f"catalog topics ({self.catalog.n_topics}) and user interests "
                             f"({self.users.interests.shape[1]}) must have the same dimension")

    def __repr__(self) -> str:
        return f"Simulator(source={self.source!r}, n_items={self.catalog.n_items}, n_users={self.users.n_users})"

    @classmethod
    def from_world(cls, world: Any, *, include_out_of_stock: bool = False) -> Simulator:
        return cls(Catalog.from_world(world, include_out_of_stock=include_out_of_stock), UserPool.from_world(world),
                   source=f"world(seed={world.seed})")

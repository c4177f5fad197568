"""`lm_envs/ProductRecommendation-v0` and `lm_envs/ProductRecommendationContinuous-v0`.

A recommender acts one item token at a time: each step it shows a user one product (or a
slate of k), and a RecSim-style simulated user (`lm_envs.sim.shopper`) skips, clicks,
buys or rates. The discrete env's action is an item id; the continuous env's is a point in
the item-embedding space that k-NN maps to the nearest available item(s), so SB3's DDPG and
TD3 run on it unchanged. Both share one simulator with the native vector env
(`ProductRecommendationVectorEnv`), which steps ``N`` sessions with numpy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from lm_envs.sim.shopper import REWARD_TERMS, Sessions, Simulator, UserModel, parse_reward
from lm_envs.vector import row_seeds

__all__ = [
    "ProductRecommendationContinuousEnv",
    "ProductRecommendationContinuousVectorEnv",
    "ProductRecommendationEnv",
    "ProductRecommendationVectorEnv",
    "RecommendationVectorEnv",
    "default_simulator",
]

MASKED_ACTION_MODES = ("raise", "skip")

_DOC_ARGUMENTS = """
    ``slate_size`` (1): items shown per step; 1 gives ``Discrete`` actions, k > 1 a slate.
    ``difficulty`` ("default"): ``"easy"``, ``"default"`` or ``"hard"``, a preset `UserModel`.
    ``user_model`` (None): a dict of `UserModel` fields overriding the tier, e.g.
    ``{"repeat_fatigue": 0.0}`` to turn fatigue off. ``reward`` ({"click": 1.0}): weights of
    the terms ``click``, ``purchase``, ``revenue``, ``rating``. ``max_steps`` (40): session
    length cap. ``history_length`` (10). ``repurchase`` (False): may bought items be shown
    again. ``masked_action`` ("raise"): what a masked item does; ``"skip"`` shows it as
    unavailable (the user cannot click it), for agents without action masks (SB3's PPO).
    ``simulator`` (None): a `Simulator`, e.g. from `lm_envs.data.from_ratings`; by
    default the shop world ``make_world(world_seed, n_products=..., n_users=..., n_topics=...)``
    with ``include_out_of_stock`` (False). ``render_mode`` ("ansi" or "human").
"""


def default_simulator(
    world_seed: int = 0,
    *,
    n_products: int = 60,
    n_users: int = 40,
    n_topics: int = 8,
    include_out_of_stock: bool = False,
) -> Simulator:
    """The shop world's catalog and customers as a `Simulator`."""
    from lm_envs.world import make_world

    world = make_world(world_seed, n_products=n_products, n_users=n_users, n_topics=n_topics)
    return Simulator.from_world(world, include_out_of_stock=include_out_of_stock)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class _RecommendationEnv(gym.Env):
    """Mechanics shared by the discrete and continuous envs (one session, batch of one)."""

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        *,
        slate_size: int = 1,
        difficulty: str = "default",
        user_model: Any = None,
        reward: Any = None,
        max_steps: int = 40,
        history_length: int = 10,
        repurchase: bool = False,
        masked_action: str = "raise",
        simulator: Simulator | None = None,
        world_seed: int = 0,
        n_products: int = 60,
        n_users: int = 40,
        n_topics: int = 8,
        include_out_of_stock: bool = False,
        render_mode: str | None = None,
        _num_rows: int = 1,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if simulator is None:
            simulator = default_simulator(world_seed, n_products=n_products, n_users=n_users, n_topics=n_topics,
                                          include_out_of_stock=include_out_of_stock)
        elif not isinstance(simulator, Simulator):
            raise TypeError(f"simulator must be a lm_envs.sim.shopper.Simulator (see lm_envs.data.from_ratings), "
                            f"got {type(simulator).__name__}")
        self.slate_size = _positive_int("slate_size", slate_size)
        self.max_steps = _positive_int("max_steps", max_steps)
        self.history_length = _positive_int("history_length", history_length)
        if not isinstance(repurchase, (bool, np.bool_)):
            raise ValueError(f"repurchase must be a bool, got {repurchase!r}")
        if masked_action not in MASKED_ACTION_MODES:
            raise ValueError(f"masked_action must be one of {MASKED_ACTION_MODES}, got {masked_action!r}")
        self.masked_action = masked_action
        self.simulator = simulator
        self.catalog = simulator.catalog
        self.n_items = self.catalog.n_items
        if self.slate_size > self.n_items:
            raise ValueError(f"slate_size {self.slate_size} exceeds the catalog's {self.n_items} items")
        self.pad_item = self.n_items
        self.user_model = UserModel.make(difficulty, user_model)
        self.difficulty = difficulty
        self.reward_weights = parse_reward({"click": 1.0} if reward is None else reward)
        self.render_mode = render_mode
        self.sessions = Sessions(
            self.catalog, simulator.users, self.user_model, num_rows=_num_rows,
            history_length=self.history_length, slate_size=self.slate_size, max_steps=self.max_steps,
            repurchase=bool(repurchase), reward=self.reward_weights,
        )
        H = self.history_length
        self.observation_space = spaces.Dict({
            "item_ids": spaces.Box(0, self.n_items, (H,), np.int64),
            "feedback": spaces.Box(0, 3, (H,), np.int64),
            "ratings": spaces.Box(0, 5, (H,), np.int64),
            "user": spaces.Box(-1.0, 1.0, (self.sessions.n_features,), np.float32),
            "step": spaces.Discrete(self.max_steps + 1),
        })
        self.action_space = self._make_action_space()
        self._episode_over = True
        self._last: dict[str, Any] = {}

    @property
    def item_embeddings(self) -> np.ndarray:
        """float32 (n_items, d) in [-1, 1]: the space of the continuous env and Wolpertinger."""
        return self.catalog.embeddings

    # ---------------------------------------------------------------- action hooks
    def _make_action_space(self) -> spaces.Space:
        raise NotImplementedError

    def decode_action(self, action: Any, available: np.ndarray) -> np.ndarray:
        """The slate (k,) int64 that ``action`` shows, or a ValueError saying what is wrong."""
        raise NotImplementedError

    # ---------------------------------------------------------------- masks
    def action_masks(self) -> np.ndarray:
        """bool mask of allowed actions, in sb3-contrib's MaskablePPO layout.

        ``(n_items,)`` for ``Discrete``; ``(slate_size * n_items,)`` (one block per slate
        position) for a slate. False for items out of stock or already bought.
        """
        available = self.sessions.available()[0]
        return np.tile(available, self.slate_size) if self.slate_size > 1 else available.copy()

    # ---------------------------------------------------------------- gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.sessions.reset_row(0, self.np_random, _user_option(options, self.simulator.users.n_users))
        self._episode_over = False
        self._last = {}
        return self.sessions.row_obs(0), reset_info(self.sessions, 0)

    def step(self, action: Any):
        if self._episode_over:
            raise RuntimeError("step() called after the episode ended (or before reset()); call reset() first")
        slate = self.decode_action(action, self.sessions.available()[0])
        out = self.sessions.step(slate[None, :], [self.np_random])
        terminated, truncated = bool(out["terminated"][0]), bool(out["truncated"][0])
        info = step_info(self.sessions, out, 0, slate)
        self._episode_over = terminated or truncated
        self._last = info
        if self.render_mode == "human":
            self.render()
        return self.sessions.row_obs(0), float(out["reward"][0]), terminated, truncated, info

    def render(self):
        s, names = self.sessions, self.catalog.names
        text = f"step {int(s.steps[0])}/{self.max_steps}, user {int(self.simulator.users.user_ids[s.user[0]])}"
        if self._last:
            shown = ", ".join(names[i] for i in self._last["slate"])
            clicked = self._last["clicked"]
            rating = int(self._last["reward_terms"]["rating"])
            response = "skipped" if clicked < 0 else f"clicked {names[clicked]} (rating {rating})"
            text += f": showed {shown}; {response}"
        if self.render_mode == "human":
            print(text)
            return None
        return text


def _user_option(options: dict[str, Any] | None, n_users: int) -> int | None:
    """``options={"user": i}`` starts the session with user row ``i`` (default: drawn)."""
    if not options or "user" not in options:
        return None
    user = options["user"]
    if isinstance(user, (bool, np.bool_)) or not isinstance(user, (int, np.integer)) or not 0 <= user < n_users:
        raise ValueError(f"options['user'] must be an integer in [0, {n_users}), got {user!r}")
    return int(user)


def reset_info(sessions: Sessions, row: int) -> dict[str, Any]:
    return {"user_id": int(sessions.users.user_ids[sessions.user[row]])}


def step_info(sessions: Sessions, out: dict[str, np.ndarray], row: int, slate: np.ndarray) -> dict[str, Any]:
    """Per-step info: this step's raw ``reward_terms``, the ``slate``, the ``clicked`` item
    (-1 for none); at the session end also ``episode_reward_terms`` (totals) and ``user_id``."""
    info: dict[str, Any] = {
        "reward_terms": {name: float(out["terms"][row, j]) for j, name in enumerate(REWARD_TERMS)},
        "slate": np.asarray(slate, dtype=np.int64).copy(),
        "clicked": int(out["item"][row]),
    }
    if out["terminated"][row] or out["truncated"][row]:
        info["episode_reward_terms"] = {name: float(sessions.term_totals[row, j]) for j, name in enumerate(REWARD_TERMS)}
        info["user_id"] = int(sessions.users.user_ids[sessions.user[row]])
    return info


def _check_items(items: np.ndarray, available: np.ndarray, where: str = "", *, strict: bool = True) -> None:
    n = len(available)
    bad = (items < 0) | (items >= n)
    if bad.any():
        raise ValueError(f"invalid action{where}: item {int(items[bad][0])} is not in [0, {n})")
    blocked = ~available[items]
    if strict and blocked.any():
        raise ValueError(f"invalid action{where}: item {int(items[blocked][0])} is masked (out of stock or already "
                         "bought); choose among action_masks()")


class ProductRecommendationEnv(_RecommendationEnv):
    """Recommend products to a simulated shopper, one item (or slate) per step.

    ## Description
    Each episode is one shopping session of a simulated user (RecSim's interest-evolution
    model, Ie et al., 2019). Items are tokens of an item vocabulary: one token per catalog
    product of the shop world (``make_world(world_seed)``, in-stock products), plus a pad
    token ``n_items``. Each step the agent shows one item (or a slate of ``slate_size``
    items); the user picks one or none by a multinomial logit over the slate's affinities
    (cosine of the user's interests and the item's topics, minus fatigue) plus a no-click
    option, then may buy it (more likely for good, well-matched items within budget) and
    rates it 1-5 (mostly by its hidden quality). Long-term dynamics: interests drift toward
    what the user clicks; repeated exposures and same-category streaks cause fatigue; skips
    and low-quality clicks lower the user's satisfaction, high-quality clicks raise it, and
    the user leaves when it runs out. A click-greedy recommender keeps the user less long
    than one that also weighs quality: planning pays. `lm_envs.data.from_ratings` builds the
    catalog and users from a real ratings or clicks table instead.

    ## Action Space
    ``Discrete(n_items)``: the item to show; with ``slate_size=k > 1``,
    ``MultiDiscrete([n_items] * k)``. `action_masks` (sb3-contrib's MaskablePPO layout)
    excludes items out of stock or already bought (unless ``repurchase``); a masked or
    out-of-range item raises ValueError (with ``masked_action="skip"`` a masked item is
    shown as unavailable and cannot be clicked). An item repeated within a slate is shown once.

    ## Observation Space
    ``Dict`` of (no key is called ``items``: SB3's MultiInputPolicy keeps one sub-network
    per key in an ``nn.ModuleDict``, where ``items`` is a method): ``item_ids`` ``Box(0, n_items, (H,), int64)``, the last ``H =
    history_length`` shown items, most recent first, padded with ``n_items``; ``feedback``
    ``Box(0, 3, (H,), int64)`` on each (0 pad, 1 skip, 2 click, 3 purchase); ``ratings``
    ``Box(0, 5, (H,), int64)`` (0 when not clicked); ``user`` ``Box(-1, 1, (T + 1,),
    float32)``, the shop's noisy profile of the user (interests scaled to [-1, 1], log
    budget); ``step`` ``Discrete(max_steps + 1)``, the step within the session. The true
    interests, fatigue and satisfaction are hidden.

    ## Rewards
    A weighted sum of raw terms, ``reward={"click": 1.0}`` by default: ``click`` (0/1),
    ``purchase`` (0/1), ``revenue`` (the price when bought, in units of the catalog's median
    price) and ``rating`` (1-5 when clicked, else 0). ``info["reward_terms"]`` holds every
    term of the step; ``info["episode_reward_terms"]`` their session totals at the end.

    ## Starting State
    A user drawn uniformly with ``np_random`` (or ``options={"user": i}``), with their
    interests, a satisfaction drawn in ``initial_satisfaction``, no fatigue, full stock and
    an empty history.

    ## Episode End
    ``terminated`` when the user leaves (satisfaction <= 0). ``truncated`` after
    ``max_steps`` steps, or when fewer than ``slate_size`` items remain available.

    ## Arguments
    {arguments}
    ## Version History
    * v0: initial version.
    """

    def _make_action_space(self) -> spaces.Space:
        if self.slate_size == 1:
            return spaces.Discrete(self.n_items)
        return spaces.MultiDiscrete(np.full(self.slate_size, self.n_items, dtype=np.int64))

    def decode_action(self, action: Any, available: np.ndarray) -> np.ndarray:
        return decode_discrete(action, available, self.slate_size, strict=self.masked_action == "raise")


def decode_discrete(action: Any, available: np.ndarray, slate_size: int, where: str = "", *, strict: bool = True) -> np.ndarray:
    value = np.asarray(action)
    if slate_size == 1:
        if value.shape not in ((), (1,)):
            raise ValueError(f"invalid action{where} {action!r}: expected one item id, got shape {value.shape}")
        value = value.reshape(())
    elif value.shape != (slate_size,):
        raise ValueError(f"invalid action{where} {action!r}: expected a slate of {slate_size} item ids, got shape {value.shape}")
    if value.dtype == np.bool_ or not np.issubdtype(value.dtype, np.integer):
        raise ValueError(f"invalid action{where} {action!r}: item ids must be integers, got dtype {value.dtype}")
    items = value.reshape(-1).astype(np.int64)
    _check_items(items, available, where, strict=strict)
    return items


class ProductRecommendationContinuousEnv(_RecommendationEnv):
    """Recommend products by pointing into the item-embedding space (k-NN to items).

    ## Description
    The simulator, observations, rewards and episode ends of
    `ProductRecommendationEnv` (see there); only the action differs. The action is a
    proto-action in the item-embedding space ``[-1, 1]^d`` (each item's topics and quality,
    scaled per dimension); the env shows the ``slate_size`` available items nearest to it
    (Euclidean k-NN, ties to the lower id), as in Dulac-Arnold et al. (2015). SB3's DDPG and
    TD3 run on it unchanged. ``env.unwrapped.item_embeddings`` holds the item points.

    ## Action Space
    ``Box(-1, 1, (d,), float32)`` with ``d = T + 1``. Non-finite, out-of-bounds or
    mis-shaped actions raise ValueError (never a silent clip).

    ## Observation Space
    As `ProductRecommendationEnv`.

    ## Rewards
    As `ProductRecommendationEnv`.

    ## Starting State
    As `ProductRecommendationEnv`.

    ## Episode End
    As `ProductRecommendationEnv`.

    ## Arguments
    {arguments}
    ## Version History
    * v0: initial version.
    """

    def _make_action_space(self) -> spaces.Space:
        d = self.catalog.embeddings.shape[1]
        return spaces.Box(-1.0, 1.0, (d,), np.float32)

    def decode_action(self, action: Any, available: np.ndarray) -> np.ndarray:
        return decode_proto(action, available, self.catalog.embeddings, self.slate_size)


def decode_proto(action: Any, available: np.ndarray, embeddings: np.ndarray, slate_size: int, where: str = "") -> np.ndarray:
    d = embeddings.shape[1]
    value = np.asarray(action)
    if value.shape != (d,):
        raise ValueError(f"invalid action{where}: expected a proto-action of shape ({d},), got shape {value.shape}")
    if not np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_:
        raise ValueError(f"invalid action{where}: expected numbers, got dtype {value.dtype}")
    value = value.astype(np.float64)
    if not np.isfinite(value).all():
        raise ValueError(f"invalid action{where}: the proto-action has non-finite entries {value}")
    if (np.abs(value) > 1.0 + 1e-6).any():
        raise ValueError(f"invalid action{where}: the proto-action must lie in [-1, 1]^{d}, got {value}")
    candidates = np.flatnonzero(available)
    distances = ((embeddings[candidates] - value) ** 2).sum(axis=1)
    order = np.argsort(distances, kind="stable")[:slate_size]
    return candidates[order].astype(np.int64)


for _cls in (ProductRecommendationEnv, ProductRecommendationContinuousEnv):
    _cls.__doc__ = _cls.__doc__.replace("{arguments}", _DOC_ARGUMENTS.strip("\n") + "\n")


# ---------------------------------------------------------------------------------- vector
class RecommendationVectorEnv(VectorEnv):
    """``N`` recommendation sessions stepped together with numpy; subclasses set `env_class`.

    Autoreset is ``SAME_STEP``: on the step that ends a row the returned observation is
    already the next session's, and the finished one is in ``info["final_obs"]`` /
    ``info["final_info"]``. Each row has its own generator and draws the same numbers as a
    single env would, so trajectories, rewards and infos equal those of
    ``SyncVectorEnv(autoreset_mode=SAME_STEP)`` over the same seeds (tested).
    `action_masks` gives ``(N, ...)`` masks; ``call("action_masks")`` a tuple of rows.
    """

    env_class: ClassVar[type[_RecommendationEnv]]
    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, **env_kwargs: Any) -> None:
        num_envs = _positive_int("num_envs", num_envs)
        env_kwargs.pop("max_episode_steps", None)  # the env truncates at max_steps itself
        if env_kwargs.get("render_mode") is not None:
            raise ValueError("the native vector env does not render; use vectorization_mode='sync' to render sub-envs")
        self.env = self.env_class(**env_kwargs, _num_rows=num_envs)
        self.sessions = self.env.sessions
        self.num_envs = num_envs
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.render_mode = None
        self.spec = None
        self.row_rngs: list[np.random.Generator | None] = [None] * num_envs
        self._has_reset = False

    @property
    def item_embeddings(self) -> np.ndarray:
        return self.env.item_embeddings

    @property
    def catalog(self):
        return self.env.catalog

    def action_masks(self) -> np.ndarray:
        """bool ``(N, n_items)`` (or ``(N, slate_size * n_items)`` for slates)."""
        available = self.sessions.available()
        return np.tile(available, (1, self.env.slate_size)) if self.env.slate_size > 1 else available

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Per-row results of ``name`` like ``SyncVectorEnv.call`` (masks are per row)."""
        if name == "action_masks":
            return tuple(self.action_masks())
        attribute = getattr(self.env, name)
        value = attribute(*args, **kwargs) if callable(attribute) else attribute
        return tuple(value for _ in range(self.num_envs))

    def get_attr(self, name: str) -> tuple[Any, ...]:
        return self.call(name)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        seeds = row_seeds(seed, self.num_envs)
        user = _user_option(options, self.sessions.users.n_users)
        infos: dict[str, Any] = {}
        for row, row_seed in enumerate(seeds):
            # same rule as gymnasium.Env.reset: a seed reseeds, no seed keeps the stream going
            if row_seed is not None or self.row_rngs[row] is None:
                self.row_rngs[row], _ = seeding.np_random(row_seed)
            self.sessions.reset_row(row, self.row_rngs[row], user)
            infos = self._add_info(infos, reset_info(self.sessions, row), row)
        self._has_reset = True
        return self.sessions.batch_obs(), infos

    def step(self, actions: Any):
        if not self._has_reset:
            raise RuntimeError("step() called before reset(); call reset() first")
        actions = np.asarray(actions)
        expected = (self.num_envs, *self.single_action_space.shape)
        if actions.shape != expected:
            raise ValueError(f"actions must have shape {expected}, got {actions.shape}")
        available = self.sessions.available()
        slates = np.stack([_decode_row(self.env, actions[row], available[row], row) for row in range(self.num_envs)])
        out = self.sessions.step(slates, self.row_rngs)
        infos: dict[str, Any] = {}
        done = out["terminated"] | out["truncated"]
        final_obs = {int(row): self.sessions.row_obs(int(row)) for row in np.flatnonzero(done)}
        for row in range(self.num_envs):
            info = step_info(self.sessions, out, row, slates[row])
            if done[row]:
                infos = self._add_info(infos, {"final_obs": final_obs[row], "final_info": info}, row)
                self.sessions.reset_row(row, self.row_rngs[row])
                info = reset_info(self.sessions, row)
            infos = self._add_info(infos, info, row)
        return self.sessions.batch_obs(), out["reward"].astype(np.float64), out["terminated"].copy(), out["truncated"].copy(), infos

    def close_extras(self, **kwargs: Any) -> None:
        self.env.close()

    @classmethod
    def for_env(cls, env_class: type[_RecommendationEnv]) -> type[RecommendationVectorEnv]:
        name = env_class.__name__.replace("Env", "VectorEnv")
        return type(name, (cls,), {"env_class": env_class, "__module__": env_class.__module__})


def _decode_row(env: _RecommendationEnv, action: Any, available: np.ndarray, row: int) -> np.ndarray:
    where = f" in row {row}"
    if isinstance(env, ProductRecommendationContinuousEnv):
        return decode_proto(action, available, env.catalog.embeddings, env.slate_size, where)
    return decode_discrete(action, available, env.slate_size, where, strict=env.masked_action == "raise")


ProductRecommendationVectorEnv = RecommendationVectorEnv.for_env(ProductRecommendationEnv)
ProductRecommendationContinuousVectorEnv = RecommendationVectorEnv.for_env(ProductRecommendationContinuousEnv)

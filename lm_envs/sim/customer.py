"""The simulated customer of `lm_envs/CustomerServiceDialog-v0`, and the resolution grammar.

A customer has a goal (a refund for a damaged item of order X, ...) and hidden information
(the order number, the e-mail address). They state the goal in an opening message that
names the item and, by default, none of the hidden information (the difficulty tiers,
`TIERS`, have them volunteer some or all of it); they reveal the rest only when the agent
asks for it; they lose patience with every unhelpful turn and leave when it runs out.
Every draw (patience, the wording of each reply) comes from the generator passed in: the
env's ``np_random`` or the vector env row's generator, never a generator of its own.

## Resolution grammar
The agent resolves the request by *committing* to an action in one sentence, naming the
identifiers the action needs, e.g. "I have issued a refund for order ORD-10234."

| goal | action keyword (any form) | names |
|---|---|---|
| ``refund`` | refund | the order id |
| ``replacement`` | replace, replacement | the order id |
| ``cancel`` | cancel, cancelled, cancellation | the order id |
| ``password_reset`` | reset | the e-mail |
| ``return_label`` | return label | the order id and the e-mail |

A sentence (split at ``.``, ``!``, ``?`` and newlines) commits when it has an action keyword
and at least one identifier (an ``ORD-`` number or an e-mail address), does not end with
``?`` and has no negation (not, n't, cannot, unable). The first committing sentence decides:
it is correct when it has exactly one action, that of the goal, and names every identifier
the goal needs, each equal to the customer's. Anything else is a wrong resolution.

## Requests
The customer reveals the order number when the agent's turn mentions "order number",
"order id", "order #" or "which order", and the e-mail when it mentions "email"/"e-mail".
A turn is *helpful* when it asks for something the goal needs that the customer has not
given yet; any other turn without a resolution costs one unit of patience.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lm_envs.world import Order, ShopWorld
from lm_envs.world.sampling import pick

__all__ = [
    "GOALS",
    "TIERS",
    "CustomerReply",
    "Goal",
    "Resolution",
    "SimulatedCustomer",
    "dialog_goals",
    "oracle_turn",
    "parse_resolution",
    "requested_info",
    "volunteered_info",
    "volunteered_text",
]

GOALS: dict[str, dict[str, Any]] = {
    "refund": {
        "needs": ("order_id",),
        "statuses": ("delivered",),
        "want": "a refund for the {item}",
        "openings": (
            "Hi, the {item} I ordered arrived damaged. I'd like a refund.",
            "My {item} came broken. Can I get my money back?",
            "Hello, I received a damaged {item} and want a refund.",
        ),
        "resolve": "I have issued a refund for order {order_id}.",
    },
    "replacement": {
        "needs": ("order_id",),
        "statuses": ("delivered",),
        "want": "a replacement for the {item}",
        "openings": (
            "My {item} stopped working after two days. Can you send me a replacement?",
            "The {item} I got is defective. I'd like a new one.",
            "Hi, my {item} is faulty and I want it replaced.",
        ),
        "resolve": "I have sent a replacement for order {order_id}.",
    },
    "cancel": {
        "needs": ("order_id",),
        "statuses": ("processing",),
        "want": "to cancel my order of the {item}",
        "openings": (
            "I'd like to cancel my order for the {item}.",
            "Please cancel the {item} I just ordered.",
            "Hi, I ordered the {item} by mistake. Can you cancel it?",
        ),
        "resolve": "I have cancelled order {order_id}.",
    },
    "password_reset": {
        "needs": ("email",),
        "statuses": None,
        "want": "a password reset",
        "openings": (
            "I can't log in to my account. Can you reset my password?",
            "Hi, I forgot my password and I'm locked out.",
            "Please help me reset my password.",
        ),
        "resolve": "I have sent a password reset link to {email}.",
    },
    "return_label": {
        "needs": ("order_id", "email"),
        "statuses": ("delivered",),
        "want": "a return label for the {item}",
        "openings": (
            "I want to return the {item}. Can you email me a return label?",
            "Hi, I need a return label for the {item}.",
            "How do I send back the {item}? I need a label.",
        ),
        "resolve": "I have emailed a return label for order {order_id} to {email}.",
    },
}
"""goal -> needed information, eligible order statuses, openings and the oracle's resolution."""

_ACTIONS = {
    "return_label": re.compile(r"\breturn\s+label", re.IGNORECASE),
    "refund": re.compile(r"\brefund", re.IGNORECASE),
    "replacement": re.compile(r"\breplac(?:e|ed|es|ing|ement)\b", re.IGNORECASE),
    "cancel": re.compile(r"\bcancel(?:s|led|ed|ling|ing|lation)?\b", re.IGNORECASE),
    "password_reset": re.compile(r"\breset", re.IGNORECASE),
}
_ORDER_ID = re.compile(r"(?<![A-Za-z0-9])ORD\s?[-#]?\s?([0-9]{3,})(?![0-9])", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-]+@[\w-]+(?:\.[\w-]+)+)", re.ASCII)
_NEGATION = re.compile(r"\b(?:not|cannot|can't|unable|won't|never)\b|n't\b", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")
_ASKS = {
    "order_id": re.compile(r"\border\s*(?:number|no\b|id\b|#)|\bwhich\s+order\b", re.IGNORECASE),
    "email": re.compile(r"\be-?mail", re.IGNORECASE),
}

_REVEAL = {
    "order_id": ("Sure, it's {value}.", "My order number is {value}.", "It's {value}.", "The order number is {value}.", "{value}"),
    "email": ("My email is {value}.", "It's {value}.", "Sure: {value}", "You can use {value}."),
}
_VOLUNTEER = {"order_id": "My order number is {value}.", "email": "My email is {value}."}
_REPEAT = ("I already told you: {value}.", "As I said, it's {value}.", "Again, it's {value}.")
_UNNEEDED = ("Why do you need that? Fine: {value}.", "Okay, it's {value}, but that's not my problem.")
_NUDGE = (
    "Can you help me with {want}?", "I'm still waiting for {want}.", "Hello? I just need {want}.",
    "That doesn't help. I need {want}.", "Please, I only want {want}.",
)
_LAST_CHANCE = ("This is your last chance.", "I'm running out of patience.", "I'm losing my patience here.")
_LEAVE = ("Forget it, I'll shop somewhere else.", "This is going nowhere. Goodbye.", "I give up. Bye.")
_THANKS = ("Great, thank you!", "Perfect, thanks for your help.", "Thanks, that's all I needed.")
_WRONG = ("That's not what I asked for. Goodbye.", "No, that's wrong. I'll call back later.", "That's not right. Bye.")
_ABANDONED = ("Hello? Are you still there?", "Wait, you didn't help me at all.")


@dataclass(frozen=True)
class Goal:
    """What the customer wants, and what they know but do not say unprompted."""

    kind: str
    """One of ``GOALS``."""
    order_id: str
    email: str
    item: str
    """Name of the order's first item (the one the customer talks about)."""

    @property
    def needs(self) -> tuple[str, ...]:
        """The hidden information the resolution must name: ``order_id`` and/or ``email``."""
        return GOALS[self.kind]["needs"]

    def value(self, info: str) -> str:
        return self.order_id if info == "order_id" else self.email

    def want(self) -> str:
        return GOALS[self.kind]["want"].format(item=self.item)

    def facts(self) -> list[dict[str, Any]]:
        """The truth as ``facts`` entries: a different order id or e-mail is a wrong fact."""
        return [
            {"name": "order_id", "value": self.order_id, "kind": "order_id"},
            {"name": "email", "value": self.email, "kind": "email"},
        ]


def dialog_goals(world: ShopWorld, kind: str) -> list[Goal]:
    """Every goal of ``kind`` in ``world``: one per eligible order (per customer for password resets)."""
    spec = GOALS[kind]
    if spec["statuses"] is None:
        orders: list[Order] = [world.orders_of(user.user_id)[0] for user in world.users]
    else:
        orders = [order for order in world.orders if order.status in spec["statuses"]]
    return [
        Goal(kind, order.order_id, world.users[order.user_id].email, world.products[order.items[0]].name)
        for order in orders
    ]


TIERS = ("all", "some", "none")
"""Difficulty tiers of the dialog: which identifiers the customer volunteers in the opening.

``"all"``: every identifier the goal needs; ``"some"``: the order number when the goal needs
one, never the e-mail (a refund, replacement or cancellation then needs no question, a return
label one, a password reset one); ``"none"``: nothing (the agent must ask for everything).
"""


def volunteered_info(goal: Goal, tier: str) -> tuple[str, ...]:
    """The identifiers a customer of ``tier`` names in the opening, in the order of ``goal.needs``."""
    if tier not in TIERS:
        raise ValueError(f"tier must be one of {', '.join(map(repr, TIERS))}; got {tier!r}")
    if tier == "all":
        return goal.needs
    if tier == "some":
        return tuple(info for info in goal.needs if info == "order_id")
    return ()


def volunteered_text(goal: Goal, infos: tuple[str, ...] | list[str]) -> str:
    """The sentences that volunteer ``infos`` ("My order number is ORD-10234."), space-separated."""
    return " ".join(_VOLUNTEER[info].format(value=goal.value(info)) for info in infos)


# --------------------------------------------------------------------- parsing the agent
@dataclass(frozen=True)
class Resolution:
    """A committing sentence: its actions and the identifiers it names."""

    sentence: str
    actions: tuple[str, ...]
    order_ids: tuple[str, ...]
    emails: tuple[str, ...]

    def correct_for(self, goal: Goal) -> bool:
        if self.actions != (goal.kind,):
            return False
        named = {"order_id": self.order_ids, "email": self.emails}
        return all(named[info] and set(named[info]) == {goal.value(info).lower()} for info in goal.needs)


def parse_resolution(text: str) -> Resolution | None:
    """The first sentence of ``text`` that commits to an action (see the module docstring), or None."""
    for sentence in _SENTENCES.split(text):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?") or _NEGATION.search(sentence):
            continue
        actions = tuple(kind for kind, pattern in _ACTIONS.items() if pattern.search(sentence))
        order_ids = tuple(dict.fromkeys(f"ord-{int(n)}" for n in _ORDER_ID.findall(sentence)))
        emails = tuple(dict.fromkeys(e.rstrip(".").lower() for e in _EMAIL.findall(sentence)))
        if actions and (order_ids or emails):
            return Resolution(sentence, actions, order_ids, emails)
    return None


def requested_info(text: str) -> tuple[str, ...]:
    """The hidden information an agent turn asks for: ``order_id`` and/or ``email``."""
    return tuple(info for info, pattern in _ASKS.items() if pattern.search(text))


# ----------------------------------------------------------------------- the customer
@dataclass(frozen=True)
class CustomerReply:
    """The customer's answer to one agent turn."""

    text: str
    outcome: str
    """"ongoing", "success" or "failure"."""
    reason: str = ""
    """Why the dialog ended: "resolved", "wrong resolution", "out of patience", "agent left"."""


@dataclass
class SimulatedCustomer:
    """A customer with a goal, hidden information and a patience budget.

    Attributes:
        goal: what they want and what they know.
        patience: each unhelpful turn takes one unit; the customer leaves at 0 (drawn by the env).
        revealed: the hidden information given so far, in order.
    """

    goal: Goal
    patience: int
    revealed: list[str] = field(default_factory=list)

    def opening(self, index: int) -> str:
        """Opening message ``index`` of the goal: it names the item, never the hidden information."""
        openings = GOALS[self.goal.kind]["openings"]
        return openings[index % len(openings)].format(item=self.goal.item)

    def respond(self, agent_text: str, rng: np.random.Generator, *, agent_left: bool = False) -> CustomerReply:
        """Answer one finished agent turn; ``agent_left`` when the agent ended the conversation."""
        resolution = parse_resolution(agent_text)
        if resolution is not None:
            if resolution.correct_for(self.goal):
                return CustomerReply(pick(rng, _THANKS), "success", "resolved")
            return CustomerReply(pick(rng, _WRONG), "failure", "wrong resolution")
        if agent_left:
            return CustomerReply(pick(rng, _ABANDONED), "failure", "agent left")

        asked = requested_info(agent_text)
        helpful = any(info in self.goal.needs and info not in self.revealed for info in asked)
        parts = []
        for info in asked:
            value = self.goal.value(info)
            if info in self.revealed:
                parts.append(pick(rng, _REPEAT).format(value=value))
            elif info in self.goal.needs:
                parts.append(pick(rng, _REVEAL[info]).format(value=value))
            else:
                parts.append(pick(rng, _UNNEEDED).format(value=value))
            if info not in self.revealed:
                self.revealed.append(info)
        if not helpful:
            self.patience -= 1
            if self.patience <= 0:
                return CustomerReply(pick(rng, _LEAVE), "failure", "out of patience")
            if not parts:
                parts.append(pick(rng, _NUDGE).format(want=self.goal.want()))
            if self.patience == 1:
                parts.append(pick(rng, _LAST_CHANCE))
        return CustomerReply(" ".join(parts), "ongoing")


def oracle_turn(goal: Goal, revealed: list[str] | tuple[str, ...]) -> str:
    """What a perfect agent says next: ask for all missing information, then resolve."""
    missing = [info for info in goal.needs if info not in revealed]
    if missing:
        names = {"order_id": "order number", "email": "email address"}
        return "Could you tell me your " + " and ".join(names[info] for info in missing) + "?"
    return GOALS[goal.kind]["resolve"].format(order_id=goal.order_id, email=goal.email)

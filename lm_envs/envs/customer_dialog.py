"""`lm_envs/CustomerServiceDialog-v0` and `-v1`: resolve a simulated customer's request over several turns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lm_envs.core import Task, TokenEnv, Turn, pick_task
from lm_envs.sim.customer import (
    GOALS,
    TIERS,
    Goal,
    SimulatedCustomer,
    dialog_goals,
    oracle_turn,
    volunteered_info,
    volunteered_text,
)
from lm_envs.vector import TokenVectorEnv
from lm_envs.world import make_world

__all__ = [
    "CUSTOMER_SPLITS",
    "DIALOG_INSTRUCTIONS",
    "CustomerServiceDialogEnv",
    "CustomerServiceDialogEnvV1",
    "CustomerServiceDialogVectorEnv",
    "CustomerServiceDialogVectorEnvV1",
    "DialogState",
    "held_out_customers",
]

DIALOG_INSTRUCTIONS = (
    "You are a Tiny Shop support agent. Ask for the order number or email you need, "
    "then say what you did and name them."
)
"""The system message that opens every dialog."""

CUSTOMER_SPLITS = ("all", "train", "test")
"""The ``customers`` argument: every customer of the world, or one side of its fixed split."""
TEST_SHARE = 0.25
"""Share of the world's customers (users) held out as the ``"test"`` split."""

_SENTINEL_AGENT = "\x00agent\x00"
_SENTINEL_USER = "\x00user\x00"


@dataclass
class DialogState:
    """One dialog in progress: the customer, the agent's current turn and the transcript."""

    customer: SimulatedCustomer
    transcript: list[dict[str, str]]
    """``{"role": "customer" | "agent", "text": ...}`` per turn, the opening message first."""
    turn_tokens: list[int] = field(default_factory=list)
    """Tokens of the agent turn being written (without its closing stop token)."""
    agent_turns: list[str] = field(default_factory=list)
    turns: int = 0
    """Finished agent turns."""
    outcome: str = "ongoing"
    """"ongoing", then "success", "failure" or "truncated"."""
    end_reason: str = ""


def held_out_customers(world: Any) -> frozenset[int]:
    """User ids of the ``"test"`` customers: a fixed ``TEST_SHARE`` of ``world``'s users, drawn
    from the world's seed (the same world gives the same split)."""
    n = len(world.users)
    rng = np.random.default_rng([int(world.seed), 0x5EED])
    return frozenset(int(u) for u in rng.permutation(n)[: max(1, round(n * TEST_SHARE))])


class CustomerServiceDialogEnv(TokenEnv):
    """Help a simulated customer over several turns: ask for what you need, then resolve.

    ## Description
    Each episode a customer of the seeded shop world has a goal (a refund for a damaged
    item, a replacement for a defective one, cancelling an order, a password reset, a return
    label) and hidden information (the order number, the e-mail address). The prompt is the
    system message `DIALOG_INSTRUCTIONS` and the customer's opening message, formatted with
    the tokenizer's chat template (tiny-shop: ``<|user|>...<|eot|><|agent|>``). The agent
    writes its turn token by token; the turn ends at the end-of-turn token or after
    ``max_turn_tokens`` tokens, and the customer's reply (its own chat-template turn) is
    appended to the observation in the same step. The customer reveals the order number
    or e-mail only when asked for it, varies the wording of replies, and loses patience
    with every unhelpful turn (see `lm_envs.sim.customer`).

    The agent resolves the request by committing to an action in one sentence that names
    the identifiers, e.g. "I have issued a refund for order ORD-10234." (the resolution
    grammar is in `lm_envs.sim.customer`).

    ## Action Space
    ``Discrete(len(tokenizer))``: the id of the next token.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=Box(0, 1, (L,), int8))`` with
    ``L = max_prompt_tokens + max_new_tokens``, packed to the left. The context only grows:
    a step may append the agent's token and then the customer's whole reply.

    ## Rewards
    ConvLab-style (Zhu et al., 2020), configured by ``reward`` like every token env; default
    ``{"outcome": 1.0, "turns": -0.05, "wrong_facts": -0.25}``: +1 for success, -1 for
    failure, 0.05 per agent turn, 0.25 per wrong order number or e-mail the agent states.
    Rewards score the agent's side of the dialog (its turns joined by newlines) and see the
    task fields plus the per-episode fields ``outcome`` and ``turns``. The sparse reward is
    paid at the episode end; ``reward_mode="dense"`` pays differences along the way.

    ## Starting State
    A goal kind drawn uniformly with ``np_random``, then one of its (order, opening message)
    tasks uniformly; ``options={"task_index": i}`` picks task ``i``. The customer's patience
    is drawn uniformly from ``patience``.

    ## Episode End
    ``terminated``: success when the agent commits to the right resolution; failure when it
    commits to a wrong one, when the customer runs out of patience, or when the agent ends
    the conversation with EOS (when EOS differs from the end-of-turn token). ``truncated``:
    the ``max_new_tokens`` budget (agent and customer tokens together) runs out, or the
    customer's reply would not fit in it. ``info`` then holds ``prompt``, ``completion``
    (the agent's turns), ``reward_terms``, the ``task`` fields, ``transcript`` (a list of
    ``{"role", "text"}``), ``outcome``, ``success``, ``turns``, ``end_reason`` and ``tier``.

    ## Arguments
    ``tokenizer`` ("tiny-shop"; it needs a chat template, which tiny-shop and smollm2-135m
    have), ``reward``, ``reward_mode``, ``max_new_tokens`` (192: the dialog's token budget),
    ``max_prompt_tokens`` (None: 96, or 128 for the tiers that volunteer identifiers), ``max_turn_tokens`` (48), ``patience`` ((2, 4): inclusive
    range), ``goals`` (None: all of ``GOALS``), ``world_seed`` (0), ``render_mode``.
    ``tier`` ("none"): the difficulty tier, what the customer volunteers in the opening
    (`lm_envs.sim.customer.TIERS`): ``"all"`` every identifier the goal needs, ``"some"`` the
    order number (never the e-mail), ``"none"`` nothing; a volunteered identifier counts as
    revealed. ``customers`` ("all"): ``"train"`` or ``"test"`` keeps one side of a fixed split
    of the world's customers (a quarter, drawn from ``world_seed``, are held out as
    ``"test"``), so that demonstrations and training never meet the evaluation customers.
    ``chat_template`` is accepted for symmetry and is always on.

    ## Version History
    * v1 (`CustomerServiceDialogEnvV1`): a dialog cut by the token budget scores as a failure
      (``outcome`` -1, v0: 0). Under v0, text that never resolves anything (random tokens,
      long rambling turns) ran the budget out before the customer's patience and so scored
      above an agent that tried and failed; v1 closes that loophole. Same dynamics.
    * v0: initial version.
    """

    default_reward = {"outcome": 1.0, "turns": -0.05, "wrong_facts": -0.25}

    def __init__(
        self,
        *,
        world_seed: int = 0,
        goals: Sequence[str] | None = None,
        max_turn_tokens: int = 48,
        patience: tuple[int, int] = (2, 4),
        max_new_tokens: int = 192,
        max_prompt_tokens: int | None = None,
        tier: str = "none",
        customers: str = "all",
        **kwargs: Any,
    ) -> None:
        names = list(GOALS) if goals is None else list(goals)
        unknown = [name for name in names if name not in GOALS]
        if unknown or not names:
            raise ValueError(f"unknown goal(s) {unknown or names}; known: {', '.join(GOALS)}")
        if isinstance(max_turn_tokens, bool) or not isinstance(max_turn_tokens, (int, np.integer)) or max_turn_tokens < 1:
            raise ValueError(f"max_turn_tokens must be a positive integer, got {max_turn_tokens!r}")
        if (
            not isinstance(patience, (tuple, list)) or len(patience) != 2
            or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in patience)
            or not 1 <= patience[0] <= patience[1]
        ):
            raise ValueError(f"patience must be a pair (low, high) of ints with 1 <= low <= high, got {patience!r}")
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {', '.join(map(repr, TIERS))}; got {tier!r}")
        if customers not in CUSTOMER_SPLITS:
            raise ValueError(f"customers must be one of {', '.join(map(repr, CUSTOMER_SPLITS))}; got {customers!r}")
        self.tier = tier
        self.customers = customers
        self.max_turn_tokens = int(max_turn_tokens)
        self.patience = (int(patience[0]), int(patience[1]))
        self.world = make_world(seed=world_seed)
        test_users = held_out_customers(self.world)
        user_of = {user.email: user.user_id for user in self.world.users}
        tasks: list[Task] = []
        groups: list[list[int]] = []
        for kind in names:
            groups.append([])
            for goal in dialog_goals(self.world, kind):
                if customers != "all" and (user_of[goal.email] in test_users) != (customers == "test"):
                    continue
                volunteered = volunteered_info(goal, tier)
                for opening_index in range(len(GOALS[kind]["openings"])):
                    opening = SimulatedCustomer(goal, 0).opening(opening_index)
                    if volunteered:
                        opening = f"{opening} {volunteered_text(goal, volunteered)}"
                    fields = {
                        "goal": kind, "order_id": goal.order_id, "email": goal.email, "item": goal.item,
                        "opening": opening, "facts": goal.facts(), "customer_id": user_of[goal.email],
                        "tier": tier, "volunteered": list(volunteered),
                    }
                    groups[-1].append(len(tasks))
                    tasks.append(Task(f"{DIALOG_INSTRUCTIONS}\nCustomer: {opening}\nAgent:", fields, len(tasks)))
        self.tasks = tasks
        self._groups = [np.asarray(g) for g in groups if g]
        kwargs["chat_template"] = True
        if max_prompt_tokens is None:  # a volunteered e-mail and order number take ~30 tokens
            max_prompt_tokens = 96 if tier == "none" else 128
        super().__init__(max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens, **kwargs)

        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"the dialog env formats turns with the tokenizer's chat template, and "
                f"{type(self.tokenizer).__name__} ({getattr(self.tokenizer, 'name_or_path', '?')}) has none; "
                "use tiny-shop or smollm2-135m, or set tokenizer.chat_template"
            )
        from lm_envs.models import special_token_ids

        special = special_token_ids(self.tokenizer)
        self.eot_token_id: int = special["eot"]
        # EOS ends the whole conversation only when it differs from the end-of-turn token.
        self._leave_token = self.eos_token_id if self.eos_token_id != self.eot_token_id else None
        self._frame = self._reply_frame()
        self._reply_cache: dict[tuple[str, bool], tuple[int, ...]] = {}

    # ------------------------------------------------------------------ chat formatting
    def _render(self, messages: list[dict[str, str]], generation: bool) -> str:
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)

    def _reply_frame(self) -> tuple[str, str, str]:
        """(text before a customer reply, text after it, the closing text of an agent turn)."""
        head = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        agent = {"role": "assistant", "content": _SENTINEL_AGENT}
        full = self._render(head + [agent, {"role": "user", "content": _SENTINEL_USER}], True)
        between = full[full.index(_SENTINEL_AGENT) + len(_SENTINEL_AGENT) :]
        before, after = between.split(_SENTINEL_USER)
        eot_text = self.tokenizer.convert_ids_to_tokens(self.eot_token_id)
        closing = eot_text if before.startswith(eot_text) else ""
        return before, after, closing

    def encode_prompt(self, task: Task) -> tuple[int, ...]:
        """System message and opening message in the chat template, with the agent's generation prompt."""
        cached = self._prompt_cache.get(task.prompt)
        if cached is None:
            messages = [
                {"role": "system", "content": DIALOG_INSTRUCTIONS},
                {"role": "user", "content": task.fields["opening"]},
            ]
            ids = self.tokenizer.encode(self._render(messages, True), add_special_tokens=False)
            cached = self._prompt_cache[task.prompt] = tuple(ids[-self.max_prompt_tokens :])
        return cached

    def reply_tokens(self, text: str, *, turn_closed: bool) -> tuple[int, ...]:
        """Tokens of a customer reply as its chat-template turn, ending in the agent's generation prompt.

        When the agent closed its turn with the end-of-turn token, the template's closing of
        the agent turn is not repeated; otherwise (the turn budget ran out) it is added.
        """
        key = (text, turn_closed)
        cached = self._reply_cache.get(key)
        if cached is None:
            before, after, closing = self._frame
            if turn_closed and closing:
                before = before[len(closing) :]
            cached = tuple(self.tokenizer.encode(before + text + after, add_special_tokens=False))
            if len(self._reply_cache) < 100_000:
                self._reply_cache[key] = cached
        return cached

    # ------------------------------------------------------------------ family hooks
    def _sample_task(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Task:
        if options and "task_index" in options:
            return pick_task(self.tasks, rng, options)
        group = self._groups[int(rng.integers(len(self._groups)))]
        return self.tasks[int(group[int(rng.integers(len(group)))])]

    def _begin_episode(self, task: Task, rng: np.random.Generator) -> DialogState:
        fields = task.fields
        goal = Goal(fields["goal"], fields["order_id"], fields["email"], fields["item"])
        low, high = self.patience
        customer = SimulatedCustomer(goal, patience=int(rng.integers(low, high + 1)),
                                     revealed=list(fields.get("volunteered", ())))
        return DialogState(customer=customer, transcript=[{"role": "customer", "text": fields["opening"]}])

    def _after_token(self, state: DialogState, token: int, n_new: int, rng: np.random.Generator) -> Turn:
        closed = token in self.stop_token_ids
        if not closed:
            state.turn_tokens.append(token)
        if not closed and len(state.turn_tokens) < self.max_turn_tokens:
            if n_new >= self.max_new_tokens:
                return self._end(state, "truncated", "token budget", truncated=True)
            return Turn()

        text = self.decode_completion(state.turn_tokens).strip()
        state.turn_tokens = []
        state.agent_turns.append(text)
        state.transcript.append({"role": "agent", "text": text})
        state.turns += 1
        reply = state.customer.respond(text, rng, agent_left=token == self._leave_token)
        if reply.outcome != "ongoing":
            state.transcript.append({"role": "customer", "text": reply.text})
            return self._end(state, reply.outcome, reply.reason, truncated=False)
        tokens = self.reply_tokens(reply.text, turn_closed=closed)
        if n_new + len(tokens) >= self.max_new_tokens:  # no room for the reply and one more agent token
            return self._end(state, "truncated", "token budget", truncated=True)
        state.transcript.append({"role": "customer", "text": reply.text})
        return Turn(tokens=tokens)

    @staticmethod
    def _end(state: DialogState, outcome: str, reason: str, *, truncated: bool) -> Turn:
        state.outcome, state.end_reason = outcome, reason
        return Turn(terminated=not truncated, truncated=truncated)

    def expert_text(self) -> str:
        """The scripted expert's next turn in the dialog in progress: `oracle_turn`, which asks
        for the identifiers the transcript has not revealed yet and then resolves with them.

        Supervised fine-tuning (``agents.SFT``) plays it as a demonstration; the episode must
        have been reset.
        """
        if self._state is None:
            raise RuntimeError("expert_text() needs an episode in progress; call reset() first")
        customer = self._state.customer
        return oracle_turn(customer.goal, customer.revealed)

    def agent_text(self, state: DialogState) -> str:
        """The agent's side of the dialog so far (finished turns and the one in progress)."""
        turns = list(state.agent_turns)
        if state.turn_tokens:
            turns.append(self.decode_completion(state.turn_tokens).strip())
        return "\n".join(turns)

    def _score(
        self, tasks: Sequence[Task], completions: Sequence[str], states: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if states is None:
            raise ValueError("the dialog env scores episodes from their states; pass states=")
        prompts = [task.prompt for task in tasks]
        names = sorted({name for task in tasks for name in task.fields})
        fields = {name: [task.fields.get(name) for task in tasks] for name in names}
        fields["outcome"] = [state.outcome for state in states]
        fields["turns"] = [state.turns for state in states]
        return self.reward_fn.score(prompts, [self.agent_text(state) for state in states], **fields)

    def end_info(self, task: Task, completion: str, terms: dict[str, float], n_tokens: int, state: Any = None) -> dict[str, Any]:
        info = super().end_info(task, self.agent_text(state), terms, n_tokens, state)
        info.update(
            transcript=[dict(turn) for turn in state.transcript],
            outcome=state.outcome,
            success=state.outcome == "success",
            turns=state.turns,
            end_reason=state.end_reason,
            tier=self.tier,
        )
        return info

    def render(self):
        if self._state is None:
            text = ""
        else:
            lines = [f"{turn['role'].capitalize()}: {turn['text']}" for turn in self._state.transcript]
            if self._state.turn_tokens:
                lines.append("Agent: " + self.decode_completion(self._state.turn_tokens).strip())
            text = "\n".join(lines)
        if self.render_mode == "human":
            print(text)
            return None
        return text


class CustomerServiceDialogEnvV1(CustomerServiceDialogEnv):
    """`lm_envs/CustomerServiceDialog-v1`: `CustomerServiceDialogEnv` whose default reward
    counts running out of the token budget as a failure.

    Default reward ``{"outcome": 1.0 (success +1, failure -1, truncated -1), "turns": -0.05,
    "wrong_facts": -0.25}``; everything else is as in v0 (see its docstring).
    """

    default_reward = [
        {"name": "outcome", "weight": 1.0, "kwargs": {"truncated": -1.0}},
        {"name": "turns", "weight": -0.05},
        {"name": "wrong_facts", "weight": -0.25},
    ]


CustomerServiceDialogVectorEnv = TokenVectorEnv.for_env(CustomerServiceDialogEnv)
CustomerServiceDialogVectorEnvV1 = TokenVectorEnv.for_env(CustomerServiceDialogEnvV1)

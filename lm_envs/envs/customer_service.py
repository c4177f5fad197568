"""`lm_envs/CustomerServiceQA-v0`: answer a shop customer's question from a knowledge-base snippet.

The questions, KB lines and facts come from `lm_envs.world.support`; the multi-turn
`lm_envs/CustomerServiceDialog-v0` lives in `lm_envs.envs.customer_dialog`, and both envs
hold out the same customers (`lm_envs.envs.customer_dialog.held_out_customers`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lm_envs.core import Task, TokenEnv, pick_task
from lm_envs.data.bitext import PLACEHOLDER, QARecord, load_qa_records, placeholder_slot
from lm_envs.envs.customer_dialog import CUSTOMER_SPLITS, held_out_customers
from lm_envs.vector import TokenVectorEnv
from lm_envs.world import Order, Product, ShopWorld, User, format_price, make_world
from lm_envs.world.support import INTENTS, account_line, order_line, slot_values

__all__ = [
    "NO_CUSTOMER",
    "CustomerServiceQAEnv",
    "CustomerServiceQAVectorEnv",
    "record_tasks",
    "world_tasks",
]

AGENT_INSTRUCTIONS = "You are a customer-service agent of Tiny Shop. Answer in one sentence, using these facts:"
"""The system message of the chat-template prompt (instruction-tuned models)."""
NO_CUSTOMER = -1
"""The ``customer_id`` of a question about a product or the shop's policies (no customer's)."""


# ------------------------------------------------------------------------------- tasks
def _question(template: str, subject: Any) -> str:
    if isinstance(subject, Order):
        return template.format(oid=subject.order_id)
    if isinstance(subject, Product):
        return template.format(product=subject.name)
    return template


def _prompt(context: str, question: str) -> str:
    return f"{context}\nCustomer: {question}\nAgent:"


def world_tasks(world: ShopWorld, intents: Sequence[str] | None = None) -> list[Task]:
    """Every (intent, subject, paraphrase) question about ``world``, with its truth.

    Task fields: ``intent``, ``category``, ``question``, ``context`` (the KB snippet),
    ``facts`` (required facts, all stated in the context), ``references`` (the reference
    answer). The prompt is the context, then ``"Customer: {question}\\nAgent:"``.
    """
    return [task for task, _ in _world_tasks(world, intents)]


def _world_tasks(world: ShopWorld, intents: Sequence[str] | None) -> list[tuple[Task, int]]:
    """`world_tasks`, each with the user id of the customer it is about: the owner of the
    order, the account's user, or `NO_CUSTOMER` for a question about a product or the shop's policy."""
    names = list(INTENTS) if intents is None else list(intents)
    unknown = [name for name in names if name not in INTENTS]
    if unknown or not names:
        raise ValueError(f"unknown intent(s) {unknown or names}; known: {', '.join(INTENTS)}")
    tasks = []
    for intent in names:
        category, templates, subjects, build = INTENTS[intent]
        for subject in subjects(world):
            lines, reference, facts = build(world, subject)
            context = "\n".join(lines)
            customer = subject.user_id if isinstance(subject, (Order, User)) else NO_CUSTOMER
            for template in templates:
                question = _question(template, subject)
                fields = {
                    "intent": intent, "category": category, "question": question, "context": context,
                    "facts": facts, "references": [reference],
                }
                tasks.append((Task(_prompt(context, question), fields), customer))
    return tasks


# ---------------------------------------------------------------------- Bitext and tables
_DAYS_AFTER = re.compile(r"\s*[- ]?\s*(business\s+|calendar\s+|working\s+)?days?\b", re.IGNORECASE)


def _fill(text: str, values: dict[str, tuple[str, Any, Any]], used: dict[str, None]) -> str:
    """Fill ``{{Placeholders}}``: world facts from ``values``, UI labels without their braces."""
    out, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        out.append(text[last : match.start()])
        slot = placeholder_slot(match.group(1))
        if slot is None:
            out.append(match.group(1))
        else:
            value = values[slot][0]
            if slot in ("return_window_days", "refund_days") and not _DAYS_AFTER.match(text, match.end()):
                value += " days"  # "within {{Refund Timeframe}} of receiving" needs the unit
            out.append(value)
            used[slot] = None
        last = match.end()
    out.append(text[last:])
    return "".join(out)


def _rewrite_question(record: QARecord, user: User, order: Order) -> str:
    """Put the world's order id (name, city, ...) where Bitext's question names its own."""
    if record.entity is None:
        return record.question
    kind, value, start, end = record.entity
    replacement = {
        "order_id": order.order_id, "invoice_id": "INV-" + order.order_id.split("-")[1],
        "person_name": user.name, "delivery_city": user.city, "refund_amount": format_price(order.total),
    }.get(kind)
    if replacement is None:
        return record.question
    if record.question[start:end] == value:
        return record.question[:start] + replacement + record.question[end:]
    return record.question.replace(value, replacement) if value else record.question


def _asker(world: ShopWorld, index: int) -> User:
    """The customer who asks record ``index`` of a table: customer ``index mod n_users``."""
    return world.users[index % len(world.users)]


def record_tasks(records: Sequence[QARecord], world: ShopWorld) -> list[Task]:
    """Tasks from QA records; record ``i`` is asked by customer ``i mod n_users`` about one of their orders.

    Placeholders in the question and answer are filled from that customer's world facts (see
    `lm_envs.data.bitext.placeholder_slot`); each filled shop fact becomes a required fact
    and its KB line is added to the context, so the ``facts`` reward applies to real data.
    Facts given by the file are added as they are. The record's own context, if any, comes
    first in the KB snippet.
    """
    tasks = []
    for i, record in enumerate(records):
        user = _asker(world, i)
        orders = world.orders_of(user.user_id)
        order = orders[(i // len(world.users)) % len(orders)]
        values = slot_values(world, order)
        used: dict[str, None] = {}
        question = _fill(_rewrite_question(record, user, order), values, used)
        reference = _fill(record.answer, values, used)
        lines = [record.context.strip()] if record.context.strip() else []
        if "order_id" in used or record.entity is not None or not lines:
            lines += [account_line(user), order_line(order, total=True)]
        lines += [values[slot][2] for slot in used if values[slot][2] is not None]
        facts = [values[slot][1] for slot in used if values[slot][1] is not None] + [dict(f) for f in record.facts]
        context = "\n".join(dict.fromkeys(lines))
        fields = {
            "intent": record.intent, "category": record.category, "question": question, "context": context,
            "facts": facts, "references": [reference],
        }
        tasks.append(Task(_prompt(context, question), fields))
    return tasks


# --------------------------------------------------------------------------------- env
class CustomerServiceQAEnv(TokenEnv):
    """Answer a shop customer's question, token by token, from a knowledge-base snippet.

    ## Description
    Each episode a customer of the seeded shop world asks one question, drawn from 16
    intents (track order, delivery date, cancel order, return item, refund status, change
    address, order total, tracking number, product price, product availability, warranty,
    shipping fee, payment methods, support hours, return policy, password reset) with 4-5
    paraphrases each. The prompt is a short knowledge-base snippet (the customer's account
    record, order, product or policy line that a support tool would retrieve), then
    ``"Customer: {question}\\nAgent:"``; the agent writes the answer one token per step.
    Every required fact is stated in the snippet: the skill is to copy the right one.

    With ``data=`` the questions come from the Bitext customer-support CSV (``"bitext"``)
    or any QA table; Bitext's ``{{Placeholders}}`` are filled from the world's facts (see
    `record_tasks`), so the ``facts`` reward applies there too.

    With ``customers="train"`` or ``"test"`` the env keeps one side of the fixed split of the
    world's customers that `lm_envs/CustomerServiceDialog-v0` uses (the same function,
    `lm_envs.envs.customer_dialog.held_out_customers`: a quarter of the users, drawn from
    ``world_seed``, are ``"test"``): a question about an order is asked by the order's owner,
    a password reset by the account's user, and row ``i`` of ``data=`` by customer
    ``i mod n_users``; each such question is on its customer's side only. Questions about a
    product or the shop's policies concern no customer (their facts are the same for
    everyone) and are asked on both sides. So demonstrations and training on ``"train"``
    never meet a customer that an evaluation on ``"test"`` meets.

    ## Action Space
    ``Discrete(len(tokenizer))``: the id of the next token.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=Box(0, 1, (L,), int8))`` with
    ``L = max_prompt_tokens + max_new_tokens``, packed to the left and padded on the right.

    ## Rewards
    Configured by ``reward`` (see `lm_envs.rewards.make_reward`); default
    ``{"facts": 1.0, "similarity": 0.3, "length": 0.1}``, each term in
    ``info["reward_terms"]``. ``facts`` is the fraction of required facts the answer states
    minus the facts it contradicts (a wrong order number, date or amount), in [-1, 1];
    ``similarity`` is the MiniLM cosine to the reference answer; ``length`` prefers 5-30
    words. Task fields: ``facts``, ``references``, ``intent``, ``category``, ``question``,
    ``context``. ``reward_mode="dense"`` pays score differences between prefixes.

    ## Starting State
    An intent drawn uniformly with ``np_random``, then a question of that intent uniformly
    (with ``data=``: a record uniformly), among the questions of the ``customers`` side;
    ``options={"task_index": i}`` picks task ``i``.

    ## Episode End
    ``terminated`` at EOS or the end-of-turn token; ``truncated`` after ``max_new_tokens``
    tokens. ``info`` then holds ``prompt``, ``completion``, ``reward_terms``, the ``task``
    fields, ``fact_check`` (``present``, ``missing`` and ``wrong`` facts, ``recall``),
    ``customers`` (the split) and ``customer_id`` (the user id of the customer the question
    is about; `NO_CUSTOMER`, -1, for a product or policy question).

    ## Arguments
    ``tokenizer`` ("tiny-shop"), ``reward``, ``reward_mode``, ``max_new_tokens`` (48),
    ``max_prompt_tokens`` (128), ``world_seed`` (0), ``intents`` (None: all; a list of
    intent names restricts them), ``data`` (None, ``"bitext"``, or a CSV/TSV/JSONL/JSON
    path, list of dicts, DataFrame or Dataset), ``question_column``, ``answer_column``,
    ``context_column``, ``intent_column``, ``category_column``, ``facts_column`` (the column
    mapping of ``data``; see `lm_envs.data.bitext.load_qa_records`), ``chat_template``
    (False; True puts the snippet in a system message and the question in a user message of
    the tokenizer's chat template, for instruction-tuned models), ``customers`` ("all";
    ``"train"`` or ``"test"``: one side of the customer split above), ``render_mode``.

    ## Version History
    * v0: initial version. The ``customers`` argument came later without a new version: its
      default ``"all"`` keeps every task, and the episodes of every seed are those of
      before, so the id means what it meant.
    """

    default_reward = {"facts": 1.0, "similarity": 0.3, "length": 0.1}

    def __init__(
        self,
        *,
        world_seed: int = 0,
        intents: Sequence[str] | None = None,
        data: Any = None,
        question_column: str | None = None,
        answer_column: str | None = None,
        context_column: str | None = None,
        intent_column: str | None = None,
        category_column: str | None = None,
        facts_column: str | None = None,
        max_new_tokens: int = 48,
        max_prompt_tokens: int = 128,
        customers: str = "all",
        **kwargs: Any,
    ) -> None:
        if customers not in CUSTOMER_SPLITS:
            raise ValueError(f"customers must be one of {', '.join(map(repr, CUSTOMER_SPLITS))}; got {customers!r}")
        self.customers = customers
        self.world = make_world(seed=world_seed)
        if data is None:
            columns = (question_column, answer_column, context_column, intent_column, category_column, facts_column)
            if any(c is not None for c in columns):
                raise ValueError("the *_column arguments name the columns of data=; pass data= too")
            pairs = _world_tasks(self.world, intents)
            tasks, askers = [task for task, _ in pairs], [customer for _, customer in pairs]
        else:
            if intents is not None:
                raise ValueError("intents= selects world questions; with data= filter the records instead")
            records = load_qa_records(
                data if not isinstance(data, Path) else str(data),
                question_column=question_column, answer_column=answer_column, context_column=context_column,
                intent_column=intent_column, category_column=category_column, facts_column=facts_column,
            )
            tasks = record_tasks(records, self.world)
            askers = [_asker(self.world, i).user_id for i in range(len(tasks))]
        if customers != "all":
            test_users = held_out_customers(self.world)
            kept = [i for i, c in enumerate(askers) if c == NO_CUSTOMER or (c in test_users) == (customers == "test")]
            if not kept:
                raise ValueError(f"no question of {'data=' if data is not None else 'the world'} is asked by a "
                                 f"customer of the {customers!r} side ({len(tasks)} questions in all)")
            tasks, askers = [tasks[i] for i in kept], [askers[i] for i in kept]
        self.tasks = [Task(t.prompt, t.fields, index) for index, t in enumerate(tasks)]
        self.customer_ids: tuple[int, ...] = tuple(askers)
        """Per task: the user id of the customer the question is about (`NO_CUSTOMER`: none)."""
        groups: dict[str, list[int]] = {}
        for task in self.tasks:
            groups.setdefault(task.fields["intent"] if data is None else "", []).append(task.index)
        self._groups = [np.asarray(g) for g in groups.values()]
        super().__init__(max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens, **kwargs)

    def _sample_task(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Task:
        if options and "task_index" in options:
            return pick_task(self.tasks, rng, options)
        group = self._groups[int(rng.integers(len(self._groups)))] if len(self._groups) > 1 else self._groups[0]
        return self.tasks[int(group[int(rng.integers(len(group)))])]

    def expert_text(self) -> str:
        """The scripted expert's answer in the episode in progress: the task's reference answer.

        Supervised fine-tuning (``agents.SFT``) plays it as a demonstration; the episode must
        have been reset.
        """
        if self._task is None:
            raise RuntimeError("expert_text() needs an episode in progress; call reset() first")
        return str(self._task.fields["references"][0])

    def encode_prompt(self, task: Task) -> tuple[int, ...]:
        """Prompt ids; with ``chat_template`` the snippet is a system message and the question a user message."""
        if not self.chat_template:
            return super().encode_prompt(task)
        cached = self._prompt_cache.get(task.prompt)
        if cached is None:
            messages = [
                {"role": "system", "content": f"{AGENT_INSTRUCTIONS}\n{task.fields['context']}"},
                {"role": "user", "content": task.fields["question"]},
            ]
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            if isinstance(ids, dict) or hasattr(ids, "input_ids"):
                ids = ids["input_ids"]
            cached = self._prompt_cache[task.prompt] = tuple(list(ids)[-self.max_prompt_tokens :])
        return cached

    def _score(
        self, tasks: Sequence[Task], completions: Sequence[str], states: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        # MiniLM embeddings move by ~1e-7 with the padding of the batch they are computed in,
        # so rows are scored one at a time: the native vector env then pays exactly what
        # SyncVectorEnv pays. Few rows end on the same step, so little batching is lost.
        if len(tasks) <= 1:
            return super()._score(tasks, completions, states)
        parts = [super(CustomerServiceQAEnv, self)._score([task], [text]) for task, text in zip(tasks, completions)]
        totals = np.concatenate([total for total, _ in parts])
        return totals, {name: np.concatenate([terms[name] for _, terms in parts]) for name in parts[0][1]}

    def end_info(self, task: Task, completion: str, terms: dict[str, float], n_tokens: int, state: Any = None) -> dict[str, Any]:
        from lm_envs.rewards.facts import check_facts

        info = super().end_info(task, completion, terms, n_tokens, state)
        check = check_facts(completion, task.fields.get("facts") or [])
        info["fact_check"] = {
            "present": list(check.present), "missing": list(check.missing), "wrong": list(check.wrong),
            "n_required": check.n_required, "recall": check.recall,
        }
        info["customers"] = self.customers
        info["customer_id"] = self.customer_ids[task.index]
        return info


CustomerServiceQAVectorEnv = TokenVectorEnv.for_env(CustomerServiceQAEnv)

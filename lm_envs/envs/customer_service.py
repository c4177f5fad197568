"""`lm_envs/CustomerServiceQA-v0`: answer a shop customer's question from a knowledge-base snippet.

The multi-turn `lm_envs/CustomerServiceDialog-v0` lives in `lm_envs.envs.customer_dialog`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lm_envs.core import Task, TokenEnv, pick_task
from lm_envs.data.bitext import PLACEHOLDER, QARecord, load_qa_records, placeholder_slot
from lm_envs.vector import TokenVectorEnv
from lm_envs.world import Order, Product, ShopWorld, User, format_date, format_price, make_world, policy_sentences
from lm_envs.world.categories import CATEGORY_BY_NAME
from lm_envs.world.text import grammar

__all__ = [
    "INTENTS",
    "SHOP",
    "CustomerServiceQAEnv",
    "CustomerServiceQAVectorEnv",
    "fact",
    "order_line",
    "record_tasks",
    "world_tasks",
]

SHOP = {"name": "Tiny Shop", "phone": "1-800-555-0199", "email": "support@tinyshop.example", "url": "tinyshop.example"}
"""Constants of the shop that Bitext placeholders such as ``{{Website Name}}`` stand for."""

AGENT_INSTRUCTIONS = "You are a customer-service agent of Tiny Shop. Answer in one sentence, using these facts:"
"""The system message of the chat-template prompt (instruction-tuned models)."""


def fact(name: str, value: Any, kind: str, **extra: Any) -> dict[str, Any]:
    """One entry of a task's ``facts`` field (see `lm_envs.rewards.facts`)."""
    return {"name": name, "value": value, "kind": kind, **extra}


# ----------------------------------------------------------------------------- KB lines
def order_line(order: Order, *, carrier: bool = False, total: bool = False) -> str:
    """A one-line account record of an order, as a support tool would show it.

    ``"Order ORD-10234: shipped, arriving January 20, 2026, UPS tracking 1Z..., total $79.99."``
    """
    when = format_date(order.delivery_date)
    parts = {
        "processing": [f"processing, arriving {when}"],
        "shipped": [f"shipped, arriving {when}"],
        "delivered": [f"delivered {when}"],
        "cancelled": ["cancelled"],
        "returned": [f"delivered {when}, returned"],
    }[order.status]
    if carrier and order.status != "cancelled":
        parts.append(f"{order.carrier} tracking {order.tracking_number}")
    if total:
        parts.append(f"total {format_price(order.total)}")
    return f"Order {order.order_id}: " + ", ".join(parts) + "."


def _product_line(product: Product) -> str:
    stock = f"in stock ({product.stock} left)" if product.in_stock else "out of stock"
    return f"Product: {product.name}, {format_price(product.price)}, {stock}, {product.warranty_months}-month warranty."


def _account_line(user: User, *, address: bool = False) -> str:
    where = f", {user.address}, {user.city}" if address else ""
    return f"Account: {user.name}, {user.email}{where}."


def _policy(world: ShopWorld, topic: str) -> str:
    return "Policy: " + policy_sentences(world.policies)[topic]


def _order_id(order: Order) -> dict[str, Any]:
    return fact("order_id", order.order_id, "order_id")


def _date(order: Order, name: str = "delivery_date") -> dict[str, Any]:
    return fact(name, order.delivery_date.isoformat(), "date")


_STATUS_WORDS = {
    "processing": ("processing", ["being processed"], ["shipped", "delivered", "cancelled", "returned"]),
    "shipped": ("shipped", [], ["delivered", "cancelled", "returned", "being processed"]),
    "delivered": ("delivered", [], ["cancelled", "returned", "being processed"]),
    "cancelled": ("cancelled", ["canceled"], ["shipped", "delivered", "returned"]),
    "returned": ("returned", [], ["cancelled", "being processed"]),
}


def _status(order: Order, *, judge: bool = True) -> dict[str, Any]:
    word, aliases, wrong = _STATUS_WORDS[order.status]
    extra: dict[str, Any] = {"aliases": aliases} if aliases else {}
    if judge:
        extra["wrong"] = wrong
    return fact("status", word, "text", **extra)


# ------------------------------------------------------------------------------ intents
# Each intent: category, paraphrases of the question, the subjects it is asked about, and a
# builder (world, subject) -> (KB lines, reference answer, facts). Required facts always
# appear in the KB lines, so a policy can answer by copying them from the prompt.
Build = Callable[[ShopWorld, Any], tuple[list[str], str, list[dict[str, Any]]]]


def _orders(*statuses: str) -> Callable[[ShopWorld], list[Any]]:
    return lambda world: [o for o in world.orders if not statuses or o.status in statuses]


def _track(world: ShopWorld, order: Order):
    oid, when = order.order_id, format_date(order.delivery_date)
    reference = {
        "processing": f"Order {oid} is being processed and should arrive on {when}.",
        "shipped": f"Order {oid} has shipped and should arrive on {when}.",
        "delivered": f"Order {oid} was delivered on {when}.",
        "cancelled": f"Order {oid} was cancelled and will not ship.",
        "returned": f"Order {oid} was delivered on {when} and has since been returned.",
    }[order.status]
    facts = [_order_id(order), _status(order)] + ([] if order.status == "cancelled" else [_date(order)])
    return [order_line(order)], reference, facts


def _delivery_date(world: ShopWorld, order: Order):
    oid, when = order.order_id, format_date(order.delivery_date)
    if order.status == "delivered":
        reference = f"Order {oid} was delivered on {when}."
    else:
        reference = f"Order {oid} should arrive on {when}."
    return [order_line(order)], reference, [_order_id(order), _date(order)]


def _cancel(world: ShopWorld, order: Order):
    oid, days = order.order_id, world.policies.return_window_days
    if order.status == "processing":
        reference = f"Order {oid} is still processing, so it can be cancelled free of charge."
        return [order_line(order), _policy(world, "cancellation")], reference, [_order_id(order), _status(order, judge=False)]
    verb = "has already shipped" if order.status == "shipped" else "was already delivered"
    reference = f"Order {oid} {verb}, so it cannot be cancelled; you can return it within {days} days."
    facts = [_order_id(order), _status(order, judge=False), fact("return_window", days, "days")]
    return [order_line(order), _policy(world, "returns")], reference, facts


def _return(world: ShopWorld, order: Order):
    days = world.policies.return_window_days
    reference = f"You can return items from order {order.order_id} within {days} days of delivery."
    facts = [_order_id(order), fact("return_window", days, "days"), {**_date(order), "required": False}]
    return [order_line(order), _policy(world, "returns")], reference, facts


def _refund(world: ShopWorld, order: Order):
    oid, total, days = order.order_id, format_price(order.total), world.policies.refund_days
    if order.status == "cancelled":
        reference = f"Order {oid} was cancelled, so your {total} is refunded within {days} business days."
    else:
        reference = f"Your refund of {total} for order {oid} is issued within {days} business days."
    facts = [_order_id(order), fact("amount", order.total, "money"), fact("refund_days", days, "days")]
    return [order_line(order, total=True), _policy(world, "refunds")], reference, facts


def _address(world: ShopWorld, order: Order):
    user = world.users[order.user_id]
    oid, where = order.order_id, user.address
    if order.status == "processing":
        reference = f"Order {oid} is still processing, so we can change its address from {where}."
    else:
        reference = f"Order {oid} already shipped to {where}, so the address cannot be changed."
    facts = [_order_id(order), fact("address", user.address, "text")]
    return [_account_line(user, address=True), order_line(order)], reference, facts


def _total(world: ShopWorld, order: Order):
    reference = f"The total of order {order.order_id} was {format_price(order.total)}."
    return [order_line(order, total=True)], reference, [_order_id(order), fact("total", order.total, "money")]


def _tracking(world: ShopWorld, order: Order):
    reference = f"Order {order.order_id} ships with {order.carrier}, tracking number {order.tracking_number}."
    facts = [
        {**_order_id(order), "required": False},
        fact("tracking_number", order.tracking_number, "tracking"),
        fact("carrier", order.carrier, "text"),
    ]
    return [order_line(order, carrier=True)], reference, facts


def _price(world: ShopWorld, product: Product):
    reference = f"The price of the {product.name} is {format_price(product.price)}."
    return [_product_line(product)], reference, [fact("price", product.price, "money")]


def _stock(world: ShopWorld, product: Product):
    g = grammar(CATEGORY_BY_NAME[product.category])
    if product.in_stock:
        reference = f"Yes, the {product.name} {g['is']} in stock; we have {product.stock} left."
        facts = [fact("availability", "in stock", "text", wrong=["out of stock"])]
    else:
        reference = f"Sorry, the {product.name} {g['is']} out of stock right now."
        facts = [fact("availability", "out of stock", "text", wrong=["in stock"])]
    return [_product_line(product)], reference, facts


def _warranty(world: ShopWorld, product: Product):
    g = grammar(CATEGORY_BY_NAME[product.category])
    reference = f"The {product.name} {g['has']} a {product.warranty_months}-month warranty."
    return [_product_line(product)], reference, [fact("warranty", product.warranty_months, "months")]


def _policy_answer(topic: str, facts: Callable[[ShopWorld], list[dict[str, Any]]]) -> Build:
    def build(world: ShopWorld, subject: Any):
        return [_policy(world, topic)], policy_sentences(world.policies)[topic], facts(world)

    return build


def _password(world: ShopWorld, user: User):
    reference = f"I have sent a password reset link to {user.email}."
    return [_account_line(user)], reference, [fact("email", user.email, "email")]


INTENTS: dict[str, tuple[str, tuple[str, ...], Callable[[ShopWorld], list[Any]], Build]] = {
    "track_order": ("ORDER", (
        "Where is my order {oid}?", "Can you tell me the status of order {oid}?",
        "What's happening with my order {oid}?", "I'd like to track order {oid}.",
        "Any update on order {oid}?",
    ), _orders(), _track),
    "delivery_date": ("DELIVERY", (
        "When will order {oid} arrive?", "What's the delivery date of order {oid}?",
        "When should I expect order {oid}?", "When does order {oid} get here?",
    ), _orders("processing", "shipped", "delivered"), _delivery_date),
    "cancel_order": ("ORDER", (
        "Can I cancel order {oid}?", "Please cancel my order {oid}.", "I want to cancel order {oid}.",
        "How do I cancel order {oid}?",
    ), _orders("processing", "shipped", "delivered"), _cancel),
    "return_item": ("REFUND", (
        "How do I return something from order {oid}?", "Can I still return order {oid}?",
        "I want to send back the items of order {oid}.", "What is the return deadline for order {oid}?",
    ), _orders("delivered"), _return),
    "refund_status": ("REFUND", (
        "When will I get my refund for order {oid}?", "Where is my refund for order {oid}?",
        "How much will I get back for order {oid}?", "Has my refund for order {oid} been processed?",
    ), _orders("returned", "cancelled"), _refund),
    "change_address": ("SHIPPING_ADDRESS", (
        "Can I change the shipping address of order {oid}?", "I need to update the delivery address of order {oid}.",
        "Please ship order {oid} to a different address.", "Where is order {oid} being shipped to?",
    ), _orders("processing", "shipped", "delivered"), _address),
    "order_total": ("INVOICE", (
        "How much did I pay for order {oid}?", "What was the total of order {oid}?",
        "How much was order {oid}?", "What did order {oid} cost me?",
    ), _orders(), _total),
    "tracking_number": ("DELIVERY", (
        "What is the tracking number of order {oid}?", "Can you send me the tracking number for order {oid}?",
        "How can I track order {oid}?", "Which carrier has order {oid}?",
    ), _orders("shipped", "delivered"), _tracking),
    "product_price": ("PRODUCT", (
        "How much does the {product} cost?", "What is the price of the {product}?",
        "How much is the {product}?", "What do you charge for the {product}?",
    ), lambda world: list(world.products), _price),
    "product_availability": ("PRODUCT", (
        "Is the {product} in stock?", "Do you have the {product} available?",
        "Can I buy the {product} right now?", "Is the {product} available?",
    ), lambda world: list(world.products), _stock),
    "warranty": ("PRODUCT", (
        "How long is the warranty on the {product}?", "Does the {product} come with a warranty?",
        "What warranty does the {product} have?", "Is the {product} covered by a warranty?",
    ), lambda world: list(world.products), _warranty),
    "shipping_fee": ("SHIPPING", (
        "How much is shipping?", "What does shipping cost?", "Do you offer free shipping?",
        "What are your shipping fees?",
    ), lambda world: [None], _policy_answer("shipping", lambda w: [
        fact("shipping_fee", w.policies.shipping_fee, "money"),
        fact("free_shipping_threshold", w.policies.free_shipping_threshold, "money"),
    ])),
    "payment_methods": ("PAYMENT", (
        "What payment methods do you accept?", "How can I pay for my order?", "Which cards do you take?",
        "What are my payment options?",
    ), lambda world: [None], _policy_answer("payment", lambda w: [
        fact(f"payment_{i}", method, "text") for i, method in enumerate(w.policies.payment_methods)
    ])),
    "support_hours": ("CONTACT", (
        "When is customer support available?", "What are your support hours?", "When can I reach an agent?",
        "Are you open on weekends?",
    ), lambda world: [None], _policy_answer("hours", lambda w: [fact("support_hours", w.policies.support_hours, "text")])),
    "return_policy": ("REFUND", (
        "How long do I have to return an item?", "What is your return policy?", "Can I return something I bought?",
        "How many days do I have for a return?",
    ), lambda world: [None], _policy_answer("returns", lambda w: [
        fact("return_window", w.policies.return_window_days, "days"),
    ])),
    "reset_password": ("ACCOUNT", (
        "I forgot my password.", "How do I reset my password?", "I can't log in to my account.",
        "Please help me reset my password.",
    ), lambda world: list(world.users), _password),
}
"""intent -> (category, question paraphrases, subjects(world), build(world, subject))."""


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
            for template in templates:
                question = _question(template, subject)
                fields = {
                    "intent": intent, "category": category, "question": question, "context": context,
                    "facts": facts, "references": [reference],
                }
                tasks.append(Task(_prompt(context, question), fields))
    return tasks


# ---------------------------------------------------------------------- Bitext and tables
def _slot_values(world: ShopWorld, order: Order) -> dict[str, tuple[str, dict[str, Any] | None, str | None]]:
    """slot -> (text, fact or None, KB line or None) for one customer's order."""
    policies = world.policies
    invoice = "INV-" + order.order_id.split("-")[1]
    return {
        "order_id": (order.order_id, _order_id(order), None),
        "tracking_number": (order.tracking_number, fact("tracking_number", order.tracking_number, "tracking"),
                            f"Tracking: {order.carrier} {order.tracking_number}."),
        "invoice_id": (invoice, fact("invoice_id", invoice, "text"), f"Invoice: {invoice}."),
        "order_date": (format_date(order.order_date), fact("order_date", order.order_date.isoformat(), "date"),
                       f"Ordered: {format_date(order.order_date)}."),
        "return_window_days": (str(policies.return_window_days), fact("return_window", policies.return_window_days, "days"),
                               _policy(world, "returns")),
        "refund_days": (str(policies.refund_days), fact("refund_days", policies.refund_days, "days"), _policy(world, "refunds")),
        "support_hours": (policies.support_hours, fact("support_hours", policies.support_hours, "text"), _policy(world, "hours")),
        "shop_phone": (SHOP["phone"], None, None),
        "shop_email": (SHOP["email"], None, None),
        "shop_name": (SHOP["name"], None, None),
        "shop_url": (SHOP["url"], None, None),
    }


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
        user = world.users[i % len(world.users)]
        orders = world.orders_of(user.user_id)
        order = orders[(i // len(world.users)) % len(orders)]
        values = _slot_values(world, order)
        used: dict[str, None] = {}
        question = _fill(_rewrite_question(record, user, order), values, used)
        reference = _fill(record.answer, values, used)
        lines = [record.context.strip()] if record.context.strip() else []
        if "order_id" in used or record.entity is not None or not lines:
            lines += [_account_line(user), order_line(order, total=True)]
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
    (with ``data=``: a record uniformly); ``options={"task_index": i}`` picks task ``i``.

    ## Episode End
    ``terminated`` at EOS or the end-of-turn token; ``truncated`` after ``max_new_tokens``
    tokens. ``info`` then holds ``prompt``, ``completion``, ``reward_terms``, the ``task``
    fields and ``fact_check`` (``present``, ``missing`` and ``wrong`` facts, ``recall``).

    ## Arguments
    ``tokenizer`` ("tiny-shop"), ``reward``, ``reward_mode``, ``max_new_tokens`` (48),
    ``max_prompt_tokens`` (128), ``world_seed`` (0), ``intents`` (None: all; a list of
    intent names restricts them), ``data`` (None, ``"bitext"``, or a CSV/TSV/JSONL/JSON
    path, list of dicts, DataFrame or Dataset), ``question_column``, ``answer_column``,
    ``context_column``, ``intent_column``, ``category_column``, ``facts_column`` (the column
    mapping of ``data``; see `lm_envs.data.bitext.load_qa_records`), ``chat_template``
    (False; True puts the snippet in a system message and the question in a user message of
    the tokenizer's chat template, for instruction-tuned models), ``render_mode``.

    ## Version History
    * v0: initial version.
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
        **kwargs: Any,
    ) -> None:
        self.world = make_world(seed=world_seed)
        if data is None:
            columns = (question_column, answer_column, context_column, intent_column, category_column, facts_column)
            if any(c is not None for c in columns):
                raise ValueError("the *_column arguments name the columns of data=; pass data= too")
            tasks = world_tasks(self.world, intents)
        else:
            if intents is not None:
                raise ValueError("intents= selects world questions; with data= filter the records instead")
            records = load_qa_records(
                data if not isinstance(data, Path) else str(data),
                question_column=question_column, answer_column=answer_column, context_column=context_column,
                intent_column=intent_column, category_column=category_column, facts_column=facts_column,
            )
            tasks = record_tasks(records, self.world)
        self.tasks = [Task(t.prompt, t.fields, index) for index, t in enumerate(tasks)]
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
        return info


CustomerServiceQAVectorEnv = TokenVectorEnv.for_env(CustomerServiceQAEnv)

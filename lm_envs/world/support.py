"""What the shop's support tool knows: knowledge-base lines, facts and customer-service intents.

Every question the customer-service QA env asks about a world comes from `INTENTS`: each
intent builds, for one subject (an order, a product, a customer or the shop), the KB lines a
support tool would retrieve, the reference answer and the facts an answer must state. The
same lines and facts fill the slots of real support data (`slot_values`, for Bitext's
``{{Placeholders}}``). Nothing here draws random numbers: a world gives its tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lm_envs.world.catalog import Product
from lm_envs.world.categories import CATEGORY_BY_NAME
from lm_envs.world.people import Order, User
from lm_envs.world.shop import ShopWorld
from lm_envs.world.text import policy_sentences
from lm_envs.world.words import format_date, format_price, grammar

__all__ = [
    "INTENTS",
    "SHOP",
    "Answer",
    "Build",
    "account_line",
    "fact",
    "order_line",
    "slot_values",
]

SHOP = {"name": "Tiny Shop", "phone": "1-800-555-0199", "email": "support@tinyshop.example", "url": "tinyshop.example"}
"""Constants of the shop that Bitext placeholders such as ``{{Website Name}}`` stand for."""


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


def account_line(user: User, *, address: bool = False) -> str:
    """The customer's account record: ``"Account: Priya Patel, priya.patel@example.com."``."""
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
Answer = tuple[list[str], str, list[dict[str, Any]]]
"""(KB lines, reference answer, facts) of one question."""
Build = Callable[[ShopWorld, Any], Answer]


def _orders(*statuses: str) -> Callable[[ShopWorld], list[Any]]:
    return lambda world: [o for o in world.orders if not statuses or o.status in statuses]


def _track(world: ShopWorld, order: Order) -> Answer:
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


def _delivery_date(world: ShopWorld, order: Order) -> Answer:
    oid, when = order.order_id, format_date(order.delivery_date)
    if order.status == "delivered":
        reference = f"Order {oid} was delivered on {when}."
    else:
        reference = f"Order {oid} should arrive on {when}."
    return [order_line(order)], reference, [_order_id(order), _date(order)]


def _cancel(world: ShopWorld, order: Order) -> Answer:
    oid, days = order.order_id, world.policies.return_window_days
    if order.status == "processing":
        reference = f"Order {oid} is still processing, so it can be cancelled free of charge."
        return [order_line(order), _policy(world, "cancellation")], reference, [_order_id(order), _status(order, judge=False)]
    verb = "has already shipped" if order.status == "shipped" else "was already delivered"
    reference = f"Order {oid} {verb}, so it cannot be cancelled; you can return it within {days} days."
    facts = [_order_id(order), _status(order, judge=False), fact("return_window", days, "days")]
    return [order_line(order), _policy(world, "returns")], reference, facts


def _return(world: ShopWorld, order: Order) -> Answer:
    days = world.policies.return_window_days
    reference = f"You can return items from order {order.order_id} within {days} days of delivery."
    facts = [_order_id(order), fact("return_window", days, "days"), {**_date(order), "required": False}]
    return [order_line(order), _policy(world, "returns")], reference, facts


def _refund(world: ShopWorld, order: Order) -> Answer:
    oid, total, days = order.order_id, format_price(order.total), world.policies.refund_days
    if order.status == "cancelled":
        reference = f"Order {oid} was cancelled, so your {total} is refunded within {days} business days."
    else:
        reference = f"Your refund of {total} for order {oid} is issued within {days} business days."
    facts = [_order_id(order), fact("amount", order.total, "money"), fact("refund_days", days, "days")]
    return [order_line(order, total=True), _policy(world, "refunds")], reference, facts


def _address(world: ShopWorld, order: Order) -> Answer:
    user = world.users[order.user_id]
    oid, where = order.order_id, user.address
    if order.status == "processing":
        reference = f"Order {oid} is still processing, so we can change its address from {where}."
    else:
        reference = f"Order {oid} already shipped to {where}, so the address cannot be changed."
    facts = [_order_id(order), fact("address", user.address, "text")]
    return [account_line(user, address=True), order_line(order)], reference, facts


def _total(world: ShopWorld, order: Order) -> Answer:
    reference = f"The total of order {order.order_id} was {format_price(order.total)}."
    return [order_line(order, total=True)], reference, [_order_id(order), fact("total", order.total, "money")]


def _tracking(world: ShopWorld, order: Order) -> Answer:
    reference = f"Order {order.order_id} ships with {order.carrier}, tracking number {order.tracking_number}."
    facts = [
        {**_order_id(order), "required": False},
        fact("tracking_number", order.tracking_number, "tracking"),
        fact("carrier", order.carrier, "text"),
    ]
    return [order_line(order, carrier=True)], reference, facts


def _price(world: ShopWorld, product: Product) -> Answer:
    reference = f"The price of the {product.name} is {format_price(product.price)}."
    return [_product_line(product)], reference, [fact("price", product.price, "money")]


def _stock(world: ShopWorld, product: Product) -> Answer:
    g = grammar(CATEGORY_BY_NAME[product.category])
    if product.in_stock:
        reference = f"Yes, the {product.name} {g['is']} in stock; we have {product.stock} left."
        facts = [fact("availability", "in stock", "text", wrong=["out of stock"])]
    else:
        reference = f"Sorry, the {product.name} {g['is']} out of stock right now."
        facts = [fact("availability", "out of stock", "text", wrong=["in stock"])]
    return [_product_line(product)], reference, facts


def _warranty(world: ShopWorld, product: Product) -> Answer:
    g = grammar(CATEGORY_BY_NAME[product.category])
    reference = f"The {product.name} {g['has']} a {product.warranty_months}-month warranty."
    return [_product_line(product)], reference, [fact("warranty", product.warranty_months, "months")]


def _policy_answer(topic: str, facts: Callable[[ShopWorld], list[dict[str, Any]]]) -> Build:
    def build(world: ShopWorld, subject: Any) -> Answer:
        return [_policy(world, topic)], policy_sentences(world.policies)[topic], facts(world)

    return build


def _password(world: ShopWorld, user: User) -> Answer:
    reference = f"I have sent a password reset link to {user.email}."
    return [account_line(user)], reference, [fact("email", user.email, "email")]


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


# ---------------------------------------------------------------------- Bitext slots
def slot_values(world: ShopWorld, order: Order) -> dict[str, tuple[str, dict[str, Any] | None, str | None]]:
    """slot -> (text, fact or None, KB line or None) for one customer's order.

    The slots are those of `lm_envs.data.bitext.placeholder_slot`.
    """
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

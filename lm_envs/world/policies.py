"""The shop's policies (returns, refunds, shipping, ...), which vary a little by seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lm_envs.world.sampling import pick, sample

_PAYMENT_METHODS = ("Visa", "Mastercard", "American Express", "PayPal", "Apple Pay",
                    "Google Pay", "gift cards")
_SUPPORT_HOURS = (
    "Monday to Friday, 9am to 6pm ET",
    "Monday to Saturday, 8am to 8pm ET",
    "every day, 10am to 7pm ET",
    "Monday to Friday, 8am to 5pm PT",
    "24 hours a day, 7 days a week",
)


@dataclass(frozen=True)
class Policies:
    """Facts a support agent must look up, never found in the pretraining corpus."""

    return_window_days: int
    """Days after delivery during which an item can be returned."""
    refund_days: int
    """Business days to issue a refund once the return arrives."""
    shipping_fee: float
    """Flat fee in dollars for orders under ``free_shipping_threshold``."""
    free_shipping_threshold: float
    payment_methods: tuple[str, ...]
    support_hours: str
    """Fits "Our support team is available {support_hours}."."""
    cancellable_statuses: tuple[str, ...]
    """Order statuses in which a cancellation is still accepted (before shipping)."""
    cancellation_policy: str
    """One sentence stating the cancellation rule."""
    restocking_fee_percent: int
    """Percent of the price kept on returns of opened items; 0 means none."""
    warranty_policy: str
    """One sentence on how warranty claims work (the length is ``Product.warranty_months``)."""


def generate_policies(rng: np.random.Generator) -> Policies:
    """Policies drawn from a few realistic options each."""
    payment = sample(rng, _PAYMENT_METHODS[2:], int(rng.integers(2, 5)))
    # card networks always accepted; keep the listed order stable for readable sentences
    methods = tuple(m for m in _PAYMENT_METHODS if m in {"Visa", "Mastercard", *payment})
    return Policies(
        return_window_days=pick(rng, (14, 30, 45, 60)),
        refund_days=pick(rng, (3, 5, 7, 10)),
        shipping_fee=pick(rng, (4.99, 5.99, 6.99, 7.99)),
        free_shipping_threshold=pick(rng, (35.0, 50.0, 75.0, 100.0)),
        payment_methods=methods,
        support_hours=pick(rng, _SUPPORT_HOURS),
        cancellable_statuses=("processing",),
        cancellation_policy=pick(rng, (
            "Orders can be cancelled free of charge until they ship.",
            "You can cancel an order while it is still processing; once it has shipped, "
            "please return it instead.",
        )),
        restocking_fee_percent=pick(rng, (0, 0, 10, 15)),
        warranty_policy=pick(rng, (
            "Warranty claims for manufacturing defects are handled by our support team; "
            "please include your order id.",
            "Defective items are repaired or replaced free of charge during the warranty "
            "period.",
        )),
    )

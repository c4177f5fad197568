"""A seeded synthetic shop: catalog, customers, orders, policies and a pretraining corpus.

```python
from lm_envs.world import make_world
world = make_world(seed=0)          # cached; same seed and sizes -> equal world
world.products[0].name              # "Aurora X2 Wireless Headphones"-style names
world.orders_of(user_id=3)          # list[Order]
docs = world.corpus(seed=0)         # generic shop text, no grounded support answers
```
"""

from lm_envs.world.catalog import Product
from lm_envs.world.categories import CATEGORIES, CategorySpec
from lm_envs.world.people import CARRIERS, ORDER_STATUSES, REFERENCE_DATE, Order, User
from lm_envs.world.policies import Policies
from lm_envs.world.shop import ShopWorld, make_world
from lm_envs.world.text import describe_product, order_status_sentence, policy_sentences
from lm_envs.world.words import format_date, format_price

__all__ = [
    "CARRIERS",
    "CATEGORIES",
    "ORDER_STATUSES",
    "REFERENCE_DATE",
    "CategorySpec",
    "Order",
    "Policies",
    "Product",
    "ShopWorld",
    "User",
    "describe_product",
    "format_date",
    "format_price",
    "make_world",
    "order_status_sentence",
    "policy_sentences",
]

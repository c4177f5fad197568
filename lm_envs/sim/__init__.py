"""Simulated people the envs act on; each module stands alone, import the one you need.

- `lm_envs.sim.shopper`: the RecSim-style shopper of `lm_envs/ProductRecommendation-v0`
  (catalog, user model, batched sessions).
- `lm_envs.sim.customer`: the customer of `lm_envs/CustomerServiceDialog-v0` and the
  grammar by which an agent resolves their request.
"""

__all__: list[str] = []

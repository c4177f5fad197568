"""The agents' rollout engine inside other trainers.

- `agents.integrations.trl`: ``make_rollout_func(env_id)``, the ``rollout_func`` of TRL's
  ``GRPOTrainer`` for any token env, multi-turn dialogs included (extra ``[trl]``).

Imported on use: ``import agents`` loads no trainer library.
"""

__all__: list[str] = []

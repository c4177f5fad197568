"""The metrics every agent logs: one row per update (or log interval), kept in memory and
optionally written to TensorBoard."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pandas costs ~0.25 s to import; only ``frame`` needs it
    import pandas as pd

__all__ = ["Callback", "MetricsLogger", "TIMING_METRICS"]

Callback = Callable[[Any, dict[str, Any]], bool | None]
"""``callback(agent, metrics)`` after each logged row; return ``False`` to stop learning."""

TIMING_METRICS = ("steps_per_s", "tokens_per_s", "time_s")
"""Metrics that depend on the wall clock, left out of determinism comparisons."""


class MetricsLogger:
    """Rows of metrics, each with a ``timesteps`` entry (the x axis of TensorBoard).

    Args:
        tensorboard_log: directory for TensorBoard scalars; needs ``tensorboard``
            (without it, a warning and no TensorBoard logs).
    """

    def __init__(self, tensorboard_log: str | None = None) -> None:
        self.rows: list[dict[str, Any]] = []
        self.tensorboard_log = tensorboard_log
        self._writer: Any = None

    def log(self, row: dict[str, Any]) -> None:
        """Keep ``row``; write its finite numbers (other than ``update``, ``timesteps``) as scalars."""
        self.rows.append(row)
        if self.tensorboard_log is None:
            return
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                warnings.warn("tensorboard is not installed (pip install tensorboard); skipping TensorBoard logs")
                self.tensorboard_log = None
                return
            self._writer = SummaryWriter(self.tensorboard_log)
        for key, value in row.items():
            if isinstance(value, (int, float)) and key not in ("update", "timesteps") and math.isfinite(value):
                self._writer.add_scalar(key, value, row["timesteps"])

    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame, one column per metric."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def to_csv(self, path: str | Path) -> None:
        self.frame().to_csv(path, index=False)

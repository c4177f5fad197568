"""Loaders for user data and the real datasets in ``../shared/data`` (read in place)."""

from lm_envs.data.ratings import from_ratings
from lm_envs.data.reviews import Review, load_hu_liu_reviews
from lm_envs.data.tables import DataError, load_records, require_columns, shared_data_dir

__all__ = ["DataError", "Review", "from_ratings", "load_hu_liu_reviews", "load_records", "require_columns", "shared_data_dir"]

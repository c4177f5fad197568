"""`from_ratings`: a recommendation simulator fitted to a real ratings or clicks table.

```python
from lm_envs.data import from_ratings
sim = from_ratings("ml-latest-small/ratings.csv", user_col="userId", item_col="movieId", rating_col="rating")
env = gym.make("lm_envs/ProductRecommendation-v0", simulator=sim)
```

The user-item matrix is factorised by a truncated SVD (``scipy.sparse.linalg.svds``;
"PureSVD", Cremonesi et al., 2010): explicit ratings are centred on their mean first, so an
unrated cell counts as average; 0/1 clicks are factorised as they are, so an unclicked cell
counts as no interest. User factors become the users' interests, item factors the items'
topic vectors; an item's hidden quality is the percentile of its (shrunk) mean rating.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lm_envs.data.tables import DataError

__all__ = ["from_ratings"]


def _read_table(source: Any, name: str) -> tuple[Any, str]:
    import pandas as pd

    if isinstance(source, pd.DataFrame):
        return source, name
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"{name}: expected a file path or a pandas DataFrame, got {type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".dat"):
            sep = {".csv": ",", ".tsv": "\t"}.get(suffix, "::")
            frame = pd.read_csv(path, sep=sep, engine="python" if sep == "::" else "c")
        elif suffix in (".jsonl", ".ndjson"):
            frame = pd.read_json(path, lines=True)
        elif suffix == ".json":
            frame = pd.read_json(path)
        else:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use .csv, .tsv, .dat (MovieLens '::'), .jsonl or .json")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"{path}: cannot be read as a table ({error})") from None
    return frame, str(path)


def _require(frame: Any, columns: Sequence[str], label: str) -> None:
    present = [str(c) for c in frame.columns]
    for column in columns:
        if column not in frame.columns:
            raise DataError(f"{label}: missing column {column!r}; columns present: {', '.join(present)}")


def _numeric(frame: Any, column: str, label: str) -> np.ndarray:
    import pandas as pd

    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.to_numpy(dtype=np.float64, na_value=np.nan))
    if bad.any():
        position = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{label}: column {column!r} must hold finite numbers; row {position} has "
                        f"{frame[column].iloc[position]!r}")
    return values.to_numpy(dtype=np.float64)


def _require_ids(frame: Any, column: str, label: str) -> None:
    missing = frame[column].isna().to_numpy()
    if missing.any():
        position = int(np.flatnonzero(missing)[0])
        raise DataError(f"{label}: column {column!r} has no id in row {position} ({frame[column].iloc[position]!r}); "
                        "drop or fill the rows without one")


def _warn_merged_ids(values: Any, column: str, label: str, kind: str) -> None:
    """Ids are compared as text, so ``1`` and ``"1"`` are one id: say so when that merges some."""
    n_raw = len({(type(v).__name__, v) for v in values})
    n_text = values.astype(str).nunique()
    if n_text < n_raw:
        import warnings

        warnings.warn(f"{label}: column {column!r} holds ids of different types that read the same as text "
                      f"(such as 1 and '1'); each such pair is one {kind}: {n_raw - n_text} merged", UserWarning,
                      stacklevel=4)


def _item_codes(values: Any, column: str, label: str) -> tuple[np.ndarray, Any]:
    """Item codes and ids, compared as users are (as text); ids of one type keep their own order."""
    import pandas as pd

    if values.map(type).nunique() > 1:
        _warn_merged_ids(values, column, label, "item")
        return pd.factorize(values.astype(str), sort=True)
    return pd.factorize(values, sort=True)


def from_ratings(
    source: Any,
    *,
    user_col: str | Sequence[str] = "user_id",
    item_col: str = "item_id",
    rating_col: str = "rating",
    n_factors: int = 8,
    implicit: bool | None = None,
    items: Any = None,
    price_col: str | None = None,
    category_col: str | None = None,
    name_col: str | None = None,
    name: str = "ratings",
) -> Any:
    """A `Simulator` (catalog + users) fitted to a ratings or clicks table.

    Args:
        source: a CSV/TSV/JSONL/JSON file, a MovieLens ``.dat`` file (``::``-separated),
            or a pandas DataFrame; one row per (user, item) interaction.
        user_col: the user id column, or several columns that together identify a user
            (e.g. the Open Bandit Dataset's ``user_feature_0..3``).
        item_col, rating_col: item id and rating (or 0/1 click) columns. Repeated
            (user, item) pairs are averaged. User and item ids are compared as text, so ``1``
            and ``"1"`` name one user or item (a warning says how many were merged).
        n_factors: rank of the truncated SVD (at most ``min(n_users, n_items) - 1``).
        implicit: treat ratings as clicks (no centring); default: when every rating is 0 or 1.
        items: an optional item table (path or DataFrame, keyed by ``item_col``) holding
            ``price_col`` / ``category_col`` / ``name_col``; otherwise those columns are
            read from ``source`` itself (averaged or first per item).
        price_col: item prices (> 0); default 1.0 each (revenue = purchases).
        category_col: item categories (for streak fatigue); default each item's dominant factor.
        name_col: item names; default ``str(item id)``.
        name: label for errors when ``source`` is a DataFrame.

    Raises:
        DataError: a missing column, a missing (NaN) id or non-numeric rating (the row is
            named), an empty table, too few users or items, constant ratings or no clicks
            (nothing to factorise), an SVD that fails; the message names the file and column.
    """
    import pandas as pd
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, svds

    from lm_envs.sim.shopper import Catalog, Simulator, UserPool

    frame, label = _read_table(source, name)
    user_cols = [user_col] if isinstance(user_col, str) else list(user_col)
    if not user_cols:
        raise DataError(f"{label}: user_col names no column")
    _require(frame, [*user_cols, item_col, rating_col], label)
    if len(frame) == 0:
        raise DataError(f"{label}: the table is empty (no rows under {rating_col!r})")
    ratings = _numeric(frame, rating_col, label)
    if isinstance(n_factors, bool) or not isinstance(n_factors, (int, np.integer)) or n_factors < 1:
        raise ValueError(f"n_factors must be a positive integer, got {n_factors!r}")

    for column in (*user_cols, item_col):
        _require_ids(frame, column, label)
    for column in user_cols:
        _warn_merged_ids(frame[column], column, label, "user")
    user_key = frame[user_cols[0]].astype(str) if len(user_cols) == 1 else frame[user_cols].astype(str).agg("|".join, axis=1)
    user_codes, user_ids = pd.factorize(user_key, sort=True)
    item_codes, item_ids = _item_codes(frame[item_col], item_col, label)
    n_users, n_items = len(user_ids), len(item_ids)
    if n_users < 2 or n_items < 2:
        raise DataError(f"{label}: needs at least 2 users and 2 items to factorise, got {n_users} users "
                        f"({', '.join(user_cols)}) and {n_items} items ({item_col!r})")
    if implicit is None:
        implicit = bool(np.isin(ratings, (0.0, 1.0)).all())
    if implicit and not ratings.any():
        raise DataError(f"{label}: column {rating_col!r} holds no clicks (every value is 0): there is no interest "
                        "to factorise")
    if not implicit and np.ptp(ratings) == 0:
        raise DataError(f"{label}: every rating is {ratings[0]:g} (column {rating_col!r}): centred on their mean "
                        "they are all 0, so there is nothing to factorise")

    # --- the user-item matrix: mean rating per observed pair
    pairs = pd.DataFrame({"u": user_codes, "i": item_codes, "r": ratings}).groupby(["u", "i"], sort=True)["r"].mean()
    u, i = pairs.index.get_level_values(0).to_numpy(), pairs.index.get_level_values(1).to_numpy()
    r = pairs.to_numpy()
    offset = 0.0 if implicit else float(r.mean())
    matrix = csr_matrix((r - offset, (u, i)), shape=(n_users, n_items))

    # --- truncated SVD (PureSVD); a fixed random_state makes ARPACK's start vector, and so the
    #     factors (signs included), reproducible
    k = int(min(n_factors, min(n_users, n_items) - 1))
    try:
        left, singular, right_t = svds(matrix.astype(np.float64), k=k, random_state=0)
    except (ArpackError, ArpackNoConvergence) as error:
        raise DataError(f"{label}: the truncated SVD of the {n_users} x {n_items} rating matrix failed ({error}); "
                        f"try a smaller n_factors (now {k})") from None
    order = np.argsort(-singular)
    left, singular, right_t = left[:, order], singular[order], right_t[order]
    scale = np.sqrt(singular)
    user_factors = left * scale
    item_factors = right_t.T * scale
    predicted = offset + np.einsum("nk,nk->n", user_factors[u], item_factors[i])
    rmse = float(np.sqrt(np.mean((predicted - r) ** 2)))

    # --- item attributes
    counts = np.bincount(i, minlength=n_items).astype(np.float64)
    sums = np.bincount(i, weights=r, minlength=n_items)
    prior, strength = float(r.mean()), 5.0
    shrunk = (sums + strength * prior) / (counts + strength)  # few ratings pull toward the mean
    quality = (np.argsort(np.argsort(shrunk, kind="stable"), kind="stable") + 0.5) / n_items
    popularity = sums if implicit else counts

    item_frame = frame
    item_label = label
    if items is not None:
        item_frame, item_label = _read_table(items, f"{name} items")
        _require(item_frame, [item_col], item_label)
    per_item = item_frame.groupby(item_col, sort=True)

    def column(col: str) -> Any:
        _require(item_frame, [col], item_label)
        values = per_item[col].first().reindex(item_ids)
        missing = values.isna()
        if missing.any():
            raise DataError(f"{item_label}: column {col!r} has no value for item {item_ids[int(np.flatnonzero(missing)[0])]!r}")
        return values

    if price_col is not None:
        _require(item_frame, [price_col], item_label)
        _numeric(item_frame, price_col, item_label)
        price = pd.to_numeric(column(price_col)).to_numpy(dtype=np.float64)
        if (price <= 0).any():
            raise DataError(f"{item_label}: column {price_col!r} must hold prices > 0")
    else:
        price = np.ones(n_items)
    if category_col is not None:
        category = pd.factorize(column(category_col), sort=True)[0].astype(np.int64)
    else:
        category = np.abs(item_factors).argmax(axis=1).astype(np.int64)
    names = tuple(str(x) for x in (column(name_col) if name_col is not None else item_ids))

    catalog = Catalog(
        topics=item_factors, quality=quality, price=price, category=category,
        stock=np.full(n_items, 10**6, dtype=np.int64), popularity=popularity, names=names,
        product_ids=np.arange(n_items, dtype=np.int64),
    )
    users = UserPool(interests=user_factors, budget=np.full(n_users, float(np.median(price))),
                     user_ids=np.arange(n_users, dtype=np.int64))
    fit = {
        "n_users": n_users, "n_items": n_items, "n_ratings": int(len(r)), "n_factors": k, "implicit": implicit,
        "rmse": rmse, "rating_mean": float(r.mean()),
        "item_ids": list(item_ids), "user_ids": list(user_ids),
    }
    return Simulator(catalog, users, source=label, fit=fit)

"""Shared test setup: everything runs offline, as CI does, on one torch thread.

Making an out-of-date id (``CustomerServiceDialog-v0``) warns; pyproject turns that warning
into an error, so a test meets it only where it asks for the old id on purpose: tests
parametrized over such an id get the filter here, other tests mark themselves.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

import lm_envs  # noqa: E402

# Small models on a shared 2-core machine: intra-op threads only contend (up to 10x slower).
torch.set_num_threads(1)

OUT_OF_DATE = "ignore:.*is out of date:DeprecationWarning"
"""The filter for a test that makes an out-of-date env id on purpose."""


def _out_of_date_ids() -> set[str]:
    """Ids with a newer version of the same env registered (Gymnasium warns when they are made)."""
    latest: dict[str, int] = {}
    for env_id in lm_envs.ENV_IDS:
        name, _, version = env_id.rpartition("-v")
        latest[name] = max(latest.get(name, -1), int(version))
    return {env_id for env_id in lm_envs.ENV_IDS if int(env_id.rpartition("-v")[2]) < latest[env_id.rpartition("-v")[0]]}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    old = _out_of_date_ids()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(value, str) and value in old for value in params.values()):
            item.add_marker(pytest.mark.filterwarnings(OUT_OF_DATE))

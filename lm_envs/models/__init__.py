"""Tokenizers and policies: ``"tiny-shop"``, ``"tiny-shop-reader"``, ``"smollm2-135m"``, or any local/cached HF model.

```python
from lm_envs.models import load_tokenizer, load_policy, special_token_ids
tok = load_tokenizer("tiny-shop")
lm = load_policy("tiny-shop")          # fresh, eval mode
special_token_ids(tok)                 # {"eos": 0, "pad": 1, "eot": 2}
```
"""

from __future__ import annotations

from typing import Any

from lm_envs.models.loading import MODELS, load_policy, load_tokenizer, special_token_ids, vocabulary_hash

__all__ = ["MODELS", "load_policy", "load_sentence_encoder", "load_tokenizer", "special_token_ids", "vocabulary_hash"]


def __getattr__(name: str) -> Any:
    # imported on first use: the sentence encoder pulls in sentence-transformers (optional)
    if name == "load_sentence_encoder":
        from lm_envs.models.minilm import load_sentence_encoder

        return load_sentence_encoder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

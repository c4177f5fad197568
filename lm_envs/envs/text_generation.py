"""`lm_envs/TextGeneration-v0`: write a product review or a blurb, one token per step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lm_envs.core import Task, TokenEnv, pick_task
from lm_envs.data import DataError, load_hu_liu_reviews, load_records, require_columns, shared_data_dir
from lm_envs.vector import TokenVectorEnv

__all__ = [
    "TextGenerationEnv",
    "TextGenerationEnvV1",
    "TextGenerationVectorEnv",
    "TextGenerationVectorEnvV1",
    "review_prompts",
    "table_prompts",
    "world_prompts",
]

_REVIEW_TEMPLATES = (
    "Write a {polarity} review of the {name} that mentions {a} and {b}.",
    "Review the {name}. Be {polarity} and talk about {a} and {b}.",
    "Write a short {polarity} customer review of the {name}, covering {a} and {b}.",
)
_HEADER_STARS = {"positive": (5, 4), "negative": (1, 2)}
_BLURB_TEMPLATES = (
    "Write a short product blurb for the {name} that mentions {a}.",
    "Describe the {name} for our shop page. Mention {a}.",
)


def world_prompts(world_seed: int = 0, *, blurbs: bool = True, rating_header: bool = False) -> list[Task]:
    """Review and blurb prompts over the shop world's catalog, each with its targets.

    Every product gets a positive and a negative review prompt; reviews carry
    ``sentiment_target`` and ``keywords`` (two attributes). With ``blurbs`` it also gets a
    blurb prompt, with a positive target, one keyword and the catalog description as its
    reference (so two thirds of the prompts ask for positive text). With ``rating_header``
    a review prompt ends with a star rating on target (``Rating: 5/5.`` or ``4/5.`` for
    positive, ``1/5.`` or ``2/5.`` for negative), the header reviews carry in the shop
    corpus, so that a pretrained shop LM starts writing a review there; the instruction and
    the rating agree, and the reward asks the text to agree with both.
    """
    from lm_envs.world import make_world

    world = make_world(seed=world_seed)
    tasks: list[Task] = []
    for product in world.products:
        attributes = list(product.attributes) + list(product.attributes[:1])  # at least two
        a, b = attributes[0], attributes[1]
        for polarity in ("positive", "negative"):
            template = _REVIEW_TEMPLATES[(product.product_id + len(polarity)) % len(_REVIEW_TEMPLATES)]
            prompt = template.format(polarity=polarity, name=product.name, a=a, b=b)
            # the corpus's header is followed by the review on the same line: no newline after it
            end = f"\nRating: {_HEADER_STARS[polarity][product.product_id % 2]}/5." if rating_header else "\n"
            tasks.append(Task(prompt + end, {"sentiment_target": polarity, "keywords": [a, b], "references": [product.description]}))
        if not blurbs:
            continue
        template = _BLURB_TEMPLATES[product.product_id % len(_BLURB_TEMPLATES)]
        prompt = template.format(name=product.name, a=a)
        tasks.append(Task(prompt + "\n", {"sentiment_target": "positive", "keywords": [a], "references": [product.description]}))
    return tasks


def review_prompts(folder: str | Path | None = None, *, max_keywords: int = 2) -> list[Task]:
    """Prompts built from the Hu & Liu reviews: product + annotated features + polarity.

    The real review is the reference for ``bleu``, ``rouge`` and ``similarity``. Without
    ``folder`` the copy in ``../shared/data/product-reviews`` is used.
    """
    if folder is None:
        shared = shared_data_dir()
        if shared is None or not (shared / "product-reviews").is_dir():
            raise DataError("the Hu & Liu reviews were not found: pass data='PATH/product-reviews' or set LM_ENVS_DATA")
        folder = shared / "product-reviews"
    tasks = []
    for review in load_hu_liu_reviews(folder):
        # The most strongly rated features are the ones the review is about.
        ranked = sorted(review.features, key=lambda f: (-abs(review.features[f]), f))[:max_keywords]
        mentions = " and ".join(ranked)
        prompt = f"Write a {review.polarity} review of the {review.product} that mentions {mentions}.\n"
        tasks.append(Task(prompt, {"sentiment_target": review.polarity, "keywords": ranked, "references": [review.text]}))
    return tasks


def table_prompts(source: Any, *, prompt_column: str = "prompt", name: str = "prompts") -> list[Task]:
    """Prompts from a list of strings or dicts, a CSV/JSONL/JSON file, a DataFrame or a Dataset.

    Every column besides ``prompt_column`` becomes a task field the rewards receive (for
    example ``keywords``, ``sentiment_target`` or ``references``).
    """
    records, label = load_records(source, name=name)
    require_columns(records, [prompt_column], label)
    tasks = []
    for position, record in enumerate(records):
        prompt = record[prompt_column]
        if not isinstance(prompt, str):
            raise DataError(f"{label}: record {position} has a non-text {prompt_column!r} ({prompt!r})")
        fields = {key: value for key, value in record.items() if key != prompt_column}
        if isinstance(fields.get("references"), str):
            fields["references"] = [fields["references"]]
        if isinstance(fields.get("keywords"), str):  # "a; b" in a CSV cell
            fields["keywords"] = [k.strip() for k in fields["keywords"].split(";") if k.strip()]
        tasks.append(Task(prompt, fields))
    return tasks


class TextGenerationEnv(TokenEnv):
    """Write a product review or blurb token by token; rewards score the finished text.

    ## Description
    Each episode draws a prompt, for example "Write a positive review of the Aurora X2
    Wireless Headphones that mentions noise cancelling and long battery life.", and the agent
    appends one token per step until it emits EOS or the token budget runs out. Prompts come
    from the seeded shop world (default), from the Hu & Liu product reviews (``data="hu-liu"``)
    or from the user (``prompts=``: a list, a CSV/JSONL/JSON file, a DataFrame or a Dataset).

    ## Action Space
    ``Discrete(len(tokenizer))``: the id of the next token.

    ## Observation Space
    ``Dict(input_ids=Box(0, V-1, (L,), int64), attention_mask=Box(0, 1, (L,), int8))`` with
    ``L = max_prompt_tokens + max_new_tokens``. Prompt and completion tokens are packed to
    the left; the rest is padding with mask 0. Decoded text is in ``info``.

    ## Rewards
    Configured by ``reward`` (see `lm_envs.rewards.make_reward`); default
    ``{"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}``. Task fields
    (``sentiment_target``, ``keywords``, ``references``) reach the reward functions as keyword
    arguments. ``reward_mode="sparse"`` pays the score once at the episode end; ``"dense"``
    pays the difference of the score between consecutive prefixes, which sums to the same.

    ## Starting State
    A prompt drawn uniformly with ``np_random`` (or ``options={"task_index": i}``). The last
    ``info`` names the prompt's sentiment target as ``group``, for results per target.

    ## Episode End
    ``terminated`` when the agent emits EOS or the end-of-turn token; ``truncated`` when it
    has written ``max_new_tokens`` tokens. ``info`` then holds ``prompt``, ``completion``,
    ``reward_terms`` and the ``task`` fields.

    ## Arguments
    ``tokenizer`` ("tiny-shop", "smollm2-135m", a local HF path, or a tokenizer object),
    ``reward``, ``reward_mode``, ``max_new_tokens`` (48), ``max_prompt_tokens`` (96),
    ``prompts``, ``prompt_column``, ``data`` (None or "hu-liu" or a folder of Hu & Liu files),
    ``world_seed`` (0), ``chat_template`` (False; True wraps prompts in the tokenizer's chat
    template, for instruction-tuned models), ``render_mode`` ("ansi" or "human").

    ## Version History
    * v1 (`TextGenerationEnvV1`): the default prompts are balanced (a positive and a negative
      review per product, no blurbs; v0: two thirds positive) and end with a star rating on
      target, the review header of the shop corpus; the default reward gates
      sentiment by fluency (``fluent_sentiment``), so random tokens score below any fluent
      text. Under v0 a policy could raise its mean reward by writing positive text whatever
      it was asked, and random tokens scored above the pretrained policy.
    * v0: initial version.
    """

    default_reward: Any = {"sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}
    group_field = "sentiment_target"
    blurbs = True
    rating_header = False

    def __init__(
        self,
        *,
        prompts: Any = None,
        prompt_column: str = "prompt",
        data: str | Path | None = None,
        world_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if prompts is not None and data is not None:
            raise ValueError("pass either prompts= or data=, not both")
        if prompts is not None:
            self.tasks = table_prompts(prompts, prompt_column=prompt_column)
        elif data is not None:
            self.tasks = review_prompts(None if data == "hu-liu" else data)
        else:
            self.tasks = world_prompts(world_seed, blurbs=self.blurbs, rating_header=self.rating_header)
        self.tasks = [Task(t.prompt, t.fields, index) for index, t in enumerate(self.tasks)]
        super().__init__(**kwargs)

    def _sample_task(self, rng: np.random.Generator, options: dict[str, Any] | None) -> Task:
        return pick_task(self.tasks, rng, options)



TextGenerationVectorEnv = TokenVectorEnv.for_env(TextGenerationEnv)


class TextGenerationEnvV1(TextGenerationEnv):
    """`lm_envs/TextGeneration-v1`: `TextGenerationEnv` with balanced default prompts (a
    positive and a negative review per product, each ending with a star rating on target,
    e.g. "Write a negative review of the ... that mentions ... and ....\nRating: 1/5.") and
    a default reward that noise cannot win:
    ``{"fluent_sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}``. Everything else is
    as in v0 (see its docstring)."""

    default_reward = {"fluent_sentiment": 1.0, "keywords": 0.5, "repetition": -0.5}
    blurbs = False
    rating_header = True


TextGenerationVectorEnvV1 = TokenVectorEnv.for_env(TextGenerationEnvV1)

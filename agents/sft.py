"""Supervised fine-tuning (SFT) of an LM policy on demonstrations, with the loss on the
agent's tokens only.

```python
from agents import PPO, SFT
sft = SFT("lm_envs/CustomerServiceDialog-v1", policy="tiny-shop-reader", seed=0)   # the env's scripted expert
sft.learn()                                   # config.epochs passes over the demonstrations
sft.evaluate(32)["success_rate"]
sft.save("runs/sft")                          # a Hugging Face folder: model, tokenizer, sft.json
PPO("lm_envs/CustomerServiceDialog-v1", policy="runs/sft").learn(20_000)   # RL continues from it
SFT("lm_envs/CustomerServiceQA-v0", demonstrations="qa.csv",
    columns={"prompt": "question", "response": "answer"}).learn()
```

## Demonstrations
A demonstration is one token sequence and a loss mask: 1 on the tokens the agent wrote, 0 on
the prompt and on everything another speaker wrote (the simulated customer's turns). The
loss is the mean cross-entropy of the masked-in tokens (:func:`masked_lm_loss`). They come from

- **the env's scripted expert** (``demonstrations=None``): ``env.unwrapped.expert_text()``,
  the QA reference answer or the dialog oracle's next turn (it asks for what the transcript
  has not revealed, then resolves with what it has), played through the env itself so the
  tokens are exactly those the policy meets. Episodes reset with seeds drawn from
  ``[0, DEMONSTRATION_SEED_LIMIT)``; every evaluation in lm-envs uses seeds at or above it
  (``Agent.evaluate``: ``seed + 10_000``; the benchmarks: 10,000 and up). On the
  customer-service envs (QA and dialog) the expert also meets only the ``customers="train"``
  side of the env's customer split, so an evaluation with ``customers="test"`` meets
  customers no demonstration saw;
- **a table** (a CSV, TSV, JSON or JSONL path, a list of dicts, a DataFrame or a
  ``datasets.Dataset``; ``demonstrations=``, or a file path in ``SFTConfig.data``, which is
  what ``lm-envs train --agent sft --data PATH`` sets) with a ``columns`` mapping
  (``SFTConfig.columns``, or ``columns=``): ``{"prompt": COL, "response": COL}`` for
  (prompt, response) pairs, where the prompt is encoded as the env encodes its prompts and
  the response closes with the env's stop token; or ``{"messages": COL}`` for whole chat
  transcripts (lists of ``{"role", "content"}``, or their JSON text), rendered with the
  tokenizer's chat template, where the ``assistant``/``agent`` turns are trained.

A folder written by :meth:`SFT.save` is a Hugging Face model folder (weights, config and the
tokenizer together), so every agent accepts it as ``policy=`` and every env as ``tokenizer=``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from gymnasium.vector import VectorEnv
from torch import nn

from agents.base import Agent
from agents.metrics import Callback
from agents.options import LMOptions, check_int, check_non_negative, check_positive
from agents.persistence import config_from_dict
from agents.policies import LMActorCritic

if TYPE_CHECKING:
    import gymnasium as gym

__all__ = [
    "DEMONSTRATION_SEED_LIMIT",
    "SFT",
    "SFT_FILE",
    "Demonstration",
    "SFTConfig",
    "MAX_EXAMPLES",
    "check_columns",
    "demonstration_examples",
    "demonstration_seeds",
    "demonstrations_from_records",
    "expert_demonstrations",
    "masked_lm_loss",
]

DEMONSTRATION_SEED_LIMIT = 10_000
"""Expert demonstrations reset with seeds below this; evaluations use seeds at or above it."""
MAX_EXAMPLES = 1_000_000
"""The most rows ``max_examples`` may ask for."""
SFT_FILE = "sft.json"
"""The agent's own record in a saved folder (the rest is a Hugging Face model folder)."""
_AGENT_ROLES = ("assistant", "agent")
_ROLE_NAMES = {"customer": "user", "agent": "assistant"}


# ---------------------------------------------------------------------------------------
# config
# ---------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class SFTConfig(LMOptions):
    """Supervised fine-tuning settings (the sampling options of :class:`LMOptions` apply to
    evaluation and to the agents that continue from the policy)."""

    learning_rate: float = 1e-3
    """AdamW's learning rate."""
    weight_decay: float = 0.0
    """AdamW's decoupled weight decay."""
    epochs: int = 8
    """Passes over the demonstrations when ``learn()`` is given no step budget."""
    batch_size: int = 16
    """Demonstrations per optimizer step."""
    n_demonstrations: int = 64
    """Episodes the scripted expert plays (a table's rows are used up to ``max_examples``)."""
    data: str | None = None
    """A CSV, TSV, JSON or JSONL file of demonstrations, read with the ``columns`` mapping
    instead of playing the env's expert; ``None``: the expert (or ``SFT(demonstrations=)``)."""
    columns: dict[str, str] | None = None
    """The column mapping of a table: ``{"prompt": COL, "response": COL}`` or ``{"messages": COL}``
    (``SFT(columns=)`` replaces it)."""
    max_examples: int | None = None
    """Use only a table's first ``max_examples`` rows (at most ``MAX_EXAMPLES``); ``None``: all."""
    max_grad_norm: float | None = 1.0
    """Clip the gradient's global norm; ``None`` does not clip."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Unused (SFT trains LM policies only); kept so that the shared agent code applies."""
    reference: str = "none"
    """No frozen reference by default: SFT has no KL term."""

    lm_only: ClassVar[bool] = True
    """The hyperparameter table holds LM entries only (no ``mlp`` key)."""

    def __post_init__(self) -> None:
        if self.kl_coef != 0:
            raise ValueError(f"kl_coef must be 0 for SFT (it has no KL term); got {self.kl_coef}")
        super().__post_init__()
        check_positive(self, "learning_rate")
        check_non_negative(self, "weight_decay")
        check_int(self, "epochs", "batch_size", "n_demonstrations")
        if self.max_grad_norm is not None:
            check_positive(self, "max_grad_norm")
        if self.data is not None and (not isinstance(self.data, str) or not self.data.strip()):
            raise ValueError(f"data must be a file path (a non-empty string) or None; got {self.data!r}")
        if self.columns is not None:
            check_columns(self.columns)
        if self.data is not None and self.columns is None:
            raise ValueError(f"data={self.data!r} needs columns: {{'prompt': COL, 'response': COL}} "
                             "or {'messages': COL}")
        if self.max_examples is not None:
            check_int(self, "max_examples")
            if self.max_examples > MAX_EXAMPLES:
                raise ValueError(f"max_examples must be at most {MAX_EXAMPLES:,}; got {self.max_examples}")


# ---------------------------------------------------------------------------------------
# demonstrations
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Demonstration:
    """One training sequence: token ids and a loss mask (1 on the agent's tokens)."""

    input_ids: tuple[int, ...]
    loss_mask: tuple[int, ...]
    seed: int | None = None
    """The env seed the expert played (``None`` for a table's row)."""
    info: dict[str, Any] | None = None
    """The episode's last ``info`` (expert demonstrations): task, customer, success, ..."""

    def __post_init__(self) -> None:
        if len(self.input_ids) != len(self.loss_mask):
            raise ValueError(f"input_ids and loss_mask differ in length: {len(self.input_ids)} != {len(self.loss_mask)}")
        if not any(self.loss_mask):
            raise ValueError("a demonstration needs at least one trained (agent) token")

    @property
    def n_trained(self) -> int:
        return int(sum(self.loss_mask))


def demonstration_seeds(n: int, seed: int) -> list[int]:
    """``n`` distinct env seeds in ``[0, DEMONSTRATION_SEED_LIMIT)``, drawn with ``seed``."""
    if not 1 <= n <= DEMONSTRATION_SEED_LIMIT:
        raise ValueError(f"n_demonstrations must be in [1, {DEMONSTRATION_SEED_LIMIT}]; got {n}")
    rng = np.random.default_rng([int(seed), 0xD3])
    return [int(s) for s in rng.choice(DEMONSTRATION_SEED_LIMIT, size=n, replace=False)]


def _expert_env(env_id: str, env_kwargs: dict[str, Any]) -> Any:
    import gymnasium as gym

    import lm_envs  # noqa: F401  (registers the ids)

    kwargs = dict(env_kwargs)
    if "customers" in kwargs and kwargs["customers"] != "train":
        raise ValueError(f"expert demonstrations play training customers only; got customers={kwargs['customers']!r}")
    env = gym.make(env_id, **kwargs).unwrapped
    if hasattr(env, "customers") and env.customers != "train":  # an env with a customer split
        env = gym.make(env_id, **(kwargs | {"customers": "train"})).unwrapped
    if not callable(getattr(env, "expert_text", None)):
        raise TypeError(f"{env_id} has no scripted expert (an expert_text() method); pass demonstrations= "
                         "(a table of prompts and responses, or of chat transcripts)")
    return env


def expert_demonstrations(
    env_id: str, n: int, *, seed: int = 0, env_kwargs: dict[str, Any] | None = None, progress: bool = False
) -> list[Demonstration]:
    """``n`` episodes of the env's scripted expert (``env.unwrapped.expert_text()``), played
    through the env on :func:`demonstration_seeds` (and its training customers where it has a
    customer split), recorded token by token.

    Each agent turn is the expert's text after a space, cut to the env's turn budget, closed by
    the end-of-turn token (dialog) or EOS (single answer). The demonstration's tokens are the
    final context: the prompt and every customer reply masked out, the agent's tokens in.
    """
    env = _expert_env(env_id, dict(env_kwargs or {}))
    dialog = hasattr(env, "eot_token_id") and hasattr(env, "max_turn_tokens")
    stop = env.eot_token_id if dialog else env.eos_token_id
    budget = (env.max_turn_tokens if dialog else env.max_new_tokens) - 1
    from tqdm.auto import tqdm

    out = []
    for s in tqdm(demonstration_seeds(n, seed), desc="demonstrations", disable=not progress, leave=False):
        obs, _ = env.reset(seed=s)
        ids = obs["input_ids"][: int(obs["attention_mask"].sum())].tolist()
        mask = [0] * len(ids)
        queue: list[int] = []
        done, info = False, {}
        while not done:
            if not queue:
                queue = env.tokenizer.encode(" " + env.expert_text(), add_special_tokens=False)[:budget] + [stop]
            token = queue.pop(0)
            obs, _, terminated, truncated, info = env.step(token)
            done = bool(terminated or truncated)
            new = obs["input_ids"][len(ids) : int(obs["attention_mask"].sum())].tolist()
            ids += new
            mask += [1] + [0] * (len(new) - 1)
        out.append(Demonstration(tuple(ids), tuple(mask), seed=s, info=info))
    env.close()
    return out


def _messages(value: Any, label: str, position: int, column: str) -> list[dict[str, str]]:
    from lm_envs.data import DataError

    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as err:
            raise DataError(f"{label}: record {position}, column {column!r}: not a JSON list of messages ({err.msg})") from None
    if not isinstance(value, (list, tuple)) or not value:
        raise DataError(f"{label}: record {position}, column {column!r}: expected a non-empty list of "
                        f"{{'role', 'content'}} messages; got {type(value).__name__}")
    out = []
    for turn, message in enumerate(value):
        if not (isinstance(message, dict) and isinstance(message.get("role"), str) and isinstance(message.get("content"), str)):
            raise DataError(f"{label}: record {position}, column {column!r}, message {turn}: "
                            "expected a dict with string 'role' and 'content'")
        out.append({"role": _ROLE_NAMES.get(message["role"], message["role"]), "content": message["content"]})
    if not any(m["role"] in _AGENT_ROLES for m in out):
        raise DataError(f"{label}: record {position}, column {column!r}: no assistant turn to train on")
    return out


def _transcript(tokenizer: Any, messages: list[dict[str, str]], max_length: int) -> tuple[list[int], list[int]]:
    """A chat transcript rendered with the chat template, segment by segment."""

    def render(upto: int, generation: bool) -> str:
        if upto == 0:
            return ""
        return tokenizer.apply_chat_template(messages[:upto], add_generation_prompt=generation, tokenize=False)

    ids: list[int] = []
    mask: list[int] = []
    for i, message in enumerate(messages):
        agent = message["role"] in _AGENT_ROLES
        before = render(i, agent)  # an agent turn starts after the generation prompt
        if agent and i > 0 and render(i, False) != before:
            head = before[len(render(i, False)) :]
            segment = tokenizer.encode(head, add_special_tokens=False)
            ids += segment
            mask += [0] * len(segment)
        text = render(i + 1, False)[len(before) :]
        segment = tokenizer.encode(text, add_special_tokens=False)
        ids += segment
        mask += [int(agent)] * len(segment)
    return ids[:max_length], mask[:max_length]


def check_columns(columns: Any) -> None:
    """Raise a ValueError unless ``columns`` is ``{"prompt": COL, "response": COL}`` or
    ``{"messages": COL}`` with string column names."""
    if (not isinstance(columns, dict) or set(columns) not in ({"prompt", "response"}, {"messages"})
            or not all(isinstance(c, str) and c for c in columns.values())):
        raise ValueError("columns must map 'prompt' and 'response' to the table's columns, or 'messages' to a column "
                         f"of chat transcripts; got {columns!r}")


def demonstration_examples(
    source: Any, columns: dict[str, str], *, max_records: int | None = None
) -> tuple[list[Any], str]:
    """The checked rows of a table of demonstrations, before any tokenizer is involved.

    Returns ``(examples, label)``: per row a ``(prompt, response)`` pair or a list of
    ``{"role", "content"}`` messages (``customer``/``agent`` roles renamed ``user``/``assistant``),
    and the label errors name (the file path). Arguments and errors as
    :func:`demonstrations_from_records`.
    """
    from lm_envs.data import DataError, load_records, require_columns

    check_columns(columns)
    records, label = load_records(source, name="demonstrations")
    if max_records is not None:
        records = records[:max_records]
    require_columns(records, list(columns.values()), label)
    examples: list[Any] = []
    for position, record in enumerate(records):
        if "messages" in columns:
            examples.append(_messages(record[columns["messages"]], label, position, columns["messages"]))
            continue
        prompt, response = record[columns["prompt"]], record[columns["response"]]
        for name, value in (("prompt", prompt), ("response", response)):
            if not isinstance(value, str) or not value.strip():
                raise DataError(f"{label}: record {position}, column {columns[name]!r} ({name}): "
                                f"expected non-empty text; got {value!r}")
        examples.append((prompt, response))
    return examples, label


def demonstrations_from_records(
    source: Any,
    env: Any,
    columns: dict[str, str],
    *,
    max_records: int | None = None,
) -> list[Demonstration]:
    """Demonstrations from a table of (prompt, response) pairs or of chat transcripts.

    Args:
        source: a CSV/TSV/JSON/JSONL path, a list of dicts, a DataFrame or a ``datasets.Dataset``.
        env: the token env (``gym.Env``) whose prompt encoding, tokenizer and stop tokens apply.
        columns: ``{"prompt": COL, "response": COL}`` or ``{"messages": COL}``.
        max_records: use only the first ``max_records`` rows.

    Raises:
        ValueError: ``columns`` names neither form (or both).
        lm_envs.data.DataError: the file is missing or unreadable, or a column is missing,
            naming the file and the columns present, or a value cannot be used, naming the record.
    """
    from lm_envs.core import Task
    from lm_envs.data import DataError

    examples, label = demonstration_examples(source, columns, max_records=max_records)
    base = env.unwrapped
    tokenizer = base.tokenizer
    max_length = int(getattr(base, "max_length", 1 << 30))
    out = []
    for example in examples:
        if isinstance(example, list):
            ids, mask = _transcript(tokenizer, example, max_length)
        else:
            prompt, response = example
            stop = getattr(base, "eot_token_id", base.eos_token_id) if base.chat_template else base.eos_token_id
            head = list(base.encode_prompt(Task(prompt)))
            tail = tokenizer.encode(" " + response.strip(), add_special_tokens=False)[: base.max_new_tokens - 1] + [stop]
            ids, mask = head + tail, [0] * len(head) + [1] * len(tail)
        if any(mask):
            out.append(Demonstration(tuple(ids), tuple(mask)))
    if not out:
        raise DataError(f"{label}: no record has an agent response to train on")
    return out


# ---------------------------------------------------------------------------------------
# the loss
# ---------------------------------------------------------------------------------------


def masked_lm_loss(model: nn.Module, input_ids: torch.Tensor, loss_mask: torch.Tensor,
                   attention_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
    """Mean next-token cross-entropy of the tokens where ``loss_mask`` is 1.

    ``input_ids``, ``loss_mask`` (and ``attention_mask``, default all ones): ``(B, T)``, padded
    on the right. The logits at position ``t - 1`` predict token ``t``; a masked-out token
    (prompt, customer, padding) adds nothing. Returns the loss and the number of tokens in it.
    """
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1].float()
    targets = input_ids[:, 1:]
    weights = (loss_mask[:, 1:] * attention_mask[:, 1:]).float()
    n = int(weights.sum())
    losses = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none")
    return (losses * weights.reshape(-1)).sum() / max(n, 1), n


def _batch(demos: Sequence[Demonstration], pad: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    length = max(len(d.input_ids) for d in demos)
    ids = torch.full((len(demos), length), pad, dtype=torch.long)
    mask = torch.zeros((len(demos), length), dtype=torch.long)
    attention = torch.zeros((len(demos), length), dtype=torch.long)
    for row, d in enumerate(demos):
        n = len(d.input_ids)
        ids[row, :n] = torch.tensor(d.input_ids)
        mask[row, :n] = torch.tensor(d.loss_mask)
        attention[row, :n] = 1
    return ids.to(device), mask.to(device), attention.to(device)


# ---------------------------------------------------------------------------------------
# the agent
# ---------------------------------------------------------------------------------------


class SFT(Agent):
    """Supervised fine-tuning of an LM policy on demonstrations (loss on the agent's tokens).

    Args:
        env_or_id, policy, config, seed, env_kwargs, device, tensorboard_log: as for every
            agent (:class:`agents.base.Agent`); ``config`` is an :class:`SFTConfig`, a dict of
            its fields over the table's (``agents/hyperparams/sft.yml``), or ``None``.
        demonstrations: ``None`` for ``config.data`` when it is set, else the env's scripted
            expert on training seeds and customers (``config.n_demonstrations`` episodes); a
            table (see :func:`demonstrations_from_records`) with ``columns``; or a list of
            :class:`Demonstration`. A table's first ``config.max_examples`` rows are used.
        columns: the column mapping of a table (default: ``config.columns``).
    """

    config_class: ClassVar[type] = SFTConfig
    algorithm: ClassVar[str | None] = "sft"

    def __init__(
        self,
        env_or_id: str | gym.Env | VectorEnv,
        policy: str | nn.Module = "auto",
        config: SFTConfig | dict[str, Any] | None = None,
        *,
        seed: int = 0,
        env_kwargs: dict[str, Any] | None = None,
        device: str | torch.device = "cpu",
        tensorboard_log: str | None = None,
        demonstrations: Any = None,
        columns: dict[str, str] | None = None,
    ) -> None:
        super().__init__(env_or_id, policy, config, seed=seed, env_kwargs=env_kwargs, device=device,
                         tensorboard_log=tensorboard_log)
        if not isinstance(self.policy, LMActorCritic):
            raise TypeError("SFT trains LM policies on token envs; got an MLP policy")
        self.policy_name = policy if isinstance(policy, str) else None
        if demonstrations is not None and self.config.data is not None:
            raise ValueError(f"give demonstrations= or config.data, not both (data={self.config.data!r})")
        self._demonstration_source = demonstrations
        self._columns = columns
        self._demonstrations: list[Demonstration] | None = None
        self.epochs_done = 0

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.policy.parameters(), lr=self.config.learning_rate,
                                 weight_decay=self.config.weight_decay)

    @property
    def demonstrations(self) -> list[Demonstration]:
        """The training demonstrations (built on first use)."""
        if self._demonstrations is None:
            source = self._demonstration_source if self.config.data is None else self.config.data
            if source is None:
                if self.env_id is None:
                    raise ValueError("expert demonstrations are played on an env built from its id; "
                                     "pass an env id, or demonstrations=")
                self._demonstrations = expert_demonstrations(
                    self.env_id, self.config.n_demonstrations, seed=self.seed, env_kwargs=self.env_kwargs, progress=True)
            elif isinstance(source, (list, tuple)) and source and all(isinstance(d, Demonstration) for d in source):
                self._demonstrations = list(source)
            else:
                columns = self._columns if self._columns is not None else self.config.columns
                if columns is None:
                    raise ValueError("a table of demonstrations needs columns= ({'prompt': COL, 'response': COL} "
                                     "or {'messages': COL})")
                self._demonstrations = demonstrations_from_records(
                    source, self.env.env if hasattr(self.env, "env") else self.env, columns,
                    max_records=self.config.max_examples)
        return self._demonstrations

    def learn(self, total_steps: int | None = None, callback: Callback | None = None) -> SFT:
        """Train on the demonstrations: ``config.epochs`` epochs, or until ``total_steps``
        trained (agent) tokens have been seen (the counterpart of an RL agent's env steps; the
        last batch finishes). One metrics row per optimizer step."""
        demos = self.demonstrations
        cfg = self.config
        per_epoch = sum(d.n_trained for d in demos)
        target = self.num_timesteps + (per_epoch * cfg.epochs if total_steps is None else int(total_steps))
        pad = int(self.env.env.pad_token_id) if hasattr(self.env, "env") else 0
        self.policy.train()
        model = self.policy.model
        try:
            while self.num_timesteps < target:
                order = torch.randperm(len(demos), generator=self.shuffle_generator).tolist()
                for start in range(0, len(order), cfg.batch_size):
                    begin = time.perf_counter()
                    ids, mask, attention = _batch([demos[i] for i in order[start : start + cfg.batch_size]], pad,
                                                  self.device)
                    loss, n = masked_lm_loss(model, ids, mask, attention)
                    self._check_finite(loss, self.num_updates)
                    norm = self._clip_and_step(loss, cfg.max_grad_norm)
                    self.num_timesteps += n
                    self.num_updates += 1
                    seconds = time.perf_counter() - begin
                    row = {"update": self.num_updates, "timesteps": self.num_timesteps, "epoch": self.epochs_done,
                           "loss": loss.item(), "grad_norm": norm, "tokens_per_s": n / max(seconds, 1e-9),
                           "learning_rate": self.optimizer.param_groups[0]["lr"]}
                    if not self._end_update(row, callback) or self.num_timesteps >= target:
                        return self
                self.epochs_done += 1
        finally:
            self.policy.eval()
            self.rollout.require_reset()
        return self

    # -- save / load ------------------------------------------------------------------------

    def save(self, path: str | Path, *, include_reference: bool = False) -> None:
        """Write a Hugging Face model folder (``config.json``, ``model.safetensors``, the
        tokenizer files) plus ``sft.json`` (the agent's config, seed, env and counters).

        Any agent takes the folder as ``policy=`` and any env as ``tokenizer=``. The folder is
        written beside its destination and moved into place, so a reader never sees half of it.
        """
        out = Path(path)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        self.policy.model.save_pretrained(tmp, safe_serialization=True)
        tokenizer = getattr(getattr(self.env, "env", None), "tokenizer", None)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        try:
            env_kwargs = json.loads(json.dumps(self.env_kwargs))
        except TypeError as err:
            raise ValueError(f"env_kwargs must be JSON-serialisable to save the agent: {err}") from None
        meta = {"algorithm": type(self).__name__, "config": asdict(self.config), "seed": self.seed,
                "env_id": self.env_id, "env_kwargs": env_kwargs, "base_policy": self.policy_name,
                "num_timesteps": self.num_timesteps, "num_updates": self.num_updates,
                "n_demonstrations": None if self._demonstrations is None else len(self._demonstrations),
                "demonstration_seeds": None if self._demonstrations is None
                else [d.seed for d in self._demonstrations if d.seed is not None]}
        (tmp / SFT_FILE).write_text(json.dumps(meta, indent=2))
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(out)

    @classmethod
    def load(cls, path: str | Path, env: str | gym.Env | VectorEnv | None = None, *,
             device: str | torch.device = "cpu") -> SFT:
        """Rebuild an SFT agent saved by :meth:`save` (its demonstrations are rebuilt on the next ``learn``)."""
        src = Path(path)
        meta_file = src / SFT_FILE
        if not meta_file.is_file():
            raise ValueError(f"{src} has no {SFT_FILE}: not a folder written by SFT.save")
        meta = json.loads(meta_file.read_text())
        env_or_id = env if env is not None else meta["env_id"]
        if env_or_id is None:
            raise ValueError("this agent was trained on an env instance; pass env= to load it")
        agent = cls(env_or_id, policy=str(src), config=config_from_dict(SFTConfig, meta["config"]), seed=meta["seed"],
                    env_kwargs=meta["env_kwargs"] if env is None else None, device=device)
        agent.policy_name = meta.get("base_policy")
        agent.num_timesteps = int(meta["num_timesteps"])
        agent.num_updates = int(meta["num_updates"])
        return agent


"""Pretrain the tiny-shop tokenizer and GPT-2 model on the shop world's corpus.

Reads top to bottom: config, corpus, tokenizer, packing, model, training loop, save, then
the recipes that chain runs into the shipped models.

    python -m lm_envs.models.pretrain --steps 3000 --out runs/tiny_shop
    python -m lm_envs.models.pretrain --recipe tiny-shop --out runs/tiny-shop-rebuilt

A recipe (``recipes.yml`` beside this file) rebuilds a shipped model from this checkout in
one command: its stages run in order, each continuing from the one before, and the output
folder's ``training.json`` records the recipe, every stage's settings and losses, the commit
and the run time.

The output folder holds ``tokenizer.json``, ``tokenizer_config.json``, ``config.json``,
``generation_config.json``, ``model.safetensors`` and ``training.json`` (this config plus
the final losses), and loads with ``load_tokenizer(path)`` / ``load_policy(path)``.
Given the same arguments and thread count the result is identical run to run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lm_envs.models.tiny_shop import make_model_config, train_tokenizer

__all__ = [
    "RECIPES_FILE",
    "PretrainConfig",
    "PretrainResult",
    "load_corpus",
    "load_recipes",
    "main",
    "pack",
    "pretrain",
    "recipe_stages",
    "run_recipe",
    "stage_settings",
]

RECIPES_FILE = Path(__file__).resolve().parent / "recipes.yml"
"""The recipes of the shipped models (``--recipe NAME``)."""


@dataclass
class PretrainConfig:
    out: str = "runs/tiny_shop"
    """Output folder (created if missing; files in it are overwritten)."""
    steps: int = 3000
    """Optimizer steps."""
    seed: int = 0
    """Seed of model init, data split and batch sampling."""
    world_seed: int = 0
    """Seed of the shop world whose corpus is the training text."""
    corpus_seed: int = 0
    """Seed of the corpus (``pretraining_corpus(world, seed)``)."""
    copy_exercises: int = 0
    """Reading exercises mixed into the world corpus (``pretraining_corpus(n_copy_exercises=...)``)."""
    exercise_version: int = 5
    """Version of the reading-exercise generator (``lm_envs.models.exercises.EXERCISE_VERSIONS``)."""
    experience_notes: int = 0
    """Buying-experience notes added to the world corpus (``pretraining_corpus(n_experience_notes=...)``)."""
    corpus_file: str | None = None
    """Train on this file instead of the world corpus: ``.jsonl`` with a ``text`` field, or
    ``.txt`` with one text per line."""
    init_from: str | None = None
    """Continue from this saved folder (its tokenizer and weights; the model-shape fields
    below are then ignored) instead of training a new tokenizer and a fresh model."""
    max_docs: int | None = None
    """Keep only the first ``max_docs`` texts (for quick runs and tests)."""
    split_digits: bool = False
    """Train the tokenizer with one token per digit (a fresh run only)."""
    vocab_size: int = 3000
    """Tokenizer vocabulary size, including 256 byte tokens and the special tokens."""
    n_embd: int = 160
    """Model width."""
    n_layer: int = 4
    """Transformer blocks."""
    n_head: int = 4
    """Attention heads per block."""
    n_positions: int = 512
    """Maximum context length of the model."""
    seq_len: int = 256
    """Tokens per training window (at most ``n_positions``)."""
    batch_size: int = 16
    """Windows per optimizer step."""
    lr: float = 2e-3
    """Peak learning rate of AdamW."""
    min_lr_ratio: float = 0.1
    """The cosine schedule decays to ``lr * min_lr_ratio``."""
    warmup_steps: int = 100
    """Linear warmup steps before the cosine decay."""
    weight_decay: float = 0.1
    """AdamW weight decay, on matrices only (not biases, norms, embeddings)."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value."""
    val_fraction: float = 0.02
    """Fraction of texts held out for the validation loss."""
    eval_every: int = 250
    """Evaluate the validation loss every this many steps (and at the end)."""
    threads: int | None = None
    """Torch CPU threads; defaults to the number of cores (at most 8). Results are
    reproducible for a fixed thread count."""
    samples: int = 3
    """Texts to sample and print after training."""
    progress: bool = True
    """Show a tqdm progress bar."""


@dataclass
class PretrainResult:
    out: Path
    """Folder the tokenizer and model were saved to."""
    train_loss: float
    """Mean training loss over the last steps (at most 50)."""
    val_loss: float
    """Validation loss at the end (nan without validation texts)."""
    samples: list[str]
    """Sampled texts from the trained model."""


def load_corpus(cfg: PretrainConfig) -> list[str]:
    """Training texts: the shop world's corpus, or ``cfg.corpus_file`` if given."""
    if cfg.corpus_file is not None:
        path = Path(cfg.corpus_file)
        with path.open(encoding="utf-8") as f:
            if path.suffix == ".jsonl":
                texts = [json.loads(line)["text"] for line in f if line.strip()]
            else:
                texts = [line.rstrip("\n") for line in f if line.strip()]
    else:
        from lm_envs.models.exercises import pretraining_corpus
        from lm_envs.world import make_world

        world = make_world(seed=cfg.world_seed)
        texts = pretraining_corpus(world, cfg.corpus_seed, n_copy_exercises=cfg.copy_exercises,
                                   n_experience_notes=cfg.experience_notes, exercise_version=cfg.exercise_version)
    texts = [t for t in texts if t]
    if cfg.max_docs is not None:
        texts = texts[: cfg.max_docs]
    if not texts:
        raise ValueError("the training corpus is empty")
    return texts


def pack(token_ids: list[list[int]], eos_id: int) -> torch.Tensor:
    """Concatenate token sequences into one stream, each text preceded by EOS.

    ``[eos, t1..., eos, t2..., eos]``: EOS marks both the start (BOS) and the end of every
    text, so the model learns to start from EOS and to stop with it.

    Returns:
        int64 tensor of shape ``(total_tokens,)``.
    """
    stream: list[int] = []
    for ids in token_ids:
        stream.append(eos_id)
        stream.extend(ids)
    stream.append(eos_id)
    return torch.tensor(stream, dtype=torch.long)


def _windows(stream: torch.Tensor, starts: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Rows ``stream[s : s + seq_len]`` for each start; shape ``(len(starts), seq_len)``."""
    return stream[starts[:, None] + torch.arange(seq_len)[None, :]]


def _lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warmup then cosine decay to ``lr * min_lr_ratio`` (Loshchilov & Hutter, 2017)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    ratio = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))
    return cfg.lr * ratio


@torch.no_grad()
def _val_loss(model, stream: torch.Tensor, seq_len: int, batch_size: int) -> float:
    """Mean loss over non-overlapping windows of ``stream`` (at most 64 windows)."""
    n = (len(stream) - 1) // seq_len
    if n == 0:
        return float("nan")
    starts = torch.arange(min(n, 64)) * seq_len
    model.eval()
    losses = []
    for i in range(0, len(starts), batch_size):
        x = _windows(stream, starts[i : i + batch_size], seq_len)
        losses.append(model(input_ids=x, labels=x).loss.item() * len(x))
    model.train()
    return sum(losses) / len(starts)


def pretrain(cfg: PretrainConfig) -> PretrainResult:
    """Train the tokenizer and the model as configured and save both to ``cfg.out``."""
    from tqdm.auto import tqdm
    from transformers import GenerationConfig, GPT2LMHeadModel

    if cfg.seq_len > cfg.n_positions:
        raise ValueError(f"seq_len ({cfg.seq_len}) must be <= n_positions ({cfg.n_positions})")
    torch.set_num_threads(cfg.threads or min(8, os.cpu_count() or 1))
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)

    # 1. corpus, split by text so validation windows are unseen text
    texts = load_corpus(cfg)
    order = torch.randperm(len(texts), generator=gen).tolist()
    n_val = int(len(texts) * cfg.val_fraction)
    val_texts = [texts[i] for i in order[:n_val]]
    train_texts = [texts[i] for i in order[n_val:]]

    # 2. tokenizer, trained on the training texts only (or the one being continued)
    if cfg.init_from is not None:
        from lm_envs.models.loading import load_tokenizer

        tokenizer = load_tokenizer(cfg.init_from)
    else:
        tokenizer = train_tokenizer(train_texts, vocab_size=cfg.vocab_size, split_digits=cfg.split_digits)
    eos = tokenizer.eos_token_id
    train_stream = pack(tokenizer(train_texts)["input_ids"], eos)
    val_stream = pack(tokenizer(val_texts)["input_ids"], eos) if val_texts else torch.zeros(0, dtype=torch.long)
    seq_len = min(cfg.seq_len, len(train_stream) - 1)
    if seq_len < 2:
        raise ValueError("the training corpus is too short to make a single window")
    print(
        f"corpus: {len(train_texts)} train / {len(val_texts)} val texts, "
        f"{len(train_stream)} train tokens, vocab {len(tokenizer)}",
        file=sys.stderr,
    )

    # 3. model
    if cfg.init_from is not None:
        model = GPT2LMHeadModel.from_pretrained(cfg.init_from, local_files_only=True)
    else:
        model = GPT2LMHeadModel(
            make_model_config(
                tokenizer, n_embd=cfg.n_embd, n_layer=cfg.n_layer, n_head=cfg.n_head, n_positions=cfg.n_positions
            )
        )
    model.train()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters", file=sys.stderr)
    # weight decay on matrices only, as in GPT-2/nanoGPT; embeddings (tied with the head) excluded
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "wte" not in n and "wpe" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "wte" not in n and "wpe" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )

    # 4. training loop: random windows of the packed stream
    recent: list[float] = []
    val_loss = float("nan")
    bar = tqdm(range(cfg.steps), desc="pretrain", disable=not cfg.progress, mininterval=2.0)
    t0 = time.perf_counter()
    for step in bar:
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        starts = torch.randint(0, len(train_stream) - seq_len + 1, (cfg.batch_size,), generator=gen)
        x = _windows(train_stream, starts, seq_len)
        loss = model(input_ids=x, labels=x).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        recent = (recent + [loss.item()])[-50:]
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            val_loss = _val_loss(model, val_stream, seq_len, cfg.batch_size)
            bar.write(f"step {step + 1}: train loss {sum(recent) / len(recent):.4f}, val loss {val_loss:.4f}")
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{optimizer.param_groups[0]['lr']:.2e}")
    bar.close()
    train_loss = sum(recent) / len(recent) if recent else float("nan")
    elapsed = time.perf_counter() - t0

    # 5. save: tokenizer, model (safetensors only), provenance
    model.eval()
    model.generation_config = GenerationConfig(
        bos_token_id=eos, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id
    )
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    # the chat template goes into tokenizer_config.json: package data ships *.json only
    tokenizer.save_pretrained(out, save_jinja_files=False)
    model.save_pretrained(out, safe_serialization=True)
    for f in out.iterdir():  # transformers writes some files 0600; package data must be readable
        f.chmod(0o644)
    previous = Path(cfg.init_from) / "training.json" if cfg.init_from is not None else None
    info = {
        "config": dataclasses.asdict(cfg) | {"out": None},
        # a continued run keeps the record of the run it started from
        "continued_from": json.loads(previous.read_text()) if previous and previous.exists() else None,
        "n_params": n_params,
        "train_tokens": len(train_stream),
        "train_loss": train_loss,
        "val_loss": val_loss,
        "seconds": round(elapsed, 1),
        "torch": torch.__version__,
        "commit": _commit(),
    }
    (out / "training.json").write_text(json.dumps(info, indent=2) + "\n")

    # 6. a few samples, to eyeball fluency
    samples = []
    sample_gen = torch.Generator().manual_seed(cfg.seed)
    for _ in range(cfg.samples):
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=sample_gen)))
        with torch.no_grad():
            y = model.generate(
                torch.tensor([[eos]]), do_sample=True, top_k=50, max_new_tokens=60, pad_token_id=tokenizer.pad_token_id
            )
        samples.append(tokenizer.decode(y[0, 1:], skip_special_tokens=True))
    print(f"done in {elapsed:.0f}s: train loss {train_loss:.4f}, val loss {val_loss:.4f}; saved to {out}")
    for s in samples:
        print("sample:", repr(s))
    return PretrainResult(out=out, train_loss=train_loss, val_loss=val_loss, samples=samples)


# ------------------------------------------------------------------------------- recipes


def _commit() -> str | None:
    """The checkout's commit (``-dirty`` when tracked files differ from it); ``None`` outside git."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=here, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


# fields a stage may not set: the recipe chains the folders, and a recipe trains on the world
_RECIPE_MANAGED = {"out", "init_from", "corpus_file", "progress"}


def load_recipes(path: str | os.PathLike[str] = RECIPES_FILE) -> dict[str, dict[str, Any]]:
    """Read and check a recipes file (``recipes.yml`` by default).

    Returns:
        ``{name: {"description", "shipped_dir", "minutes_on_2_cores", "stages"}}``, each stage a
        dict of ``name`` plus :class:`PretrainConfig` fields. Raises ``ValueError`` naming the
        recipe and stage of an unknown field, a missing or repeated stage name, or no stages.
    """
    import yaml

    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping of recipe names to recipes")
    fields = {f.name for f in dataclasses.fields(PretrainConfig)} - _RECIPE_MANAGED
    for name, recipe in raw.items():
        stages = recipe.get("stages") if isinstance(recipe, dict) else None
        if not isinstance(stages, list) or not stages:
            raise ValueError(f"{path}: recipe {name!r} needs a non-empty list of stages")
        unknown = set(recipe) - {"description", "shipped_dir", "minutes_on_2_cores", "stages"}
        if unknown:
            raise ValueError(f"{path}: recipe {name!r} has unknown keys {sorted(unknown)}")
        seen = set()
        for i, stage in enumerate(stages):
            if not isinstance(stage, dict) or not isinstance(stage.get("name"), str) or stage["name"] in seen:
                raise ValueError(f"{path}: stage {i} of recipe {name!r} needs a name of its own")
            seen.add(stage["name"])
            bad = set(stage) - fields - {"name"}
            if bad:
                raise ValueError(f"{path}: stage {stage['name']!r} of recipe {name!r} sets {sorted(bad)}, "
                                 f"which are not settings a stage may set; allowed: {sorted(fields)}")
    return raw


def recipe_stages(name: str, work: str | os.PathLike[str], *,
                  recipes: str | os.PathLike[str] = RECIPES_FILE) -> list[tuple[str, PretrainConfig]]:
    """The stages of recipe ``name`` as ``(stage name, config)``, each writing to its folder in ``work``.

    A stage's folder is named by the stage and a hash of every stage up to it, so two recipes
    that start alike share their first folders, and a changed stage trains anew.
    """
    all_recipes = load_recipes(recipes)
    if name not in all_recipes:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(all_recipes))}")
    stages, chain, previous = [], [], None
    for stage in all_recipes[name]["stages"]:
        settings = {k: v for k, v in stage.items() if k != "name"}
        chain.append(settings)
        digest = hashlib.sha256(json.dumps(chain, sort_keys=True).encode()).hexdigest()[:10]
        folder = Path(work) / f"{stage['name']}-{digest}"
        stages.append((stage["name"], PretrainConfig(**settings, out=str(folder), init_from=previous)))
        previous = str(folder)
    return stages


def stage_settings(cfg: PretrainConfig) -> dict[str, Any]:
    """The settings of a recipe stage that differ from :class:`PretrainConfig`'s defaults
    (the folders it reads and writes left out): what ``training.json`` records per stage."""
    defaults = dataclasses.asdict(PretrainConfig())
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _RECIPE_MANAGED and v != defaults[k]}


def run_recipe(name: str, out: str | os.PathLike[str], *, work: str | os.PathLike[str] = "runs/recipes",
               recipes: str | os.PathLike[str] = RECIPES_FILE, progress: bool = True) -> Path:
    """Run the stages of recipe ``name`` (reusing finished ones in ``work``) and save the model to ``out``.

    ``out`` (replaced whole, atomically) gets the last stage's files and a ``training.json``
    with the recipe: the command, each stage's settings that differ from the defaults, its
    losses, tokens and seconds, the commit and the date. Returns ``out``.
    """
    stages = recipe_stages(name, work, recipes=recipes)
    minutes = load_recipes(recipes)[name].get("minutes_on_2_cores")
    if minutes is not None:
        print(f"recipe {name}: {len(stages)} stages, about {minutes} minutes on 2 quiet cores", file=sys.stderr)
    records = []
    for stage_name, cfg in stages:
        folder = Path(cfg.out)
        if (folder / "training.json").is_file():  # written last: a finished stage
            print(f"recipe {name}: stage {stage_name} reused from {folder}", file=sys.stderr)
        else:
            print(f"recipe {name}: stage {stage_name} -> {folder}", file=sys.stderr)
            tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            pretrain(dataclasses.replace(cfg, out=str(tmp), progress=progress))
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        info = json.loads((folder / "training.json").read_text())
        records.append({"stage": stage_name, "settings": stage_settings(cfg),
                        **{k: info.get(k) for k in ("train_tokens", "train_loss", "val_loss", "seconds", "commit")}})
    import transformers

    last = Path(stages[-1][1].out)
    target = Path(out)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(last, tmp)
    last_info = json.loads((last / "training.json").read_text())
    recipe = load_recipes(recipes)[name]
    record = {
        "model": name,
        "description": recipe.get("description"),
        "command": f"python -m lm_envs.models.pretrain --recipe {name}",
        "commit": _commit(),
        "date": datetime.date.today().isoformat(),
        "n_params": last_info["n_params"],
        "stages": records,
        "seconds": round(sum(r["seconds"] for r in records), 1),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    (tmp / "training.json").write_text(json.dumps(record, indent=2) + "\n")
    for f in tmp.iterdir():
        f.chmod(0o644)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(target)
    print(f"recipe {name}: saved to {target} ({record['seconds'] / 60:.0f} min of training)")
    return target


def _parse(argv: list[str] | None) -> PretrainConfig:
    p = argparse.ArgumentParser(prog="python -m lm_envs.models.pretrain", description=__doc__.split("\n")[0])
    p.add_argument("--recipe", default=None, help="run this recipe of recipes.yml (tiny-shop, tiny-shop-reader); "
                   "then only --out (default: runs/NAME), --work, --recipes-file and --[no-]progress apply")
    p.add_argument("--work", default="runs/recipes", help="a recipe's stage folders (default: runs/recipes)")
    p.add_argument("--recipes-file", default=str(RECIPES_FILE), help="(default: the shipped recipes.yml)")
    defaults = PretrainConfig()
    for f in dataclasses.fields(PretrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        if f.type == "bool":
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
            continue
        kind = {"int": int, "float": float, "str": str}[f.type.split(" |")[0]]
        p.add_argument(flag, type=kind, default=default, help=f"(default: {default})")
    args = vars(p.parse_args(argv))
    recipe = {k: args.pop(k) for k in ("recipe", "work", "recipes_file")}
    if recipe["recipe"] is None:
        return PretrainConfig(**args)
    changed = sorted(k for k, v in args.items() if k not in ("out", "progress") and v != getattr(defaults, k))
    if changed:
        p.error(f"--recipe sets every training setting itself; drop {', '.join('--' + k.replace('_', '-') for k in changed)}")
    out = f"runs/{recipe['recipe']}" if args["out"] == defaults.out else args["out"]
    return recipe | {"out": out, "progress": args["progress"]}


def main(argv: list[str] | None = None) -> PretrainResult | Path:
    """Command-line entry point; ``argv`` defaults to ``sys.argv[1:]``."""
    parsed = _parse(argv)
    if isinstance(parsed, dict):
        return run_recipe(parsed["recipe"], parsed["out"], work=parsed["work"], recipes=parsed["recipes_file"],
                          progress=parsed["progress"])
    return pretrain(parsed)


if __name__ == "__main__":
    main()

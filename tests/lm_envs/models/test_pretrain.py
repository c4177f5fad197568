"""python -m lm_envs.models.pretrain end to end, and its pure pieces."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lm_envs.models import load_policy, load_tokenizer, special_token_ids
from lm_envs.models.pretrain import PretrainConfig, _lr_at, main, pack

TINY = ["--steps", "4", "--batch-size", "4", "--seq-len", "32", "--vocab-size", "400", "--n-embd", "32",
        "--n-layer", "2", "--n-head", "2", "--eval-every", "2", "--threads", "1", "--samples", "1", "--no-progress"]


def test_pretrain_end_to_end_on_world_corpus(tmp_path):
    out = tmp_path / "tiny"
    result = main(TINY + ["--out", str(out), "--max-docs", "300"])
    names = {p.name for p in out.iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors", "training.json"} <= names
    assert all(n.endswith((".json", ".safetensors")) for n in names), sorted(names)  # no pickle, no .jinja
    assert result.train_loss == pytest.approx(json.loads((out / "training.json").read_text())["train_loss"])

    tok, model = load_tokenizer(out), load_policy(str(out))
    assert model.config.vocab_size == len(tok) <= 400
    ids = special_token_ids(tok)
    assert ids == {"eos": 0, "pad": 1, "eot": 2}
    assert tok.chat_template is not None
    assert (model.config.eos_token_id, model.config.pad_token_id) == (ids["eos"], ids["pad"])
    y = model.generate(torch.tensor([[ids["eos"]]]), max_new_tokens=8, do_sample=False)
    assert y.shape[1] > 1
    assert isinstance(tok.decode(y[0]), str)


def test_pretrain_is_deterministic(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    lines = [{"text": f"The {c} lamp is {a}. I {v} it!"} for c in ("red", "blue", "green") for a in ("great", "bad")
             for v in ("love", "hate")]
    corpus.write_text("\n".join(json.dumps(x) for x in lines * 5) + "\n")
    runs = []
    for name in ("a", "b"):
        main(TINY + ["--out", str(tmp_path / name), "--corpus-file", str(corpus), "--vocab-size", "300"])
        runs.append(load_file(tmp_path / name / "model.safetensors"))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert (tmp_path / "a" / "tokenizer.json").read_text() == (tmp_path / "b" / "tokenizer.json").read_text()


def test_pack_separates_texts_with_eos():
    assert pack([[5, 6], [7], []], eos_id=0).tolist() == [0, 5, 6, 0, 7, 0, 0]


def test_lr_schedule_warmup_then_cosine():
    cfg = PretrainConfig(steps=110, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert _lr_at(0, cfg) == pytest.approx(0.1)
    assert _lr_at(9, cfg) == pytest.approx(1.0)
    assert _lr_at(10, cfg) == pytest.approx(1.0)
    assert _lr_at(60, cfg) == pytest.approx(0.55)  # halfway: 0.1 + 0.9 * 0.5
    assert _lr_at(110, cfg) == pytest.approx(0.1)


def test_seq_len_longer_than_context_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="seq_len"):
        main(TINY + ["--out", str(tmp_path), "--seq-len", "1024", "--n-positions", "512"])


def test_pretrain_continues_from_a_saved_model(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    main(TINY + ["--out", str(first), "--max-docs", "200"])
    main(TINY + ["--out", str(second), "--max-docs", "200", "--copy-exercises", "50", "--init-from", str(first)])
    # same tokenizer, weights moved on from the first run's, and the record of both runs kept
    assert (first / "tokenizer.json").read_text() == (second / "tokenizer.json").read_text()
    a, b = load_file(first / "model.safetensors"), load_file(second / "model.safetensors")
    assert a.keys() == b.keys() and not all(torch.equal(a[k], b[k]) for k in a)
    info = json.loads((second / "training.json").read_text())
    assert info["config"]["init_from"] == str(first) and info["config"]["copy_exercises"] == 50
    assert info["continued_from"]["config"]["init_from"] is None


# ---------------------------------------------------------------------------------- recipes

TINY_STAGE = {"batch_size": 4, "seq_len": 32, "vocab_size": 400, "n_embd": 32, "n_layer": 2, "n_head": 2,
              "eval_every": 2, "threads": 1, "samples": 1, "max_docs": 200}


def _recipes_file(tmp_path, stages):
    import yaml

    path = tmp_path / "recipes.yml"
    path.write_text(yaml.safe_dump({"tiny": {"description": "test", "stages": stages}}))
    return path


def test_shipped_recipes_parse():
    from lm_envs.models import tiny_shop
    from lm_envs.models.pretrain import load_recipes, recipe_stages

    recipes = load_recipes()
    assert {"tiny-shop", "tiny-shop-reader"} <= set(recipes)
    for name, recipe in recipes.items():
        assert (tiny_shop.SHIPPED_DIR.parent / recipe["shipped_dir"] / "model.safetensors").is_file()
        stages = recipe_stages(name, "work")
        assert stages[0][1].init_from is None
        for (_, before), (_, after) in zip(stages, stages[1:]):
            assert after.init_from == before.out  # each stage continues from the one before
        assert all(cfg.seq_len <= cfg.n_positions and cfg.steps > 0 for _, cfg in stages)
    # both models start from the same base stage, so it trains once
    assert recipe_stages("tiny-shop", "w")[0] == recipe_stages("tiny-shop-reader", "w")[0]


def test_recipe_with_an_unknown_setting_is_named(tmp_path):
    from lm_envs.models.pretrain import load_recipes

    path = _recipes_file(tmp_path, [{"name": "base", "stpes": 3}])
    with pytest.raises(ValueError, match="stpes"):
        load_recipes(path)
    path = _recipes_file(tmp_path, [{"name": "base", "init_from": "elsewhere"}])
    with pytest.raises(ValueError, match="init_from"):
        load_recipes(path)
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        main(["--recipe", "nope", "--recipes-file", str(_recipes_file(tmp_path, [{"name": "a"}]))])


def test_recipe_refuses_training_flags(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--recipe", "tiny-shop", "--steps", "5", "--work", str(tmp_path)])
    assert "--steps" in capsys.readouterr().err


def test_recipe_runs_its_stages_and_records_them(tmp_path):
    path = _recipes_file(tmp_path, [{"name": "base", "steps": 3, **TINY_STAGE},
                                    {"name": "more", "steps": 2, "copy_exercises": 40, **TINY_STAGE}])
    work, out = tmp_path / "work", tmp_path / "model"
    args = ["--recipe", "tiny", "--recipes-file", str(path), "--work", str(work), "--out", str(out), "--no-progress"]
    main(args)
    info = json.loads((out / "training.json").read_text())
    assert info["model"] == "tiny" and info["command"] == "python -m lm_envs.models.pretrain --recipe tiny"
    assert "commit" in info and "date" in info
    assert "continued_from" not in info and "config" not in info  # the recipe, not a history of runs
    assert [s["stage"] for s in info["stages"]] == ["base", "more"]
    assert info["stages"][1]["settings"]["copy_exercises"] == 40 and "init_from" not in info["stages"][1]["settings"]
    assert info["seconds"] == pytest.approx(sum(s["seconds"] for s in info["stages"]), abs=0.2)
    first = load_file(out / "model.safetensors")
    load_policy(str(out))

    # a second run reuses both stages and writes the same weights
    stage_files = sorted(work.glob("*/model.safetensors"))
    assert len(stage_files) == 2
    mtimes = [p.stat().st_mtime_ns for p in stage_files]
    main(args)
    assert [p.stat().st_mtime_ns for p in stage_files] == mtimes
    second = load_file(out / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_shipped_models_record_their_recipe():
    from lm_envs.models import tiny_shop
    from lm_envs.models.pretrain import load_recipes, recipe_stages, stage_settings

    for name, recipe in load_recipes().items():
        info = json.loads((tiny_shop.SHIPPED_DIR.parent / recipe["shipped_dir"] / "training.json").read_text())
        assert info["model"] == name and info["command"] == f"python -m lm_envs.models.pretrain --recipe {name}"
        assert info["commit"] and "continued_from" not in info and "config" not in info
        # the stages that made the shipped weights are the recipe's, setting for setting
        assert [s["stage"] for s in info["stages"]] == [stage["name"] for stage in recipe["stages"]]
        for record, (_, cfg) in zip(info["stages"], recipe_stages(name, "work")):
            assert record["settings"] == stage_settings(cfg), (name, record["stage"])

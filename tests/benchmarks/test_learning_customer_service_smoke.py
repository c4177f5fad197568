"""`python -m benchmarks.learning customer_service` on a tiny budget: two PPO seeds in two
worker processes, the oracle row, the table and the verdict line, and results.json."""

from __future__ import annotations

import json
import re

import pytest
import torch

from benchmarks.learning.__main__ import main


def run_benchmark(*args: str) -> int:
    """``python -m benchmarks.learning customer_service ARGS``, restoring the thread count it sets."""
    threads = torch.get_num_threads()
    try:
        return main(["customer_service", *args])
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow
def test_customer_service_benchmark_runs_seeds_in_workers(tmp_path, capsys):
    code = run_benchmark("--policies", "oracle", "untrained", "ppo", "--seeds", "0", "1",
                         "--workers", "2", "--ppo-steps", "256", "--eval-episodes", "16", "--no-dialog",
                         "--out", str(tmp_path))
    assert code == 0
    out = capsys.readouterr().out
    # the oracle states every fact of the reference answer
    assert re.search(r"^\| reference oracle \(upper bound\) \| scripted \| [\d.]+ \| 1\.000 \| 1\.000 \|", out, re.M), out
    assert re.search(r"^\| tiny-shop-reader \+ PPO \(2 seeds\) \| sampled \|", out, re.M), out
    assert re.search(r"PPO gain in sampled QA fact accuracy .* over seeds 0 1; .*Required: >= \+0\.2: (PASS|FAIL|pass)", out), out
    results = json.loads((tmp_path / "results.json").read_text())
    assert [run["seed"] for run in results["ppo"]] == [0, 1]  # in seed order, whatever finished first
    assert all(run["steps"] >= 256 and run["qa"]["episodes"] == 16 for run in results["ppo"])
    assert (tmp_path / "table.md").read_text().startswith("CustomerService baselines")
    assert (tmp_path / "customer_service.png").stat().st_size > 10_000  # per-intent bars and training curves


def test_customer_service_benchmark_takes_a_tiny_shop_folder_and_intents(tmp_path, capsys):
    # the shipped model named by its folder stands in for a freshly pretrained variant
    from pathlib import Path

    import lm_envs.models

    folder = str(Path(lm_envs.models.__file__).parent / "tiny_shop")
    code = run_benchmark("--policies", "oracle", "untrained", "--tiny-shop", folder,
                         "--intents", "product_price", "order_total", "--eval-episodes", "16", "--no-dialog",
                         "--out", str(tmp_path))
    assert code == 0
    out = capsys.readouterr().out
    assert f"tiny-shop = {folder} (not the benchmark default, tiny-shop-reader); " in out
    assert "QA intents: product_price order_total (not every intent)." in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["tiny_shop"] == folder and results["intents"] == ["product_price", "order_total"]
    # only the chosen intents were asked, by every row
    for row in (results["baselines"]["oracle"]["qa"], results["baselines"]["untrained"]["qa"],
                results["baselines"]["untrained"]["qa_greedy"]):
        assert set(row["fact_accuracy_by_intent"]) == {"product_price", "order_total"}, row
    assert results["baselines"]["oracle"]["qa"]["fact_accuracy_by_intent"] == {"product_price": 1.0, "order_total": 1.0}


def test_customer_service_benchmark_rejects_bad_options(tmp_path, capsys):
    for argv, message in (
        (["--workers", "0"], "--workers and --threads must be >= 1, got 0 and 1"),
        (["--learning-rate", "0"], "--learning-rate must be > 0, got 0.0"),
        (["--train-answer-tokens", "0"], "--train-answer-tokens must be >= 1, got 0"),
        (["--kl-coef", "-0.1"], "--kl-coef must be >= 0, got -0.1"),
        (["--intents", "track_order", "teleport"], "unknown --intents teleport; known: "),
        (["--tiny-shop", str(tmp_path / "nope")], f"--tiny-shop {tmp_path / 'nope'}: no such folder"),
    ):
        try:
            main(["customer_service", "--policies", "oracle", *argv])
        except SystemExit as exit_:
            assert exit_.code == 2
        else:
            raise AssertionError(f"{argv} was accepted")
        assert message in capsys.readouterr().err


@pytest.mark.slow
def test_customer_service_benchmark_trains_ppo_with_gae_on_request(tmp_path, capsys, monkeypatch):
    import agents

    trained_in = []

    class SpyPPO(agents.PPO):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            trained_in.append(self.config.dtype)

    monkeypatch.setattr(agents, "PPO", SpyPPO)
    code = run_benchmark("--policies", "untrained", "ppo", "--seeds", "0", "--advantage", "gae",
                         "--learning-rate", "1e-4", "--kl-coef", "0.05", "--dtype", "bfloat16",
                         "--ppo-steps", "256", "--eval-episodes", "16", "--no-dialog", "--intents", "order_total",
                         "--out", str(tmp_path))
    assert code == 0
    out = capsys.readouterr().out
    assert ("tiny-shop = tiny-shop-reader; PPO: advantage gae, learning rate 0.0001, KL coefficient 0.05, dtype "
            "bfloat16, trained on answers of at most 20 tokens (evaluated on the env's default) (not the benchmark "
            "defaults).") in out
    assert trained_in == ["bfloat16"]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["advantage"] == "gae" and results["learning_rate"] == 1e-4 and results["kl_coef"] == 0.05
    assert results["dtype"] == "bfloat16"
    assert results["ppo"][0]["steps"] >= 256
    assert set(results["ppo"][0]["qa"]["fact_accuracy_by_intent"]) == {"order_total"}


@pytest.mark.slow
def test_customer_service_benchmark_trains_on_shorter_answers_and_evaluates_on_full_ones(tmp_path, capsys):
    code = run_benchmark("--policies", "ppo", "--seeds", "0", "--train-answer-tokens", "6",
                         "--ppo-steps", "128", "--eval-episodes", "16", "--no-dialog", "--intents", "order_total",
                         "--out", str(tmp_path))
    assert code == 0
    out = capsys.readouterr().out
    assert ("advantage rloo, learning rate 5e-05, KL coefficient 0, dtype float32, trained on answers of at most 6 "
            "tokens") in out, out
    results = json.loads((tmp_path / "results.json").read_text())
    run = results["ppo"][0]
    assert results["train_answer_tokens"] == 6
    assert max(run["curve"]["episode_length"]) <= 6  # training episodes cut at 6 tokens
    assert run["qa"]["episodes"] == 16 and run["qa"]["answer_tokens"] > 6  # evaluated on the default 48-token budget

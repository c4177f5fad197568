"""`lm-envs train --agent sft --data PATH`: demonstrations from a user's CSV or JSONL, through the CLI's main."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from benchmarks.cli import main
from benchmarks.results import load_results
from lm_envs.data import shared_data_dir

QA = "lm_envs/CustomerServiceQA-v0"
SMALL = ["--env", QA, "--policy", "tiny-shop", "--steps", "16", "--eval-episodes", "1", "--quiet",
         "--env-kwargs", json.dumps({"max_new_tokens": 8, "reward": {"facts": 1.0}}),
         "--agent-config", json.dumps({"batch_size": 2})]
PAIRS = [{"question": "Where is my order?", "answer": "It ships today."},
         {"question": "Can I pay by card?", "answer": "Yes, we take every card."},
         {"question": "When are you open?", "answer": "From 9 to 5, every day."}]


def _train(tmp_path, *args: str) -> dict:
    out = tmp_path / "run"
    assert main(["train", "--agent", "sft", *SMALL, "--out", str(out), *args]) == 0
    (record,) = load_results(out)
    assert record["status"] == "ok"
    saved = json.loads((out / "model" / "sft.json").read_text())
    return {"record": record, "sft": saved}


def test_train_sft_on_a_csv_of_pairs(tmp_path, capsys):
    path = tmp_path / "pairs.csv"
    pd.DataFrame(PAIRS).to_csv(path, index=False)
    run = _train(tmp_path, "--data", str(path), "--prompt-column", "question", "--response-column", "answer",
                 "--max-examples", "2")
    config = run["record"]["spec"]["agent_config"]
    assert config["data"] == str(path.resolve()) and config["max_examples"] == 2
    assert config["columns"] == {"prompt": "question", "response": "answer"}
    assert run["sft"]["n_demonstrations"] == 2 and run["sft"]["demonstration_seeds"] == []  # the file, not the expert
    assert f"--data {path.resolve()}: 2 demonstrations" in capsys.readouterr().err


def test_train_sft_on_a_jsonl_of_chat_transcripts(tmp_path):
    path = tmp_path / "chats.jsonl"
    chats = [[{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["answer"]}]
             for row in PAIRS]
    path.write_text("".join(json.dumps({"id": i, "conversation": chat}) + "\n" for i, chat in enumerate(chats)))
    run = _train(tmp_path, "--data", str(path), "--messages-column", "conversation")
    assert run["record"]["spec"]["agent_config"]["columns"] == {"messages": "conversation"}
    assert run["sft"]["n_demonstrations"] == 3


@pytest.mark.parametrize(
    ("make_file", "flags", "message"),
    [
        ("pairs.jsonl", ["--prompt-column", "question", "--response-column", "reply"],
         r"pairs.jsonl: missing column 'reply'; columns present: question, answer"),
        (None, ["--prompt-column", "question", "--response-column", "answer"], r"data file not found: .*absent.csv"),
        ("pairs.jsonl", ["--prompt-column", "question"], r"--data needs its column mapping: --prompt-column COL"),
        ("pairs.jsonl", ["--messages-column", "c", "--prompt-column", "q"], r"give --messages-column .* not both"),
    ],
)
def test_data_errors_name_the_file_and_column_before_training(tmp_path, capsys, make_file, flags, message):
    path = tmp_path / (make_file or "absent.csv")
    if make_file:
        path.write_text("".join(json.dumps(row) + "\n" for row in PAIRS))
    out = tmp_path / "run"
    assert main(["train", "--agent", "sft", *SMALL, "--out", str(out), "--data", str(path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lm-envs train: error: ") and re.search(message, err), err
    assert not out.exists()  # nothing trained, no folder made


def test_data_flags_need_sft_and_data(tmp_path, capsys):
    assert main(["train", "--agent", "ppo", *SMALL, "--out", str(tmp_path / "a"), "--data", "x.csv",
                 "--messages-column", "c"]) == 2
    assert "--data is SFT's demonstrations; --agent ppo" in capsys.readouterr().err
    assert main(["train", "--agent", "sft", *SMALL, "--out", str(tmp_path / "b"), "--prompt-column", "q"]) == 2
    assert "--prompt-column describe(s) the --data file; give --data PATH too" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--agent", "sft", *SMALL, "--out", str(tmp_path / "c"), "--max-examples", "0"])
    assert "--max-examples: must be >= 1" in capsys.readouterr().err


BITEXT = None if shared_data_dir() is None else shared_data_dir() / "bitext-customer-support" / "customer_support.csv"


@pytest.mark.skipif(BITEXT is None or not BITEXT.is_file(), reason="the Bitext CSV is not in ../shared/data")
def test_train_sft_on_the_bitext_csv_in_place(tmp_path):
    run = _train(tmp_path, "--data", str(BITEXT), "--prompt-column", "instruction", "--response-column", "response",
                 "--max-examples", "4")
    assert run["record"]["spec"]["agent_config"]["data"] == str(BITEXT.resolve())
    assert run["sft"]["n_demonstrations"] == 4


def test_data_lets_sft_train_on_an_env_without_a_scripted_expert(tmp_path, capsys):
    text = ["--env", "lm_envs/TextGeneration-v1", "--policy", "tiny-shop", "--steps", "16", "--eval-episodes", "1",
            "--quiet", "--env-kwargs", json.dumps({"max_new_tokens": 8}), "--agent-config", json.dumps({"batch_size": 2})]
    # without --data SFT would play the env's expert, and TextGeneration has none
    assert main(["train", "--agent", "sft", *text, "--out", str(tmp_path / "expert")]) == 2
    assert "agent 'sft' does not apply to lm_envs/TextGeneration-v1" in capsys.readouterr().err
    assert not (tmp_path / "expert").exists()
    path = tmp_path / "reviews.csv"
    pd.DataFrame([{"prompt": "Write a review of the mug.", "review": "A lovely mug. Love it!"},
                  {"prompt": "Write a review of the lamp.", "review": "Too dim. Would not buy again."}]).to_csv(path, index=False)
    out = tmp_path / "run"
    assert main(["train", "--agent", "sft", *text, "--out", str(out), "--data", str(path),
                 "--prompt-column", "prompt", "--response-column", "review"]) == 0
    (record,) = load_results(out)
    assert record["status"] == "ok" and record["spec"]["env_id"] == "lm_envs/TextGeneration-v1"
    assert json.loads((out / "model" / "sft.json").read_text())["n_demonstrations"] == 2

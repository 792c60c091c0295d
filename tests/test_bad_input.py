"""Bad input: a short message naming the problem, exit code 2, no traceback, no finished-looking run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import write_csv, write_jsonl


@pytest.fixture
def bad_files(tmp_path):
    rows = [{"sentence": f"good film {i}", "label": "pos" if i % 2 else "neg"} for i in range(20)]
    return {
        "ok": write_csv(tmp_path / "ok.csv", rows),
        "outside": write_csv(tmp_path / "outside.csv", rows[:4] + [{"sentence": "x", "label": "maybe"}]),
        "float": write_jsonl(tmp_path / "float.jsonl", [{"sentence": "x", "label": 0.25}] * 4),
        "empty_valid": tmp_path / "empty.csv",
    }


CASES = {
    "missing column": (["--set", "data.columns.text=sentense"], "Column 'sentense' (text) is not in the train split"),
    "label outside set": (["--validation_file", "{outside}"], "Label 'maybe' in validation row 4 is outside the label set (neg, pos)"),
    "float label": (["--train_file", "{float}"], "is not a class"),
    "empty split": (["--validation_file", "{empty_valid}"], "empty.csv is empty"),
    "unknown --set key": (["--set", "lora.rnk=4"], "unknown key 'rnk'"),
    "wrong --set type": (["--set", "lora.r=big"], "recipe.lora.r must be an integer, got 'big'"),
    "unknown training flag": (["--lerning_rate", "3e-5"], "Unknown training argument 'lerning_rate'. Did you mean 'learning_rate'?"),
    "wrong training flag type": (["--num_train_epochs", "three"], "Training argument num_train_epochs must be a number"),
    "bad method": (["--method", "prompt"], "invalid choice: 'prompt'"),
    "bad --set syntax": (["--set", "lora.r"], "expected dotted.key=value"),
    "zero samples": (["--max_train_samples", "0"], "data.max_train_samples must be a positive number"),
    "missing checkpoint": (["--model_name_or_path", "no/such-model"], "Checkpoint 'no/such-model' was not found"),
    "missing train file": (["--train_file", "/nonexistent/train.csv"], "does not exist"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_run_input(case, bad_files, tiny_bert, tmp_path, run_cli):
    (tmp_path / "empty.csv").write_text("")
    extra, message = CASES[case]
    extra = [e.format(**bad_files) for e in extra]
    out = tmp_path / "run"
    args = ["run", "rotten-tomatoes-minilm", "--model_name_or_path", tiny_bert, "--train_file", bad_files["ok"],
            "--set", "data.columns.text=sentence", "--output_dir", out, "--num_train_epochs", "1"]
    # later flags win in argparse, so a case may replace --train_file / --model_name_or_path
    code, stdout, err = run_cli(*args, *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (out / "metrics.json").exists()
    assert not any((tmp_path / name / "metrics.json").exists() for name in ("run", "run.partial"))


def test_qlora_without_cuda_is_refused_before_loading(tiny_bert, bad_files, tmp_path, run_cli, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--method", "qlora", "--model_name_or_path", tiny_bert,
                           "--train_file", bad_files["ok"], "--set", "data.columns.text=sentence", "--output_dir", tmp_path / "q")
    assert code == 2 and "needs a CUDA GPU" in err
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.partial").exists()


def test_eval_and_predict_on_a_folder_that_is_not_a_run(tmp_path, run_cli):
    for command in (["eval", tmp_path], ["predict", tmp_path, "text"]):
        code, _, err = run_cli(*command)
        assert code == 2 and "is not a hf_transfer run folder" in err


def test_real_process_exit_code_and_stderr(tmp_path):
    """The console entry point itself: exit status 2 and one message line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "hf_transfer.cli", "run", "no-such-recipe", "--output_dir", str(tmp_path / "x")],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("hf-transfer: error: Unknown recipe 'no-such-recipe'")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()

"""Bad input: a short message naming the problem, exit code 2, no traceback, no finished-looking run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import tiny_run_args, write_csv, write_jsonl


@pytest.fixture
def bad_files(tmp_path, tiny_bert):
    import shutil

    rows = [{"sentence": f"good film {i}", "label": "pos" if i % 2 else "neg"} for i in range(20)]
    files = {
        "ok": write_csv(tmp_path / "ok.csv", rows),
        "outside": write_csv(tmp_path / "outside.csv", rows[:4] + [{"sentence": "x", "label": "maybe"}]),
        "float": write_jsonl(tmp_path / "float.jsonl", [{"sentence": "x", "label": 0.25}] * 4),
        "empty_valid": tmp_path / "empty.csv",
        "nan_label": write_csv(tmp_path / "nan.csv", rows[:4] + [{"sentence": "no label here", "label": ""}]),
        "empty_text": write_csv(tmp_path / "empty_text.csv", rows[:4] + [{"sentence": "   ", "label": "pos"}]),
        "bool_label": write_jsonl(tmp_path / "bool.jsonl", [{"sentence": "x", "label": True}] * 4),
    }
    (tmp_path / "empty.csv").write_text("")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("sentence,label\ncaf\xe9 cr\xe8me,pos\nna\xefve,neg\n".encode("latin-1"))
    files["latin1"] = latin
    truncated = tmp_path / "truncated.json"
    truncated.write_text('[{"sentence": "good", "label": "pos"}, {"sentence": "bad", "lab')
    files["truncated"] = truncated
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("sentence,label\ngood film,pos\nbad film,neg,extra,fields\nok,pos\n")
    files["ragged"] = ragged
    huge = tmp_path / "one_line.csv"
    huge.write_text("x" * 1_000_000 + "\n")
    files["huge"] = huge
    ids = tmp_path / "dup_ids.jsonl"
    row = {"id": "q1", "question": "where ?", "context": "in oslo", "answers": {"text": ["oslo"], "answer_start": [3]}}
    write_jsonl(ids, [row, dict(row, question="what ?")])
    files["dup_ids"] = ids
    # checkpoints: a corrupt config.json, weights that do not fit their config, pickle-only weights
    corrupt = tmp_path / "corrupt-ckpt"
    shutil.copytree(tiny_bert, corrupt)
    (corrupt / "config.json").write_text('{"model_type": "bert", "hidden_size": ')
    files["corrupt"] = corrupt
    mismatch = tmp_path / "mismatch-ckpt"
    shutil.copytree(tiny_bert, mismatch)
    config = json.loads((mismatch / "config.json").read_text())
    config["hidden_size"], config["intermediate_size"] = 64, 128
    (mismatch / "config.json").write_text(json.dumps(config))
    files["mismatch"] = mismatch
    pickled = tmp_path / "pickle-ckpt"
    shutil.copytree(tiny_bert, pickled)
    (pickled / "model.safetensors").unlink()
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    files["pickled"] = pickled
    files["a_file"] = write_csv(tmp_path / "not_a_dir.csv", rows)
    files["one_class"] = write_csv(tmp_path / "one_class.csv", [dict(r, label="pos") for r in rows])
    quote = tmp_path / "quote.csv"
    quote.write_text('sentence,label\n"good film,pos\nbad film,neg\nfine,pos\nawful,neg\n')
    files["quote"] = quote
    return files


CASES = {
    "missing column": (["--set", "data.columns.text=sentense"], "Column 'sentense' (text) is not in the train split"),
    "label outside set": (
        ["--validation_file", "{outside}"],
        "Label 'maybe' in validation row 4 is outside the label set (neg, pos)",
    ),
    "float label": (["--train_file", "{float}"], "is not a class"),
    "empty split": (["--validation_file", "{empty_valid}"], "empty.csv is empty"),
    "unknown --set key": (["--set", "lora.rnk=4"], "unknown key 'rnk'"),
    "wrong --set type": (["--set", "lora.r=big"], "recipe.lora.r must be an integer, got 'big'"),
    "unknown training flag": (
        ["--lerning_rate", "3e-5"],
        "Unknown training argument 'lerning_rate'. Did you mean 'learning_rate'?",
    ),
    "wrong training flag type": (
        ["--num_train_epochs", "three"],
        "Training argument num_train_epochs must be a number",
    ),
    "bad method": (["--method", "prompt"], "invalid choice: 'prompt'"),
    "bad --set syntax": (["--set", "lora.r"], "expected dotted.key=value"),
    "zero samples": (["--max_train_samples", "0"], "data.max_train_samples must be a positive number"),
    "missing checkpoint": (["--model_name_or_path", "no/such-model"], "Checkpoint 'no/such-model' was not found"),
    "missing train file": (["--train_file", "/nonexistent/train.csv"], "does not exist"),
    "NaN label": (["--validation_file", "{nan_label}"], "Label missing in validation row 4"),
    "empty text": (["--validation_file", "{empty_text}"], "Row 4 of the validation split has no text in column 'text'"),
    "boolean label": (["--train_file", "{bool_label}"], "Label of wrong type in train row 0: True"),
    "wrong encoding": (["--train_file", "{latin1}"], "latin1.csv could not be read as csv"),
    "truncated JSON": (["--train_file", "{truncated}"], "truncated.json could not be read as json"),
    "ragged CSV": (["--train_file", "{ragged}"], "ragged.csv could not be read as csv"),
    "1 MB single line": (["--train_file", "{huge}"], "one_line.csv has no rows"),
    "duplicated ids": (
        [
            "--train_file",
            "{dup_ids}",
            "--set",
            "task={{type: question-answering, max_length: 64, doc_stride: 16}}",
            "--set",
            "data.columns={{}}",
            "--set",
            "metrics=[squad]",
        ],
        "Rows 0 and 1 of the train split share the id 'q1'",
    ),
    "missing checkpoint folder": (
        ["--model_name_or_path", "/nonexistent/checkpoint/"],
        "'/nonexistent/checkpoint/' was not found",
    ),
    "corrupt config.json": (["--model_name_or_path", "{corrupt}"], "config.json' is not a valid JSON file"),
    "weights that do not fit the config": (["--model_name_or_path", "{mismatch}"], "could not be loaded"),
    "pickle-only weights": (["--model_name_or_path", "{pickled}"], "only as pickle files"),
    "negative learning rate": (["--learning_rate", "-1e-4"], "learning_rate must be positive"),
    "output folder is a file": (["--output_dir", "{a_file}"], "is a file, not a folder"),
    "text flag for a number": (["--max_train_samples", "many"], "invalid int value: 'many'"),
    "resume_from_checkpoint path": (
        ["--resume_from_checkpoint", "/some/where"],
        "--resume_from_checkpoint takes 'auto'",
    ),
    # issue 16: found from outside
    "batch size 0": (["--per_device_train_batch_size", "0"], "per_device_train_batch_size must be 1 or more, got 0"),
    "gradient accumulation 0": (
        ["--gradient_accumulation_steps", "0"],
        "gradient_accumulation_steps must be 1 or more",
    ),
    "eval fraction leaves no training rows": (["--set", "data.eval_fraction=0.999"], "leaves no training rows"),
    "max_length above the position embeddings": (
        ["--set", "task.max_length=4096"],
        "task.max_length=4096 is longer than",
    ),
    "metric that does not fit the task": (["--set", "metrics=[seqeval]"], "cannot score text-classification"),
    "lora targets that match nothing": (
        ["--method", "lora", "--set", "lora.target_modules=[nope]"],
        "lora.target_modules ['nope'] match no module of this model; its module names include",
    ),
    "dora targets that match nothing": (
        ["--method", "dora", "--set", "lora.target_modules=[q_proj]"],
        "match no module of this model",
    ),
    "ia3 targets that match nothing": (
        ["--method", "ia3", "--set", "ia3.target_modules=[nope]"],
        "ia3.target_modules ['nope'] match no module",
    ),
    "unknown tracker": (["--report_to", "nosuchtracker"], "is not a tracker transformers knows"),
    "single-class training split": (["--train_file", "{one_class}"], "The training split has a single class ('pos'"),
    "unbalanced quote in a CSV": (["--train_file", "{quote}"], "has an unbalanced quote"),
    "warmup ratio out of range": (["--warmup_ratio", "2"], "warmup_ratio must be a number in [0, 1)"),
    "eval strategy that does not exist": (["--eval_strategy", "sometimes"], "Training arguments are not valid"),
    "boolean flag that is not a boolean": (["--bf16", "maybe"], "bf16 must be true or false, got 'maybe'"),
    "zero eval samples": (["--max_eval_samples", "0"], "data.max_eval_samples must be a positive number"),
    "lora rank zero": (["--set", "lora.r=0"], "lora.r and lora.alpha must be positive"),
    "lora dropout 1.5": (["--set", "lora.dropout=1.5"], "lora.dropout must be in [0, 1)"),
    "more top layers than the model has": (
        ["--method", "freeze", "--set", "freeze.train_top_layers=9"],
        "freeze.train_top_layers=9, but the model has 2 layers",
    ),
    "learning rate zero": (["--learning_rate", "0"], "learning_rate must be positive"),
    "pair column that is not there": (
        ["--set", "data.columns.text_pair=second"],
        "Column 'second' (text_pair) is not in",
    ),
    "unknown task type": (["--set", "task={{type: summarise}}"], "recipe.task.type must be one of"),
    "zero epochs": (["--num_train_epochs", "0"], "num_train_epochs must be positive"),
    "recipe boolean that is not one": (
        ["--set", "allow_pickle_weights=perhaps"],
        "must be true or false, got 'perhaps'",
    ),
    "max_length zero": (["--set", "task.max_length=0"], "task.max_length must be positive"),
    "unknown method in --set": (["--set", "method=lorra"], "method 'lorra' is not one of"),
    "unknown data source type": (["--set", "data.type=s3"], "data.type must be one of"),
    # issue 23: found from outside
    "learning rate beyond a float": (["--learning_rate", "1e400"], "learning_rate must be a finite number"),
    "negative seed": (["--seed", "-5"], "seed must be a whole number from 0 to 4294967295, got -5"),
    "recipe switching remote code on": (["--set", "trust_remote_code=true"], "pass --trust_remote_code"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_run_input(case, bad_files, tiny_bert, tmp_path, run_cli):
    extra, message = CASES[case]
    extra = [e.format(**bad_files) for e in extra]
    out = tmp_path / "run"
    # later flags win in argparse, so a case may replace --train_file / --model_name_or_path
    code, stdout, err = run_cli(*base_args(tiny_bert, bad_files, out), *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert len(err) < 2000, "one short message, not a dump of the input"
    assert not (out / "metrics.json").exists()
    assert not any((tmp_path / name / "metrics.json").exists() for name in ("run", "run.partial"))


def test_the_matrix_is_broad():
    assert len(CASES) + len(OTHER_CASES) >= 60


OTHER_CASES = (
    "test_tracker_that_is_not_installed",
    "test_overwrite_never_deletes_the_users_files",
    "test_two_runs_into_one_folder",
    "test_output_dir_on_a_read_only_file_system",
    "test_copy_into_a_missing_folder",
    "test_ner_tags_without_prefix",
    "test_qlora_without_bitsandbytes_is_refused_before_loading",
)
"""The bad-input cases tested one by one below (they need more than a flag)."""


def base_args(tiny_bert, bad_files, out):
    return tiny_run_args(tiny_bert, {"train": bad_files["ok"]}, out, "--num_train_epochs", "1", training=())


def test_tracker_that_is_not_installed(tiny_bert, bad_files, tmp_path, run_cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec  # the dev install has tensorboard: make it look absent
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    code, _, err = run_cli(*base_args(tiny_bert, bad_files, tmp_path / "run"), "--report_to", "tensorboard")
    assert code == 2 and "needs the tensorboard package, which is not installed: pip install tensorboard" in err
    assert "hf-transfer-toolkit[tracking]" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_overwrite_never_deletes_the_users_files(tiny_bert, bad_files, tmp_path, run_cli):
    """--overwrite_output_dir on a folder holding the user's own data refuses, naming what is there."""
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "train.csv").write_text(bad_files["ok"].read_text())
    (folder / "notes.txt").write_text("my notes")
    code, _, err = run_cli(*base_args(tiny_bert, bad_files, folder), "--overwrite_output_dir")
    assert code == 2 and "holds files that are not a hf_transfer run (notes.txt, train.csv)" in err
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "train.csv"]
    assert (folder / "notes.txt").read_text() == "my notes"
    assert not folder.with_name("my-project.partial").exists()


def test_two_runs_into_one_folder(tiny_bert, bad_files, tmp_path, run_cli):
    """While a run holds the folder, a second one stops at once with a message (and leaves the first alone)."""
    from hf_transfer.artifacts.staging import locked

    out = tmp_path / "run"
    with locked(out.resolve()):
        code, _, err = run_cli(*base_args(tiny_bert, bad_files, out))
    assert code == 2 and "Another hf-transfer command is writing" in err
    assert not out.exists() and not out.with_name("run.partial").exists()
    code, _, err = run_cli(*base_args(tiny_bert, bad_files, out))  # the lock is gone with the first run
    assert code == 0, err
    assert not out.with_name(".run.lock").exists()


def test_output_dir_on_a_read_only_file_system(tiny_bert, bad_files, run_cli, tmp_path):
    target = Path("/sys/hf-transfer-run")
    try:
        (target.parent / ".hf-transfer-probe").touch()
    except OSError:
        pass
    else:
        pytest.skip("/sys is writable here")
    code, _, err = run_cli(*base_args(tiny_bert, bad_files, target))
    assert code == 2 and "cannot be written" in err and "Traceback" not in err


def test_copy_into_a_missing_folder(run_cli, tmp_path):
    code, _, err = run_cli("copy", "sst2-distilbert", tmp_path / "no" / "such" / "dir" / "x.py")
    assert code == 2 and "does not exist; create it first" in err and "Traceback" not in err


def test_ner_tags_without_prefix(tiny_bert, tmp_path, run_cli):
    from conftest import write_conll

    data = write_conll(tmp_path / "io.txt", [(["anna", "visited", "oslo"], ["PER", "O", "LOC"])] * 8)
    code, _, err = run_cli(
        "run", "conll2003-bert", "--model_name_or_path", tiny_bert, "--train_file", data,
        "--set", "task.label_names=null", "--set", "task.max_length=128", "--output_dir", tmp_path / "run",
    )  # fmt: skip
    assert code == 2 and "have no B-/I- prefix, which scheme IOB2 needs" in err


def test_eval_strategy_no_is_the_string_no(tiny_bert, bad_files, tmp_path, run_cli):
    """Values from the command line are typed by their field: --eval_strategy no is "no", not False."""
    out = tmp_path / "run"
    code, _, err = run_cli(*base_args(tiny_bert, bad_files, out), "--eval_strategy", "no", "--save_strategy", "no")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["training_arguments"]["eval_strategy"] == "no" and metrics["reload_check"]["match"]


@given(
    st.lists(
        st.one_of(
            st.sampled_from(["pos", "neg"]),
            st.integers(-3, 5),
            st.floats(allow_nan=True),
            st.none(),
            st.booleans(),
            st.text(max_size=3),
        ),
        min_size=1,
        max_size=12,
    )
)
@settings(max_examples=60, deadline=None)
def test_label_checks_never_crash(labels):
    """Whatever the labels, loading either succeeds with ids inside the label set or says what is wrong."""
    from datasets import Dataset, DatasetDict

    from hf_transfer import TextClassification, UserError

    task = TextClassification(label_names=["neg", "pos"])
    splits = DatasetDict(
        {"train": Dataset.from_dict({"text": ["t"] * len(labels), "label": [repr(x) for x in labels]})}
    )
    raw = (
        DatasetDict({"train": Dataset.from_list([{"text": "t", "label": x} for x in labels])})
        if _one_type(labels)
        else splits
    )
    try:
        encoded, _ = task.prepare(raw)
    except UserError as exc:
        assert "row" in str(exc) or "Label" in str(exc)  # noqa: PT017  (either outcome is checked)
    else:
        assert all(y in (0, 1) for y in encoded["train"]["labels"])


def _one_type(values) -> bool:
    return len({type(v) for v in values if v is not None}) <= 1


def test_qlora_without_bitsandbytes_is_refused_before_loading(tiny_bert, bad_files, tmp_path, run_cli, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # not installed
    code, _, err = run_cli(*tiny_run_args(tiny_bert, {"train": bad_files["ok"]}, tmp_path / "q", "--method", "qlora",
                                          training=()))  # fmt: skip
    assert code == 2 and "which is not installed: pip install 'hf-transfer-toolkit[qlora]'" in err
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.partial").exists()


def test_eval_and_predict_on_a_folder_that_is_not_a_run(tmp_path, run_cli):
    for command in (["eval", tmp_path], ["predict", tmp_path, "text"]):
        code, _, err = run_cli(*command)
        assert code == 2 and "is not a hf_transfer run folder" in err


def test_real_process_exit_code_and_stderr(tmp_path):
    """The console entry point itself: exit status 2 and one message line, no traceback."""
    result = subprocess.run(
        [sys.executable, "-m", "hf_transfer.cli", "run", "no-such-recipe", "--output_dir", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("hf-transfer: error: Unknown recipe 'no-such-recipe'")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()


def test_trust_remote_code_is_off_unless_asked_and_then_said(bad_files, tiny_bert, tmp_path, run_cli):
    import yaml

    base = tiny_run_args(tiny_bert, {"train": bad_files["ok"]}, None, "--num_train_epochs", "1", training=())
    code, out, err = run_cli(*base, "--output_dir", tmp_path / "off")
    assert code == 0, err
    assert "trust_remote_code is on" not in out
    assert yaml.safe_load((tmp_path / "off" / "recipe.yaml").read_text())["trust_remote_code"] is False
    code, out, err = run_cli(*base, "--output_dir", tmp_path / "on", "--trust_remote_code")
    assert code == 0, err
    assert "trust_remote_code is on: Python code shipped with" in out
    assert yaml.safe_load((tmp_path / "on" / "recipe.yaml").read_text())["trust_remote_code"] is True


def test_pickle_weights_load_only_with_the_flag(bad_files, tmp_path, run_cli):
    base = tiny_run_args(bad_files["pickled"], {"train": bad_files["ok"]}, tmp_path / "p", training=())
    code, _, err = run_cli(*base)
    assert code == 2 and "--allow_pickle_weights" in err
    code, _, err = run_cli(*base, "--allow_pickle_weights")
    assert code == 2 and "only as pickle files" not in err and "could not be loaded" in err, "the flag lets loading try"

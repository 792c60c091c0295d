"""Hardening, round 3 (issue 23): nothing a user gives us may cost them a file, run code they did not ask for,
or end in a traceback. Each case failed on 375a469."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import sentiment_rows, tiny_run_args, write_csv


def copy_run(run, tmp_path, name="run"):
    target = tmp_path / name
    shutil.copytree(run, target)
    return target


# ---- data loss


def test_predict_never_writes_over_its_input_file(finished_run, run_cli, tmp_path):
    run = finished_run("text-classification", "full")
    data = write_csv(tmp_path / "in.csv", [{"sentence": "a good film"}, {"sentence": "dull"}])
    before = data.read_bytes()
    for output in (data, tmp_path / "." / "in.csv"):
        code, _, err = run_cli("predict", run, "--input_file", data, "--output_file", output)
        assert code == 2 and "is the input file" in err and "Traceback" not in err
    assert data.read_bytes() == before
    link = tmp_path / "link.csv"
    link.symlink_to(data)  # the same file under another name
    code, _, err = run_cli("predict", run, "--input_file", data, "--output_file", link)
    assert code == 2 and "is the input file" in err and data.read_bytes() == before


def test_merge_into_the_adapter_run_itself_is_refused(finished_run, run_cli, tmp_path):
    run = copy_run(finished_run("text-classification", "lora"), tmp_path)
    files = sorted(p.name for p in run.iterdir())
    for target in (run, run / "merged", tmp_path):
        code, _, err = run_cli("merge", run, "--output_dir", target, "--overwrite_output_dir")
        assert code == 2 and "the merge would replace the run it is made from" in err, err
    assert sorted(p.name for p in run.iterdir()) == files and (run / "adapter_model.safetensors").is_file()
    code, out, err = run_cli("predict", run, "a good film")
    assert code == 0, err


def test_cache_clear_while_a_run_tokenizes_leaves_its_write_alone(tiny_bert, tmp_path, monkeypatch):
    """`hf-transfer cache clear` in the middle of a tokenization: the run finishes (it died with
    FileNotFoundError on datasets' temporary file), the other entries go."""
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    from hf_transfer import TextClassification
    from hf_transfer.cli import main
    from hf_transfer.data import cache
    from hf_transfer.data.prepare import tokenize_splits

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    folder = cache.tokenization_cache_dir()
    old = folder / "0123-old.arrow"
    old.write_bytes(b"x" * 10)
    import os

    os.utime(old, (1, 1))  # last used long ago
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    task = TextClassification(label_names=["neg", "pos"])
    rows = [{"text": f"good film {i}", "labels": i % 2} for i in range(2500)]  # three batches of datasets.map
    splits = DatasetDict({"train": Dataset.from_list(rows)})
    tokenize = task.tokenize_function(tokenizer)
    cleared = []
    calls = []

    def clearing(batch):
        calls.append(len(batch["text"]))
        if len(calls) == 2:  # datasets has opened its temporary file by the second batch
            try:
                main(argv=["cache", "clear"])
            except SystemExit as exc:  # pragma: no cover - a failure shows in the assertion below
                cleared.append(exc)
            cleared.append(sorted(p.name for p in folder.iterdir()))
        return tokenize(batch)

    monkeypatch.setattr(task.__class__, "tokenize_function", lambda self, tok: clearing)
    out = tokenize_splits(splits, task, tokenizer)
    assert len(out["train"]) == 2500 and isinstance(cleared[0], list)
    assert old.name not in cleared[0], "what no run uses is cleared"
    assert any(name.startswith("tmp") for name in cleared[0]), "the write under way is left alone"


@pytest.mark.parametrize("age", ["nan", "inf", "-1"])
def test_cache_clear_takes_only_a_real_age(run_cli, tmp_path, monkeypatch, age):
    from hf_transfer.data import cache

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    entry = cache.tokenization_cache_dir() / "0123-kept.arrow"
    entry.write_bytes(b"x")
    code, _, err = run_cli("cache", "clear", "--older-than", age)
    assert code == 2 and "--older-than takes a number of days" in err and entry.is_file()


# ---- code the user did not ask to run


def test_a_recipe_file_cannot_switch_remote_code_on(tiny_bert, sentiment_files, tmp_path, run_cli):
    from hf_transfer import load_recipe

    recipe = tmp_path / "shared.yaml"
    recipe.write_text(load_recipe("rotten-tomatoes-minilm").with_overrides(["trust_remote_code=true"]).to_yaml())
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "out", "--num_train_epochs", "1")
    args[1] = recipe
    code, _, err = run_cli(*args)
    assert code == 2 and "A recipe cannot switch that on by itself: pass --trust_remote_code" in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    code, out, err = run_cli(*args, "--trust_remote_code")
    assert code == 0 and "trust_remote_code is on" in out, err


def test_a_run_that_needs_its_own_code_loads_only_with_the_flag(finished_run, run_cli, tmp_path, sentiment_files):
    """A run folder whose config names code files (auto_map) or whose recipe trained with remote code: predict and
    eval refuse it unless --trust_remote_code (they ran configuration_*.py without a word)."""
    run = copy_run(finished_run("text-classification", "full"), tmp_path)
    config = json.loads((run / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig"}
    (run / "config.json").write_text(json.dumps(config))
    (run / "configuration_evil.py").write_text("raise SystemExit('code ran')\n")
    for command in (["predict", run, "a good film"], ["eval", run]):
        code, out, err = run_cli(*command)
        assert code == 2 and "would run Python code that came with it" in err and "--trust_remote_code" in err
        assert "code ran" not in out + err


# ---- resume from any crash point

KILL_AFTER = r"""
import os, signal, sys
from hf_transfer.artifacts import staging
from hf_transfer.run import train
from hf_transfer.cli import main

phase = sys.argv.pop(1)
if phase == "publish":  # in the middle of the swap: the old run moved aside, the new one not yet in place
    real = staging.publish

    def half(staged, output_dir):
        if output_dir.exists():
            output_dir.rename(output_dir.with_name(output_dir.name + staging.REPLACED_SUFFIX))
        os.kill(os.getpid(), signal.SIGKILL)

    staging.publish = half
else:
    original = getattr(train.Run, phase)

    def then_die(self, *args, **kwargs):
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)

    setattr(train.Run, phase, then_die)
main(argv=sys.argv[1:])
"""

STEPS = ["--max_steps", "8", "--eval_strategy", "steps", "--eval_steps", "4", "--save_strategy", "steps",
         "--save_steps", "4"]  # fmt: skip


@pytest.mark.parametrize("phase", ["save", "evaluate_saved", "write_results", "publish"])
def test_killed_at_a_phase_boundary_the_same_command_resumes(phase, tiny_bert, sentiment_files, tmp_path, run_cli):
    import subprocess
    import sys

    out = tmp_path / "run"
    args = [str(a) for a in tiny_run_args(tiny_bert, sentiment_files, out, *STEPS)]
    if phase == "publish":  # a finished earlier run is being replaced
        code, _, err = run_cli(*args)
        assert code == 0, err
        args.append("--overwrite_output_dir")
    child = subprocess.run([sys.executable, "-c", KILL_AFTER, phase, *args], capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert child.returncode == -9, child.stderr[-2000:]
    code, stdout, err = run_cli(*args, "--resume")
    assert code == 0, err
    assert "Traceback" not in err and "different recipe" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["match"] and (out / "README.md").is_file()
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 8
    assert not out.with_name("run.partial").exists() and not out.with_name("run.replaced").exists()
    assert not (out / "checkpoints").exists()


# ---- silently wrong


def test_eval_takes_no_zero_sample_count_nor_zero_batch(finished_run, run_cli):
    run = finished_run("text-classification", "full")
    code, _, err = run_cli("eval", run, "--max_eval_samples", "0")
    assert code == 2 and "--max_eval_samples must be 1 or more" in err
    code, _, err = run_cli("eval", run, "--per_device_eval_batch_size", "0")
    assert code == 2 and "--per_device_eval_batch_size must be 1 or more" in err and "Traceback" not in err


def test_a_file_without_the_column_is_refused_naming_the_recipes_column(finished_run, run_cli, tmp_path):
    data = write_csv(tmp_path / "reviews.csv", [{"review": "a good film"}, {"review": "awful"}])
    code, _, err = run_cli("predict", finished_run("text-classification", "full"), "--input_file", data)
    assert code == 2 and "none of its 2 rows can be predicted" in err
    assert "column 'sentence'" in err and "review" in err and "--column" in err
    assert not (tmp_path / "predictions-reviews.jsonl").exists()


def test_texts_on_the_command_line_are_predicted_in_batches_in_order(finished_run, run_cli, monkeypatch):
    from hf_transfer import TextClassification

    run = finished_run("text-classification", "full")
    texts = [("good " * (i % 7 + 1)).strip() + f" film {i}" for i in range(70)]
    code, one_by_one, _ = run_cli("predict", run, *texts[:3])
    sizes = []
    real = TextClassification.predict

    def counted(self, model, tokenizer, inputs):
        sizes.append(len(inputs))
        return real(self, model, tokenizer, inputs)

    monkeypatch.setattr(TextClassification, "predict", counted)
    code, stdout, err = run_cli("predict", run, *texts, "--batch_size", "16")
    assert code == 0, err
    assert sizes == [16, 16, 16, 16, 6], "one forward pass per batch, not one for everything"
    blocks = stdout.strip().split("\n")
    assert [b for b in blocks if not b.startswith("  ->")] == texts, "printed in the given order"
    assert stdout.startswith(one_by_one.strip().split("\n  ->")[0])


# ---- tracebacks instead of a message


def test_eval_output_file_in_a_missing_folder_is_refused_before_evaluating(finished_run, run_cli, tmp_path):
    code, out, err = run_cli("eval", finished_run("text-classification", "full"), "--output_file",
                             tmp_path / "no" / "such" / "m.json")  # fmt: skip
    assert code == 2 and "does not exist" in err and "Evaluated" not in out


def test_a_damaged_cached_tokenization_is_built_again(tiny_bert, tmp_path, monkeypatch):
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    from hf_transfer import TextClassification
    from hf_transfer.data import cache
    from hf_transfer.data.prepare import tokenize_splits

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    task = TextClassification(label_names=["neg", "pos"])
    rows = [{"text": f"good film {i} " * 20, "labels": i % 2} for i in range(200)]
    splits = DatasetDict({"train": Dataset.from_list(rows)})
    first = tokenize_splits(splits, task, tokenizer)["train"]["input_ids"]
    [arrow] = cache.tokenization_cache_dir().glob("*.arrow")
    cut = arrow.with_name("cut.tmp-test")  # a file cut short by a crash: a new file, not the one still mapped
    cut.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])
    cut.replace(arrow)
    said = []
    again = tokenize_splits(splits, task, tokenizer, log=said.append)["train"]["input_ids"]
    assert again == first and any("was damaged: built again" in line for line in said)


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_damaged_weights_are_named(finished_run, run_cli, tmp_path, command):
    run = copy_run(finished_run("text-classification", "full"), tmp_path)
    weights = run / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    code, _, err = run_cli(command, run, *(["a good film"] if command == "predict" else []))
    assert code == 2 and "The run's weights are damaged" in err and "model.safetensors" in err
    assert "Traceback" not in err


def test_a_folder_given_as_a_file_is_called_a_folder(tiny_bert, sentiment_files, tmp_path, run_cli):
    folder = tmp_path / "recipe.yaml"
    folder.mkdir()
    code, _, err = run_cli("run", folder, "--output_dir", tmp_path / "x")
    assert code == 2 and "is a folder, not a recipe file" in err
    data = tmp_path / "x.csv"
    data.mkdir()
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "y"), "--train_file", data)
    assert code == 2 and "is a folder, not a file" in err


def test_an_unseen_label_in_a_new_evaluation_file_is_a_validation_row(finished_run, run_cli, tmp_path):
    rows = [{"sentence": "good", "label": "pos"}, {"sentence": "meh", "label": "maybe"}]
    code, _, err = run_cli("eval", finished_run("text-classification", "full"), "--validation_file",
                           write_csv(tmp_path / "new.csv", rows))  # fmt: skip
    assert code == 2 and "Label 'maybe' in validation row 1 is outside the label set" in err


def test_an_unwritable_datasets_cache_is_named(tmp_path, monkeypatch):
    import datasets

    from hf_transfer import FileData, TextClassification, UserError
    from hf_transfer.data.prepare import load_splits

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", blocked / "datasets")
    data = write_csv(tmp_path / "d.csv", sentiment_rows(10))
    with pytest.raises(UserError, match="datasets cache folder .* cannot be written .*HF_HOME"):
        load_splits(FileData(train_file=str(data), columns={"text": "sentence"}), TextClassification())


@pytest.mark.parametrize("suffix", [".csv.gz", ".jsonl.gz", ".csv.bz2"])
def test_compressed_data_files_are_read(tmp_path, suffix):
    import bz2
    import gzip

    from hf_transfer import FileData, TextClassification
    from hf_transfer.data.prepare import load_splits

    rows = sentiment_rows(20)
    if ".csv" in suffix:
        text = "sentence,label\n" + "".join(f"{r['sentence']},{r['label']}\n" for r in rows)
    else:
        text = "".join(json.dumps(r) + "\n" for r in rows)
    path = tmp_path / f"train{suffix}"
    path.write_bytes((gzip.compress if suffix.endswith(".gz") else bz2.compress)(text.encode()))
    splits, task = load_splits(FileData(train_file=str(path), columns={"text": "sentence"}), TextClassification())
    assert len(splits["train"]) + len(splits["validation"]) == 20 and task.label_names == ["neg", "pos"]


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path):
    from hf_transfer import FileData, TextClassification, UserError
    from hf_transfer.data.prepare import load_splits

    path = tmp_path / "twice.csv"
    path.write_text("sentence,label,label\ngood,pos,neg\nbad,neg,pos\n")
    with pytest.raises(UserError, match="names the column\\(s\\) 'label' more than once"):
        load_splits(FileData(train_file=str(path), columns={"text": "sentence"}), TextClassification())


def test_offline_without_a_cached_copy_says_so(monkeypatch):
    from hf_transfer import HubData, TextClassification, UserError
    from hf_transfer.data.prepare import load_splits

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError) as caught:
        load_splits(HubData("someone/not-cached-here", eval_split="validation"), TextClassification())
    message = str(caught.value)
    assert "HF_HUB_OFFLINE is set" in message and "no cached copy" in message
    assert "set HF_HUB_OFFLINE=1" not in message


def test_a_diverging_run_says_so_and_leaves_nothing(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--learning_rate", "1e30",
                                          "--num_train_epochs", "1"))  # fmt: skip
    assert code == 2 and "Training diverged" in err and "lower --learning_rate" in err, err
    assert not out.exists() and not out.with_name("run.partial").exists()


# ---- found by trying more inputs (issue 23, "go further")


def test_an_empty_text_on_the_command_line_is_refused(finished_run, run_cli):
    code, _, err = run_cli("predict", finished_run("text-classification", "full"), "a good film", "  ")
    assert code == 2 and "Text 2 of the command line is empty" in err


def test_question_and_context_flags_are_for_question_answering(finished_run, run_cli):
    code, _, err = run_cli("predict", finished_run("text-classification", "full"), "--question", "q", "--context", "c")
    assert code == 2 and "--question / --context are for question answering" in err


def test_an_empty_output_dir_is_refused(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, ""))
    assert code == 2 and "--output_dir is empty" in err and not (tmp_path / "runs").exists()


def test_eval_writes_only_a_json_file(finished_run, run_cli, tmp_path):
    mine = write_csv(tmp_path / "mine.csv", [{"sentence": "x", "label": "pos"}])
    before = mine.read_bytes()
    code, _, err = run_cli("eval", finished_run("text-classification", "full"), "--output_file", mine)
    assert code == 2 and "ending in .json" in err and mine.read_bytes() == before


def test_an_adapter_folder_is_not_a_checkpoint_to_start_from(finished_run, tiny_bert, sentiment_files, tmp_path,
                                                            run_cli):  # fmt: skip
    adapter = finished_run("text-classification", "lora")
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out), "--model_name_or_path", adapter)
    assert code == 2 and "holds an adapter" in err and "hf-transfer merge" in err
    assert not out.exists() and not out.with_name("run.partial").exists()


def test_a_cache_variable_pointing_at_a_file_is_named(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(blocked))
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run"))
    assert code == 2 and "The tokenization cache" in err and "HF_TRANSFER_CACHE" in err and "Traceback" not in err


def test_two_roles_on_one_column_are_refused(finished_run, run_cli, tmp_path):
    data = write_csv(tmp_path / "d.csv", [{"sentence": "good"}])
    code, _, err = run_cli("predict", finished_run("text-classification", "full"), "--input_file", data,
                           "--column", "label=sentence")  # fmt: skip
    assert code == 2 and "to the same column 'sentence'" in err

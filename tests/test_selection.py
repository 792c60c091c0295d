"""Choose on one split, report on another: what chooses (the kept checkpoint, early stopping, a tuner) reads rows
carved from training; the evaluation split is scored once, by the model kept. Splits keep labels and contexts whole."""

from __future__ import annotations

import json

import pytest

from conftest import qa_rows, tiny_run_args, write_csv


def test_stratified_carving_keeps_each_labels_share(tmp_path):
    from hf_transfer.data.prepare import load_splits
    from hf_transfer.sources import FileData
    from hf_transfer.tasks.classification import TextClassification

    rows = [{"text": f"row {i}", "label": "rare" if i % 10 == 0 else "common"} for i in range(200)]
    path = write_csv(tmp_path / "train.csv", rows)
    splits, task = load_splits(FileData(train_file=str(path), eval_fraction=0.2), TextClassification(), chooses=True)
    rare = task.label_names.index("rare")
    # 40 held out (4 rare), then 10% of the 160 left carved (16, 2 rare): every share is the data's 10%
    assert [len(splits[s]) for s in ("train", "selection", "validation")] == [144, 16, 40]
    for name, expected in (("validation", 4), ("selection", 2), ("train", 14)):
        assert list(splits[name]["labels"]).count(rare) == expected, name
    texts = {name: set(splits[name]["text"]) for name in splits}
    assert not texts["selection"] & texts["validation"] and not texts["selection"] & texts["train"]
    again, _ = load_splits(FileData(train_file=str(path), eval_fraction=0.2), TextClassification(), chooses=True)
    assert again["selection"]["text"] == splits["selection"]["text"], "seeded"
    none, _ = load_splits(FileData(train_file=str(path), eval_fraction=0.2), TextClassification(), chooses=False)
    assert "selection" not in none and len(none["train"]) == 160 and none["validation"]["text"] == splits[
        "validation"]["text"], "the evaluation split does not depend on whether the run chooses"  # fmt: skip


def test_qa_splits_keep_a_context_on_one_side(tmp_path):
    from hf_transfer.data.prepare import load_splits
    from hf_transfer.sources import FileData
    from hf_transfer.tasks.question_answering import QuestionAnswering

    from conftest import write_squad

    path = write_squad(tmp_path / "train.json", qa_rows(120, seed=3))
    splits, _ = load_splits(FileData(train_file=str(path)), QuestionAnswering(), chooses=True)
    contexts = {name: set(splits[name]["context"]) for name in splits}
    assert len(contexts["train"]) > 1 and contexts["selection"] and contexts["validation"]
    assert not contexts["train"] & contexts["validation"] and not contexts["train"] & contexts["selection"]
    assert not contexts["selection"] & contexts["validation"]


def test_selection_fraction_zero_trains_on_every_row_and_keeps_the_last_model(tiny_bert, sentiment_files, tmp_path,
                                                                               run_cli):  # fmt: skip
    out = tmp_path / "run"
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "2", "--set",
                                               "data.selection_fraction=0"))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["samples"] == {"train": 160, "eval": 40} and "kept" not in metrics
    assert metrics["selection"] == {"rows": 0, "chose": "data.selection_fraction=0: trained on every row, the last "
                                    "model kept"}  # fmt: skip
    assert metrics["training_arguments"]["eval_strategy"] == "no"
    state = json.loads((out / "trainer_state.json").read_text())
    assert not [h for h in state["log_history"] if "eval_accuracy" in h], "the evaluation split never chose"


def test_early_stopping_needs_a_selection_split(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--early_stopping_patience", "1", "--set",
                                          "data.selection_fraction=0"))  # fmt: skip
    assert code == 2 and "data.selection_fraction=0 leaves none" in err and "Traceback" not in err
    assert not out.exists()


def test_early_stopping_reads_the_selection_split(tiny_bert, sentiment_files, tmp_path, run_cli):
    """The evaluations that decide when to stop are over the 16 carved rows, never the 40 evaluation rows."""
    out = tmp_path / "run"
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--early_stopping_patience", "1",
                                               "--num_train_epochs", "4"))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    state = json.loads((out / "trainer_state.json").read_text())
    evaluations = [h for h in state["log_history"] if "eval_accuracy" in h]
    assert evaluations and metrics["samples"]["selection"] == 16
    # accuracy on 16 rows moves in sixteenths; the reported one is the kept model's on the 40 evaluation rows
    assert all(round(h["eval_accuracy"] * 16, 6).is_integer() for h in evaluations)
    assert round(metrics["eval"]["eval_accuracy"] * 40, 6).is_integer()
    assert "choose on 16 examples" in stdout and "evaluate on 40 examples, once" in stdout


@pytest.mark.parametrize("value", ["1", "-0.1"])
def test_selection_fraction_out_of_range_is_refused(tiny_bert, sentiment_files, tmp_path, run_cli, value):
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--set",
                                          f"data.selection_fraction={value}"))  # fmt: skip
    assert code == 2 and "data.selection_fraction must be from 0" in err


def test_the_card_names_files_not_local_paths_and_its_snippet_loads_the_folder(finished_run):
    """The card (which push publishes) names the data files, never a path on this machine; the evaluation split is
    the validation file; the usage snippet names this run folder; what ran is beside what was asked."""
    import re

    import yaml

    out = finished_run("text-classification", "full")
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S).group(1))
    result = meta["model-index"][0]["results"][0]
    assert result["dataset"]["type"] == "train.csv" and result["dataset"]["name"] == "train.csv"
    assert result["dataset"]["split"] == "validation file valid.csv"
    assert str(out.parent.parent) not in card, "no local path in a card that push publishes"
    assert f'model="{out.name}"' in card or f"'{out.name}'" in card or f'"{out.name}"' in card
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"| optimizer steps run | {metrics['train']['global_step']:,} |" in card
    assert f"| epochs run | {metrics['train']['epoch']:.2f} |" in card

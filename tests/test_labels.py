"""Labels read as written (issues 16 and 18): numbers of one kind, no invented classes, spaces stripped,
case clashes said."""

from __future__ import annotations

import pytest

from hf_transfer import FileData, TextClassification, UserError
from hf_transfer.data.prepare import load_splits

from conftest import write_csv, write_jsonl


def rows(labels):
    return [{"text": f"text {i}", "label": label} for i, label in enumerate(labels)]


def test_integer_labels_1_to_5_make_five_classes_not_six(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", rows([1, 2, 3, 4, 5] * 4))
    splits, task = load_splits(FileData(train_file=str(train)), TextClassification())
    assert task.label_names == ["1", "2", "3", "4", "5"]
    assert sorted(set(splits["train"]["labels"]) | set(splits["validation"]["labels"])) <= [0, 1, 2, 3, 4]


def test_labels_written_as_decimals_are_one_kind_with_integers(tmp_path):
    train = write_csv(tmp_path / "t.csv", rows(["1.0", "2.0", "3.0", "4.0", "5.0"] * 4))
    valid = write_jsonl(tmp_path / "v.jsonl", rows([5, "5", "1.0"]))
    splits, task = load_splits(FileData(train_file=str(train), validation_file=str(valid)), TextClassification())
    assert task.label_names == ["1", "2", "3", "4", "5"]
    assert splits["validation"]["labels"] == [4, 4, 0]


def test_zero_is_outside_a_1_to_5_label_set(tmp_path):
    train = write_jsonl(tmp_path / "t.jsonl", rows([1, 2, 3] * 4))
    valid = write_jsonl(tmp_path / "v.jsonl", rows([0]))
    with pytest.raises(UserError, match="Label 0 in validation row 0 is outside the label set"):
        load_splits(FileData(train_file=str(train), validation_file=str(valid)), TextClassification())


def test_spaces_are_stripped_and_case_clashes_are_said(tmp_path):
    train = write_csv(tmp_path / "t.csv", rows(["pos", "pos ", " neg", "neg"] * 3))
    splits, task = load_splits(FileData(train_file=str(train)), TextClassification())
    assert task.label_names == ["neg", "pos"]
    clash = write_csv(tmp_path / "c.csv", rows(["pos", "POS", "neg"] * 4))
    with pytest.warns(UserWarning, match="differ only by case"):
        load_splits(FileData(train_file=str(clash)), TextClassification())

"""The local evaluate modules load offline and agree with hand-computed values."""

from __future__ import annotations

import pytest

from hf_transfer.metrics import available_metrics, load_metric


def test_all_metric_modules_are_there():
    assert set(available_metrics()) == {
        "accuracy",
        "f1",
        "precision",
        "recall",
        "matthews_correlation",
        "pearsonr",
        "spearmanr",
        "seqeval",
        "squad",
        "squad_v2",
        "rouge",
        "sacrebleu",
        "exact_match",
    }


def test_exact_match_of_generated_text_by_hand():
    metric = load_metric("exact_match")
    result = metric.compute(predictions=["The Paris.", "four", "blue sky"], references=["paris", "4", "Blue  sky!"])
    assert result == {"exact_match": pytest.approx(2 / 3)}, "articles, case, punctuation and spaces do not count"


def test_classification_metrics_by_hand():
    predictions = [1, 0, 1, 1, 0, 1]
    references = [1, 0, 0, 1, 1, 1]
    # tp=3 fp=1 fn=1 tn=1
    assert load_metric("accuracy").compute(predictions=predictions, references=references) == {
        "accuracy": pytest.approx(4 / 6)
    }
    assert load_metric("precision").compute(predictions=predictions, references=references)[
        "precision"
    ] == pytest.approx(3 / 4)
    assert load_metric("recall").compute(predictions=predictions, references=references)["recall"] == pytest.approx(
        3 / 4
    )
    assert load_metric("f1").compute(predictions=predictions, references=references)["f1"] == pytest.approx(3 / 4)
    mcc = (3 * 1 - 1 * 1) / ((3 + 1) * (3 + 1) * (1 + 1) * (1 + 1)) ** 0.5
    assert load_metric("matthews_correlation").compute(predictions=predictions, references=references)[
        "matthews_correlation"
    ] == pytest.approx(mcc)


def test_macro_f1_for_three_classes():
    # class 0: tp1 fp0 fn1 -> f1 2/3 ; class 1: tp1 fp1 fn0 -> 2/3 ; class 2: tp1 fp0 fn0 -> 1
    f1 = load_metric("f1").compute(predictions=[0, 1, 1, 2], references=[0, 1, 0, 2], average="macro")["f1"]
    assert f1 == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_multilabel_micro_f1_and_subset_accuracy():
    predictions = [[1, 0, 1], [0, 1, 0]]
    references = [[1, 0, 0], [0, 1, 0]]
    # tp=2 fp=1 fn=0 -> micro f1 = 4/5
    assert load_metric("f1", "multilabel").compute(predictions=predictions, references=references)[
        "f1"
    ] == pytest.approx(0.8)
    assert (
        load_metric("accuracy", "multilabel").compute(predictions=predictions, references=references)["accuracy"] == 0.5
    )


def test_regression_correlations():
    predictions = [1.0, 2.0, 3.0, 5.0]
    references = [2.0, 4.0, 6.0, 7.0]
    pearson = load_metric("pearsonr", "regression").compute(predictions=predictions, references=references)["pearsonr"]
    # by hand: means 2.75 and 4.75
    dx = [p - 2.75 for p in predictions]
    dy = [r - 4.75 for r in references]
    expected = (
        sum(a * b for a, b in zip(dx, dy, strict=True)) / (sum(a * a for a in dx) * sum(b * b for b in dy)) ** 0.5
    )
    assert pearson == pytest.approx(expected)
    assert load_metric("spearmanr", "regression").compute(predictions=predictions, references=references)[
        "spearmanr"
    ] == pytest.approx(1.0)


def test_unknown_metric_is_a_user_error():
    from hf_transfer import UserError

    with pytest.raises(UserError, match="Unknown metric 'bleu'"):
        load_metric("bleu")

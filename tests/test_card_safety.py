"""Data never runs as code: recipe text, dataset ids, label names, metric names and the command line
reach the model card verbatim, and nothing in them is evaluated (issue 16, section 1)."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from conftest import tiny_run_args


def payloads(marker) -> list[str]:
    """Template text that would run a shell command, compute, or break parsing if it were ever read as Jinja."""
    return [
        "{{ cycler.__init__.__globals__.os.system('touch " + str(marker) + "') }}",
        "{{ self._TemplateReference__context.cycler.__init__.__globals__.os.popen('touch "
        + str(marker)
        + "').read() }}",
        "Score {{ 7*7 }}",
        "{% for x in range(3) %}loop{% endfor %}",
        "{% if %} unbalanced {#",
        "${HOME} $(touch " + str(marker) + ") {0.__class__} %(x)s",
    ]


@pytest.fixture(scope="module")
def finished_run(tiny_bert, sentiment_files, tmp_path_factory):
    from hf_transfer.cli import main

    out = tmp_path_factory.mktemp("card-safety") / "run"
    main(argv=[str(a) for a in tiny_run_args(tiny_bert, sentiment_files, out, "--method", "full", "--num_train_epochs",
                                             "1")])  # fmt: skip
    return out


def test_hostile_values_in_every_card_field_stay_verbatim_and_run_nothing(finished_run, tmp_path):
    from hf_transfer.artifacts.card import write_card

    marker = tmp_path / "pwned"
    hostile = payloads(marker)
    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["description"] = "\n".join(hostile)
    recipe["data"]["train_file"] = hostile[2] + ".csv"
    recipe["task"]["label_names"] = [hostile[3], hostile[4]]
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["command"] = "hf-transfer run x --set " + " ".join(hostile)
    metrics["eval"][f"eval_{hostile[2]}"] = 0.5
    metrics["warnings"] = [hostile[0]]
    (run / "metrics.json").write_text(json.dumps(metrics))

    card = write_card(run, repo_id="tester/" + "card-{{7*7}}").read_text()

    assert not marker.exists(), "a value in the card was run as code"
    body = card.split("\n---\n", 1)[1]
    for text in hostile:
        assert text in body, f"not verbatim in the card: {text!r}"
    assert "Score 49" not in body
    assert "looploop" not in body
    assert f"{hostile[2]}.csv" in body  # the dataset (a file) as written
    assert "| Score {{ 7*7 }} | 0.5000 |" in body  # a metric name as written
    assert "# card-{{7*7}}" in body  # the repository id as written


def test_description_with_template_syntax_does_not_stop_publishing(tiny_bert, sentiment_files, run_cli, tmp_path):
    """`--set 'description=...{%...'` used to make the card step raise after training: the run never published."""
    marker = tmp_path / "pwned"
    description = "Score {{ 7*7 }} {% if %} " + payloads(marker)[0]
    out = tmp_path / "run"
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--method", "full", "--set",
                                               f"description={description}", "--num_train_epochs", "1",
                                               "--per_device_train_batch_size", "32", training=()))  # fmt: skip
    assert code == 0, err
    assert (out / "metrics.json").is_file(), "the run was published"
    card = (out / "README.md").read_text()
    assert description in card
    assert "Score 49" not in card
    assert not marker.exists()


def test_recipe_yaml_cannot_construct_python_objects(tmp_path):
    """Recipes are read with yaml.safe_load: python/object tags are refused, nothing is constructed."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.recipe.recipe import Recipe
    from hf_transfer.recipe.registry import find_recipe

    marker = tmp_path / "pwned"
    text = f"name: evil\ndescription: !!python/object/apply:os.system ['touch {marker}']\ncheckpoint: x\n"
    with pytest.raises(UserError, match="does not parse"):
        Recipe.from_yaml(text)
    path = tmp_path / "evil.yaml"
    path.write_text(text)
    with pytest.raises(UserError):
        find_recipe(str(path))
    assert not marker.exists()


def test_override_values_are_parsed_safely(tmp_path):
    from hf_transfer.base.plain import parse_value

    marker = tmp_path / "pwned"
    value = parse_value(f"!!python/object/apply:os.system ['touch {marker}']")
    assert isinstance(value, str)
    assert not marker.exists()

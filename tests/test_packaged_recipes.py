"""Every packaged recipe is valid, offline: the model is litgpt's test over its config hub."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from hf_transfer.metrics import available_metrics
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.recipe.registry import packaged_recipes
from hf_transfer.sources import HubData

RECIPES = packaged_recipes()
EXPECTED = {
    "rotten-tomatoes-minilm",
    "sst2-distilbert",
    "imdb-distilbert",
    "ag-news-bert",
    "mrpc-bert",
    "stsb-bert",
    "go-emotions-roberta",
    "conll2003-bert",
    "wnut17-distilbert",
    "ontonotes-roberta",
    "squad-bert",
    "squad-v2-roberta",
    "xsum-t5-small",
    "wmt16-ro-en-t5-small",
    "cnn-dailymail-bart",
    "alpaca-smollm2",
    "alpaca-qwen-qlora",
    "chatterbot-smollm2",
    "swag-bert",
}


def test_the_promised_recipes_are_packaged():
    assert set(RECIPES) >= EXPECTED


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_is_valid_and_round_trips(name):
    recipe, file = RECIPES[name]
    recipe.validate()
    assert file.stem == name.replace("-", "_"), "module file named after the recipe"
    assert Recipe.from_yaml(recipe.to_yaml()) == recipe
    assert set(recipe.metric_names) <= set(available_metrics())
    assert set(recipe.expected) <= set(recipe.task.report_keys(recipe.metric_names)), (
        "expected results name reported metrics"
    )
    assert recipe.description
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", recipe.checkpoint), "a real Hub id"
    assert set(recipe.data.columns) <= set(recipe.task.roles)
    if isinstance(recipe.data, HubData):
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", recipe.data.path)
        assert recipe.data.eval_split or recipe.data.eval_fraction <= 0.1, (
            "a held-out split, or a small seeded fraction"
        )


def test_problem_types_cover_pairs_regression_multilabel():
    tasks = {name: r.task for name, (r, _) in RECIPES.items()}
    assert tasks["stsb-bert"].problem_type == "regression"
    assert tasks["go-emotions-roberta"].problem_type == "multi_label"
    assert "text_pair" in RECIPES["mrpc-bert"][0].data.columns


def test_list_is_fast_and_does_not_import_torch():
    code = "import sys; from hf_transfer.cli import main; main(argv=['list']); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("False")
    for name in EXPECTED:
        assert name in out


def test_run_help_imports_no_heavy_library():
    heavy = ("torch", "transformers", "datasets", "evaluate", "peft")
    code = (
        "import sys; from hf_transfer.cli import main\n"
        "try:\n    main(argv=['run', '--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--learning_rate" in out and out.strip().endswith("[]")


def test_show_prints_resolved_yaml_with_overrides(run_cli):
    code, out, err = run_cli("show", "sst2-distilbert", "--set", "lora.r=32")
    assert code == 0, err
    recipe = Recipe.from_yaml(out)
    assert recipe.lora.r == 32 and recipe.name == "sst2-distilbert"


def test_copy_then_run_the_copy_as_a_recipe_file(run_cli, tmp_path):
    dest = tmp_path / "mine.py"
    code, out, err = run_cli("copy", "mrpc-bert", dest)
    assert code == 0, err
    # the copy has its own identity: a name from its file, a description (and a docstring) that says where it came
    # from, and none of the template's expected results (measured on the template's data); everything else as written
    template, copied = RECIPES["mrpc-bert"][1].read_text().splitlines(), dest.read_text().splitlines()
    changed = [(a, b) for a, b in zip(template, copied, strict=False) if a != b]
    assert len(template) == len(copied) and len(changed) == 4, changed
    assert copied[0] == '"""Adapted from the hf_transfer recipe mrpc-bert."""'
    code, out, err = run_cli("show", dest)
    assert code == 0 and "name: mine" in out and "description: Adapted from the hf_transfer recipe mrpc-bert" in out
    assert "expected: {}" in out
    code, out, err = run_cli("copy", "mrpc-bert", dest)
    assert code == 2 and "already exists" in err


def test_unknown_recipe_suggests_close_names(run_cli):
    code, out, err = run_cli("run", "sst2-distilbrt")
    assert code == 2
    assert "Unknown recipe 'sst2-distilbrt'" in err and "sst2-distilbert" in err
    assert "Traceback" not in err

"""Flags -> (Recipe, RunOptions), without argparse: ``overrides.resolve_run`` is a pure function (issue 24 §1)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from hf_transfer import UserError, load_recipe
from hf_transfer.run.options import RunOptions, resolve_run


def resolve(flags: dict, extra=(), source=None):
    return resolve_run(load_recipe("rotten-tomatoes-minilm"), types.MappingProxyType(flags), list(extra), source)


def test_flags_are_read_never_written():
    """A read-only mapping is enough: nothing is set on the flags (the old CLI wrote the push flags and
    resume onto argparse's namespace)."""
    recipe, options = resolve({"method": "lora", "output_dir": "out"}, ["--push_to_hub", "--hub_model_id", "me/x"])
    assert recipe.method == "lora" and isinstance(options, RunOptions)
    assert (options.push_to_hub, options.hub_model_id, options.output_dir) == (True, "me/x", Path("out"))
    with pytest.raises(AttributeError):
        options.resume = True  # frozen


def test_training_flags_typed_and_transformers_spellings_honoured():
    recipe, options = resolve({}, ["--learning_rate", "3e-5", "--bf16", "false", "--resume_from_checkpoint", "auto"])
    assert recipe.training["learning_rate"] == 3e-5 and recipe.training["bf16"] is False
    assert options.resume and "resume_from_checkpoint" not in recipe.training
    with pytest.raises(UserError, match="takes 'auto'"):
        resolve({}, ["--resume_from_checkpoint", "/some/where"])
    with pytest.raises(UserError, match="--hub_token is not accepted"):
        resolve({}, ["--hub_token", "hf_secret"])


def test_default_output_folder_and_full_size():
    _, options = resolve({})
    assert options.output_dir == Path("runs/rotten-tomatoes-minilm-full") and options.full_size
    _, options = resolve({"max_train_samples": 100})
    assert not options.full_size, "a cut run: the recipe's expected results do not apply"


def test_a_recipe_cannot_switch_remote_code_on_by_itself():
    with pytest.raises(UserError, match="pass --trust_remote_code on the command line"):
        resolve({"set": ["trust_remote_code=true"]})
    recipe, options = resolve({"set": ["trust_remote_code=true"], "trust_remote_code": True})
    assert recipe.trust_remote_code and options.trust_remote_code


def test_an_adapted_users_file_is_named_as_a_file(tmp_path):
    """The card of a run of a user's copy names the file, not a packaged recipe of that name (issue 23)."""
    source = tmp_path / "my.yaml"
    copied = load_recipe("rotten-tomatoes-minilm").with_overrides(["name=my-reviews"])
    source.write_text(copied.to_yaml())
    data = tmp_path / "d.csv"
    data.write_text("text,label\na,pos\nb,neg\n")
    recipe, _ = resolve_run(copied, {"train_file": str(data)}, [], source)
    assert recipe.description.startswith("Adapted from the recipe file my.yaml: data ")
    recipe, _ = resolve({"train_file": str(data)})
    assert recipe.description.startswith("Adapted from the hf_transfer recipe rotten-tomatoes-minilm: data ")


def test_merge_adapter_only_for_mergeable_methods():
    with pytest.raises(UserError, match="--merge_adapter applies to adapter methods"):
        resolve({"method": "full", "merge_adapter": True})
    _, options = resolve({"method": "lora", "merge_adapter": True})
    assert options.merge_adapter


def test_the_time_budget_is_made_once_where_the_flags_are_resolved():
    """--time_budget becomes the command's Budget here, its clock started, and travels in the options to every run
    (issue 36: five places made one from seconds)."""
    _, options = resolve({"time_budget": "10m"})
    assert options.budget.seconds == 600 and 590 < options.budget.left() <= 600
    assert resolve({})[1].budget is None


def test_train_run_refuses_remote_code_as_the_flags_do(tmp_path):
    """A recipe asking for its checkpoint's code, handed straight to train.run (a notebook), is refused in the same
    words as on the command line, before anything is written."""
    import dataclasses

    from hf_transfer.run.train import run

    recipe = dataclasses.replace(load_recipe("rotten-tomatoes-minilm"), trust_remote_code=True)
    with pytest.raises(UserError, match="A recipe cannot switch that on by itself: pass --trust_remote_code"):
        run(recipe, RunOptions(output_dir=tmp_path / "out"))
    assert list(tmp_path.iterdir()) == []

"""A method added by registration alone (issue 36): a throwaway method defined in this file, its prepare function,
search space, card sentence and flags in one ``register(Method(...))``, and every command picks it up: the help and
choices of run, compare, tune and plan, a run, a comparison, a tune that samples from its own space, the card's
sentence, merge and export refusing or taking it by its flags. It is unregistered after each test."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hf_transfer import methods

from conftest import tiny_run_args

NAME = "biasprobe"
CARD = "Bias-probe (a throwaway test method): only the bias terms and the task head were trained{head}."
SPACE = {"weight_decay": {"choices": [0.0123]}, "lr_scheduler_type": {"choices": ["constant"]}}
"""Values no other method's space holds, and none that tiny_run_args fixes: a trial drawn from them is this space's."""


def bias_only(model, recipe, task):
    """Every weight frozen but the bias terms and the task head (BitFit's idea)."""
    heads = set(methods.head(model, recipe, task, required=True))
    for name, param in model.named_parameters():
        param.requires_grad = name.endswith(".bias") or bool(heads & set(name.split(".")))
    return model


PROBE = methods.Method(NAME, CARD, bias_only, space=SPACE, exports=False)


@pytest.fixture
def register():
    """``register(**changes)``: the probe (with ``changes``) in the registry for one test, out of it afterwards."""
    added = []

    def add(**changes):
        if added:
            methods.unregister(added.pop())
        entry = methods.register(dataclasses.replace(PROBE, **changes))
        added.append(entry.name)
        return entry

    yield add
    for name in added:
        methods.unregister(name)
    assert NAME not in methods.names()


def test_help_and_choices_of_every_training_command_list_it(register, run_cli):
    register()
    for command in ("run", "compare", "tune", "plan"):
        code, out, _ = run_cli(command, "--help")
        assert code == 0 and NAME in " ".join(out.split()), command
    code, out, _ = run_cli("push", "--help")
    assert "qlora8" in out and NAME not in out, "the probe does not merge: push --merge's help leaves it out"
    register(mergeable=True, adapter=True, exports=True)
    code, out, _ = run_cli("push", "--help")
    assert NAME in " ".join(out.split())


def test_a_run_trains_it_the_card_says_its_sentence_and_export_follows_its_flag(
    register, tiny_bert, sentiment_files, tmp_path, run_cli
):
    register()
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--method", NAME, "--num_train_epochs", "1"))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    trainable, total = metrics["parameters"]["trainable"], metrics["parameters"]["total"]
    assert 0 < trainable < total / 10, "only the biases and the head were trained"
    assert f"method: {NAME}" in (out / "recipe.yaml").read_text()
    card = (out / "README.md").read_text()
    assert CARD.format(head=" (the new task head was trained and saved in full)") in card

    code, _, err = run_cli("export", out, "--output_dir", tmp_path / "onnx")
    assert code == 2 and f"--method {NAME}, whose runs are not exported" in err, err
    assert not (tmp_path / "onnx").exists() and not (tmp_path / "onnx.partial").exists()

    register(exports=True)
    code, _, err = run_cli("export", out, "--output_dir", tmp_path / "onnx")
    assert code == 0, err
    assert json.loads((tmp_path / "onnx" / "export.json").read_text())["source_method"] == NAME

    code, _, err = run_cli("merge", out, "--output_dir", tmp_path / "merged")
    assert code == 2 and "holds a full model, not an adapter" in err


def test_merge_adapter_is_refused_for_a_method_that_does_not_merge(register, tiny_bert, sentiment_files, tmp_path,
                                                                   run_cli):  # fmt: skip
    register(adapter=True, exports=False)
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--method", NAME, "--merge_adapter")
    code, _, err = run_cli(*args)
    assert code == 2 and "--merge_adapter applies to adapter methods" in err and NAME in err, err
    assert not (tmp_path / "run").exists()


def test_compare_runs_it(register, tiny_bert, sentiment_files, tmp_path, run_cli):
    register()
    out = tmp_path / "cmp"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--max_steps", "4")
    code, _, err = run_cli("compare", *args[1:], "--methods", f"{NAME},freeze")
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert NAME in json.dumps(report)
    assert json.loads((out / NAME / "metrics.json").read_text())["parameters"]["trainable"] > 0
    assert NAME in (out / "report.md").read_text()


def test_tune_samples_from_its_own_space(register, tiny_bert, sentiment_files, tmp_path, run_cli):
    register()
    out = tmp_path / "tune"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--max_steps", "4")
    code, _, err = run_cli("tune", *args[1:], "--trials", "1", "--methods", NAME)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["trials"][0]["params"] == {"weight_decay": 0.0123, "lr_scheduler_type": "constant"}
    assert report["best"]["method"] == NAME
    trained = json.loads((out / "trials" / "trial-0000" / "metrics.json").read_text())["training_arguments"]
    assert trained["weight_decay"] == 0.0123 and trained["lr_scheduler_type"] == "constant"


def test_tune_refuses_a_method_without_a_space_by_name(register, tiny_bert, sentiment_files, tmp_path, run_cli):
    register(space=None)
    out = tmp_path / "tune"
    code, _, err = run_cli("tune", *tiny_run_args(tiny_bert, sentiment_files, out)[1:], "--trials", "1",
                           "--methods", NAME)  # fmt: skip
    assert code == 2 and f"--method {NAME} has no default search space" in err and "--space FILE" in err, err
    assert "Traceback" not in err and not (out / "trials").exists()

"""The learning rate and epochs nothing set (issue 34): chosen from the model's size, the method and the training
rows (recipe/defaults.py); a recipe's own values left out where the command replaced what they were chosen for."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hf_transfer.recipe import defaults
from hf_transfer.recipe.registry import find_recipe
from hf_transfer.run.options import resolve_run

from conftest import tiny_run_args

MINILM = 22_600_000


def test_the_rate_falls_with_the_model_size_and_adapters_take_their_multiple():
    assert defaults.learning_rate(110_000_000, "full").value == pytest.approx(5e-5)
    assert defaults.learning_rate(MINILM, "full").value == pytest.approx(1.1e-4)
    assert defaults.learning_rate(MINILM, "lora").value == pytest.approx(2.2e-3)
    assert defaults.learning_rate(110_000_000, "lora").value == pytest.approx(1e-3)
    # bounded at both ends: a tiny test model does not get a rate of 1, a 70B one not 1e-6
    assert defaults.learning_rate(1_000, "full").value == defaults.FULL_RATES[1]
    assert defaults.learning_rate(70_000_000_000, "full").value == defaults.FULL_RATES[0]
    assert "22.6M-parameter" in defaults.learning_rate(MINILM, "lora").reason
    assert "20x" in defaults.learning_rate(MINILM, "lora").reason


def test_epochs_make_the_minimum_steps_in_whole_passes():
    assert defaults.epochs(5_400, 32, "full").value == 1  # 169 steps a pass
    assert defaults.epochs(1_080, 16, "full").value == 3  # 68 a pass: 204
    assert defaults.epochs(1_080, 16, "lora").value == 5  # adapters get twice the steps: 340
    assert defaults.epochs(2_700, 32, "full").value == 2
    assert defaults.epochs(100, 32, "full").value == defaults.MAX_EPOCHS
    assert defaults.epochs(1_000_000, 32, "lora").value == 1
    assert "204 optimizer steps over 1,080 training rows" in defaults.epochs(1_080, 16, "full").reason
    # a task whose steps are long (instruction tuning, seq2seq) takes fewer passes
    from hf_transfer.tasks.causal_lm import InstructionTuning

    assert defaults.epochs(135, 8, "lora", InstructionTuning.epochs_at_most).value == 3 < defaults.MAX_EPOCHS


def test_only_what_nothing_set_is_chosen():
    recipe = find_recipe("rotten-tomatoes-minilm")[0]  # sets both, and a rate per method
    assert defaults.unset(recipe) == set()
    bare = dataclasses.replace(recipe, training={"per_device_train_batch_size": 32})
    assert defaults.unset(dataclasses.replace(bare, method="full")) == {"learning_rate", "num_train_epochs"}
    assert defaults.unset(dataclasses.replace(bare, method="lora")) == {"num_train_epochs"}  # lora.learning_rate
    steps = dataclasses.replace(bare, method="full", training={"max_steps": 50})
    assert defaults.unset(steps) == {"learning_rate"}


def test_a_recipe_keeps_its_values_for_its_own_data_and_checkpoint(tmp_path):
    recipe = find_recipe("rotten-tomatoes-minilm")[0]
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    same, _ = resolve_run(recipe, {})
    assert same.training["num_train_epochs"] == 1 and same.training["learning_rate"] == 1e-4
    assert same.lora.learning_rate == 2e-3
    # the user's data: the recipe's epochs were sized for its own; its rates still fit its checkpoint
    theirs, _ = resolve_run(recipe, {"train_file": str(data)})
    assert "num_train_epochs" not in theirs.training and theirs.training["learning_rate"] == 1e-4
    assert theirs.lora.learning_rate == 2e-3
    assert same.task.max_length == 128 and theirs.task.max_length is None  # data/lengths.py measures theirs
    # another checkpoint: the rates were chosen for the recipe's own; the epochs still fit its data
    other, _ = resolve_run(recipe, {"model_name_or_path": "someone/bigger-model"})
    assert "learning_rate" not in other.training and other.training["num_train_epochs"] == 1
    assert other.lora.learning_rate is None and other.freeze.learning_rate is None
    # what this command says wins: --set, and the training flags
    kept, _ = resolve_run(
        recipe,
        {"train_file": str(data), "model_name_or_path": "someone/bigger-model",
         "set": ["training.num_train_epochs=4", "lora.learning_rate=5e-4"]},
        ["--learning_rate", "3e-5"],
    )  # fmt: skip
    assert kept.training["num_train_epochs"] == 4 and kept.training["learning_rate"] == 3e-5


def test_a_run_on_the_users_data_and_model_says_what_it_chose_and_why(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    batch = ["--per_device_train_batch_size", "16"]
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, training=batch))
    assert code == 0, err
    said = stdout + err
    metrics = json.loads((out / "metrics.json").read_text())
    chosen = metrics["chosen"]
    # 160 rows, 16 carved to choose on: 144 rows, 9 steps a pass -> 18 passes wanted, 10 at most
    assert chosen["num_train_epochs"]["value"] == defaults.MAX_EPOCHS
    assert chosen["learning_rate"]["value"] == defaults.FULL_RATES[1]  # a tiny model: the upper bound
    assert f"num_train_epochs {defaults.MAX_EPOCHS}: 90 optimizer steps over 144 training rows" in said
    assert "learning_rate 2.0e-04: for full on a" in said and "--learning_rate does" in said
    assert metrics["training_arguments"]["learning_rate"] == chosen["learning_rate"]["value"]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["num_train_epochs"] == defaults.MAX_EPOCHS and state["max_steps"] == 90
    rates = [h["learning_rate"] for h in state["log_history"] if "learning_rate" in h]
    assert max(rates) <= defaults.FULL_RATES[1] and max(rates) > defaults.FULL_RATES[1] / 2


def test_what_the_command_line_sets_is_not_chosen(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    training = ["--per_device_train_batch_size", "16", "--num_train_epochs", "1", "--learning_rate", "1e-3"]
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, training=training))
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert "chosen" not in metrics and "nothing set it" not in stdout + err
    assert metrics["training_arguments"]["learning_rate"] == 1e-3

"""What a run prints and keeps (issue 17): a short console, train.log with everything, --verbose,
early stopping, TensorBoard logs, and the help that lists the common TrainingArguments."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tiny_run_args


def cli_run(tiny_bert, files, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """``hf-transfer run`` in a fresh process with its output piped (not a terminal), as CI logs and
    ``| tee`` see it."""
    args = [
        sys.executable,
        "-m",
        "hf_transfer",
        *map(str, tiny_run_args(tiny_bert, files, out, "--method", "lora", *extra)),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def quiet_and_verbose(tiny_bert, sentiment_files, tmp_path_factory):
    root = tmp_path_factory.mktemp("console")
    quiet = cli_run(tiny_bert, sentiment_files, root / "quiet")
    verbose = cli_run(tiny_bert, sentiment_files, root / "verbose", "--verbose")
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    return root, quiet, verbose


def test_the_default_console_is_short_and_free_of_library_noise(quiet_and_verbose):
    _, quiet, _ = quiet_and_verbose
    shown = quiet.stdout + quiet.stderr
    assert "LOAD REPORT" not in shown and "MISSING" not in shown
    assert "FutureWarning" not in shown
    assert "\x1b[" not in shown and "\r" not in shown  # no cursor codes, no bars redrawn in a log
    assert "{'loss'" not in shown  # the Trainer's printed dicts give way to our lines
    # what runs, on what, with how many trainable parameters; one line per evaluation; the results
    assert "new head: classifier (2 labels)" in quiet.stdout
    assert "parameters trainable" in quiet.stdout and "train on 144 examples; choose on 16 examples" in quiet.stdout
    assert "evaluate on 40 examples, once, with the model kept" in quiet.stdout
    assert "the file " in quiet.stdout and "validation.csv" in quiet.stdout
    epochs = [line for line in quiet.stdout.splitlines() if line.strip().startswith("epoch ")]
    assert [line.split(":")[0].strip() for line in epochs] == ["epoch 1", "epoch 2", "epoch 3"]
    assert all("accuracy" in line for line in epochs)
    assert "Training: 27 steps" in quiet.stdout and "step 27/27 (100%)" in quiet.stdout  # 144 rows, batch 16, 3 epochs
    assert "Run folder:" in quiet.stdout
    assert len(quiet.stdout.splitlines()) < 30


def test_train_log_keeps_what_the_console_left_out(quiet_and_verbose):
    root, quiet, verbose = quiet_and_verbose
    log = (root / "quiet" / "train.log").read_text()
    assert "LOAD REPORT" in log  # the library's report, kept in full
    if "FutureWarning" in verbose.stderr:
        assert "FutureWarning" in log
    for line in quiet.stdout.splitlines():  # everything shown is kept, results table included
        if line.strip():
            assert line in log, line
    # the Trainer's logged values, and a timestamp on every entry
    assert '"eval_accuracy"' in log and '"loss"' in log
    assert all(line[:4].isdigit() for line in log.splitlines() if line.startswith("20"))
    assert log.splitlines()[0][:19].replace("-", "").replace(":", "").replace(" ", "").isdigit()


def test_verbose_shows_what_the_libraries_print(quiet_and_verbose):
    root, _, verbose = quiet_and_verbose
    assert "LOAD REPORT" in verbose.stdout + verbose.stderr
    assert "LOAD REPORT" in (root / "verbose" / "train.log").read_text()


def test_early_stopping_stops_where_the_metric_stopped_improving(
    run_cli, tiny_bert, sentiment_files, tmp_path, monkeypatch
):
    """A crafted accuracy per evaluated model: 0.50, 0.70, 0.60, 0.65, ... With patience 2 training stops
    after epoch 4 and keeps epoch 2's model; the reloaded model (same outputs) scores 0.70 again."""
    import numpy as np

    from hf_transfer.tasks.classification import TextClassification

    sequence = [0.50, 0.70, 0.60, 0.65, 0.90, 0.95, 0.99]
    seen: list[np.ndarray] = []

    def crafted(self, metric_names, examples=None, features=None, tokenizer=None):
        def compute(eval_pred):
            logits = np.asarray(eval_pred.predictions, dtype=np.float64)
            for i, known in enumerate(seen):
                if known.shape == logits.shape and np.allclose(known, logits, atol=1e-4):
                    return {"accuracy": sequence[i]}
            seen.append(logits)
            return {"accuracy": sequence[len(seen) - 1]}

        return compute

    monkeypatch.setattr(TextClassification, "metrics_function", crafted)
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        *tiny_run_args(
            tiny_bert,
            sentiment_files,
            out,
            "--num_train_epochs",
            "7",
            "--bf16",
            "false",
            "--early_stopping_patience",
            "2",
        )
    )
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    kept = metrics["kept"]
    assert kept["epoch"] == 2 and kept["value"] == 0.70
    stop = kept["early_stopping"]
    assert stop["stopped_early"] and stop["stopped_at_epoch"] == 4 and stop["patience"] == 2
    # epoch 2 was chosen on the 16 selection rows; the 40 evaluation rows, scored once by that model, gave outputs
    # the crafted metric had not seen (the fifth value): the evaluation split did not take part in choosing
    assert metrics["selection"]["value"] == 0.70 and metrics["selection"]["rows"] == 16
    assert metrics["eval"]["eval_accuracy"] == 0.90 and metrics["reload_check"]["match"]
    assert "Training stopped early at epoch 4 of 7" in stdout
    card = (out / "README.md").read_text()
    assert "stopped early at epoch 4 of 7" in card and "epoch 2 (accuracy 0.7000)" in card


def test_early_stopping_without_evaluations_is_refused(run_cli, tiny_bert, sentiment_files, tmp_path):
    code, _, err = run_cli(
        *tiny_run_args(
            tiny_bert, sentiment_files, tmp_path / "run", "--eval_strategy", "no", "--early_stopping_patience", "2"
        )
    )
    assert code == 2 and "--early_stopping_patience needs evaluations during training" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_report_to_tensorboard_keeps_event_files_in_the_run_folder(run_cli, tiny_bert, sentiment_files, tmp_path):
    pytest.importorskip("tensorboard")
    out = tmp_path / "run"
    code, _, err = run_cli(
        *tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "2", "--report_to", "tensorboard")
    )
    assert code == 0, err
    events = list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)
    assert "[`tensorboard/`](tensorboard)" in (out / "README.md").read_text()


def test_run_help_lists_the_common_training_arguments(run_cli):
    code, out, _ = run_cli("run", "--help")
    assert code == 0
    assert "Any transformers TrainingArguments flag is accepted" in out
    for flag in ("--learning_rate", "--num_train_epochs", "--per_device_train_batch_size", "--warmup_ratio",
                 "--gradient_accumulation_steps", "--weight_decay", "--eval_strategy", "--bf16", "--report_to",
                 "--gradient_checkpointing", "--seed", "--early_stopping_patience", "--verbose"):  # fmt: skip
        assert flag in out, flag
    assert "(default: 32)" in out and "(default: epoch)" in out


def test_show_training_prints_the_arguments_a_run_would_use(run_cli):
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.arguments import training_arguments

    code, out, _ = run_cli("show", "sst2-distilbert", "--training", "--set", "training.num_train_epochs=5")
    assert code == 0
    shown = yaml.safe_load(out)
    recipe, _ = find_recipe("sst2-distilbert")
    expected = training_arguments(recipe.with_overrides(["training.num_train_epochs=5"]))
    assert shown == expected and shown["num_train_epochs"] == 5
    assert shown["metric_for_best_model"] == "accuracy" and "bf16" in shown


def test_evaluation_lines_show_the_metrics_without_timings():
    from hf_transfer.base.progress import evaluation_line

    line = evaluation_line(
        {"eval_loss": 0.5, "eval_accuracy": 0.75, "eval_runtime": 3.2, "eval_samples_per_second": 9.0, "epoch": 2.0},
        2.0,
    )
    assert line == "  epoch 2: accuracy 0.7500, loss 0.5000"


def test_a_console_that_fails_to_start_leaves_the_libraries_as_they_were(monkeypatch):
    import logging
    import warnings

    from hf_transfer.base import console

    before = (list(logging.getLogger("transformers").handlers), warnings.showwarning)
    calls = []

    def interrupted(**switches):
        calls.append(switches)
        if len(calls) == 1:
            raise KeyboardInterrupt  # e.g. Ctrl-C while the libraries load

    monkeypatch.setattr(console, "_set_progress_bars", interrupted)
    with pytest.raises(KeyboardInterrupt), console.Console():
        pass
    assert (list(logging.getLogger("transformers").handlers), warnings.showwarning) == before
    assert len(calls) == 2, "the progress bars were switched back"


def test_runs_under_one_console_each_keep_their_own_train_log(tiny_bert, sentiment_files, tmp_path):
    from hf_transfer.base.console import Console
    from hf_transfer.cli import build_parser
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import RunOptions, resolve_run
    from hf_transfer.run.train import run

    template, _ = find_recipe("rotten-tomatoes-minilm")
    flags = tiny_run_args(tiny_bert, {"train": sentiment_files["train"]}, None, "--num_train_epochs", "1")
    args, extra = build_parser().parse_known_args([str(a) for a in flags])
    recipe, _ = resolve_run(template, vars(args), extra)
    shown = []
    with Console(log=shown.append) as console:  # a notebook or a script: one console, several runs
        for name in ("first", "second"):
            run(recipe, RunOptions(output_dir=tmp_path / name, command=name), console)
    logs = {name: (tmp_path / name / "train.log").read_text() for name in ("first", "second")}
    assert f"Run folder: {tmp_path / 'first'}" in logs["first"] and str(tmp_path / "second") not in logs["first"]
    assert f"Run folder: {tmp_path / 'second'}" in logs["second"] and str(tmp_path / "first") not in logs["second"]
    assert sum(line.startswith("Run folder:") for line in shown) == 2


def test_the_program_name_is_written_one_way():
    """Issue 36: the parser, its messages and the command line a run records name the program from one place."""
    from hf_transfer.base.console import PROG
    from hf_transfer.cli import build_parser
    from hf_transfer.run.options import command_line

    assert build_parser().prog == PROG
    assert command_line(["run", "my recipe"]) == f"{PROG} run 'my recipe'"

"""Resume after a crash: a run killed with SIGKILL after a checkpoint continues to the same result."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import TINY_TRAINING

KILL_AT_STEP = 13
SCHEDULE = [
    "--max_steps",
    "24",
    "--per_device_train_batch_size",
    "8",
    "--eval_strategy",
    "steps",
    "--eval_steps",
    "6",
    "--save_strategy",
    "steps",
    "--save_steps",
    "6",
    "--logging_steps",
    "3",
]

# Runs the CLI in a child process whose Trainer kills the process (SIGKILL: no cleanup, no finally)
# in the middle of the run, after checkpoints 6 and 12 were written.
KILLER = textwrap.dedent(f"""
    import os, signal, sys
    from transformers import TrainerCallback
    from hf_transfer.run import trainer
    from hf_transfer.cli import main

    original = trainer.trainer_class

    class Kill(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == {KILL_AT_STEP}:
                os.kill(os.getpid(), signal.SIGKILL)

    def killing(task):
        base = original(task)

        class Killing(base):
            def __init__(self, *a, **kw):
                kw["callbacks"] = [Kill()]
                super().__init__(*a, **kw)

        return Killing

    trainer.trainer_class = killing
    main(argv=sys.argv[1:])
""")


def base_args(tiny_bert, files, out, method):
    return [
        "run",
        "rotten-tomatoes-minilm",
        "--method",
        method,
        "--model_name_or_path",
        str(tiny_bert),
        "--train_file",
        str(files["train"]),
        "--validation_file",
        str(files["validation"]),
        "--set",
        "data.columns.text=sentence",
        "--output_dir",
        str(out),
        *TINY_TRAINING,
        *SCHEDULE,
    ]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_killed_run_resumes_to_the_same_result(method, tiny_bert, sentiment_files, tmp_path, run_cli):
    reference = tmp_path / "reference"
    code, _, err = run_cli(*base_args(tiny_bert, sentiment_files, reference, method))
    assert code == 0, err

    out = tmp_path / "killed"
    child = subprocess.run(
        [sys.executable, "-c", KILLER, *map(str, base_args(tiny_bert, sentiment_files, out, method))],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert child.returncode == -9, child.stderr[-2000:]
    staging = tmp_path / "killed.partial"
    assert not out.exists() and (staging / "checkpoints" / "checkpoint-12" / "trainer_state.json").is_file()
    # a checkpoint half-written at the moment of a kill: weights, but no trainer state
    half = staging / "checkpoints" / "checkpoint-18"
    half.mkdir()
    (half / ("adapter_model.safetensors" if method == "lora" else "model.safetensors")).write_bytes(b"\0" * 64)

    code, _, err = run_cli(*base_args(tiny_bert, sentiment_files, out, method))
    assert code == 2 and "--resume" in err, "an unfinished run is not silently thrown away"

    code, stdout, err = run_cli(*base_args(tiny_bert, sentiment_files, out, method), "--resume")
    assert code == 0, err
    assert f"resuming from {staging / 'checkpoints' / 'checkpoint-12'}" in stdout
    resumed, expected = (json.loads((d / "metrics.json").read_text()) for d in (out, reference))
    assert resumed["eval"]["eval_accuracy"] == pytest.approx(expected["eval"]["eval_accuracy"], abs=1e-6)
    assert resumed["eval"]["eval_loss"] == pytest.approx(expected["eval"]["eval_loss"], abs=1e-6)
    steps = [json.loads((d / "trainer_state.json").read_text())["global_step"] for d in (out, reference)]
    assert steps == [24, 24]
    assert not staging.exists()


def test_resume_refuses_a_different_recipe(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    staging = tmp_path / "run.partial"
    staging.mkdir()
    from hf_transfer import load_recipe

    (staging / "recipe.yaml").write_text(load_recipe("sst2-distilbert").to_yaml())
    code, _, err = run_cli(*base_args(tiny_bert, sentiment_files, out, "full"), "--resume")
    assert code == 2 and "started with a different recipe" in err

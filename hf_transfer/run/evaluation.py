"""Evaluation: the one evaluation path for a loaded model (``evaluate_model``: the run's evaluation after the reload
check, ``hf-transfer eval``, an export's reference and verification, the per-example records of ``compare`` and
``diff``), and the one way a finished run's evaluation data is read (``evaluation_data``)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hf_transfer.base.console import hush
from hf_transfer.base.hardware import device_defaults
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.arguments import RUN_DEFAULTS, make_training_args
from hf_transfer.run.trainer import trainer_class
from hf_transfer.tasks import pad_multiple


def evaluate_model(
    model,
    tokenizer,
    recipe: Recipe,
    examples,
    features,
    batch_size: int | None,
    precision: dict[str, Any] | None = None,
    console=None,
    outputs: list | None = None,
    records: list | None = None,
) -> dict[str, float]:
    """The one evaluation path for a loaded model: the reload check, ``hf-transfer eval`` and an export's verification.

    ``examples`` is the eval split before tokenization, ``features`` after it; ``batch_size`` None: the task's
    default, else hf_transfer's (a number given wins over both). ``precision``: the
    run's bf16 / fp16 / use_cpu settings, so a reloaded model is evaluated as training evaluated it
    (``FP32`` evaluates in fp32 whatever the device default). ``console``: the run's, whose progress lines the
    evaluation then uses. ``outputs``: a list that receives the model's outputs (the predictions the metrics read,
    in dataset order), to compare two models row by row (``agreement``). ``records``: a list that receives the task's
    per-example records of the same evaluation (a classifier's per-class report)."""
    task = recipe.task
    if hasattr(model, "response_loss"):  # a GGUF export (gguf_model.GgufModel) scores itself in llama.cpp
        metrics = {"eval_loss": model.response_loss(features)}
        metrics.update(task.generation_metrics(model, tokenizer, examples, recipe.metric_names))
        return task.finish_metrics(metrics)
    with tempfile.TemporaryDirectory() as scratch:
        settings = {key: RUN_DEFAULTS[key] for key in ("per_device_eval_batch_size", "report_to", "seed")}
        settings.update(device_defaults())
        settings.update(precision or {})
        settings.update({k: v for k, v in task.training_defaults().items() if not k.startswith(("eval_", "save_"))})
        settings.update({k: v for k, v in recipe.training.items() if k.startswith("generation_")})
        if batch_size is not None:  # asked for: over the task's own default (instruction tuning's 8)
            settings["per_device_eval_batch_size"] = batch_size
        if hasattr(model, "label_names"):  # an export (export.OnnxModel) says which inputs are labels
            settings["label_names"] = model.label_names
        args = make_training_args(Path(scratch), settings, task)
        compute = task.metrics_function(recipe.metric_names, examples, features, tokenizer)
        if outputs is not None:

            def compute(prediction, score=compute):
                outputs.append(prediction.predictions)
                return score(prediction) if score is not None else {}

        compute = _with_records(task, compute, records, examples, features, tokenizer)
        trainer = trainer_class(task)(
            model=model,
            args=args,
            eval_dataset=features,
            data_collator=task.collator(tokenizer, pad_multiple(args)),
            processing_class=tokenizer,
            compute_metrics=compute,
        )
        if console is not None:
            console.adopt(trainer)
        else:  # eval, export: the command says what it evaluates; no bar of the Trainer's own
            hush(trainer)
        metrics = trainer.evaluate()
        metrics.update(task.generation_metrics(model, tokenizer, examples, recipe.metric_names))
        if not getattr(model, "computes_loss", True):  # an ONNX export returns outputs only (export.OnnxModel)
            metrics.pop("eval_loss", None)
        return task.finish_metrics(metrics)


def _with_records(task, compute, records: list | None, examples, features, tokenizer):
    """``compute`` (the metrics), also filling ``records`` with the task's per-example records of the same
    predictions, where asked and where the task scores examples."""
    if records is None or not task.scores_examples():
        return compute
    make = task.example_records(examples, features, tokenizer)

    def both(eval_pred):
        records[:] = make(eval_pred)
        return compute(eval_pred) if compute is not None else {}

    return both


FP32 = {"bf16": False, "fp16": False}
"""The precision settings that evaluate in fp32 whatever the device default (bf16 autocast on a CPU with native
bf16 and on GPUs): what an export's reference runs in."""


def evaluation_data(recipe: Recipe, tokenizer, validation_file: Path | None = None,
                    max_eval_samples: int | None = None):  # fmt: skip
    """A finished run's evaluation data: its own (the recipe's data), or a labelled file read with the recipe's
    columns. Returns (the data as described in results, the splits, the task as the file's labels make it, the
    tokenized splits)."""
    import dataclasses

    from hf_transfer.data.prepare import load_evaluation_file, load_splits, tokenize_splits
    from hf_transfer.sources import FileData

    if validation_file is not None:
        data = FileData(train_file=str(validation_file), validation_file=str(validation_file),
                        columns=recipe.data.columns, max_eval_samples=max_eval_samples)  # fmt: skip
        splits, task = load_evaluation_file(str(validation_file), recipe.data, recipe.task, max_eval_samples)
    else:
        data = recipe.data
        if max_eval_samples is not None:
            data = dataclasses.replace(data, max_eval_samples=max_eval_samples)
        splits, task = load_splits(data, recipe.task)
    return data, splits, task, tokenize_splits(splits, task, tokenizer, dataset=data)


def merged_fp32_run(folder, validation_file: Path | None, max_eval_samples: int | None, trust_remote_code: bool):
    """A finished run as an export takes it: its model in fp32 on a full-precision base, an adapter merged in memory
    (the run folder keeps it), and its evaluation data. Returns (recipe, model, tokenizer, data, splits, task,
    tokenized); the caller keeps the libraries quiet."""
    from hf_transfer.artifacts.models import load_run

    recipe, model, tokenizer = load_run(folder.path, full_precision_base=True, trust_remote_code=trust_remote_code)
    if folder.has_adapter:
        model = model.merge_and_unload()
    model = model.float().eval()
    data, splits, task, tokenized = evaluation_data(recipe, tokenizer, validation_file, max_eval_samples)
    return recipe, model, tokenizer, data, splits, task, tokenized


def evaluate_run(
    run_dir: Path,
    validation_file: Path | None = None,
    max_eval_samples: int | None = None,
    batch_size: int | None = None,
    output_file: Path | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """``hf-transfer eval``: a finished run evaluated again, on its own evaluation data or on a new labelled
    file, through the same evaluation path as the run; the metrics and the trivial baselines are written as
    JSON (``RUN_DIR/eval-<name>.json`` unless ``output_file``). Every flag is checked before the model loads."""
    import json

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.onnx_model import say_export_file
    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.base.console import quiet
    from hf_transfer.base.errors import UserError
    from hf_transfer.base.files import check_output_file, data_files, write_atomically

    if max_eval_samples is not None and max_eval_samples < 1:
        raise UserError(f"--max_eval_samples must be 1 or more, got {max_eval_samples} (leave it out for every row).")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"--per_device_eval_batch_size must be 1 or more, got {batch_size}.")
    folder = RunFolder(run_dir)
    recipe = folder.recipe()  # "not a hf_transfer run folder" first
    folder.require_finished("finish it first.")
    if validation_file is not None:
        validation_file = Path(validation_file).expanduser().resolve()
    name = validation_file.stem if validation_file else "validation"
    out = Path(output_file).expanduser() if output_file else folder.path / f"eval-{name}.json"
    if out.suffix.lower() != ".json":
        raise UserError(f"--output_file {out}: the metrics are JSON; give a file name ending in .json.")
    check_output_file(out, validation_file, *data_files(recipe.data), runs=(folder,))
    with quiet():
        recipe, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
    say_export_file(folder.path, model)
    with quiet():
        data, splits, task, tokenized = evaluation_data(recipe, tokenizer, validation_file, max_eval_samples)
        metrics = evaluate_model(model, tokenizer, recipe, splits["validation"], tokenized["validation"], batch_size)
        baselines = task.baselines(tokenized["train"], tokenized["validation"])
    # a new file's own majority class: what always answering it would score (not the training data's)
    record = {
        "data": data.describe(),
        "evaluated_on": data.describe_evaluation(),
        "samples": len(splits["validation"]),
        "unit": task.unit,
        "metrics": metrics,
        "baselines": baselines,
        "baselines_from": "this file's own labels" if validation_file else "from the training data",
    }
    write_atomically(out, json.dumps(record, indent=2) + "\n")
    return {
        "record": record,
        "output_file": out,
        "run_name": folder.path.name,
        "report_keys": recipe.task.report_keys(recipe.metric_names),
    }


def example_records(run_dir: Path, validation_file: Path | None = None, trust_remote_code: bool = False) -> dict:
    """One record per evaluation example of a finished run (``Task.example_records``): on the run's own evaluation
    data, or on a labelled file, through the one evaluation path (``evaluate_model``). Returns the records, the
    evaluation rows as read, the run's recipe, and what was evaluated (for ``diff``, and for intervals over
    examples)."""
    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.base.console import quiet
    from hf_transfer.base.errors import UserError

    folder = RunFolder(run_dir)
    folder.requested_recipe()
    folder.require_finished("finish it first.")
    if validation_file is not None:
        validation_file = Path(validation_file).expanduser().resolve()
    with quiet():
        recipe, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
        if not recipe.task.scores_examples():
            raise UserError(f"{folder.path.name} is a {recipe.task.kind} run: it has no per-example score to compare.")
        data, splits, task, tokenized = evaluation_data(recipe, tokenizer, validation_file)
        found: list = []
        evaluate_model(model, tokenizer, recipe.with_task(task), splits["validation"], tokenized["validation"], None,
                       records=found)  # fmt: skip
    return {
        "records": found,
        "rows": splits["validation"].to_list(),
        "recipe": recipe,
        "task": task,
        "evaluated_on": data.describe_evaluation(),
        "data": data.describe(),
    }

"""Evaluation: the one evaluation path for a loaded model (the reload check, ``hf-transfer eval``), and the
reload check's comparison of two models' outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .arguments import make_training_args
from .console import hush
from .hardware import device_defaults
from .recipe import Recipe
from .trainer import eval_order, trainer_class


def evaluate_model(
    model,
    tokenizer,
    recipe: Recipe,
    examples,
    features,
    batch_size: int,
    precision: dict[str, Any] | None = None,
    console=None,
    records: list | None = None,
) -> dict[str, float]:
    """The one evaluation path for a loaded model: the reload check and ``hf-transfer eval``.

    ``examples`` is the eval split before tokenization, ``features`` after it. ``precision``: the
    run's bf16 / fp16 / use_cpu settings, so a reloaded model is evaluated as training evaluated it.
    ``console``: the run's, whose progress lines the evaluation then uses. ``records``, when given (a list),
    receives the task's per-example records of the same evaluation (a classifier's per-class report)."""
    task = recipe.task
    with tempfile.TemporaryDirectory() as scratch:
        settings = {"per_device_eval_batch_size": batch_size, "report_to": "none", "seed": 42, **device_defaults()}
        settings.update(precision or {})
        settings.update({k: v for k, v in task.training_defaults().items() if not k.startswith(("eval_", "save_"))})
        settings.update({k: v for k, v in recipe.training.items() if k.startswith("generation_")})
        if hasattr(model, "label_names"):  # an export (export.OnnxModel) says which inputs are labels
            settings["label_names"] = model.label_names
        args = make_training_args(Path(scratch), settings, task)
        trainer = trainer_class(task)(
            model=model,
            args=args,
            eval_dataset=features,
            data_collator=task.collator(tokenizer),
            processing_class=tokenizer,
            compute_metrics=_with_records(task, task.metrics_function(recipe.metric_names, examples, features,
                                                                      tokenizer), records, examples, features,
                                          tokenizer),  # fmt: skip
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
    if records is None or not task.scores_examples() or compute is None:
        return compute
    make = task.example_records(examples, features, tokenizer)

    def both(eval_pred):
        records[:] = make(eval_pred)
        return compute(eval_pred)

    return both


COMPARED_ROWS = 4
"""How many evaluation rows (the shortest) the reload check runs through both models when nothing was
evaluated during training: any row shows a wrong save, and the shortest cost least (the longest of an
Alpaca eval set takes seconds per forward pass on a CPU)."""


def same_outputs(trainer, reloaded, features, precision: dict) -> bool:
    """Whether the reloaded model gives the trained model's outputs (every tensor, to 1e-5) on the shortest
    evaluation rows, under the run's precision."""
    import torch

    rows = features.select(eval_order(features)[::-1][:COMPARED_ROWS])
    batch = next(iter(trainer.get_eval_dataloader(rows)))  # the Trainer drops the columns the model does not take
    batch = {k: v.to(trainer.model.device) if hasattr(v, "to") else v for k, v in batch.items()}
    autocast = torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=bool(precision.get("bf16")) and not torch.cuda.is_available()
    )
    outputs = []
    for model in (trainer.model, reloaded):
        model.eval()
        with torch.no_grad(), autocast:
            out = model(**batch)
        outputs.append([v.float() for v in (out.values() if hasattr(out, "values") else out) if torch.is_tensor(v)])
    return len(outputs[0]) == len(outputs[1]) and all(
        a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=0, equal_nan=True)
        for a, b in zip(*outputs, strict=True)
    )


def evaluation_data(recipe: Recipe, tokenizer, validation_file: Path | None = None,
                    max_eval_samples: int | None = None):  # fmt: skip
    """A finished run's evaluation data: its own (the recipe's data), or a labelled file read with the recipe's
    columns. Returns (the data as described in results, the splits, the task as the file's labels make it, the
    tokenized splits)."""
    import dataclasses

    from .data import load_evaluation_file, load_splits, tokenize_splits
    from .sources import FileData

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


def evaluate_run(
    run_dir: Path,
    validation_file: Path | None = None,
    max_eval_samples: int | None = None,
    batch_size: int = 128,
    output_file: Path | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """``hf-transfer eval``: a finished run evaluated again, on its own evaluation data or on a new labelled
    file, through the same evaluation path as the run; the metrics and the trivial baselines are written as
    JSON (``RUN_DIR/eval-<name>.json`` unless ``output_file``). Every flag is checked before the model loads."""
    import json

    from .console import quiet
    from .errors import UserError
    from .files import check_output_file, write_atomically
    from .models import load_run
    from .runs import RunFolder

    if max_eval_samples is not None and max_eval_samples < 1:
        raise UserError(f"--max_eval_samples must be 1 or more, got {max_eval_samples} (leave it out for every row).")
    if batch_size < 1:
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
    check_output_file(out, validation_file)
    with quiet():
        recipe, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
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


def evaluate_reloaded(trainer, loaded, staging: Path, precision: dict, console, clock,
                      records: list | None = None) -> tuple[dict, dict]:  # fmt: skip
    """The reload check: the run folder in ``staging`` reloaded from disk and evaluated once (its metrics are the
    run's); its main metric must equal the one recorded for the same weights during training, or, when nothing
    was evaluated during training (one epoch: its end is the only evaluation point), its outputs on the shortest
    evaluation rows must equal the trained model's. Returns (metrics, the check); a mismatch stops the run."""
    from .models import load_run
    from .runs import same_metric

    args = trainer.args
    key = f"eval_{loaded.recipe.task.main_metric()}"
    recorded = trainer.state.best_metric if args.load_best_model_at_end else None
    _, reloaded, _ = load_run(staging, trust_remote_code=loaded.recipe.trust_remote_code, console=console)
    matches = same_outputs(trainer, reloaded, loaded.tokenized["validation"], precision) if recorded is None else None
    clock.lap("reload_check")
    metrics = evaluate_model(reloaded, loaded.tokenizer, loaded.recipe, loaded.splits["validation"],
                             loaded.tokenized["validation"], args.per_device_eval_batch_size, precision,
                             console, records)  # fmt: skip
    if matches is not None:
        check = {"metric": key, "compared": f"outputs on the {COMPARED_ROWS} shortest evaluation rows",
                 "after_training": metrics.get(key) if matches else None, "reloaded_from_disk": metrics.get(key),
                 "match": matches}  # fmt: skip
    else:
        check = {"metric": key, "compared": "the metric recorded during training", "after_training": recorded,
                 "reloaded_from_disk": metrics.get(key)}  # fmt: skip
        check["match"] = same_metric(check["after_training"], check["reloaded_from_disk"])
    if not check["match"]:
        raise RuntimeError(
            f"The saved run does not reproduce the trained model ({key}: {check['after_training']} during training, "
            f"{check['reloaded_from_disk']} reloaded from {staging}); the run folder was not published."
        )
    return metrics, check


def example_records(run_dir: Path, validation_file: Path | None = None, trust_remote_code: bool = False) -> dict:
    """One record per evaluation example of a finished run (``Task.example_records``): on the run's own evaluation
    data, or on a labelled file. Returns the records, the evaluation rows as read, the run's recipe, and what was
    evaluated (for ``diff``, and for intervals over examples)."""
    import tempfile

    from .console import quiet
    from .data import load_evaluation_file, load_splits, tokenize_splits
    from .errors import UserError
    from .models import load_run
    from .runs import RunFolder
    from .sources import FileData

    folder = RunFolder(run_dir)
    folder.requested_recipe()
    folder.require_finished("finish it first.")
    with quiet():
        recipe, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
        task = recipe.task
        if not task.scores_examples():
            raise UserError(f"{folder.path.name} is a {task.kind} run: it has no per-example score to compare.")
        if validation_file is not None:
            path = str(Path(validation_file).expanduser().resolve())
            data = FileData(train_file=path, validation_file=path, columns=recipe.data.columns)
            splits, task = load_evaluation_file(path, recipe.data, task)
        else:
            data = recipe.data
            splits, task = load_splits(data, task)
        tokenized = tokenize_splits(splits, task, tokenizer, dataset=data)
        make = task.example_records(splits["validation"], tokenized["validation"], tokenizer)
        found: list = []
        with tempfile.TemporaryDirectory() as scratch:
            settings = {"per_device_eval_batch_size": 64, "report_to": "none", **device_defaults()}
            if hasattr(model, "label_names"):
                settings["label_names"] = model.label_names
            args = make_training_args(Path(scratch), settings, task)
            trainer = trainer_class(task)(model=model, args=args, eval_dataset=tokenized["validation"],
                                          data_collator=task.collator(tokenizer), processing_class=tokenizer,
                                          compute_metrics=lambda pred: found.extend(make(pred)) or {})  # fmt: skip
            hush(trainer)
            trainer.evaluate()
    return {
        "records": found,
        "rows": splits["validation"].to_list(),
        "recipe": recipe,
        "task": task,
        "evaluated_on": data.describe_evaluation(),
        "data": data.describe(),
    }

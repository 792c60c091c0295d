"""Evaluation: the one evaluation path for a loaded model (the reload check, ``hf-transfer eval``), and the
reload check's comparison of two models' outputs."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

from hf_transfer.base.console import hush
from hf_transfer.base.hardware import device_defaults
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.arguments import make_training_args
from hf_transfer.run.trainer import trainer_class


def evaluate_model(
    model,
    tokenizer,
    recipe: Recipe,
    examples,
    features,
    batch_size: int,
    precision: dict[str, Any] | None = None,
    console=None,
    outputs: list | None = None,
    records: list | None = None,
) -> dict[str, float]:
    """The one evaluation path for a loaded model: the reload check, ``hf-transfer eval`` and an export's verification.

    ``examples`` is the eval split before tokenization, ``features`` after it. ``precision``: the
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
        settings = {"per_device_eval_batch_size": batch_size, "report_to": "none", "seed": 42, **device_defaults()}
        settings.update(precision or {})
        settings.update({k: v for k, v in task.training_defaults().items() if not k.startswith(("eval_", "save_"))})
        settings.update({k: v for k, v in recipe.training.items() if k.startswith("generation_")})
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
            data_collator=task.collator(tokenizer),
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
    if records is None or not task.scores_examples() or compute is None:
        return compute
    make = task.example_records(examples, features, tokenizer)

    def both(eval_pred):
        records[:] = make(eval_pred)
        return compute(eval_pred)

    return both


FP32 = {"bf16": False, "fp16": False}
"""The precision settings that evaluate in fp32 whatever the device default (bf16 autocast on a CPU with native
bf16 and on GPUs): what an export's reference runs in."""


def agreement(ours, theirs) -> dict[str, Any]:
    """Two models' outputs on the same rows, compared row by row: the largest absolute difference of any output
    value, the scale of the outputs, and how many predictions (the arg-max over the last axis: a class, a tag, a
    start or end position) differ out of how many. Positions the evaluation loop padded with -100 are not
    predictions. ``ours`` / ``theirs``: an array, or a tuple of arrays (QA's start and end logits)."""
    import numpy as np

    ours = ours if isinstance(ours, (tuple, list)) else (ours,)
    theirs = theirs if isinstance(theirs, (tuple, list)) else (theirs,)
    unlike = {"max_difference": math.inf, "scale": 0.0, "changed_predictions": None, "predictions": 0}
    if len(ours) != len(theirs):  # outputs of another shape: nothing to compare
        return unlike
    largest, scale, changed, compared = 0.0, 0.0, 0, 0
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return unlike
        if not a.size:
            continue
        both_nan = np.isnan(a) & np.isnan(b)
        difference = np.where(both_nan, 0.0, np.abs(a - b))
        largest = max(largest, float(np.nan_to_num(difference, nan=math.inf).max()))
        scale = max(scale, float(np.nanmax(np.abs(np.where(np.isnan(a), 0.0, a)))))
        if a.ndim >= 2:
            real = ~np.all(a == -100, axis=-1)
            changed += int(((a.argmax(-1) != b.argmax(-1)) & real).sum())
            compared += int(real.sum())
    return {"max_difference": largest, "scale": scale, "changed_predictions": changed, "predictions": compared}


def within(found: dict[str, Any], tolerance: float) -> bool:
    """Whether compared outputs agree: every value within ``tolerance`` relative to the outputs' scale (at least
    1), and no prediction changed."""
    return found["changed_predictions"] == 0 and found["max_difference"] <= tolerance * max(1.0, found["scale"])


COMPARED_ROWS = 8
"""How many evaluation rows (a seeded sample) the reload check runs through the trained and the reloaded model:
any row shows a wrong save, and a few cost far less than an evaluation (an Alpaca row takes a second per forward
pass on a CPU)."""
RELOAD_TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 2e-3}
"""How far (relative to the outputs' scale) the reloaded model's outputs may be from the trained model's, per
precision: the same weights give the same outputs, up to a different order of the same arithmetic."""


def compared_rows(features, seed: int = 0) -> list[int]:
    import random

    count = min(COMPARED_ROWS, len(features))
    return sorted(random.Random(seed).sample(range(len(features)), count))


def compare_reloaded(trainer, reloaded, features, precision: dict) -> dict[str, Any]:
    """The trained model (in memory) and the saved one (reloaded from disk) on a seeded sample of evaluation rows,
    under the run's precision: their outputs compared value by value and their predictions row by row."""
    import torch

    rows = features.select(compared_rows(features))
    name = "bf16" if precision.get("bf16") else "fp16" if precision.get("fp16") else "fp32"
    autocast = torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=bool(precision.get("bf16")) and not torch.cuda.is_available()
    )
    found = {"max_difference": 0.0, "scale": 0.0, "changed_predictions": 0, "predictions": 0}
    for batch in trainer.get_eval_dataloader(rows):  # the Trainer drops the columns the model does not take
        batch = {k: v.to(trainer.model.device) if hasattr(v, "to") else v for k, v in batch.items()}
        sides = []
        for model in (trainer.model, reloaded):
            model.eval()
            with torch.no_grad(), autocast:
                out = model(**batch)
            values = out.values() if hasattr(out, "values") else out
            sides.append(tuple(v.float().cpu().numpy() for v in values if torch.is_tensor(v) and v.dim() > 0))
        part = agreement(*sides)
        found["max_difference"] = max(found["max_difference"], part["max_difference"])
        found["scale"] = max(found["scale"], part["scale"])
        found["predictions"] += part["predictions"]
        if found["changed_predictions"] is not None and part["changed_predictions"] is not None:
            found["changed_predictions"] += part["changed_predictions"]
        else:  # outputs of another shape: no prediction to compare
            found["changed_predictions"] = None
    found.update(rows=len(rows), precision=name, tolerance=RELOAD_TOLERANCE[name])
    return found


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
    batch_size: int = 128,
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


def evaluate_reloaded(trainer, loaded, staging: Path, precision: dict, console, clock,
                      records: list | None = None) -> tuple[dict, dict]:  # fmt: skip
    """The reload check, then the run's one evaluation: the run folder in ``staging`` reloaded from disk must give
    the trained model's outputs (``compare_reloaded``: values within the precision's tolerance, no prediction
    changed) on a seeded sample of evaluation rows; then it is evaluated once on the evaluation split, and those are
    the run's metrics (``records`` receives its per-example records). Returns (metrics, the check); a mismatch stops
    the run before anything is published."""
    from hf_transfer.artifacts.models import load_run

    args = trainer.args
    key = f"eval_{loaded.recipe.task.main_metric()}"
    _, reloaded, _ = load_run(staging, trust_remote_code=loaded.recipe.trust_remote_code, console=console)
    found = compare_reloaded(trainer, reloaded, loaded.tokenized["validation"], precision)
    check = {
        "metric": key,
        "compared": f"outputs of the trained model and the saved one reloaded from disk on {found['rows']} seeded "
        "evaluation rows",
        **found,
        "match": within(found, found["tolerance"]),
    }
    clock.lap("reload_check")
    if not check["match"]:
        changed = found["changed_predictions"]
        raise RuntimeError(
            f"The saved run does not reproduce the trained model: reloaded from {staging}, its outputs on "
            f"{found['rows']} evaluation rows differ by up to {found['max_difference']:.3g} (tolerance "
            f"{found['tolerance']:g} x {max(1.0, found['scale']):.3g}) and "
            f"{'its outputs have another shape' if changed is None else f'{changed} prediction(s) changed'}; "
            "the run folder was not published."
        )
    metrics = evaluate_model(reloaded, loaded.tokenizer, loaded.recipe, loaded.splits["validation"],
                             loaded.tokenized["validation"], args.per_device_eval_batch_size, precision,
                             console, records=records)  # fmt: skip
    return metrics, check


def example_records(run_dir: Path, validation_file: Path | None = None, trust_remote_code: bool = False) -> dict:
    """One record per evaluation example of a finished run (``Task.example_records``): on the run's own evaluation
    data, or on a labelled file. Returns the records, the evaluation rows as read, the run's recipe, and what was
    evaluated (for ``diff``, and for intervals over examples)."""
    import tempfile

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.base.console import quiet
    from hf_transfer.base.errors import UserError
    from hf_transfer.data.prepare import load_evaluation_file, load_splits, tokenize_splits
    from hf_transfer.sources import FileData

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

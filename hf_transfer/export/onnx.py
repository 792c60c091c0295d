"""``hf-transfer export RUN [--format onnx] [--quantize int8]``: a finished run as an ONNX model that is proven to
score like it.

The run's model (an adapter run merged in memory first; the run folder is not touched) is exported with PyTorch's
own exporter (``torch.onnx.export(..., dynamo=True)``), loaded back with onnxruntime, and evaluated on the run's
evaluation data through the same evaluation path and metric code as the run (``evaluation.evaluate_model``), next
to the PyTorch model in fp32 (whatever the device default). The fp32 export must agree with it row by row over the
whole evaluation set (outputs within ``OUTPUT_TOLERANCE``, at most ``CHANGED_SHARE`` of the predictions changed) and
on the metric (``verify``), or nothing is kept; an int8 export (onnxruntime's dynamic quantization, run row by row so
its answers do not depend on the batch) reports its change and is kept, and past ``INT8_WARNING`` points lost it is
not the file predict and eval use. The folder is built in ``<output_dir>.partial`` and renamed into place with its
``export.json`` (files and checksums, the verification): a folder that looks finished is one.

``onnx_model.OnnxModel`` puts an export behind the interface the tasks and the Trainer call, so ``predict``, ``eval``
and ``diff`` take an export folder like a run folder."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from hf_transfer.artifacts.onnx_model import (
    INT8_FILE,
    MODEL_FILE,
    OnnxModel,
    check_installed,
    file_entry,
)
from hf_transfer.artifacts.runs import EXPORT_FILE, RunFolder
from hf_transfer.base.errors import UserError
from hf_transfer.export.onnx_card import export_card
from hf_transfer.export.onnx_graph import export_graph, fuse_graph, quantize_int8, sample_batch
from hf_transfer.methods import check_exports

FORMATS = {"onnx": ("int8",), "gguf": ("f16", "q8_0", "q4_0")}
"""Export formats and the quantizations each has (GGUF: gguf_export.py)."""
OUTPUT_TOLERANCE = 1e-3
"""How far an fp32 export's outputs (logits) may be from the PyTorch model's in fp32, relative to their scale (at
least 1): a real export differs by about 1e-5 to 4e-4 (fused kernels sum in another order); a wrong one by far more."""
CHANGED_SHARE = 0.01
"""The share of predictions (rounded up: at least one) an fp32 export may change: rows whose two best classes are
closer than the outputs' rounding can flip."""
METRIC_TOLERANCE = 0.5
"""Points (1% of the metric's range) the fp32 export's metric may move, beyond what the allowed changed predictions
can move it."""
INT8_WARNING = 1.0
"""Points an int8 export may lose before it is kept with a warning."""
STAGING_MARK = ".hf-transfer-export"
"""The file an export's ``.partial`` folder holds from its creation: a later export removes only a folder with it
(one that an interrupted export left), never a folder of that name that someone else made."""


def check_request(fmt: str, quantize: str | None) -> None:
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: hf_transfer exports {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in FORMATS[fmt]:
        has = FORMATS[fmt]
        raise UserError(
            f"--quantize {quantize!r}: the {fmt} format "
            + (f"quantizes to {', '.join(has)} only." if has else "has no quantization.")
        )


def verify(task, key: str, reference: dict, exported: dict, found: dict) -> dict[str, Any]:
    """The fp32 export's verification against the PyTorch model in fp32, row by row and on the metric: its outputs
    within ``OUTPUT_TOLERANCE`` of their scale over the whole evaluation set, at most ``CHANGED_SHARE`` of the
    predictions changed, and the metric within ``METRIC_TOLERANCE`` points plus what those changes can move.
    ``refused`` says why it fails (empty when it passes)."""
    import math

    point = task.metric_range(key) / 100
    drift = abs(exported[key] - reference[key]) / point
    predictions = found["predictions"] or 0
    allowed = math.ceil(CHANGED_SHARE * predictions)
    metric_tolerance = METRIC_TOLERANCE + (100 * allowed / predictions if predictions else 0)
    limit = OUTPUT_TOLERANCE * max(1.0, found["scale"])
    reasons = []
    if not found["max_difference"] <= limit:
        reasons.append(f"outputs differ by up to {found['max_difference']:.3g} (at most {limit:.3g} allowed)")
    changed = found["changed_predictions"]
    if changed is None or changed > allowed:
        reasons.append(f"{'its outputs have another shape' if changed is None else f'{changed:,} of {predictions:,}'}"
                       f" predictions changed (at most {allowed:,})")  # fmt: skip
    if not drift <= metric_tolerance:
        reasons.append(f"{key} {exported[key]:.4f} against {reference[key]:.4f}, {drift:.2f} points apart (at most "
                       f"{metric_tolerance:.2f})")  # fmt: skip
    return {
        "metric": key,
        "pytorch_fp32": reference[key],
        "onnx_fp32": exported[key],
        "drift_points": drift,
        "tolerance_points": metric_tolerance,
        "max_output_difference": found["max_difference"],
        "output_scale": found["scale"],
        "output_tolerance": limit,
        "changed_predictions": changed,
        "predictions": predictions,
        "changed_allowed": allowed,
        "refused": "; ".join(reasons),
    }


def export_run(
    run_dir: Path,
    output_dir: Path | None = None,
    fmt: str = "onnx",
    quantize: str | None = None,
    overwrite: bool = False,
    validation_file: Path | None = None,
    max_eval_samples: int | None = None,
    batch_size: int = 64,
    trust_remote_code: bool = False,
    log=print,
) -> dict[str, Any]:
    """Export a finished run, verify the export on the run's evaluation data, and write the export folder.
    Returns the export record (``export.json``) with the folder's path under ``output_dir``."""
    from hf_transfer.artifacts.staging import check_output_dir, check_replaces_only, publish

    check_request(fmt, quantize)
    if batch_size < 1:
        raise UserError(f"--per_device_eval_batch_size must be 1 or more, got {batch_size}.")
    source = RunFolder(run_dir)
    started_with = _identity(source)  # checked again before the export is kept
    requested = source.requested_recipe()  # "not a hf_transfer run folder" first
    source.require_finished("an unfinished run is not exported. Finish it with --resume first.")
    source.refuse_export("export takes the run it was made from")
    recipe = source.recipe()
    check_exports(recipe.method, source.path.name)  # the method's entry: its runs export (an adapter once merged)
    if fmt == "gguf":
        from hf_transfer.export.gguf import check_run

        check_run(source, recipe)
    elif not recipe.task.export_outputs:
        raise UserError(f"{source.path.name} is a {recipe.task.kind} run, which is not exported: "
                        f"{recipe.task.export_refusal}.")  # fmt: skip
    target = RunFolder(output_dir or source.path.with_name(f"{source.path.name}-{fmt}"))
    if target.overlaps(source):
        raise UserError(f"--output_dir {target.path} is the run {source.path} itself (or a folder around or inside "
                        f"it): choose another (default: {source.path.name}-{fmt} beside it).")  # fmt: skip
    check_output_dir(target.path, overwrite=overwrite)
    check_replaces_only(target.path, "export")
    if validation_file is not None:
        validation_file = Path(validation_file).expanduser().resolve()
    if fmt == "onnx":
        check_installed()
    staging = target.staging
    if staging.exists() and not (staging / STAGING_MARK).is_file():
        raise UserError(f"{staging} exists and was not left by an export (it has no {STAGING_MARK}): hf_transfer does "
                        "not remove files it did not write. Move it, or choose another --output_dir.")  # fmt: skip
    try:
        if staging.exists():  # what an interrupted export (kill -9) left: started over
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        (staging / STAGING_MARK).touch()
    except OSError as exc:
        raise UserError(f"--output_dir {target.path} cannot be written: {exc.strerror} ({staging.parent}).") from None
    try:
        if fmt == "gguf":
            from hf_transfer.export.gguf import export

            record = export(source, requested, staging, quantize, validation_file, max_eval_samples,
                            trust_remote_code, log)  # fmt: skip
        else:
            record = _export(source, requested, staging, fmt, quantize, validation_file, max_eval_samples,
                             batch_size, trust_remote_code, log)  # fmt: skip
        if _identity(source) != started_with:
            raise UserError(f"{source.path} was replaced by another run while it was exported: the export could mix "
                            "the two. Nothing was kept; export it again once that run has finished.")  # fmt: skip
        (staging / STAGING_MARK).unlink()
        publish(staging, target.path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record["output_dir"] = str(target.path)
    return record


def _identity(source: RunFolder) -> tuple:
    """Which run is in the folder: a new run is published by renaming a new folder into place (another inode) and
    writes its own metrics.json."""
    import os

    try:
        return os.stat(source.path).st_ino, os.stat(source.path / "metrics.json").st_mtime_ns
    except OSError:
        return ()


def _export(source, requested, staging, fmt, quantize, validation_file, max_eval_samples, batch_size,
            trust_remote_code, log) -> dict:  # fmt: skip
    from hf_transfer.base.console import quiet
    from hf_transfer.base.files import write_atomically
    from hf_transfer.base.hardware import versions
    from hf_transfer.run.evaluation import FP32, evaluate_model, merged_fp32_run
    from hf_transfer.run.reload_check import agreement

    started = time.perf_counter()
    with quiet():
        recipe, model, tokenizer, data, splits, task, tokenized = merged_fp32_run(
            source, validation_file, max_eval_samples, trust_remote_code
        )
        examples, features = splits["validation"], tokenized["validation"]
        batch = sample_batch(task, tokenizer, features)
    log(f"[hf-transfer] exporting {source.path.name} ({type(model).__name__}) to ONNX with torch.onnx.export")
    with quiet():
        export_graph(model, task, batch, staging / MODEL_FILE)
        fused = fuse_graph(staging / MODEL_FILE, model.config)
    exported = time.perf_counter() - started
    key = f"eval_{task.main_metric()}"
    log(f"[hf-transfer] verifying the export on {len(examples):,} {task.unit} of {data.describe_evaluation()}")
    ours: list = []
    theirs: list = []
    with quiet():
        model.config.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        _write_record(
            staging, {"format": fmt, "outputs": list(task.export_outputs), "predict_with": MODEL_FILE}, [MODEL_FILE]
        )  # fmt: skip a provisional record: OnnxModel reads the files' checksums from it
        # the reference runs in fp32 whatever the device default (bf16 autocast on CPUs with native bf16, GPUs)
        reference = evaluate_model(model, tokenizer, recipe, examples, features, batch_size, FP32, outputs=ours)
        exported_fp32 = OnnxModel(staging, MODEL_FILE)  # one session (and one checksum pass) for both checks
        onnx_metrics = evaluate_model(exported_fp32, tokenizer, recipe, examples, features, batch_size, FP32,
                                      outputs=theirs)  # fmt: skip
    if key not in reference or key not in onnx_metrics:
        raise UserError(f"The evaluation gave no {key}: the export cannot be verified.")
    verification = verify(task, key, reference, onnx_metrics, agreement(ours[0], theirs[0]))
    verification.update(evaluated_on=data.describe_evaluation(), samples=len(examples),
                        recorded_by_the_run=source.metrics().get("eval", {}).get(key))  # fmt: skip
    if verification["refused"]:
        raise UserError(
            f"The ONNX export does not compute what the model computes (in fp32, on {len(examples):,} {task.unit}): "
            f"{verification['refused']}. Nothing was kept."
        )
    del verification["refused"]
    files, predict_with = [MODEL_FILE], MODEL_FILE
    if quantize == "int8":
        with quiet():
            quantize_int8(staging / MODEL_FILE, staging / INT8_FILE)
            _write_record(staging, {"format": fmt, "outputs": list(task.export_outputs), "predict_with": INT8_FILE},
                          [MODEL_FILE, INT8_FILE])  # fmt: skip
            # as predict and eval run it: row by row (see OnnxModel), so its answers do not move with the batch
            int8 = evaluate_model(OnnxModel(staging, INT8_FILE), tokenizer, recipe, examples, features, batch_size)
        point = task.metric_range(key) / 100
        change = (int8[key] - reference[key]) / point * (1 if task.greater_is_better() else -1)
        verification.update(onnx_int8=int8[key], int8_change_points=change, int8_warning_points=INT8_WARNING)
        files = [MODEL_FILE, INT8_FILE]
        if change < -INT8_WARNING:
            verification["int8_not_used"] = f"loses {-change:.2f} points, more than {INT8_WARNING}"
            log(f"[hf-transfer] warning: the int8 export loses {-change:.2f} points of {key} ({int8[key]:.4f} against "
                f"{reference[key]:.4f}): it is kept as {INT8_FILE}, but predict and eval use {MODEL_FILE} (fp32), "
                "which scores like the model.")  # fmt: skip
        else:
            predict_with = INT8_FILE
    sizes = {name: (staging / name).stat().st_size for name in files}
    RunFolder(staging).write_recipe(requested)
    RunFolder(staging).write_learned(source.learned())
    record = {
        "format": fmt,
        "quantize": quantize,
        "predict_with": predict_with,
        "inputs": list(batch),
        "outputs": list(task.export_outputs),
        "task": task.kind,
        "architecture": type(model).__name__,
        "source_run": str(source.path),
        "source_method": recipe.method,
        "merged_adapter": source.has_adapter,
        "fused_operators": fused,
        "verification": verification,
        "bytes": sizes,
        "seconds": {"export": exported, "total": time.perf_counter() - started},
        "versions": versions(extra=("onnx", "onnxscript", "onnxruntime")),
    }
    write_atomically(staging / "README.md", export_card(record, recipe, staging.name.removesuffix(".partial")))
    _write_record(staging, record, files)
    return record


def _write_record(staging: Path, record: dict, files: list[str]) -> None:
    from hf_transfer.base.files import write_atomically

    record = {**record, "files": {name: file_entry(staging / name) for name in files}}
    write_atomically(staging / EXPORT_FILE, json.dumps(record, indent=2, default=str) + "\n")

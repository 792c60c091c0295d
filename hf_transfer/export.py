"""``hf-transfer export RUN [--format onnx] [--quantize int8]``: a finished run as an ONNX model that is proven to
score like it.

The run's model (an adapter run merged in memory first; the run folder is not touched) is exported with PyTorch's
own exporter (``torch.onnx.export(..., dynamo=True)``), loaded back with onnxruntime, and evaluated on the run's
evaluation data through the same evaluation path and metric code as the run (``evaluation.evaluate_model``), next
to the PyTorch model in fp32. The fp32 export must match it within ``FP32_TOLERANCE`` points or nothing is kept;
an int8 export (onnxruntime's dynamic quantization) reports its change and is kept, with a warning past
``INT8_WARNING`` points. The folder is built in ``<output_dir>.partial`` and renamed into place with its
``export.json`` (files and checksums, the verification): a folder that looks finished is one.

``onnx_model.OnnxModel`` puts an export behind the interface the tasks and the Trainer call, so ``predict``, ``eval``
and ``diff`` take an export folder like a run folder."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from .card import export_card
from .errors import UserError, first_line
from .onnx_model import INT8_FILE, MODEL_FILE, OnnxModel, check_installed, file_entry
from .runs import EXPORT_FILE, RunFolder

FORMATS = {"onnx": ("int8",), "gguf": ("f16", "q8_0", "q4_0")}
"""Export formats and the quantizations each has (GGUF: gguf_export.py)."""
FP32_TOLERANCE = 0.1
"""Points (of a metric in percent) that the fp32 export may differ from the PyTorch model by: more is refused."""
INT8_WARNING = 1.0
"""Points an int8 export may lose before it is kept with a warning."""
STAGING_MARK = ".hf-transfer-export"
"""The file an export's ``.partial`` folder holds from its creation: a later export removes only a folder with it
(one that an interrupted export left), never a folder of that name that someone else made."""
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
"""The model inputs an export takes (what the tokenizers of the encoder families produce)."""


def check_request(fmt: str, quantize: str | None) -> None:
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: hf_transfer exports {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in FORMATS[fmt]:
        has = FORMATS[fmt]
        raise UserError(
            f"--quantize {quantize!r}: the {fmt} format "
            + (f"quantizes to {', '.join(has)} only." if has else "has no quantization.")
        )


def points(reference: float) -> float:
    """One point of a metric: 0.01 on a fraction (accuracy 0.81), 1 on a percentage (SQuAD's F1 81.0)."""
    return 0.01 if abs(reference) <= 1 else 1.0


# ---- Making one


class _Graph(torch.nn.Module):
    """The model as the exporter sees it: positional inputs (``names``) in, the task's outputs out."""

    def __init__(self, model, names: list[str], outputs: tuple[str, ...]):
        super().__init__()
        self.model, self.names, self.outputs = model, names, outputs

    def forward(self, *tensors):
        out = self.model(**dict(zip(self.names, tensors, strict=True)))
        return tuple(out[name] for name in self.outputs)


def sample_batch(task, tokenizer, features) -> dict[str, torch.Tensor]:
    """Two evaluation rows as the collator pads them, model inputs only: the shapes the exporter traces with (every
    dimension dynamic)."""
    names = [n for n in INPUTS if n in features.column_names]
    other = [n for n in tokenizer.model_input_names if n not in INPUTS and n in features.column_names]
    if other or "input_ids" not in names:
        raise UserError(
            f"This model takes {', '.join(other or tokenizer.model_input_names)}: hf_transfer exports models that "
            f"take {', '.join(INPUTS)} (the text encoders)."
        )
    labels = [n for n in ("labels", "label") if n in features.column_names]  # some collators need them
    rows = features.select_columns(names + labels).select(range(min(2, len(features))))
    batch = task.collator(tokenizer)([rows[i] for i in range(len(rows))])
    return {n: batch[n] for n in names}


def export_graph(model, task, batch: dict[str, torch.Tensor], path: Path) -> None:
    """The model's forward pass as one ONNX graph at ``path`` (dynamic batch, sequence and, for multiple choice,
    choices); an exporter failure names the model and what failed."""
    names = list(batch)
    dims = dict.fromkeys(range(next(iter(batch.values())).dim()), torch.export.Dim.DYNAMIC)
    try:
        program = torch.onnx.export(
            _Graph(model, names, task.export_outputs).eval(), tuple(batch.values()), dynamo=True, input_names=names,
            output_names=list(task.export_outputs), dynamic_shapes=(tuple(dims for _ in names),), verbose=False,
        )  # fmt: skip
        program.save(str(path))
    except Exception as exc:  # the exporter's own error types, from torch.export, its op translation, onnx checks
        raise UserError(
            f"PyTorch's ONNX exporter cannot export {type(model).__name__} ({model.config.model_type}): "
            f"{_exporter_reason(exc)}. Nothing was written."
        ) from None


def _exporter_reason(exc: Exception) -> str:
    """The line of an exporter error that says what failed (its messages open with steps to take, not the cause)."""
    text = str(exc)
    for line in text.splitlines():
        if line.startswith("<class ") or "Unsupported" in line or "aten." in line:
            return line.strip()[:400]
    return f"{type(exc).__name__}: {first_line(exc)}"[:400]


def fuse_graph(path: Path, config) -> dict[str, int]:
    """onnxruntime's transformer fusions (layer norms with their residual adds, GELU with its bias, attention where the
    graph's pattern is known) applied to the graph at ``path`` in place, for the model types onnxruntime knows;
    returns what was fused (empty: left as exported). MiniLM on this CPU: fp32 1.06x and int8 1.47x faster at batch
    32 (benchmarks/results/export.md); the verification that follows checks the fused graph."""
    try:
        from onnxruntime.transformers import optimizer
    except ImportError:
        return {}
    if config.model_type not in optimizer.MODEL_TYPES:
        return {}
    try:
        fused = optimizer.optimize_model(str(path), model_type=config.model_type, opt_level=1,
                                         num_heads=int(getattr(config, "num_attention_heads", 0) or 0),
                                         hidden_size=int(getattr(config, "hidden_size", 0) or 0))  # fmt: skip
        counts = {name: count for name, count in fused.get_fused_operator_statistics().items() if count}
        fused.save_model_to_file(str(path))
    except Exception:  # a graph the fusions do not understand is kept as exported (and verified as such)
        return {}
    return counts


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization (weights int8, activations quantized per batch at run time) by onnxruntime."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .console import expected

    class Expected(logging.Filter):  # onnxruntime logs its advice to the root logger
        def filter(self, record):
            return not expected(record.getMessage())

    root = logging.getLogger()
    only = Expected()
    root.addFilter(only)
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    finally:
        root.removeFilter(only)


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
    from .staging import check_output_dir, publish

    check_request(fmt, quantize)
    if batch_size < 1:
        raise UserError(f"--per_device_eval_batch_size must be 1 or more, got {batch_size}.")
    source = RunFolder(run_dir)
    requested = source.requested_recipe()  # "not a hf_transfer run folder" first
    source.require_finished("an unfinished run is not exported. Finish it with --resume first.")
    source.refuse_export("export takes the run it was made from")
    recipe = source.recipe()
    if fmt == "gguf":
        from .gguf_export import check_run

        check_run(source, recipe)
    elif not recipe.task.export_outputs:
        raise UserError(f"{source.path.name} is a {recipe.task.kind} run, which is not exported: "
                        f"{recipe.task.export_refusal}.")  # fmt: skip
    target = RunFolder(output_dir or source.path.with_name(f"{source.path.name}-{fmt}"))
    if target.overlaps(source):
        raise UserError(f"--output_dir {target.path} is the run {source.path} itself (or a folder around or inside "
                        f"it): choose another (default: {source.path.name}-{fmt} beside it).")  # fmt: skip
    check_output_dir(target.path, overwrite=overwrite)
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
            from .gguf_export import export

            record = export(source, requested, staging, quantize, validation_file, max_eval_samples,
                            trust_remote_code, log)  # fmt: skip
        else:
            record = _export(source, requested, staging, fmt, quantize, validation_file, max_eval_samples,
                             batch_size, trust_remote_code, log)  # fmt: skip
        (staging / STAGING_MARK).unlink()
        publish(staging, target.path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record["output_dir"] = str(target.path)
    return record


def _export(source, requested, staging, fmt, quantize, validation_file, max_eval_samples, batch_size,
            trust_remote_code, log) -> dict:  # fmt: skip
    from .console import quiet
    from .evaluation import evaluate_model, evaluation_data
    from .files import write_atomically
    from .hardware import versions
    from .models import load_run

    started = time.perf_counter()
    with quiet():
        recipe, model, tokenizer = load_run(source.path, full_precision_base=True, trust_remote_code=trust_remote_code)
        if source.has_adapter:
            model = model.merge_and_unload()  # in memory: the run folder keeps its adapter
        model = model.float().eval()
        data, splits, task, tokenized = evaluation_data(recipe, tokenizer, validation_file, max_eval_samples)
        examples, features = splits["validation"], tokenized["validation"]
        batch = sample_batch(task, tokenizer, features)
    log(f"[hf-transfer] exporting {source.path.name} ({type(model).__name__}) to ONNX with torch.onnx.export")
    with quiet():
        export_graph(model, task, batch, staging / MODEL_FILE)
        fused = fuse_graph(staging / MODEL_FILE, model.config)
    exported = time.perf_counter() - started
    key = f"eval_{task.main_metric()}"
    log(f"[hf-transfer] verifying the export on {len(examples):,} {task.unit} of {data.describe_evaluation()}")
    with quiet():
        model.config.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        _write_record(
            staging, {"format": fmt, "outputs": list(task.export_outputs), "predict_with": MODEL_FILE}, [MODEL_FILE]
        )  # fmt: skip a provisional record: OnnxModel reads the files' checksums from it
        reference = evaluate_model(model, tokenizer, recipe, examples, features, batch_size)
        exported_fp32 = OnnxModel(staging, MODEL_FILE)  # one session (and one checksum pass) for both checks
        onnx_metrics = evaluate_model(exported_fp32, tokenizer, recipe, examples, features, batch_size)
    if key not in reference or key not in onnx_metrics:
        raise UserError(f"The evaluation gave no {key}: the export cannot be verified.")
    point = points(reference[key])
    drift = abs(onnx_metrics[key] - reference[key]) / point
    outputs = _max_difference(model, exported_fp32, batch)
    verification = {
        "metric": key,
        "evaluated_on": data.describe_evaluation(),
        "samples": len(examples),
        "pytorch_fp32": reference[key],
        "onnx_fp32": onnx_metrics[key],
        "drift_points": drift,
        "tolerance_points": FP32_TOLERANCE,
        "max_output_difference": outputs,
        "recorded_by_the_run": source.metrics().get("eval", {}).get(key),
    }
    if drift > FP32_TOLERANCE:
        raise UserError(
            f"The ONNX export does not score like the model: {key} {onnx_metrics[key]:.4f} against "
            f"{reference[key]:.4f} in PyTorch (fp32), {drift:.2f} points apart (at most {FP32_TOLERANCE} allowed; "
            f"outputs differ by up to {outputs:.2g}). Nothing was kept."
        )
    files, predict_with = [MODEL_FILE], MODEL_FILE
    if quantize == "int8":
        with quiet():
            quantize_int8(staging / MODEL_FILE, staging / INT8_FILE)
            _write_record(staging, {"format": fmt, "outputs": list(task.export_outputs), "predict_with": INT8_FILE},
                          [MODEL_FILE, INT8_FILE])  # fmt: skip
            int8 = evaluate_model(OnnxModel(staging, INT8_FILE), tokenizer, recipe, examples, features, batch_size)
        change = (int8[key] - reference[key]) / point * (1 if task.greater_is_better() else -1)
        verification.update(onnx_int8=int8[key], int8_change_points=change, int8_warning_points=INT8_WARNING)
        files, predict_with = [MODEL_FILE, INT8_FILE], INT8_FILE
        if change < -INT8_WARNING:
            log(f"[hf-transfer] warning: the int8 export loses {-change:.2f} points of {key} ({int8[key]:.4f} against "
                f"{reference[key]:.4f}); it is kept, and {MODEL_FILE} (fp32) beside it scores like the "
                "model.")  # fmt: skip
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
    from .files import write_atomically

    record = {**record, "files": {name: file_entry(staging / name) for name in files}}
    write_atomically(staging / EXPORT_FILE, json.dumps(record, indent=2, default=str) + "\n")


def _max_difference(model, exported: OnnxModel, batch: dict[str, torch.Tensor]) -> float:
    """The largest absolute difference between the two models' outputs on the sample batch."""
    with torch.no_grad():
        ours, theirs = model(**batch), exported(**batch)
    return max(float((ours[name].float() - theirs[name]).abs().max()) for name in exported.output_names)

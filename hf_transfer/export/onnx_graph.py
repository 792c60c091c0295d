"""Making an ONNX export's files (``export.onnx`` runs them): the model as the exporter sees it, the sample batch it
traces with, PyTorch's exporter (``torch.onnx.export(..., dynamo=True)``), onnxruntime's transformer fusions and its
dynamic int8 quantization."""

from __future__ import annotations

from pathlib import Path

import torch

from hf_transfer.artifacts.onnx_model import INPUT_NAMES
from hf_transfer.base.errors import UserError, first_line

INPUTS = INPUT_NAMES
"""The model inputs an export takes (what the tokenizers of the encoder families produce)."""


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

    from hf_transfer.base.console import expected

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

"""An export folder (``hf-transfer export``) loaded for predictions and evaluation: its record checked, its ONNX
graph run by onnxruntime behind the interface the tasks and the Trainer call (``model(**batch).logits``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers.utils import ModelOutput

from hf_transfer.artifacts.runs import EXPORT_FILE
from hf_transfer.base.errors import UserError, first_line

MODEL_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
EXTRA = "export"
"""The pyproject extra that installs the exporter and onnxruntime."""


def check_installed() -> None:
    missing = []
    for module in ("onnx", "onnxscript", "onnxruntime"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise UserError(
            f"Exporting needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not installed: "
            f"pip install 'hf-transfer-toolkit[{EXTRA}]'"
        )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(path: Path) -> dict[str, Any]:
    """What an export record says of one of its files: its size and checksum."""
    return {"bytes": path.stat().st_size, "sha256": _sha256(path)}


@dataclass
class ExportOutput(ModelOutput):
    """What an export returns, under the names the model's own output has."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None


def read_record(folder: Path) -> dict[str, Any]:
    """An export folder's ``export.json``, with every file it lists checked against its size and checksum: a
    damaged export (cut short, changed) is named, not loaded."""
    file = Path(folder) / EXPORT_FILE
    try:
        record = json.loads(file.read_text())
        files = record["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise UserError(f"{file} is damaged: it is not an export record. Export the run again.") from None
    problem = _record_problem(record)
    if problem:
        raise UserError(f"{file} is damaged: {problem}. Export the run again: hf-transfer export RUN.")
    for name, about in files.items():
        path = Path(folder) / name
        if not path.is_file() or path.stat().st_size != about["bytes"] or _sha256(path) != about["sha256"]:
            state = "missing" if not path.is_file() else "not the file that was exported (its checksum differs)"
            raise UserError(f"The export is damaged: {path} is {state}. Export the run again: hf-transfer export RUN.")
    return record


INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("logits", "start_logits", "end_logits")
"""The outputs an export may have (``ExportOutput``'s fields)."""


def _record_problem(record) -> str | None:
    """What is wrong with an export record's shape (None: nothing): its files, the file it predicts with, its
    outputs."""
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not files:
        return "it lists no files"
    for name, about in files.items():
        if Path(name).name != name or name.startswith("."):
            return f"its file entry {name!r} is not a file name of the folder"
        if not isinstance(about, dict) or not isinstance(about.get("bytes"), int) or not isinstance(
            about.get("sha256"), str
        ):
            return f"its entry for {name} has no size and checksum"
    if record.get("predict_with") not in files:
        return f"it predicts with {record.get('predict_with')!r}, which is not one of its files"
    outputs = record.get("outputs")
    if record.get("format", "onnx") != "onnx":  # a GGUF export generates text: it has no named outputs
        return None
    if not isinstance(outputs, list) or not outputs or not all(o in OUTPUT_NAMES for o in outputs):
        return f"its outputs {outputs!r} are not outputs an export has ({', '.join(OUTPUT_NAMES)})"
    return None


def say_export_file(folder: Path, model) -> None:
    """An export says which of its files answers (its fp32 or its int8 model), on stderr beside the answers."""
    import sys

    if isinstance(model, OnnxModel):
        print(model.used_line(folder), file=sys.stderr)


class OnnxModel(torch.nn.Module):
    """An export, called like the model it was made from: ``model(input_ids=..., attention_mask=...)`` returns its
    outputs as tensors. It computes no loss (the graph returns outputs only): given labels, it returns a loss of
    zero for the Trainer's evaluation loop, and ``computes_loss`` is False (``evaluate_model`` drops eval_loss)."""

    computes_loss = False
    main_input_name = "input_ids"

    def __init__(self, folder: Path, file: str | None = None):
        super().__init__()
        import onnxruntime
        from transformers import AutoConfig

        record = read_record(folder)
        self.file = file or record["predict_with"]
        self.config = AutoConfig.from_pretrained(str(folder))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # OMP_NUM_THREADS, as for the PyTorch model
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(
                str(Path(folder) / self.file), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types for a graph it cannot load
            raise UserError(f"The export is damaged: onnxruntime cannot load {folder}/{self.file} "
                            f"({first_line(exc)}). Export the run again.") from None  # fmt: skip
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = list(record["outputs"])
        graph_outputs = [o.name for o in self.session.get_outputs()]
        if not set(self.output_names) <= set(graph_outputs) or not set(self.input_names) <= {*INPUT_NAMES}:
            raise UserError(f"The export is damaged: {folder}/{EXPORT_FILE} names outputs {self.output_names} and "
                            f"{self.file} has {graph_outputs} (inputs {self.input_names}). Export the run "
                            "again.")  # fmt: skip
        self.per_row = self.file != MODEL_FILE
        """A quantized file runs row by row, each row without the batch's padding: dynamic quantization scales
        activations by the whole tensor's range, so in a batch a row's answer would depend on its neighbours."""
        sequence = self.session.get_inputs()[0].shape[-1]
        architectures = " ".join(getattr(self.config, "architectures", None) or [])
        self.token_level = {
            o.name for o in self.session.get_outputs()
            if (len(o.shape) >= 2 and isinstance(sequence, str) and o.shape[1] == sequence)
            or o.name in ("start_logits", "end_logits") or "TokenClassification" in architectures
        }  # fmt: skip
        """Outputs with a value per token (NER tags, QA positions): padded back to the batch's length."""
        self.label_names = ["start_positions", "end_positions"] if "start_logits" in self.output_names else ["labels"]
        """The Trainer finds these from a model class's name and signature; an export names them (``label_names``)."""

    def used_line(self, folder: Path) -> str:
        """Which file of the export answers, said by predict and eval."""
        kind = "int8, run row by row" if self.per_row else "fp32"
        return f"[hf-transfer] export {Path(folder).name}: predictions by {self.file} ({kind})"

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, start_positions=None,
                end_positions=None, **unused) -> ExportOutput:  # fmt: skip
        given = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        if given["token_type_ids"] is None and input_ids is not None:
            given["token_type_ids"] = torch.zeros_like(input_ids)
        if given["attention_mask"] is None and input_ids is not None:
            given["attention_mask"] = torch.ones_like(input_ids)
        feeds = {name: given[name].detach().cpu().long().numpy() for name in self.input_names}
        values = self._run_rows(feeds) if self.per_row else self.session.run(self.output_names, feeds)
        out = {name: torch.from_numpy(value) for name, value in zip(self.output_names, values, strict=True)}
        if labels is not None or start_positions is not None:
            out["loss"] = torch.zeros(())
        return ExportOutput(**out)

    def _run_rows(self, feeds: dict) -> list:
        """The batch run one row at a time, each cut to its own tokens, and put back together (per-token outputs
        padded back to the batch's length with -1e4, a value no prediction picks)."""
        import numpy as np

        mask = feeds["attention_mask"]
        length = mask.shape[-1]
        parts: list[list] = [[] for _ in self.output_names]
        for i in range(mask.shape[0]):
            used = np.flatnonzero(mask[i].reshape(-1, length).max(axis=0))
            first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, length)
            row = {name: value[i : i + 1, ..., first:last] for name, value in feeds.items()}
            for part, name, value in zip(parts, self.output_names, self.session.run(self.output_names, row),
                                         strict=True):  # fmt: skip
                if name in self.token_level and value.shape[1] != length:
                    full = np.full((1, length, *value.shape[2:]), -1e4, dtype=value.dtype)
                    full[:, first:last] = value
                    value = full
                part.append(value)
        return [np.concatenate(part, axis=0) for part in parts]

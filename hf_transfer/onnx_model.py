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

from .errors import UserError, first_line
from .runs import EXPORT_FILE

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
    if not isinstance(outputs, list) or not outputs or not all(o in OUTPUT_NAMES for o in outputs):
        return f"its outputs {outputs!r} are not outputs an export has ({', '.join(OUTPUT_NAMES)})"
    return None


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
        self.label_names = ["start_positions", "end_positions"] if "start_logits" in self.output_names else ["labels"]
        """The Trainer finds these from a model class's name and signature; an export names them (``label_names``)."""

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
        values = self.session.run(self.output_names, feeds)
        out = {name: torch.from_numpy(value) for name, value in zip(self.output_names, values, strict=True)}
        if labels is not None or start_positions is not None:
            out["loss"] = torch.zeros(())
        return ExportOutput(**out)

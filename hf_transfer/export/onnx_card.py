"""An ONNX export folder's README: what it is, what it was verified on, how to run it with onnxruntime."""

from __future__ import annotations

from pathlib import Path


def int8_text(v: dict) -> str:
    """What the card says of an int8 export: how it runs, and whether predict uses it."""
    from hf_transfer.artifacts.onnx_model import INT8_FILE, MODEL_FILE

    if "onnx_int8" not in v:
        return ""
    text = (" The int8 model quantizes each row's activations on their own (onnxruntime's dynamic quantization, "
            "run row by row), so its answers do not depend on which rows share a batch.")  # fmt: skip
    if v.get("int8_not_used"):
        text += f" It {v['int8_not_used']}: predict and eval use `{MODEL_FILE}`; `{INT8_FILE}` is kept beside it."
    return text


def export_card(record: dict, recipe, name: str) -> str:
    """The export folder's README: what it is, how to run it with onnxruntime, what it was verified on."""
    from hf_transfer.artifacts.onnx_model import INT8_FILE, MODEL_FILE

    v = record["verification"]
    metric = v["metric"].removeprefix("eval_")
    rows = [
        f"| PyTorch fp32 (the run's model) | {v['pytorch_fp32']:.4f} | |",
        f"| ONNX fp32 (`{MODEL_FILE}`) | {v['onnx_fp32']:.4f} | {v['drift_points']:.3f} points apart |",
    ]
    if "onnx_int8" in v:
        rows.append(f"| ONNX int8 (`{INT8_FILE}`) | {v['onnx_int8']:.4f} | {v['int8_change_points']:+.2f} points |")
    outputs = ", ".join(record["outputs"])
    feeds = "{k: v for k, v in inputs.items() if k in names}"
    model_path = f"{name}/{record['predict_with']}"  # as Python literals: any folder name stays valid code
    return f"""# {name}: ONNX export of {recipe.name}

The fine-tuned {record["architecture"]} of the hf_transfer run `{Path(record["source_run"]).name}` ({recipe.task.kind},
method {record["source_method"]}{", adapter merged into the base model" if record["merged_adapter"] else ""}), exported
with PyTorch's ONNX exporter (`torch.onnx.export(..., dynamo=True)`) and verified with onnxruntime.

## Verified on the run's evaluation data

{v["samples"]:,} {recipe.task.unit} of {v["evaluated_on"]}, scored by the same evaluation code as the run ({metric}):

| Model | {metric} | Change |
|---|---|---|
{chr(10).join(rows)}

Both ran in fp32. Over every evaluation row the fp32 export's outputs differ from the PyTorch model's by at most
{v["max_output_difference"]:.2g} (allowed: {v["output_tolerance"]:.2g}), {v["changed_predictions"]:,} of
{v["predictions"]:,} predictions changed (allowed: {v["changed_allowed"]:,}), and its {metric} is within
{v["tolerance_points"]:.2f} points: an export outside any of these is refused.{int8_text(v)}

## How to use

```python
import onnxruntime as ort
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained({name!r})
session = ort.InferenceSession({model_path!r})
names = {{i.name for i in session.get_inputs()}}
inputs = tokenizer(["Your text here."], return_tensors="np")
({outputs}{"," if len(record["outputs"]) == 1 else ""}) = session.run(None, {feeds})
```

The label names are in `config.json` (`id2label`). With hf_transfer: `hf-transfer predict {name} "Your text here."`.
"""

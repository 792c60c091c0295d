"""Predictions for a whole file: ``hf-transfer predict RUN_DIR --input_file data.csv [--output_file preds.jsonl]``.

Rows are read with the recipe's column mapping (the same one training used), predicted in batches of
similar length (longest first), with a progress bar, and written in their own order with their ids. A row
that cannot be predicted (an empty text, a missing column) is reported by number in the output and on
the console; the other rows keep their predictions. Only one batch's tensors are alive at a time.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.base.files import check_output_file, data_files
from hf_transfer.tasks import MissingInput

INPUT_FORMATS = (".csv", ".tsv", ".json", ".jsonl", ".txt", ".parquet")
OUTPUT_FORMATS = (".jsonl", ".csv")


def read_rows(path: Path, columns: dict[str, str]) -> list[dict]:
    """The file's rows with the recipe's columns renamed to the task's roles (``.txt``: one text a line)."""
    from hf_transfer.sources.files import check_data_file, file_format, read_file

    fmt, suffix, _ = file_format(path)
    if suffix not in INPUT_FORMATS or fmt is None:
        raise UserError(
            f"--input_file {path}: unsupported extension {''.join(path.suffixes[-2:]) or '(none)'!r}; use one of "
            f"{', '.join(INPUT_FORMATS)} (csv and json also compressed, e.g. .csv.gz)."
        )
    check_data_file(str(path), "--input_file")
    if suffix == ".txt":
        rows = [{"text": line.rstrip("\n")} for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        rows = read_file(str(path)).to_list()
    if not rows:
        raise UserError(f"--input_file {path} has no rows.")
    renamed = {column: role for role, column in columns.items()}
    return [{renamed.get(k, k): v for k, v in row.items()} for row in rows]


def predict_texts(
    run_dir: Path, texts: list[str], batch_size: int = 32, trust_remote_code: bool = False, question_flags: bool = False
) -> list[str]:
    """``hf-transfer predict RUN_DIR TEXT ...``: each text's prediction, as the lines to print (in the given order;
    predicted in length-sorted batches like a file's rows). ``question_flags``: the last text came from
    ``--question`` / ``--context``, which only a question-answering run reads."""
    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.onnx_model import say_export_file
    from hf_transfer.artifacts.runs import RunFolder

    if batch_size < 1:
        raise UserError(f"--batch_size must be 1 or more, got {batch_size}.")
    folder = RunFolder(run_dir)
    recipe = folder.recipe()  # "not a hf_transfer run folder" when there is no recipe.yaml
    folder.require_finished(
        "an unfinished run is not predicted with. Finish it with --resume, or use the finished run's folder."
    )
    if question_flags and not recipe.task.reads_question_and_context:
        raise UserError(
            f"--question / --context are for question answering; {folder.path.name} is a {recipe.task.kind} run. "
            'Give its inputs as texts: hf-transfer predict RUN_DIR "some text".'
        )
    empty = [n for n, text in enumerate(texts, 1) if not text.strip()]
    if empty:
        raise UserError(f"Text {empty[0]} of the command line is empty: give the text to predict.")
    inputs = dict(enumerate(recipe.task.parse_predict_input(t) for t in texts))
    recipe, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
    say_export_file(folder.path, model)
    predictions = predict_inputs(recipe.task, model, tokenizer, inputs, batch_size)
    return [recipe.task.format_prediction(inputs[i], predictions[i]) for i in range(len(texts))]


def check_predictable(recipe, path: Path) -> None:
    """``--test_file`` is read before training: a file that cannot be predicted stops the run before it starts."""
    rows = read_rows(path, recipe.data.columns)
    try:
        recipe.task.parse_predict_input(recipe.task.predict_text(rows[0]))
    except MissingInput as exc:
        column = recipe.data.columns.get(exc.role, exc.role)
        raise UserError(f"--test_file {path}: its first row cannot be predicted: {exc.in_column(column)}") from None
    except (ValueError, KeyError, UserError) as exc:
        raise UserError(f"--test_file {path}: its first row cannot be predicted: {exc}") from None


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if hasattr(value, "item"):
        return value.item()
    return value


def predict_inputs(task, model, tokenizer, inputs: dict[int, Any], batch_size: int = 32, errors=None, bar=None):
    """Predictions for ``inputs`` (number -> a task input), in batches of similar length (longest first), as
    number -> prediction. The one prediction path for texts on the command line and rows of a file: only one
    batch's tensors are alive at a time. A batch that fails is predicted row by row, so one bad row costs only
    itself; its message goes to ``errors`` (number -> message) when given, else it is raised."""

    def length(i: int) -> int:
        item = inputs[i]
        return len(json.dumps(item)) if not isinstance(item, str) else len(item)

    order = sorted(inputs, key=length, reverse=True)
    predictions: dict[int, Any] = {}
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        try:
            predictions.update(zip(batch, task.predict(model, tokenizer, [inputs[i] for i in batch]), strict=True))
        except (ValueError, UserError):  # one bad row must not cost the batch: predict its rows one by one
            for i in batch:
                try:
                    predictions[i] = task.predict(model, tokenizer, [inputs[i]])[0]
                except (ValueError, UserError) as exc:
                    if errors is None:
                        raise
                    errors[i] = str(exc)
        if bar is not None:
            bar.update(len(batch))
    return predictions


def predict_file(
    run_dir: Path,
    input_file: Path,
    output_file: Path | None,
    batch_size: int = 32,
    columns: dict[str, str] | None = None,
    log=print,
    trust_remote_code: bool = False,
    require_finished: bool = False,
) -> dict:
    """Predict every row of ``input_file``; returns a summary (rows, failed rows, seconds, output path).
    ``require_finished``: refuse a run folder that is not finished (``hf-transfer predict``)."""
    from tqdm.auto import tqdm

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.onnx_model import say_export_file
    from hf_transfer.artifacts.runs import RunFolder

    if batch_size < 1:
        raise UserError(f"--batch_size must be 1 or more, got {batch_size}.")
    folder = RunFolder(run_dir)
    recipe = folder.recipe()
    if require_finished:
        folder.require_finished("finish it first.")
    input_file = Path(input_file).expanduser()
    output_file = Path(output_file or folder.path / f"predictions-{input_file.stem}.jsonl").expanduser()
    if output_file.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"--output_file {output_file}: use .jsonl or .csv.")
    check_output_file(output_file, input_file, *data_files(recipe.data), runs=(folder,))
    mapping = {**recipe.data.columns, **(columns or {})}
    shared = sorted({c for c in mapping.values() if list(mapping.values()).count(c) > 1})
    if shared:
        roles = [r for r, c in mapping.items() if c == shared[0]]
        raise UserError(f"--column maps {' and '.join(roles)} to the same column {shared[0]!r}: one column per role.")
    rows = read_rows(input_file, mapping)
    task = recipe.task
    inputs: dict[int, Any] = {}
    errors: dict[int, str] = {}
    for number, row in enumerate(rows):
        try:
            inputs[number] = task.parse_predict_input(task.predict_text(row))
        except MissingInput as exc:
            errors[number] = exc.in_column(mapping.get(exc.role, exc.role))
        except (ValueError, UserError) as exc:
            errors[number] = str(exc)
    if not inputs:
        found = sorted({k for row in rows for k in row})
        shown = ", ".join(mapping.get(k, k) if k in mapping else k for k in found[:20])
        raise UserError(
            f"--input_file {input_file}: none of its {len(rows):,} rows can be predicted ({errors[0]}). Its columns "
            f"are: {shown}. Map the one to read with --column ROLE=COLUMN, e.g. --column text=review."
        )
    _, model, tokenizer = load_run(folder.path, trust_remote_code=trust_remote_code)
    say_export_file(folder.path, model)
    started = time.perf_counter()
    bar = tqdm(total=len(inputs), desc="Predicting", unit="row", disable=None, file=sys.stderr)
    predictions = predict_inputs(task, model, tokenizer, inputs, batch_size, errors, bar)
    bar.close()
    seconds = time.perf_counter() - started
    _write(output_file, rows, predictions, errors, task, mapping)
    for number in sorted(errors)[:10]:
        log(f"[hf-transfer] row {number}: not predicted: {errors[number]}")
    if len(errors) > 10:
        log(f"[hf-transfer] ... and {len(errors) - 10} more rows not predicted (see {output_file})")
    return {
        "rows": len(rows),
        "predicted": len(predictions),
        "failed": len(errors),
        "seconds": seconds,
        "rows_per_second": len(predictions) / seconds if seconds else 0.0,
        "output_file": str(output_file),
    }


def _write(path: Path, rows: list[dict], predictions: dict[int, Any], errors: dict[int, str], task=None,
           columns: dict[str, str] | None = None) -> None:  # fmt: skip
    """JSON lines (a record per row: its number, id, prediction or error), or CSV: one column per field (row, the
    id or else the input under the file's column names, prediction, score, ...; error only where a row failed),
    readable by pandas as it is."""
    records = []
    for number, row in enumerate(rows):
        record = {"row": number}
        if "id" in row:
            record["id"] = row["id"]
        if number in predictions:
            record["prediction"] = _jsonable(predictions[number])
        else:
            record["error"] = errors.get(number, "not predicted")
        records.append(record)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8", newline="") as f:
        if path.suffix.lower() == ".jsonl":
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False) + "\n")
        else:
            roles = list(task.roles) if task is not None else ["text"]
            named = columns or {}
            table = []
            for row, record in zip(rows, records, strict=True):
                line = {"row": record["row"]}
                if "id" in row:
                    line["id"] = row["id"]
                else:  # the input itself, under the file's own column names
                    line.update({named.get(r, r): row[r] for r in roles if r in row})
                if "prediction" in record:
                    fields = task.prediction_fields(record["prediction"]) if task is not None else {
                        "prediction": json.dumps(record["prediction"], ensure_ascii=False)}  # fmt: skip
                    line.update(fields)
                else:
                    line["error"] = record["error"]
                table.append(line)
            names = list(dict.fromkeys(k for line in table for k in line if k != "error"))
            names += ["error"] if any("error" in line for line in table) else []
            writer = csv.DictWriter(f, fieldnames=names)
            writer.writeheader()
            writer.writerows(table)
    tmp.replace(path)

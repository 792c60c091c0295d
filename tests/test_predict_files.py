"""Predictions for whole files, and eval on a new labelled file (issue 16 §4)."""

from __future__ import annotations

import csv
import json

import pytest

from conftest import write_csv, write_jsonl


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_classification_file_keeps_order_and_ids_and_reports_a_bad_row(finished_run, run_cli, tmp_path):
    run = finished_run("text-classification", "lora")
    rows = [{"id": f"r{i}", "sentence": text} for i, text in enumerate(
        ["a good film", "awful", "   ", "the acting was brilliant and the story moving " * 5, "dull"]
    )]  # fmt: skip
    data = write_csv(tmp_path / "new.csv", rows)
    out = tmp_path / "preds.jsonl"
    code, stdout, err = run_cli("predict", run, "--input_file", data, "--output_file", out, "--batch_size", "2")
    assert code == 0, err
    assert "Predicted 4 of 5 rows" in stdout and "1 rows failed" in stdout
    assert "row 2: not predicted: no text in column 'sentence'" in stdout, "the recipe's own column, not the role"
    records = read_jsonl(out)
    assert [r["row"] for r in records] == [0, 1, 2, 3, 4] and [r["id"] for r in records] == [f"r{i}" for i in range(5)]
    assert "error" in records[2] and "prediction" not in records[2]
    code, single, _ = run_cli("predict", run, "a good film")
    label, score = records[0]["prediction"][0]
    assert f"{label} ({score:.3f})" in single, "the file gives what one text gives"


def test_ner_and_qa_files_and_csv_output(finished_run, run_cli, tmp_path):
    ner = write_jsonl(
        tmp_path / "ner.jsonl", [{"text": "anna smith visited oslo ."}, {"text": "in lima the film was good"}]
    )
    out = tmp_path / "ner.csv"
    code, stdout, err = run_cli("predict", finished_run("token-classification", "full"), "--input_file", ner,
                                "--output_file", out)  # fmt: skip
    assert code == 0, err
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["row"] for r in rows] == ["0", "1"]
    spans = json.loads(rows[0]["prediction"])
    assert spans and "PER" in json.dumps(spans)
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "where does farah live ?",
                                             "context": "farah lives in quito and works as a nurse ."}])  # fmt: skip
    code, stdout, err = run_cli("predict", finished_run("question-answering", "full"), "--input_file", qa)
    assert code == 0, err
    [record] = read_jsonl(finished_run("question-answering", "full") / "predictions-qa.jsonl")
    assert "quito" in json.dumps(record["prediction"])


def test_text_file_and_column_mapping(finished_run, run_cli, tmp_path):
    run = finished_run("text-classification", "full")
    lines = tmp_path / "lines.txt"
    lines.write_text("a good film\nawful\n")
    code, stdout, err = run_cli("predict", run, "--input_file", lines, "--output_file", tmp_path / "a.jsonl")
    assert code == 0 and len(read_jsonl(tmp_path / "a.jsonl")) == 2
    reviews = write_csv(tmp_path / "reviews.csv", [{"review": "a good film"}])
    code, stdout, err = run_cli("predict", run, "--input_file", reviews, "--output_file", tmp_path / "b.jsonl",
                                "--column", "text=review")  # fmt: skip
    assert code == 0 and "prediction" in read_jsonl(tmp_path / "b.jsonl")[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--input_file", "nope.csv"], "does not exist"),
        (["--input_file", "{data}", "--output_file", "x.txt"], "use .jsonl or .csv"),
        (["--input_file", "{data}", "--batch_size", "0"], "--batch_size must be 1 or more"),
        (["--input_file", "{data}", "--column", "text"], "expected role=column"),
        (["a text", "--input_file", "{data}"], "not both"),
        (["a text", "--output_file", "x.jsonl"], "goes with --input_file"),
    ],
)
def test_bad_predict_file_input(finished_run, run_cli, tmp_path, extra, message):
    data = write_csv(tmp_path / "d.csv", [{"sentence": "good"}])
    extra = [e.format(data=data) for e in extra]
    code, _, err = run_cli("predict", finished_run("text-classification", "full"), *extra)
    assert code == 2 and message in err and "Traceback" not in err


def test_eval_on_a_new_labelled_file_writes_its_metrics(finished_run, run_cli, tmp_path, sentiment_files):
    run = finished_run("text-classification", "full")
    code, stdout, err = run_cli("eval", run, "--validation_file", sentiment_files["validation"])
    assert code == 0, err
    written = json.loads((run / "eval-validation.json").read_text())
    # the same table as run: metrics, then the baselines to read them against
    lines = stdout.splitlines()
    assert lines[0].startswith(f"Evaluated {run.name} on 40 examples: the file ") and "validation.csv" in lines[0]
    assert f"accuracy {written['metrics']['eval_accuracy']:.4f}" in " ".join(stdout.split())
    assert "majority class accuracy (baseline, this file's own labels)" in stdout
    assert "majority_class_accuracy" in written["baselines"]
    assert written["samples"] == 40 and f"Metrics: {run / 'eval-validation.json'}" in stdout
    code, stdout, err = run_cli(
        "eval", run, "--validation_file", sentiment_files["validation"], "--max_eval_samples", "10",
        "--output_file", tmp_path / "sampled.json",
    )  # fmt: skip
    assert code == 0, err
    assert stdout.startswith(f"Evaluated {run.name} on 10 examples: the file ") and "at most 10 of its rows" in stdout

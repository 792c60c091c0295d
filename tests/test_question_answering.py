"""Question answering: windows and positions, post-processing, SQuAD metrics, files, bad input, runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hf_transfer import FileData, QuestionAnswering, UserError
from hf_transfer.data.prepare import load_splits
from hf_transfer.tasks.question_answering import NO_OFFSET, best_answer

from conftest import qa_rows, write_jsonl, write_squad


def test_post_processing_recovers_a_known_answer_from_crafted_logits():
    context = "anna lives in paris and works as a pilot ."
    # tokens: [CLS] q q [SEP] anna lives in paris and works as a pilot . [SEP]
    words = context.split()
    offsets = [NO_OFFSET] * 4
    position = 0
    for word in words:
        start = context.index(word, position)
        offsets.append([start, start + len(word)])
        position = start + len(word)
    offsets.append(NO_OFFSET)
    start_logits = np.full(len(offsets), -5.0)
    end_logits = np.full(len(offsets), -5.0)
    start_logits[0] = end_logits[0] = 1.0  # "no answer" is tempting but not best
    start_logits[1] = 9.0  # the question: must never be chosen
    start_logits[7] = 4.0  # "paris"
    end_logits[7] = 3.0
    end_logits[6] = 5.0  # an end before the start: invalid
    text, start_char, score, null_score, candidates = best_answer(
        context, [(offsets, start_logits, end_logits)], 20, 30
    )
    assert text == "paris" and start_char == context.index("paris")
    assert score == 7.0 and null_score == 2.0
    # a longer span is excluded by max_answer_length
    start_logits[4] = 10.0  # "anna"
    end_logits[12] = 10.0  # "pilot"
    assert (
        best_answer(context, [(offsets, start_logits, end_logits)], 20, 30)[0]
        == "anna lives in paris and works as a pilot"
    )
    assert best_answer(context, [(offsets, start_logits, end_logits)], 20, 2)[0] == "paris"


def test_version_2_answers_no_answer_when_null_wins():
    task = QuestionAnswering(version_2_with_negative=True)
    offsets = [NO_OFFSET, [0, 4], [5, 10], NO_OFFSET]
    windows = [(offsets, np.array([8.0, 1.0, 0.0, 0.0]), np.array([8.0, 0.0, 1.0, 0.0]))]
    text, _, probability, no_answer = task._decide("anna paris", windows)
    assert text == "" and no_answer == probability > 0.5
    windows = [(offsets, np.array([0.0, 6.0, 0.0, 0.0]), np.array([0.0, 0.0, 6.0, 0.0]))]
    assert task._decide("anna paris", windows)[0] == "anna paris"


def test_long_context_windows_and_answer_positions(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    filler = " ".join(["the film was good ."] * 12)
    context = f"{filler} anna lives in oslo . {filler}"
    answer = {"text": ["oslo"], "answer_start": [context.index("oslo")]}
    task = QuestionAnswering(max_length=40, doc_stride=16)
    features = task.tokenize_function(tokenizer)(
        {"question": ["where does anna live ?"], "context": [context], "id": ["x"], "answers": [answer]}
    )
    assert len(features["input_ids"]) > 3, "the context is split into several windows"
    assert set(features["example_id"]) == {"x"}
    hits = 0
    for i, (start, end) in enumerate(zip(features["start_positions"], features["end_positions"], strict=True)):
        if start == end == 0:
            continue
        hits += 1
        offsets = features["offset_mapping"][i]
        assert context[offsets[start][0] : offsets[end][1]] == "oslo"
        assert tokenizer.decode(features["input_ids"][i][start : end + 1]) == "oslo"
    assert hits >= 1
    for offsets in features["offset_mapping"]:  # question and special tokens carry no context offsets
        inside = [i for i, o in enumerate(offsets) if o != NO_OFFSET]
        assert offsets[0] == NO_OFFSET and offsets[-1] == NO_OFFSET
        assert inside == list(range(inside[0], inside[-1] + 1)), "the context is one contiguous run"
    # overlapping windows: consecutive windows share context
    spans = [[o for o in offs if o != NO_OFFSET] for offs in features["offset_mapping"]]
    assert spans[1][0][0] < spans[0][-1][1]


def test_squad_metric_by_hand():
    from hf_transfer.metrics import load_metric

    references = [
        {"id": "1", "answers": {"text": ["the Eiffel Tower", "Eiffel tower"], "answer_start": [0, 4]}},
        {"id": "2", "answers": {"text": ["in 1889"], "answer_start": [0]}},
    ]
    predictions = [{"id": "1", "prediction_text": "Eiffel Tower!"}, {"id": "2", "prediction_text": "1889 exactly"}]
    result = load_metric("squad").compute(predictions=predictions, references=references)
    # 1: exact after normalization; 2: tokens [1889, exactly] vs [in, 1889]: p=1/2 r=1/2 f1=1/2
    assert result["exact_match"] == pytest.approx(50.0)
    assert result["f1"] == pytest.approx((100 + 50) / 2)


def test_squad_v2_metric_by_hand():
    from hf_transfer.metrics import load_metric

    references = [
        {"id": "a", "answers": {"text": ["Paris"], "answer_start": [0]}},
        {"id": "b", "answers": {"text": [], "answer_start": []}},
        {"id": "c", "answers": {"text": [], "answer_start": []}},
    ]
    predictions = [
        {"id": "a", "prediction_text": "Paris", "no_answer_probability": 0.1},
        {"id": "b", "prediction_text": "", "no_answer_probability": 0.9},
        {"id": "c", "prediction_text": "Lyon", "no_answer_probability": 0.2},
    ]
    result = load_metric("squad_v2").compute(predictions=predictions, references=references)
    assert result["exact_match"] == pytest.approx(200 / 3)
    assert result["HasAns_exact_match"] == 100 and result["NoAns_exact_match"] == 50
    assert result["HasAns_total"] == 1 and result["NoAns_total"] == 2


def test_squad_json_reader_and_checks(tmp_path):
    rows = qa_rows(12)
    path = write_squad(tmp_path / "train.json", rows)
    splits, _ = load_splits(FileData(train_file=str(path), validation_file=str(path)), QuestionAnswering())
    assert len(splits["validation"]) == 12
    assert set(splits["train"].column_names) == {"id", "question", "context", "answers"}
    first = splits["validation"][0]
    assert first["context"][first["answers"]["answer_start"][0] :].startswith(first["answers"]["text"][0])


@pytest.mark.parametrize(
    ("change", "task", "message"),
    [
        (
            lambda r: r["answers"].update(answer_start=[r["answers"]["answer_start"][0] + 1]),
            QuestionAnswering(),
            "does not match the context",
        ),
        (lambda r: r.update(context=""), QuestionAnswering(), "has no context"),
        (lambda r: r.update(question="  "), QuestionAnswering(), "is empty"),
        (
            lambda r: r.update(answers={"text": [], "answer_start": []}),
            QuestionAnswering(),
            "--set task.version_2_with_negative=true",
        ),
        (
            lambda r: r.update(answers={"text": ["x", "y"], "answer_start": [0]}),
            QuestionAnswering(),
            "2 texts but 1 answer_start",
        ),
    ],
)
def test_bad_qa_rows_name_the_example(tmp_path, change, task, message):
    rows = qa_rows(6)
    change(rows[3])
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    with pytest.raises(UserError) as exc:
        load_splits(FileData(train_file=str(path)), task)
    assert message in str(exc.value) and "row 3 (id q3)" in str(exc.value)


def test_unanswerable_rows_are_fine_for_version_2(tmp_path):
    rows = qa_rows(6)
    rows[2]["answers"] = {"text": [], "answer_start": []}
    path = write_jsonl(tmp_path / "qa.jsonl", rows)
    splits, _ = load_splits(
        FileData(train_file=str(path), validation_file=str(path)), QuestionAnswering(version_2_with_negative=True)
    )
    assert splits["validation"][2]["answers"]["text"] == []


@pytest.fixture(scope="module")
def qa_runs(finished_run):
    """Finished full and LoRA QA runs from the task x method matrix (tests/helpers.py)."""
    return {method: finished_run("question-answering", method) for method in ("full", "lora")}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_qa_run_end_to_end(qa_runs, method, run_cli):
    out = qa_runs[method]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_f1" and metrics["reload_check"]["match"]
    assert 0 <= metrics["eval"]["eval_exact_match"] <= metrics["eval"]["eval_f1"] <= 100
    if method == "full":
        assert metrics["eval"]["eval_exact_match"] > 50
    code, stdout, err = run_cli("eval", out)
    assert code == 0, err
    written = json.loads((out / "eval-validation.json").read_text())
    assert written["metrics"]["eval_f1"] == pytest.approx(metrics["eval"]["eval_f1"], abs=1e-6)
    assert f" f1 {written['metrics']['eval_f1']:.4f}" in " ".join(stdout.split())
    assert written["unit"] == "questions" and written["samples"] == metrics["samples"]["eval"]


def test_qa_predict_prints_span_and_score(qa_runs, run_cli):
    context = "farah lives in quito and works as a nurse . the film was good ."
    code, stdout, err = run_cli(
        "predict", qa_runs["full"], "--question", "where does farah live ?", "--context", context
    )
    assert code == 0, err
    assert "-> 'quito' (characters 15-20, score" in stdout
    assert context[15:20] == "quito"
    code, _, err = run_cli("predict", qa_runs["full"], "--question", "where ?")
    assert code == 2 and "needs both a non-empty --question and a non-empty --context" in err


def test_qa_lora_reload_keeps_outputs(qa_runs):
    import torch

    from hf_transfer.artifacts.models import load_run

    _, a, tokenizer = load_run(qa_runs["lora"])
    _, b, _ = load_run(qa_runs["lora"])
    batch = tokenizer("where does anna live ?", "anna lives in oslo .", return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(a(**batch).start_logits, b(**batch).start_logits)

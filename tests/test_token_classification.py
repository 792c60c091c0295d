"""Token classification: alignment, span reading, seqeval, CoNLL files, bad input, end-to-end runs."""

from __future__ import annotations

import json

import pytest

from hf_transfer import FileData, TokenClassification, UserError
from hf_transfer.data.prepare import load_splits
from hf_transfer.tasks import IGNORE_INDEX as IGNORE
from hf_transfer.tasks.token_classification import align_labels, entity_spans, first_subtoken_positions

from conftest import ner_sentences, write_conll, write_jsonl


def test_alignment_first_subtoken_by_hand():
    # [CLS] w0 w1a w1b w1c w2 [SEP] ; tags B-PER=1 I-PER=2 O=0
    word_ids = [None, 0, 1, 1, 1, 2, None]
    assert align_labels(word_ids, [1, 2, 0], False, {1: 2}) == [IGNORE, 1, 2, IGNORE, IGNORE, 0, IGNORE]
    # all sub-tokens labelled: a continuation of a B- word becomes I-
    assert align_labels([None, 0, 0, 1, 1], [1, 2], True, {1: 2}) == [IGNORE, 1, 2, 2, 2]
    assert first_subtoken_positions([-1, 0, 1, 1, 1, 2, -1]) == [1, 2, 5]


def test_alignment_with_a_real_fast_tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    task = TokenClassification(label_names=["O", "B-PER", "I-PER", "B-LOC"])
    words = ["oslopilotbaker", "visited", "oslo"]  # the first word is not in the tiny vocabulary: several pieces
    encoded = task.tokenize_function(tokenizer)({"tokens": [words], "tags": [[1, 0, 3]]})
    pieces = tokenizer.convert_ids_to_tokens(encoded["input_ids"][0])
    labels = encoded["labels"][0]
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]" and labels[0] == labels[-1] == IGNORE
    word_ids = encoded["word_ids"][0]
    first_word = [i for i, w in enumerate(word_ids) if w == 0]
    assert len(first_word) > 1, pieces
    assert labels[first_word[0]] == 1 and all(labels[i] == IGNORE for i in first_word[1:])
    assert [labels[i] for i in first_subtoken_positions(word_ids)] == [1, 0, 3]
    all_task = TokenClassification(label_names=["O", "B-PER", "I-PER", "B-LOC"], label_all_subtokens=True)
    all_labels = all_task.tokenize_function(tokenizer)({"tokens": [words], "tags": [[1, 0, 3]]})["labels"][0]
    assert [all_labels[i] for i in first_word] == [1] + [2] * (len(first_word) - 1)


@pytest.mark.parametrize(
    ("tags", "scheme", "spans"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], "IOB2", [("PER", 0, 1), ("LOC", 3, 3)]),
        (["B-PER", "B-PER", "I-PER"], "IOB2", [("PER", 0, 0), ("PER", 1, 2)]),
        (["I-PER", "I-PER", "O", "I-LOC", "B-LOC"], "IOB1", [("PER", 0, 1), ("LOC", 3, 3), ("LOC", 4, 4)]),
        (["B-ORG", "I-ORG", "E-ORG", "S-PER", "S-PER"], "BIOES", [("ORG", 0, 2), ("PER", 3, 3), ("PER", 4, 4)]),
        (["O", "I-LOC", "I-PER"], "IOB2", [("LOC", 1, 1), ("PER", 2, 2)]),
    ],
)
def test_entity_spans(tags, scheme, spans):
    assert entity_spans(tags, scheme) == spans


def test_seqeval_module_by_hand():
    from hf_transfer.metrics import load_metric

    references = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predictions = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    # entities: gold PER, LOC, ORG ; predicted PER (ok), ORG (ok), LOC (wrong place)
    result = load_metric("seqeval").compute(predictions=predictions, references=references)
    assert result["overall_precision"] == pytest.approx(2 / 3)
    assert result["overall_recall"] == pytest.approx(2 / 3)
    assert result["overall_f1"] == pytest.approx(2 / 3)
    assert result["overall_accuracy"] == pytest.approx(4 / 6)
    assert result["PER"]["f1"] == 1.0 and result["LOC"]["f1"] == 0.0 and result["LOC"]["number"] == 1
    strict = load_metric("seqeval").compute(
        predictions=[["B-PER", "E-PER", "S-LOC"]],
        references=[["B-PER", "E-PER", "S-LOC"]],
        scheme="IOBES",
        mode="strict",
    )
    assert strict["overall_f1"] == 1.0


def test_conll_reader(tmp_path):
    path = write_conll(tmp_path / "train.txt", ner_sentences(30))
    splits, task = load_splits(FileData(train_file=str(path), validation_file=str(path)), TokenClassification())
    assert len(splits["train"]) == 30
    assert task.label_names[0] == "O" and set(task.label_names) == {"O", "B-PER", "I-PER", "B-LOC"}
    bad = tmp_path / "bad.txt"
    bad.write_text("anna B-PER\nlonely\n\n")
    with pytest.raises(UserError, match="bad.txt line 2: expected a token and a tag"):
        load_splits(FileData(train_file=str(bad)), TokenClassification())
    latin = tmp_path / "latin.conll"
    latin.write_bytes("caf\xe9 O\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text"):
        load_splits(FileData(train_file=str(latin)), TokenClassification())
    only_docstart = tmp_path / "doc.txt"
    only_docstart.write_text("-DOCSTART- -X- -X- O\n\n")
    with pytest.raises(UserError, match="has no sentences"):
        load_splits(FileData(train_file=str(only_docstart)), TokenClassification())


@pytest.mark.parametrize(
    ("rows", "task", "message"),
    [
        (
            [{"tokens": ["a", "b"], "tags": ["O"]}] * 3,
            TokenClassification(),
            "Row 0 of the train split has 2 tokens but 1 tags",
        ),
        (
            [{"tokens": ["a"], "tags": ["B-XYZ"]}] * 3,
            TokenClassification(label_names=["O", "B-PER"]),
            "Tag 'B-XYZ' in row 0 of the train split is not in the tag set (O, B-PER)",
        ),
        ([{"tokens": ["a"], "tags": [0]}] * 3, TokenClassification(), "Integer tags need their names"),
        ([{"tokens": [], "tags": []}] * 3, TokenClassification(label_names=["O"]), "has no tokens"),
    ],
)
def test_bad_tags(tmp_path, rows, task, message):
    path = write_jsonl(tmp_path / "t.jsonl", rows)
    with pytest.raises(UserError) as exc:
        load_splits(FileData(train_file=str(path)), task)
    assert message in str(exc.value)


@pytest.fixture(scope="module")
def ner_runs(finished_run):
    """Finished full and LoRA NER runs from the task x method matrix (tests/helpers.py)."""
    return {method: finished_run("token-classification", method) for method in ("full", "lora")}


@pytest.mark.parametrize("method", ["full", "lora"])
def test_ner_run_end_to_end(ner_runs, method, run_cli):
    out = ner_runs[method]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_overall_f1" and metrics["reload_check"]["match"]
    for key in ("eval_overall_precision", "eval_overall_recall", "eval_PER_f1", "eval_LOC_f1"):
        assert 0.0 <= metrics["eval"][key] <= 1.0
    if method == "full":
        assert metrics["eval"]["eval_overall_f1"] > 0.8
    code, stdout, err = run_cli("eval", out)
    assert code == 0, err
    written = json.loads((out / "eval-validation.json").read_text())["metrics"]
    assert written["eval_overall_f1"] == pytest.approx(metrics["eval"]["eval_overall_f1"], abs=1e-6)
    assert f"overall f1 {written['eval_overall_f1']:.4f}" in " ".join(stdout.split())


def test_ner_predict_prints_spans_with_offsets(ner_runs, run_cli):
    text = "anna smith visited oslo ."
    code, stdout, err = run_cli("predict", ner_runs["full"], text)
    assert code == 0, err
    lines = stdout.strip().splitlines()
    assert lines[0] == text
    entities = [line.split() for line in lines[1:]]
    by_type = {e[0]: e for e in entities}
    assert by_type["PER"][1] == "0-10" and by_type["LOC"][1] == "19-23"
    assert text[0:10] == "anna smith" and text[19:23] == "oslo"
    assert 0.0 < float(by_type["LOC"][-1].strip("()")) <= 1.0


def test_ner_lora_reload_keeps_outputs(ner_runs):
    import torch

    from hf_transfer.artifacts.models import load_run

    _, a, tokenizer = load_run(ner_runs["lora"])
    _, b, _ = load_run(ner_runs["lora"])
    batch = tokenizer([["anna", "visited", "paris"]], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(a(**batch).logits, b(**batch).logits)

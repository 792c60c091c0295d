"""The data check (issue 37): per task family, planted leakage, duplicates, label conflicts and long rows are found,
and clean data reports nothing; ``hf-transfer check`` writes data_check.json, --strict fails CI on leakage, bad input
is refused; a run's preflight records its findings and drops what data.drop_* asks."""

from __future__ import annotations

import json
import random

import pytest

from hf_transfer import FileData, InstructionTuning, MultipleChoice, QuestionAnswering, TextClassification
from hf_transfer.data.prepare import load_splits
from hf_transfer.datacheck import check_splits, strict_failures
from hf_transfer.tasks.seq2seq import Seq2SeqGeneration
from hf_transfer.tasks.token_classification import TokenClassification

from conftest import tiny_run_args, write_csv, write_jsonl

VOCAB = [f"w{a}{b}" for a in "bcdfghjklm" for b in "aeiouy"] + [f"z{i}" for i in range(300)]


def texts(n: int, seed: int, words: int = 30) -> list[str]:
    """Texts that share no run of three words with each other (clean data): a random draw from a large vocabulary."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(VOCAB) for _ in range(words)) for _ in range(n)]


def near(text: str) -> str:
    """The same text with its last word changed: 27 of its 28 shingles shared (Jaccard 0.93)."""
    return text.rsplit(" ", 1)[0] + " changed"


def exact(text: str) -> str:
    """The same text after normalisation: other case, other spacing, punctuation added."""
    return "  " + text.upper().replace(" ", " ,  ", 1) + " !"


# Each family: the task, and a function making a row from a text and a label value (0 or 1).
FAMILIES = {
    "text-classification": (
        TextClassification(max_length=256),
        lambda t, y: {"sentence": t, "label": ["neg", "pos"][y]},
        {"text": "sentence"},
    ),
    "token-classification": (
        TokenClassification(max_length=256),
        lambda t, y: {"tokens": t.split(), "tags": ["B-PER", "O"][y:] + ["O"] * (len(t.split()) - 2 + y)},
        {},
    ),
    "question-answering": (
        QuestionAnswering(max_length=256, doc_stride=64),
        lambda t, y: {
            "id": f"{t[:12]}-{y}-{random.random()}",
            "question": "which word is the answer ?",
            "context": t,
            "answers": {"text": [t.split()[y]], "answer_start": [t.index(t.split()[y])]},
        },
        {},
    ),
    "seq2seq": (
        Seq2SeqGeneration(max_source_length=256),
        lambda t, y: {"source": t, "target": " ".join(t.split()[y : y + 3])},
        {},
    ),
    "causal-lm": (
        InstructionTuning(max_length=256),
        lambda t, y: {"instruction": t, "output": f"answer {y}"},
        {},
    ),
    "multiple-choice": (
        MultipleChoice(max_length=256),
        lambda t, y: {"context": t, "question": "then", **{f"ending{i}": f"e{i}" for i in range(4)}, "label": y},
        {},
    ),
}


def build(tmp_path, family: str, planted: bool):
    """Training and validation files of one family (40 + 12 rows); ``planted``: with one exact and one near leak,
    a duplicate, a conflict and a long row. Returns (splits, task) as the check loads them."""
    task, row, columns = FAMILIES[family]
    train_texts, valid_texts = texts(40, seed=1), texts(12, seed=2)
    train = [row(t, i % 2) for i, t in enumerate(train_texts)]
    valid = [row(t, i % 2) for i, t in enumerate(valid_texts)]
    if planted:
        train.append(row(train_texts[0], 0))  # row 40: a duplicate of row 0 (same text, same label)
        train.append(row(train_texts[3], 0))  # row 41: row 3's text with the other label: a conflict
        train.append(row(" ".join(texts(1, seed=9, words=300)), 0))  # row 42: longer than max_length (256)
        valid[4] = row(exact(train_texts[5]), 1)  # exact leak (train row 5)
        valid[7] = row(near(train_texts[6]), 0)  # near-duplicate leak (train row 6)
    paths = [write_jsonl(tmp_path / f"{name}.jsonl", rows) for name, rows in (("train", train), ("valid", valid))]
    data = FileData(train_file=str(paths[0]), validation_file=str(paths[1]), columns=columns)
    return load_splits(data, task, require_text=False)


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_planted_problems_are_found(tmp_path, family, tokenizer):
    splits, task = build(tmp_path, family, planted=True)
    report = check_splits(splits, task, tokenizer)
    leak = report["leakage"]["validation"]
    kinds = {(x["kind"], x["row"], x["train_row"]) for x in leak["examples"]}
    assert ("exact", 4, 5) in kinds
    assert ("near", 7, 6) in kinds
    assert leak["rows"] == 2 and leak["leaked_rows"] == [4, 7]
    repeated = {tuple(x["rows"]) for x in report["duplicates"]["examples"]}
    if family == "causal-lm":  # prompt and response are the text: no label to conflict, row 41 is a new text
        assert repeated == {(0, 40)}
        assert report["conflicts"]["texts"] == 0
    else:
        assert repeated == {(0, 40), (3, 41)}
        assert [x["rows"] for x in report["conflicts"]["examples"]] == [[3, 41]]
        assert report["duplicates"]["droppable_rows"] == [40]
    train_lengths = report["lengths"]["splits"]["train"]
    assert train_lengths["over_limit"] == 1 and train_lengths["max"] > 256
    assert report["lengths"]["splits"]["validation"]["over_limit"] == 0
    assert "leaked" in " ".join(strict_failures(report))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_clean_data_reports_nothing(tmp_path, family, tokenizer):
    from hf_transfer.datacheck.report import finding_lines

    splits, task = build(tmp_path, family, planted=False)
    report = check_splits(splits, task, tokenizer)
    leak = report["leakage"]["validation"]
    assert (leak["rows"], leak["contained"], leak.get("shared_context", 0)) == (0, 0, 0)
    assert report["duplicates"]["texts"] == report["conflicts"]["texts"] == 0
    assert report["non_text"] == {}
    assert report["lengths"]["splits"]["train"]["over_limit"] == 0
    assert finding_lines(report) == [] and strict_failures(report) == []


def test_qa_shared_context_is_reported_apart_from_leakage(tmp_path):
    task, row, _ = FAMILIES["question-answering"]
    train_texts = texts(20, seed=1)
    train = [row(t, 0) for t in train_texts]
    valid = [row(t, 0) for t in texts(6, seed=2)]
    other = dict(row(train_texts[2], 1), question="a new question about another thing entirely ?")
    valid[0] = other  # a training context, asked about differently: shared, not leaked
    paths = [write_jsonl(tmp_path / f"{n}.jsonl", r) for n, r in (("train", train), ("valid", valid))]
    splits, task = load_splits(FileData(train_file=str(paths[0]), validation_file=str(paths[1])), task)
    leak = check_splits(splits, task)["leakage"]["validation"]
    assert leak["shared_context"] == 1
    assert leak["exact"] == 0


def test_containment_and_rows_that_are_not_text(tmp_path):
    train_texts, valid_texts = texts(30, seed=1), texts(8, seed=2)
    train = [{"sentence": t, "label": "pos"} for t in train_texts] + [{"sentence": "neg", "label": "neg"}]
    train[3]["sentence"] += " \x07bell"  # a control character
    train[4]["sentence"] = "caf\ufffd au lait " + train[4]["sentence"]  # decoded wrongly
    train[5]["sentence"] = "( )"  # no letters or digits
    valid = [{"sentence": t, "label": "pos"} for t in valid_texts]
    valid[1]["sentence"] = " ".join(train_texts[8].split()[5:17])  # twelve words of a training text
    valid[2]["sentence"] = " ".join(train_texts[9].split()[10:12])  # two words of one
    valid[3]["sentence"] = "   "  # whitespace only
    paths = [write_jsonl(tmp_path / f"{n}.jsonl", r) for n, r in (("train", train), ("valid", valid))]
    data = FileData(train_file=str(paths[0]), validation_file=str(paths[1]), columns={"text": "sentence"})
    report = check_splits(*load_splits(data, TextClassification(), require_text=False))
    leak = report["leakage"]["validation"]
    contained = {(x["row"], x["train_row"]) for x in leak["examples"] if x["kind"] == "contained"}
    assert contained == {(1, 8), (2, 9)}
    assert leak["rows"] == 0  # reported apart: --strict and drop_leaked leave containment to the user
    assert {k: v["rows"] for k, v in report["non_text"]["train"].items()} == {
        "control characters": [3],
        "replacement character": [4],
        "no letters or digits": [5],
    }
    assert report["non_text"]["validation"]["whitespace only"]["rows"] == [3]
    assert report["labels"]["counts"]["train"] == {"pos": 30, "neg": 1}
    assert report["labels"]["missing"] == {"in train, not in validation": ["neg"]}


def planted_files(tmp_path, planted=True):
    train = [{"sentence": t, "label": ["neg", "pos"][i % 2]} for i, t in enumerate(texts(60, seed=1))]
    valid = [{"sentence": t, "label": ["neg", "pos"][i % 2]} for i, t in enumerate(texts(20, seed=2))]
    if planted:
        valid[3]["sentence"] = exact(train[10]["sentence"])
        train.append(dict(train[0]))
    return {
        "train": write_csv(tmp_path / "train.csv", train),
        "validation": write_csv(tmp_path / "validation.csv", valid),
    }


def check_args(tiny_bert, files, out, *extra):
    return tiny_run_args(tiny_bert, files, None, "--output_file", out, *extra, command="check", training=())


def test_check_command_writes_the_report_and_strict_fails_on_leakage(tmp_path, tiny_bert, run_cli):
    out = tmp_path / "data_check.json"
    code, stdout, _ = run_cli(*check_args(tiny_bert, planted_files(tmp_path), out))
    assert code == 0
    assert "1 of 20 validation rows are in the training data (1 exact)" in stdout
    assert "1 training texts are repeated" in stdout
    report = json.loads(out.read_text())
    assert report["leakage"]["validation"]["leaked_rows"] == [3]
    code, _, err = run_cli(*check_args(tiny_bert, planted_files(tmp_path), out, "--strict"))
    assert code == 1 and "1 validation rows leaked" in err
    clean = tmp_path / "clean"
    clean.mkdir()
    code, stdout, _ = run_cli(*check_args(tiny_bert, planted_files(clean, planted=False), out, "--strict"))
    assert code == 0 and "Findings: none." in stdout


def test_bad_input_is_refused_clearly(tmp_path, tiny_bert, run_cli):
    files = planted_files(tmp_path)
    out = tmp_path / "data_check.json"
    code, _, err = run_cli(*check_args(tiny_bert, files, out, "--near_duplicate_threshold", "2"))
    assert code == 2 and "--near_duplicate_threshold 2.0 is not a Jaccard similarity" in err
    code, _, err = run_cli(*check_args(tiny_bert, files, out, "--set", "data.columns.text=review"))
    assert code == 2 and "Column 'review' (text) is not in the train split" in err and "Traceback" not in err
    empty = tmp_path / "empty.csv"
    empty.write_text("sentence,label\n")
    code, _, err = run_cli(*check_args(tiny_bert, {**files, "train": empty}, out))
    assert code == 2 and "empty" in err
    assert not out.exists()  # nothing written for a check that did not run
    code, _, err = run_cli(*check_args(tiny_bert, files, files["train"]))
    assert code == 2 and "would replace your data" in err


def test_run_preflight_records_findings_and_drops_what_is_asked(tmp_path, tiny_bert, run_cli):
    from hf_transfer.artifacts.runs import CARD_FILE, RunFolder

    files = planted_files(tmp_path)
    out = tmp_path / "run"
    drop = ["--set", "data.drop_leaked=true", "--set", "data.drop_duplicates=true", "--set", "task.max_length=16"]
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, files, out, "--max_steps", "2", *drop))
    assert code == 0, err
    shown = stdout + err
    assert "data check: 1 of 20 validation rows are in the training data (1 exact)" in shown
    assert "data check: dropped 1 leaked validation rows" in shown
    metrics = RunFolder(out).metrics()
    assert metrics["data_check"]["leakage"]["validation"]["rows"] == 1
    assert metrics["data_check"]["dropped"] == {"leaked_validation_rows": 1, "duplicate_train_rows": 1}
    assert metrics["samples"]["eval"] == 19 and metrics["samples"]["train"] == 60
    assert "data check: 100.0% of train rows are cut by task.max_length=16" in shown  # 30 words each
    assert metrics["data_check"]["cut_by_length_limit"] == {"train": 1.0, "validation": 1.0}
    card = (out / CARD_FILE).read_text()
    assert "1 of 20 evaluation rows were found in the training data" in card
    assert "1 leaked validation rows were dropped before training" in card
    assert "100.0% of the training rows were cut by the length limit" in card


def test_tag_sequences_of_other_lengths_are_not_conflicts():
    from hf_transfer.datacheck.overlap import duplicates_and_conflicts, normalise, training_groups

    texts = ["Attendance : 8,000", "Attendance : 8 000", "Nancy 0 Paris", "nancy 0 paris !"]
    labels = [("O", "O", "O"), ("O", "O", "O", "O"), ("B-ORG", "O", "B-LOC"), ("B-ORG", "O", "B-ORG", "O")]
    labels[3] = ("B-ORG", "O", "B-ORG")  # same tokens, another tag: a conflict
    repeated, conflicts = duplicates_and_conflicts(training_groups([normalise(t) for t in texts], labels), labels)
    assert [g.rows for g in repeated] == [[0, 1], [2, 3]]
    assert [g.rows for g in conflicts] == [[2, 3]]


LABEL_ISSUE_METHODS = {
    "freeze": [],
    "lora": ["--label_issue_method", "lora", "--label_issue_epochs", "16", "--set", "lora.learning_rate=3e-3"],
}


@pytest.mark.parametrize("method", LABEL_ISSUE_METHODS)
def test_label_issues_find_flipped_labels(tmp_path, tiny_bert, run_cli, method):
    """Classification: rows whose label was flipped are among the rows cleanlab doubts; NER: flipped tags are.
    Both cheap methods: frozen features under a linear head, and short LoRA runs per fold."""
    pytest.importorskip("cleanlab")
    from conftest import NEGATIVE, POSITIVE, ner_sentences, write_conll

    how = LABEL_ISSUE_METHODS[method]
    rng = random.Random(3)
    rows = [{"sentence": " ".join(rng.choices([NEGATIVE, POSITIVE][i % 2], k=4)), "label": ["neg", "pos"][i % 2]}
            for i in range(140)]  # fmt: skip
    flipped = [5, 40, 77]
    for i in flipped:
        rows[i]["label"] = "neg" if rows[i]["label"] == "pos" else "pos"
    files = {"train": write_csv(tmp_path / "train.csv", rows[:120]),
             "validation": write_csv(tmp_path / "valid.csv", rows[120:])}  # fmt: skip
    out = tmp_path / "check.json"
    code, stdout, err = run_cli(*check_args(tiny_bert, files, out, "--label_issues", *how))
    assert code == 0, err
    assert "Likely label errors" in stdout
    found = json.loads(out.read_text())["label_issues"]
    assert found["method"].startswith({"freeze": "frozen features", "lora": "short LoRA runs ("}[method])
    assert set(flipped) <= set(found["ranked_rows"][:10])

    sentences = ner_sentences(120, seed=5)
    planted = []
    for row in (3, 30, 61, 90):
        tokens, tags = sentences[row]
        word = tags.index("B-LOC")
        sentences[row] = (tokens, tags[:word] + ["B-PER"] + tags[word + 1 :])
        planted.append([row, word])
    train = write_conll(tmp_path / "train.txt", sentences)
    valid = write_conll(tmp_path / "valid.txt", ner_sentences(20, seed=6))
    code, _, err = run_cli("check", "conll2003-bert", "--model_name_or_path", tiny_bert, "--train_file", train,
                           "--validation_file", valid, "--output_file", out, "--label_issues", *how)  # fmt: skip
    assert code == 0, err
    ranked = json.loads(out.read_text())["label_issues"]["ranked"]
    # among ~1,000 words, features of a tiny random model: at least 3 of the 4 planted tags near the top (a random
    # ranking puts any one there with a chance of 1-5%); a short LoRA run ranks them lower than a linear head fitted
    # to convergence (seen: ranks 0-39), and one of the four may go unflagged (tiny model, seed 1: freeze)
    top = {"freeze": 10, "lora": 50}[method]
    found = [p for p in planted if p in ranked[:top]]
    assert len(found) >= 3, [ranked.index(p) if p in ranked else None for p in planted]


def test_label_issues_refuse_what_they_do_not_cover():
    pytest.importorskip("cleanlab")
    from hf_transfer import UserError
    from hf_transfer.datacheck.label_issues import label_issues

    for task in (QuestionAnswering(), TextClassification(problem_type="regression")):
        with pytest.raises(UserError, match="--label_issues covers single-label text classification"):
            label_issues({}, task, model=None, tokenizer=None)


def test_bench_check_measures_planted_rows():
    """benchmarks/bench_check.py at a small size: its planted near and exact duplicates are found, nothing else."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_check.py"
    spec = importlib.util.spec_from_file_location("bench_check", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    result = bench.measure(3000, near_rate=0.05, exact_rate=0.02)
    assert result["planted"]["near"] > 5 and result["planted"]["exact"] > 2
    assert result["recall"] >= 0.95 and result["precision"] == 1.0


def test_preflight_leaves_the_near_duplicate_search_of_large_data_to_check(tmp_path, monkeypatch):
    import hf_transfer.datacheck as datacheck

    splits, task = build(tmp_path, "text-classification", planted=True)
    lines = []
    monkeypatch.setattr(datacheck, "PREFLIGHT_NEAR_ROWS", 10)
    _, recorded = datacheck.preflight(splits, task, FileData(train_file="unused"), lines.append)
    assert recorded["leakage"]["validation"] == {"exact": 1, "near": 0, "contained": 0, "rows": 1, "of": 12}
    assert any("exact leakage only" in line for line in lines)
    monkeypatch.setattr(datacheck, "PREFLIGHT_NEAR_ROWS", 10_000)
    _, recorded = datacheck.preflight(splits, task, FileData(train_file="unused"), lines.append)
    assert recorded["leakage"]["validation"]["near"] == 1


def test_the_fast_paths_normalise_and_flag_control_characters_as_the_unicode_rules_do():
    """ASCII rows are normalised by a translate table and control characters found by a pattern: both must give what
    the character-by-character Unicode rules give, for every ASCII character and for mixed text."""
    import re
    import unicodedata

    from hf_transfer.datacheck.overlap import normalise
    from hf_transfer.datacheck.profile import non_text

    def by_rule(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).casefold()
        kept = "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)
        return re.sub(r"\s+", " ", kept).strip()

    rng = random.Random(0)
    alphabet = [chr(i) for i in range(128)] + list("éßİﬁ½\u00a0\u0085\u2028\u200b€“”😀\ufffd\u009f")
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(3_000)]
    texts += [chr(i) for i in range(256)]
    assert [normalise(t) for t in texts] == [by_rule(t) for t in texts]
    flagged = set(non_text(texts).get("control characters", []))
    expected = {i for i, t in enumerate(texts)
                if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in t)}  # fmt: skip
    assert flagged == expected and len(expected) > 100

"""The packaged metric modules equal the official scorers (issue 16 §3): scikit-learn, scipy, rouge-score,
sacrebleu, and the SQuAD v1.1 / v2.0 evaluation logic, written out here from the official scripts' rules."""

from __future__ import annotations

import random
import re
import string
from collections import Counter

import numpy as np
import pytest

from hf_transfer.metrics import load_metric

# ---- the official SQuAD rules, as their scripts state them -----------------------------------------


def official_normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def official_v1_f1(prediction: str, gold: str) -> float:
    p, g = official_normalize(prediction).split(), official_normalize(gold).split()
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def official_v2_f1(prediction: str, gold: str) -> float:
    p, g = official_normalize(prediction).split(), official_normalize(gold).split()
    if not p or not g:
        return float(p == g)
    return official_v1_f1(prediction, gold)


def official_v1(predictions: dict[str, str], questions: dict[str, list[str]]) -> dict[str, float]:
    em = f1 = 0.0
    for qid, golds in questions.items():
        if qid not in predictions:
            continue
        em += max(float(official_normalize(predictions[qid]) == official_normalize(g)) for g in golds)
        f1 += max(official_v1_f1(predictions[qid], g) for g in golds)
    return {"exact_match": 100 * em / len(questions), "f1": 100 * f1 / len(questions)}


def official_v2(predictions: dict[str, str], probabilities: dict[str, float], questions: dict[str, list[str]]):
    has_answer = {q: bool(golds) for q, golds in questions.items()}
    exact, f1 = {}, {}
    for qid, golds in questions.items():
        if qid not in predictions:
            continue
        scored = [g for g in golds if official_normalize(g)] or [""]
        exact[qid] = max(float(official_normalize(predictions[qid]) == official_normalize(g)) for g in scored)
        f1[qid] = max(official_v2_f1(predictions[qid], g) for g in scored)

    def best(scores):
        score = best_score = sum(1 for h in has_answer.values() if not h)
        thresh = 0.0
        for qid in sorted(probabilities, key=lambda q: probabilities[q]):
            if qid not in scores:
                continue
            diff = scores[qid] if has_answer[qid] else (-1 if predictions[qid] else 0)
            score += diff
            if score > best_score:
                best_score, thresh = score, probabilities[qid]
        return 100.0 * best_score / len(scores), thresh

    out = {"exact_match": 100 * sum(exact.values()) / len(questions), "f1": 100 * sum(f1.values()) / len(questions)}
    if any(has_answer.values()):  # the official script reports a group only when it has questions
        out["HasAns_total"] = sum(has_answer.values())
    out["best_exact"], out["best_exact_thresh"] = best(exact)
    out["best_f1"], out["best_f1_thresh"] = best(f1)
    return out


WORDS = ["the", "a", "paris", "oslo", "The", "cat", "sat", "on", "mat", "an", "x", "Lima", "!", "far", "away"]


def random_answer(rng) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4)))


def squad_case(rng, v2: bool):
    questions, predictions, probabilities = {}, {}, {}
    for i in range(rng.randint(1, 8)):
        qid = f"q{i}"
        golds = [random_answer(rng) for _ in range(rng.randint(0 if v2 else 1, 3))]
        questions[qid] = golds
        predictions[qid] = random_answer(rng)  # evaluate takes one prediction per reference
        probabilities[qid] = round(rng.random(), 3)
    return questions, predictions, probabilities


def module_inputs(questions, predictions, probabilities, v2: bool):
    preds = [
        {"id": q, "prediction_text": t, **({"no_answer_probability": probabilities[q]} if v2 else {})}
        for q, t in predictions.items()
    ]
    refs = [{"id": q, "answers": {"text": g, "answer_start": [0] * len(g)}} for q, g in questions.items()]
    return preds, refs


def test_squad_v1_equals_the_official_script_on_many_inputs():
    metric, rng = load_metric("squad"), random.Random(0)
    for _ in range(400):
        questions, predictions, probabilities = squad_case(rng, v2=False)
        preds, refs = module_inputs(questions, predictions, probabilities, v2=False)
        got, want = metric.compute(predictions=preds, references=refs), official_v1(predictions, questions)
        assert got == pytest.approx(want, abs=1e-9)


def test_squad_v1_known_cases():
    metric = load_metric("squad")
    ref = {"id": "a", "answers": {"text": ["the"], "answer_start": [0]}}
    got = metric.compute(predictions=[{"id": "a", "prediction_text": "The"}], references=[ref])
    assert got["f1"] == 0.0 and got["exact_match"] == 100.0  # both normalize to "": v1.1's F1 is 0
    two = [ref, {"id": "b", "answers": {"text": ["oslo"], "answer_start": [0]}}]
    stray = [{"id": "b", "prediction_text": "oslo"}, {"id": "zzz", "prediction_text": "oslo"}]
    got = metric.compute(predictions=stray, references=two)
    assert got["exact_match"] == 50.0, "per question: 'a' has no prediction and counts 0; 'zzz' is no question"
    with pytest.raises(ValueError, match="two predictions for question id 'b'"):
        metric.compute(predictions=[{"id": "b", "prediction_text": "x"}] * 2, references=two)


def test_squad_v2_equals_the_official_script_on_many_inputs():
    metric, rng = load_metric("squad_v2"), random.Random(1)
    for _ in range(400):
        questions, predictions, probabilities = squad_case(rng, v2=True)
        if not predictions:
            continue
        preds, refs = module_inputs(questions, predictions, probabilities, v2=True)
        got, want = (
            metric.compute(predictions=preds, references=refs),
            official_v2(predictions, probabilities, questions),
        )
        for key, value in want.items():
            assert got[key] == pytest.approx(value, abs=1e-6), key  # probabilities travel as float32


def test_squad_v2_answerable_is_decided_by_the_answers_list():
    metric = load_metric("squad_v2")
    ref = {"id": "a", "answers": {"text": ["The"], "answer_start": [0]}}  # normalizes to "", still answerable
    got = metric.compute(
        predictions=[{"id": "a", "prediction_text": "", "no_answer_probability": 0.9}], references=[ref]
    )
    assert got["HasAns_total"] == 1 and "NoAns_total" not in got


@pytest.mark.parametrize(("name", "config"), [("accuracy", None), ("f1", None), ("precision", None), ("recall", None),
                                          ("matthews_correlation", None)])  # fmt: skip
def test_classification_modules_equal_sklearn(name, config):
    from sklearn import metrics as sk

    reference = {"accuracy": sk.accuracy_score, "f1": sk.f1_score, "precision": sk.precision_score,
                 "recall": sk.recall_score, "matthews_correlation": sk.matthews_corrcoef}[name]  # fmt: skip
    metric, rng = load_metric(name, config), np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(2, 30))
        y, p = rng.integers(0, 2, n), rng.integers(0, 2, n)
        kwargs = {"zero_division": 0} if name in ("f1", "precision", "recall") else {}
        assert metric.compute(predictions=p, references=y)[name] == pytest.approx(reference(y, p, **kwargs), abs=1e-12)


def test_class_metrics_refuse_fractions_instead_of_truncating():
    for name in ("accuracy", "f1"):
        with pytest.raises(ValueError, match="takes class ids"):
            load_metric(name).compute(predictions=[0.7, 1.0], references=[1, 1])


@pytest.mark.parametrize("name", ["pearsonr", "spearmanr"])
def test_correlations_keep_floats_with_or_without_config(name):
    from scipy import stats

    reference = {"pearsonr": stats.pearsonr, "spearmanr": stats.spearmanr}[name]
    predictions, references = [0.5, 1.7, 2.2, 3.9], [1, 2, 3, 4]
    for config in (None, "regression"):
        got = load_metric(name, config).compute(predictions=predictions, references=references)[name]
        assert got == pytest.approx(float(reference(references, predictions)[0]), abs=1e-12)
    assert load_metric("pearsonr").compute(predictions=predictions, references=references)["pearsonr"] < 0.99


def test_rouge_is_the_mean_and_ignores_the_global_random_state():
    from rouge_score import rouge_scorer

    rng = random.Random(3)
    predictions = [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(30)]
    references = [" ".join(rng.choice(WORDS) for _ in range(6)) for _ in range(30)]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    scores = [scorer.score(r, p) for p, r in zip(predictions, references, strict=True)]
    results = []
    for seed in (0, 123):
        np.random.seed(seed)
        results.append(load_metric("rouge").compute(predictions=predictions, references=references))
    assert results[0] == results[1]
    for key in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        assert results[0][key] == pytest.approx(np.mean([s[key].fmeasure for s in scores]), abs=1e-12)


def test_sacrebleu_equals_the_package():
    import sacrebleu

    predictions = ["the cat sat on the mat", "a far away city"]
    references = [["the cat is on the mat"], ["a city far away"]]
    got = load_metric("sacrebleu").compute(predictions=predictions, references=references)
    streams = [list(x) for x in zip(*references, strict=False)]
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(predictions, streams).score, abs=1e-9)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(predictions, streams).score, abs=1e-9)


@pytest.mark.parametrize(
    ("name", "predictions", "references", "message"),
    [
        ("rouge", [], [], "at least one prediction"),
        ("sacrebleu", [], [], "at least one prediction"),
        ("sacrebleu", ["a"], [[]], "at least one reference"),
    ],
)
def test_empty_inputs_are_clear_errors(name, predictions, references, message):
    with pytest.raises(ValueError, match=message):
        load_metric(name).compute(predictions=predictions, references=references)

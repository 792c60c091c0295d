"""Shared parts of the local evaluate modules.

Metric scripts import this *module* (not its classes): evaluate takes the first EvaluationModule
class it finds in a script's namespace as the metric.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import datasets
import evaluate

_FEATURES = {
    # class ids (read as floats, then checked to be whole numbers: a float is never truncated on the way in)
    "default": datasets.Value("float64"),
    # multi-hot vectors, one per example
    "multilabel": datasets.Sequence(datasets.Value("float64")),
    # real values
    "regression": datasets.Value("float64"),
}


def text_features(several_references: bool = False) -> datasets.Features:
    """A text metric's columns: a string per prediction; a string, or a list of strings, per reference."""
    text = datasets.Value("string")
    references = datasets.Sequence(text) if several_references else text
    return datasets.Features({"predictions": text, "references": references})


def module_info(doc: str, citation: str, features) -> evaluate.MetricInfo:
    """A metric module's info: its docstring describes it, and the docstring's second paragraph its inputs."""
    return evaluate.MetricInfo(description=doc, citation=citation, inputs_description=doc.split("\n\n")[1],
                               features=features)  # fmt: skip


class LocalMetric(evaluate.Metric):
    """A metric over ``predictions`` / ``references`` columns; the config picks their type."""

    summary = ""
    reference = ""

    def _info(self):
        if self.config_name not in _FEATURES:
            raise ValueError(f"config must be one of {sorted(_FEATURES)}, got {self.config_name!r}")
        feature = _FEATURES[self.config_name]
        return evaluate.MetricInfo(
            description=self.summary,
            citation=self.reference,
            inputs_description="predictions and references: "
            + {"default": "class ids", "multilabel": "multi-hot 0/1 lists", "regression": "floats"}[self.config_name],
            features=datasets.Features({"predictions": feature, "references": feature}),
        )


class AveragedScore(LocalMetric):
    """precision / recall / F1 share their arguments; subclasses name the sklearn function."""

    key = ""

    def score(self, references, predictions, **kwargs):
        raise NotImplementedError

    def _compute(self, predictions, references, average=None, labels=None, pos_label=1, zero_division=0):
        predictions, references = class_ids(predictions, references, self.key)
        if average is None:
            average = "micro" if self.config_name == "multilabel" else "binary"
        value = self.score(
            references, predictions, average=average, labels=labels, pos_label=pos_label, zero_division=zero_division
        )
        return {self.key: float(value)}


def as_ints(values):
    """Whole-number floats (as the float features read them) back to ints, nested lists included."""
    import numpy as np

    return np.asarray(values, dtype=float).astype(np.int64)


# ---- SQuAD answer matching (shared by the squad and squad_v2 modules) ------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, drop punctuation and the articles a/an/the, collapse whitespace (as SQuAD scores)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str, empty_matches_empty: bool = True) -> float:
    """Token-overlap F1 after normalization. ``empty_matches_empty``: SQuAD v2's rule (an empty answer scores
    1 against an empty gold, 0 otherwise); SQuAD v1.1's script scores any pair without common tokens 0."""
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if (not predicted or not expected) and empty_matches_empty:
        return float(predicted == expected)
    overlap = sum((Counter(predicted) & Counter(expected)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return 2 * precision * recall / (precision + recall)


def best_over_golds(score, prediction: str, golds: list[str]) -> float:
    """SQuAD takes the best score over the reference answers; no reference means 'no answer'."""
    return max(score(prediction, gold) for gold in (golds or [""]))


def predictions_by_id(predictions, references) -> dict:
    """Predictions keyed by question id; two predictions for one question are refused (which would count?)."""
    by_id: dict = {}
    for p in predictions:
        if p["id"] in by_id:
            raise ValueError(f"two predictions for question id {p['id']!r}: give one per question")
        by_id[p["id"]] = p
    if not references:
        raise ValueError("no references: SQuAD scores are per question, and there are no questions")
    return by_id


# ---- features ----------------------------------------------------------------------------------


def class_ids(predictions, references, name: str):
    """Both columns checked to hold class ids (``check_class_ids``), then as ints."""
    check_class_ids(predictions, name)
    check_class_ids(references, name)
    return as_ints(predictions), as_ints(references)


def check_class_ids(values, name: str) -> None:
    """Class metrics take class ids: a fractional value is an error, not silently truncated to an id."""
    import numpy as np

    array = np.asarray(values, dtype=float)
    if array.size and not np.all(np.isfinite(array) & (array == np.round(array))):
        bad = array[~(np.isfinite(array) & (array == np.round(array)))][0]
        raise ValueError(f"{name} takes class ids (integers); got {bad!r}. Scores need a threshold or argmax first.")


def squad_features(with_no_answer_probability: bool):
    prediction = {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")}
    if with_no_answer_probability:
        prediction["no_answer_probability"] = datasets.Value("float32")
    reference = {
        "id": datasets.Value("string"),
        "answers": datasets.Sequence({"text": datasets.Value("string"), "answer_start": datasets.Value("int32")}),
    }
    return datasets.Features({"predictions": prediction, "references": reference})

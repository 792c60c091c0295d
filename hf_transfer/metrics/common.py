"""Shared parts of the local evaluate modules.

Metric scripts import this *module* (not its classes): evaluate takes the first EvaluationModule
class it finds in a script's namespace as the metric.
"""

from __future__ import annotations

import datasets
import evaluate

_FEATURES = {
    # class ids
    "default": datasets.Value("int64"),
    # multi-hot vectors, one per example
    "multilabel": datasets.Sequence(datasets.Value("int64")),
    # real values
    "regression": datasets.Value("float64"),
}


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
        if average is None:
            average = "micro" if self.config_name == "multilabel" else "binary"
        value = self.score(
            references, predictions, average=average, labels=labels, pos_label=pos_label, zero_division=zero_division
        )
        return {self.key: float(value)}

"""Accuracy: the share of predictions equal to their references (exact match of all labels for multi-label)."""

from sklearn.metrics import accuracy_score

from hf_transfer.metrics import common


class Accuracy(common.LocalMetric):
    summary = __doc__

    def _compute(self, predictions, references, sample_weight=None):
        predictions, references = common.class_ids(predictions, references, "accuracy")
        return {"accuracy": float(accuracy_score(references, predictions, sample_weight=sample_weight))}

"""Accuracy: the share of predictions equal to their references (exact match of all labels for multi-label)."""

from sklearn.metrics import accuracy_score

from hf_transfer.metrics import common


class Accuracy(common.LocalMetric):
    summary = __doc__

    def _compute(self, predictions, references, sample_weight=None):
        common.check_class_ids(predictions, "accuracy")
        common.check_class_ids(references, "accuracy")
        predictions, references = common.as_ints(predictions), common.as_ints(references)
        return {"accuracy": float(accuracy_score(references, predictions, sample_weight=sample_weight))}

"""Precision: true positives over predicted positives.

average: 'binary' (default), 'macro', 'micro' or 'weighted'; 'micro' by default for multi-label."""

from sklearn.metrics import precision_score

from hf_transfer.metrics import common


class Precision(common.AveragedScore):
    summary = __doc__
    key = "precision"

    def score(self, references, predictions, **kwargs):
        return precision_score(references, predictions, **kwargs)

"""Recall: true positives over actual positives.

average: 'binary' (default), 'macro', 'micro' or 'weighted'; 'micro' by default for multi-label."""

from sklearn.metrics import recall_score

from hf_transfer.metrics import common


class Recall(common.AveragedScore):
    summary = __doc__
    key = "recall"

    def score(self, references, predictions, **kwargs):
        return recall_score(references, predictions, **kwargs)

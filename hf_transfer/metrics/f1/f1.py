"""F1: the harmonic mean of precision and recall.

average: 'binary' (default), 'macro', 'micro' or 'weighted'; 'micro' by default for multi-label."""

from sklearn.metrics import f1_score

from hf_transfer.metrics import common


class F1(common.AveragedScore):
    summary = __doc__
    key = "f1"

    def score(self, references, predictions, **kwargs):
        return f1_score(references, predictions, **kwargs)

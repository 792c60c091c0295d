"""Spearman rank correlation between predicted and reference values (use the 'regression' config)."""

from scipy.stats import spearmanr

from hf_transfer.metrics import common


class SpearmanR(common.LocalMetric):
    summary = __doc__

    def _compute(self, predictions, references):
        return {"spearmanr": float(spearmanr(references, predictions)[0])}

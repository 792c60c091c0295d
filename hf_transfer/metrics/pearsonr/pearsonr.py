"""Pearson correlation between predicted and reference values (use the 'regression' config)."""

from scipy.stats import pearsonr

from hf_transfer.metrics import common


class PearsonR(common.LocalMetric):
    summary = __doc__

    def _compute(self, predictions, references):
        return {"pearsonr": float(pearsonr(references, predictions)[0])}

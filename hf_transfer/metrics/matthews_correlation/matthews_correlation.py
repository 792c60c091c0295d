"""Matthews correlation coefficient: a balanced score for classification, from -1 to 1 (0 = chance)."""

from sklearn.metrics import matthews_corrcoef

from hf_transfer.metrics import common


class MatthewsCorrelation(common.LocalMetric):
    summary = __doc__

    def _compute(self, predictions, references, sample_weight=None):
        predictions, references = common.class_ids(predictions, references, "matthews_correlation")
        return {"matthews_correlation": float(matthews_corrcoef(references, predictions, sample_weight=sample_weight))}

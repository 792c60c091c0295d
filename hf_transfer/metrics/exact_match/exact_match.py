"""Exact match of generated text: the share of predictions equal to their reference after SQuAD's normalization
(lower case, no punctuation, no articles a/an/the, whitespace collapsed), 0-1.

predictions and references: one string per example.
"""

import evaluate

from hf_transfer.metrics import common


class ExactMatch(evaluate.Metric):
    def _info(self):
        return common.module_info(
            __doc__,
            "SQuAD: 100,000+ Questions for Machine Comprehension of Text (Rajpurkar et al., 2016)",
            common.text_features(),
        )

    def _compute(self, predictions, references):
        if not predictions:
            raise ValueError("exact match needs at least one prediction")
        scores = [common.exact_match(p, r) for p, r in zip(predictions, references, strict=True)]
        return {"exact_match": sum(scores) / len(scores)}

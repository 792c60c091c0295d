"""ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures (0-1) with the rouge-score package, Porter
stemming on by default. ROUGE-Lsum splits summaries into sentences at newlines.

predictions and references: one string per example.
"""

import evaluate
from rouge_score import rouge_scorer

from hf_transfer.metrics import common

KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


class Rouge(evaluate.Metric):
    def _info(self):
        return common.module_info(
            __doc__,
            "ROUGE: A Package for Automatic Evaluation of Summaries (Lin, 2004)",
            common.text_features(),
        )

    def _compute(self, predictions, references, use_stemmer=True):
        """The mean F-measure over the examples: deterministic, whatever the global random state (rouge-score's
        BootstrapAggregator reports a bootstrap median drawn with NumPy's global random state)."""
        if not predictions or not references:
            raise ValueError("ROUGE needs at least one prediction and one reference; both lists are empty")
        scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=use_stemmer)
        totals = dict.fromkeys(KEYS, 0.0)
        for prediction, reference in zip(predictions, references, strict=True):
            for key, score in scorer.score(reference, prediction).items():
                totals[key] += score.fmeasure
        return {key: totals[key] / len(predictions) for key in KEYS}

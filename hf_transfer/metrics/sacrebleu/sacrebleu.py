"""Corpus BLEU and chrF (0-100) with sacreBLEU's standard settings (13a tokenization for BLEU).

predictions: one string per example; references: a list of reference strings per example
(every example needs the same number of references).
"""

import evaluate
import sacrebleu

from hf_transfer.metrics import common


class SacreBleu(evaluate.Metric):
    def _info(self):
        return common.module_info(
            __doc__,
            "A Call for Clarity in Reporting BLEU Scores (Post, 2018)",
            common.text_features(several_references=True),
        )

    def _compute(self, predictions, references):
        if not predictions:
            raise ValueError("sacreBLEU needs at least one prediction; the list is empty")
        counts = {len(r) for r in references}
        if 0 in counts:
            raise ValueError("every prediction needs at least one reference; some have none")
        if len(counts) != 1:
            raise ValueError("every prediction needs the same number of references")
        streams = [list(group) for group in zip(*references, strict=False)]
        return {
            "bleu": float(sacrebleu.corpus_bleu(predictions, streams).score),
            "chrf": float(sacrebleu.corpus_chrf(predictions, streams).score),
        }

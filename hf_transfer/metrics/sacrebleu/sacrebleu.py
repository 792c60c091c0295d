"""Corpus BLEU and chrF (0-100) with sacreBLEU's standard settings (13a tokenization for BLEU).

predictions: one string per example; references: a list of reference strings per example
(every example needs the same number of references).
"""

import datasets
import evaluate
import sacrebleu


class SacreBleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="A Call for Clarity in Reporting BLEU Scores (Post, 2018)",
            inputs_description=__doc__.split("\n\n")[1],
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Sequence(datasets.Value("string"))}
            ),
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

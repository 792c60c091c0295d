"""SQuAD v1.1: exact match and token F1 (0-100) between predicted and reference answer texts,
after normalization (lower case, no punctuation, no articles), best over the references.

predictions: [{"id", "prediction_text"}]; references: [{"id", "answers": {"text": [...], "answer_start": [...]}}]
"""

import evaluate

from hf_transfer.metrics import common


class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation="SQuAD: 100,000+ Questions for Machine Comprehension of Text (Rajpurkar et al., 2016)",
            inputs_description=__doc__.split("\n\n")[1],
            features=common.squad_features(with_no_answer_probability=False),
        )

    def _compute(self, predictions, references):
        golds = {r["id"]: r["answers"]["text"] for r in references}
        em = f1 = 0.0
        for p in predictions:
            em += common.best_over_golds(common.exact_match, p["prediction_text"], golds[p["id"]])
            f1 += common.best_over_golds(common.token_f1, p["prediction_text"], golds[p["id"]])
        n = max(len(predictions), 1)
        return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}

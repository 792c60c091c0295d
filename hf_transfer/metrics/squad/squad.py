"""SQuAD v1.1: exact match and token F1 (0-100) between predicted and reference answer texts,
after normalization (lower case, no punctuation, no articles), best over the references.

predictions: [{"id", "prediction_text"}]; references: [{"id", "answers": {"text": [...], "answer_start": [...]}}]
"""

import evaluate

from hf_transfer.metrics import common


class Squad(evaluate.Metric):
    def _info(self):
        return common.module_info(
            __doc__,
            "SQuAD: 100,000+ Questions for Machine Comprehension of Text (Rajpurkar et al., 2016)",
            common.squad_features(with_no_answer_probability=False),
        )

    def _compute(self, predictions, references):
        """Per question, as the official v1.1 script scores: a question without a prediction scores 0, the
        average runs over the questions, and F1 gives 0 when prediction and gold share no token (even when
        both normalize to nothing)."""
        by_id = common.predictions_by_id(predictions, references)
        em = f1 = 0.0
        for reference in references:
            prediction = by_id.get(reference["id"])
            if prediction is None:
                continue
            golds = reference["answers"]["text"]
            text = prediction["prediction_text"]
            em += common.best_over_golds(common.exact_match, text, golds)
            f1 += max(common.token_f1(text, gold, empty_matches_empty=False) for gold in golds or [""])
        return {"exact_match": 100 * em / len(references), "f1": 100 * f1 / len(references)}

"""SQuAD v2: exact match and token F1 (0-100) where some questions have no answer in the context.
An empty prediction_text means "no answer"; a question without references is answered correctly
only by an empty prediction. Also reported for the answerable (HasAns_) and unanswerable (NoAns_)
questions separately.

predictions: [{"id", "prediction_text", "no_answer_probability"}]; references as for squad.
"""

import evaluate

from hf_transfer.metrics import common


class SquadV2(evaluate.Metric):
    def _info(self):
        return common.module_info(
            __doc__,
            "Know What You Don't Know: Unanswerable Questions for SQuAD (Rajpurkar et al., 2018)",
            common.squad_features(with_no_answer_probability=True),
        )

    def _compute(self, predictions, references, no_answer_threshold: float = 1.0):
        """As the official v2.0 script scores: a question is answerable when its answers list is not empty;
        gold answers that normalize to nothing are dropped for scoring ('' when none is left); a prediction
        whose no_answer_probability exceeds ``no_answer_threshold`` counts as "no answer"; best_exact /
        best_f1 are the scores at the no-answer threshold that maximizes each, with that threshold."""
        by_id = common.predictions_by_id(predictions, references)
        has_answer, scores, probabilities, texts = {}, {}, {}, {}
        for reference in references:
            qid = reference["id"]
            has_answer[qid] = bool(reference["answers"]["text"])
            prediction = by_id.get(qid)
            if prediction is None:
                continue  # no prediction: this question scores 0 (it still counts)
            golds = [t for t in reference["answers"]["text"] if common.normalize_answer(t)] or [""]
            text = prediction["prediction_text"]
            exact = max(common.exact_match(text, g) for g in golds)
            f1 = max(common.token_f1(text, g) for g in golds)
            probability = prediction.get("no_answer_probability")
            probabilities[qid] = 0.0 if probability is None else float(probability)
            if probabilities[qid] > no_answer_threshold:  # predicted "no answer"
                exact = f1 = float(not has_answer[qid])
            scores[qid], texts[qid] = (exact, f1), text
        out = {}
        for prefix, ids in (("", list(has_answer)), ("HasAns_", [q for q, h in has_answer.items() if h]),
                            ("NoAns_", [q for q, h in has_answer.items() if not h])):  # fmt: skip
            if ids or not prefix:
                n = max(len(ids), 1)
                out[f"{prefix}exact_match"] = 100 * sum(scores.get(q, (0.0, 0.0))[0] for q in ids) / n
                out[f"{prefix}f1"] = 100 * sum(scores.get(q, (0.0, 0.0))[1] for q in ids) / n
                out[f"{prefix}total"] = len(ids)
        for index, name in ((0, "exact"), (1, "f1")):
            best, threshold = _best_threshold(
                {q: s[index] for q, s in scores.items()}, probabilities, texts, has_answer
            )
            out[f"best_{name}"], out[f"best_{name}_thresh"] = best, threshold
        return out


def _best_threshold(scores: dict, probabilities: dict, texts: dict, has_answer: dict) -> tuple[float, float]:
    """The no-answer threshold that maximizes the total score: walk the questions from the least to the most
    likely unanswerable; answering each one changes the total by its score (answerable) or by -1 if it
    wrongly answers an unanswerable question. Starts from answering none (every unanswerable right)."""
    total = best = sum(1 for q in has_answer if not has_answer[q])
    threshold = 0.0
    for qid in sorted(probabilities, key=lambda q: probabilities[q]):
        if has_answer[qid]:
            total += scores[qid]
        elif texts[qid]:
            total -= 1
        if total > best:
            best, threshold = total, probabilities[qid]
    return 100.0 * best / max(len(has_answer), 1), threshold

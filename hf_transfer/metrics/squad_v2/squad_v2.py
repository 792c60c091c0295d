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
        return evaluate.MetricInfo(
            description=__doc__,
            citation="Know What You Don't Know: Unanswerable Questions for SQuAD (Rajpurkar et al., 2018)",
            inputs_description=__doc__.split("\n\n")[1],
            features=common.squad_features(with_no_answer_probability=True),
        )

    def _compute(self, predictions, references):
        golds = {r["id"]: [t for t in r["answers"]["text"] if common.normalize_answer(t)] for r in references}
        groups = {"": [], "HasAns_": [], "NoAns_": []}
        for p in predictions:
            gold = golds[p["id"]]
            scores = (
                common.best_over_golds(common.exact_match, p["prediction_text"], gold),
                common.best_over_golds(common.token_f1, p["prediction_text"], gold),
            )
            groups[""].append(scores)
            groups["HasAns_" if gold else "NoAns_"].append(scores)
        out = {}
        for prefix, scores in groups.items():
            if scores or not prefix:
                n = max(len(scores), 1)
                out[f"{prefix}exact_match"] = 100 * sum(s[0] for s in scores) / n
                out[f"{prefix}f1"] = 100 * sum(s[1] for s in scores) / n
                out[f"{prefix}total"] = len(scores)
        return out

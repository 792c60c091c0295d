"""Entity-level precision, recall and F1 for tag sequences (overall and per entity type), with seqeval.

scheme: None (default, conlleval-style lenient chunking, right for IOB1 and IOB2) or 'IOB1', 'IOB2',
'IOE1', 'IOE2', 'IOBES', 'BILOU' with mode='strict' (entities must be well-formed in that scheme).
overall_accuracy is the token-level share of correct tags.
"""

import datasets
import evaluate
from seqeval import scheme as seqeval_schemes
from seqeval.metrics import accuracy_score, classification_report


class Seqeval(evaluate.Metric):
    def _info(self):
        tags = datasets.Sequence(datasets.Value("string"))
        return evaluate.MetricInfo(
            description=__doc__,
            citation="seqeval: A Python framework for sequence labeling evaluation (Nakayama, 2018)",
            inputs_description="predictions and references: one list of tags per sentence",
            features=datasets.Features({"predictions": tags, "references": tags}),
        )

    def _compute(self, predictions, references, scheme=None, mode=None, zero_division=0):
        scheme_class = getattr(seqeval_schemes, scheme) if scheme else None
        report = classification_report(
            y_true=references,
            y_pred=predictions,
            output_dict=True,
            scheme=scheme_class,
            mode=mode,
            zero_division=zero_division,
        )
        overall = report.pop("micro avg")
        for summary in ("macro avg", "weighted avg"):
            report.pop(summary, None)
        out = {
            entity: {
                "precision": float(v["precision"]),
                "recall": float(v["recall"]),
                "f1": float(v["f1-score"]),
                "number": int(v["support"]),
            }
            for entity, v in report.items()
        }
        out.update(
            overall_precision=float(overall["precision"]),
            overall_recall=float(overall["recall"]),
            overall_f1=float(overall["f1-score"]),
            overall_accuracy=float(accuracy_score(references, predictions)),
        )
        return out

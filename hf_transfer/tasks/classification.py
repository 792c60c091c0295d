"""Text classification: single texts or text pairs; multi-class, multi-label or regression."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import PAD_MULTIPLE, PAIR_SEPARATOR, Task, register
from hf_transfer.tasks._class_labels import encode_label, learn_names
from hf_transfer.tasks._shared import CheckedRow, class_counts, counts_f1, head_names_present

PROBLEM_TYPES = {
    "single_label": "single_label_classification",
    "multi_label": "multi_label_classification",
    "regression": "regression",
}
HEAD_CANDIDATES = ("pre_classifier", "classifier", "score", "pooler")


@register
@dataclass
class TextClassification(Task):
    kind = "text-classification"
    roles = {"text": True, "text_pair": False, "label": True}
    peft_task_type = "SEQ_CLS"
    metric_choices = ("accuracy", "f1", "precision", "recall", "matthews_correlation", "pearsonr", "spearmanr")
    auto_model = "AutoModelForSequenceClassification"
    peft_auto_model = "AutoPeftModelForSequenceClassification"

    problem_type: Literal["single_label", "multi_label", "regression"] = "single_label"
    max_length: int | None = None
    """The most tokens of a row the model reads; None: from the data (the limit that keeps 99% of the training rows
    whole, rounded up to a multiple of 8, at most the model's positions)."""
    label_names: list[str] | None = None
    """The label set, in id order. ``None``: learned from the training data (ClassLabel names, or sorted values)."""
    class_weights: Literal["none", "balanced"] = "none"
    """``balanced``: weight the loss by inverse class frequency, for imbalanced data."""
    threshold: float = 0.5
    """Multi-label: a label is predicted when its sigmoid score reaches this."""
    first_position_only: bool = True
    """While training, the last layer of a BERT-like encoder computes the first position only, the one the head
    reads (``tasks/_first_position.py``): the same outputs, less work (training 1.09-1.12x as fast on MiniLM-L6,
    docs/defaults.md); other architectures train as they are. ``False``: every position, as transformers does."""

    # ---- settings -------------------------------------------------------------------------

    def describe(self, brief: bool = False) -> str:
        if not brief:
            return f"{self.kind} ({self.problem_type})"
        return self.kind + (f" ({self.problem_type.replace('_', '-')})" if self.problem_type != "single_label" else "")

    def class_names(self) -> list[str]:
        return list(self.label_names or [])

    def problems(self) -> list[str]:
        out = []
        if self.max_length is not None and self.max_length <= 0:
            out.append("task.max_length must be positive")
        if not 0.0 < self.threshold < 1.0:
            out.append("task.threshold must be between 0 and 1")
        if self.problem_type == "regression" and self.class_weights != "none":
            out.append("task.class_weights applies to classification, not regression")
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            out.append("task.label_names has duplicates")
        return out

    def while_training(self, model):
        if not self.first_position_only:
            return super().while_training(model)
        from hf_transfer.tasks._first_position import first_position_only

        return first_position_only(model)

    def default_metrics(self) -> list[str]:
        return {
            "single_label": ["accuracy", "f1"],
            "multi_label": ["f1", "precision", "recall", "accuracy"],
            "regression": ["pearsonr", "spearmanr"],
        }[self.problem_type]

    def main_metric(self) -> str:
        return {"single_label": "accuracy", "multi_label": "f1", "regression": "pearsonr"}[self.problem_type]

    def pipeline_tag(self) -> str:
        return "text-classification"

    def model_kwargs(self) -> dict[str, Any]:
        names = self.label_names or ["value"]
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
            "problem_type": PROBLEM_TYPES[self.problem_type],
        }

    # ---- labels ---------------------------------------------------------------------------

    def prepare(self, splits):
        """Check every label and encode it: class id, multi-hot vector, or float (``_class_labels.py``)."""
        names = self.label_names
        if self.problem_type != "regression" and names is None:
            names = learn_names(splits["train"], self.problem_type)
        learned = {"label_names": names if self.problem_type != "regression" else None}
        encoded = {}
        for split, ds in splits.items():
            values = [encode_label(v, split, i, self.problem_type, names) for i, v in enumerate(ds["label"])]
            encoded[split] = ds.remove_columns("label").add_column("labels", values)
        return type(splits)(encoded), learned

    def split_rule(self, dataset):
        return ("stratify", list(dataset["labels"])) if self.problem_type == "single_label" else None

    def check_row(self, row: dict) -> CheckedRow:
        pair = row.get("text_pair")
        text = f"{row['text'] or ''} {pair}" if isinstance(pair, str) else row["text"] or ""
        value = row["labels"]
        if self.problem_type == "regression":
            return CheckedRow(text, value)
        names = self.label_names or []
        if self.problem_type == "multi_label":
            classes = tuple(names[i] for i, on in enumerate(value) if on)
            return CheckedRow(text, classes, classes)
        return CheckedRow(text, names[value], (names[value],))

    def label_issue_unit(self) -> str | None:
        return "rows" if self.problem_type == "single_label" else None

    def check_training_data(self, train_split) -> None:
        if self.problem_type != "single_label":
            return
        classes = set(train_split["labels"])
        if len(classes) < 2:
            only = self.label_names[classes.pop()] if classes else "none"
            raise UserError(
                f"The training split has a single class ({only!r}, {len(train_split)} rows): a classifier "
                "cannot learn to tell classes apart from it. Check the label column (data.columns.label) and the data."
            )

    # ---- tokenization, batches, loss ------------------------------------------------------

    def tokenize_function(self, tokenizer):
        max_length = self.max_length

        def tokenize(batch):
            pair = batch.get("text_pair")
            return tokenizer(batch["text"], pair, truncation=True, max_length=max_length)

        return tokenize

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def loss_function(self, train_split):
        if self.class_weights == "none":
            return None
        import torch

        labels = torch.tensor(train_split["labels"])
        n_classes = len(self.label_names)
        if self.problem_type == "multi_label":
            positives = labels.sum(0).clamp(min=1)
            pos_weight = (len(labels) - positives) / positives
            criterion = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
        else:
            counts = torch.bincount(labels, minlength=n_classes).clamp(min=1).float()
            criterion = torch.nn.CrossEntropyLoss(weight=len(labels) / (n_classes * counts))

        def compute_loss(outputs, labels, num_items_in_batch=None):
            logits = outputs["logits"]
            criterion.to(logits.device)
            if self.problem_type == "multi_label":
                return criterion(logits, labels.to(logits.dtype))
            return criterion(logits.view(-1, n_classes), labels.view(-1))

        return compute_loss

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, HEAD_CANDIDATES)

    # ---- evaluation -----------------------------------------------------------------------

    def _decide(self, logits):
        """Logits -> predictions in the form the metrics take."""
        import numpy as np

        logits = np.asarray(logits)
        if self.problem_type == "regression":
            return logits.reshape(len(logits), -1)[:, 0]
        if self.problem_type == "multi_label":
            return (1 / (1 + np.exp(-logits)) >= self.threshold).astype(int)
        return logits.argmax(-1)

    def metrics_function(self, metric_names: list[str], examples=None, features=None, tokenizer=None):
        import numpy as np

        from hf_transfer.metrics import load_metric

        config = {"single_label": "default", "multi_label": "multilabel", "regression": "regression"}[self.problem_type]
        modules = [load_metric(name, config) for name in metric_names]
        multiclass = self.problem_type == "single_label" and len(self.label_names or []) > 2

        def compute(eval_pred):
            logits, references = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            predictions = self._decide(logits)
            if self.problem_type == "multi_label":
                references = np.asarray(references).astype(int)
            out = {}
            for module in modules:
                kwargs = {"average": "macro"} if multiclass and module.name in ("f1", "precision", "recall") else {}
                out.update(module.compute(predictions=predictions, references=references, **kwargs))
            return out

        return compute

    def example_records(self, examples=None, features=None, tokenizer=None):
        import numpy as np

        names = self.label_names or ["value"]
        lengths = [len(ids) for ids in features["input_ids"]] if features is not None else None

        def records(eval_pred):
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            predicted, references = self._decide(logits), np.asarray(eval_pred.label_ids)
            out = []
            for i, (p, r) in enumerate(zip(predicted, references, strict=True)):
                truncated = bool(lengths and lengths[i] >= self.max_length)
                if self.problem_type == "regression":
                    value, gold = float(p), float(np.asarray(r).reshape(-1)[0])
                    record = {"prediction": value, "reference": gold, "abs_error": abs(value - gold), "correct": None}
                elif self.problem_type == "multi_label":
                    chosen = {names[j] for j, v in enumerate(p) if v}
                    gold = {names[j] for j, v in enumerate(r) if v >= 0.5}
                    record = {"prediction": sorted(chosen), "reference": sorted(gold), "correct": chosen == gold,
                              **class_counts(chosen, gold)}  # fmt: skip
                else:
                    record = {"prediction": names[int(p)], "reference": names[int(r)], "correct": int(p) == int(r),
                              **class_counts({names[int(p)]}, {names[int(r)]})}  # fmt: skip
                out.append(dict(record, truncated=truncated))
            return out

        return records

    def aggregate(self, records: list[dict]) -> float:
        if self.problem_type == "regression":
            import numpy as np

            values = np.asarray([[r["prediction"], r["reference"]] for r in records])
            return float(np.corrcoef(values[:, 0], values[:, 1])[0, 1]) if len(values) > 1 else 0.0
        if self.problem_type == "multi_label":
            return counts_f1(records)
        return sum(r["correct"] for r in records) / len(records)

    def baselines(self, train_split, eval_split) -> dict[str, float]:
        if self.problem_type != "single_label" or len(eval_split) == 0:
            return {}
        majority, _ = Counter(train_split["labels"]).most_common(1)[0]
        hits = sum(1 for y in eval_split["labels"] if y == majority)
        return {"majority_class_accuracy": hits / len(eval_split)}

    # ---- prediction -----------------------------------------------------------------------

    def predict_text(self, row: dict) -> str:
        text = super().predict_text(row)
        pair = row.get("text_pair")
        return f"{text}{PAIR_SEPARATOR}{pair}" if isinstance(pair, str) and pair.strip() else text

    def predict(self, model, tokenizer, inputs: list[str]) -> list[Any]:
        import torch

        texts, pairs = [], []
        if not all(isinstance(item, str) for item in inputs):
            raise UserError('Text classification predicts texts: hf-transfer predict RUN_DIR "some text" ...')
        for item in inputs:
            first, sep, second = item.partition(PAIR_SEPARATOR)
            texts.append(first)
            pairs.append(second if sep else None)
        pair_arg = pairs if any(p is not None for p in pairs) else None
        if pair_arg is not None and any(p is None for p in pairs):
            raise UserError(f"Give every input as a pair, 'first{PAIR_SEPARATOR}second', or none of them.")
        batch = tokenizer(
            texts, pair_arg, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
        )
        batch = {k: v.to(model.device) for k, v in batch.items()}
        model.eval()
        with torch.no_grad():
            logits = model(**batch).logits.float()
        names = self.label_names or ["value"]
        results = []
        for row in logits:
            if self.problem_type == "regression":
                results.append([("value", float(row[0]))])
            elif self.problem_type == "multi_label":
                scores = torch.sigmoid(row).tolist()
                chosen = [(names[i], s) for i, s in enumerate(scores) if s >= self.threshold]
                results.append(sorted(chosen, key=lambda x: -x[1]))
            else:
                scores = torch.softmax(row, -1).tolist()
                results.append(sorted(((names[i], s) for i, s in enumerate(scores)), key=lambda x: -x[1])[:3])
        return results

    def format_prediction(self, text: str, prediction: Any) -> str:
        shown = ", ".join(f"{label} ({score:.3f})" for label, score in prediction) or "(no label above threshold)"
        return f"{text}\n  -> {shown}"

    def prediction_fields(self, prediction: Any) -> dict[str, Any]:
        if self.problem_type == "regression":
            return {"prediction": prediction[0][1]}
        if self.problem_type == "multi_label":  # every label above the threshold, most likely first
            return {"prediction": "; ".join(str(label) for label, _ in prediction),
                    "score": "; ".join(f"{score:.4f}" for _, score in prediction)}  # fmt: skip
        label, score = prediction[0]
        return {"prediction": label, "score": score}

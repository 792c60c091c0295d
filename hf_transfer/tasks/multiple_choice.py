"""Multiple choice (SWAG-style): a context, optionally the start of the answer, and N candidate endings;
the model scores each (context, ending) pair and the highest wins (``AutoModelForMultipleChoice``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import PAD_MULTIPLE, PAIR_SEPARATOR, Task, register
from hf_transfer.tasks._shared import CheckedRow, MissingInput, head_names_present

HEAD_CANDIDATES = ("pre_classifier", "classifier", "pooler")


@register
@dataclass
class MultipleChoice(Task):
    kind = "multiple-choice"
    roles = {"context": True, "question": False, "label": True}
    """``context``: the first sentence; ``question``: the start of the second, which each ending completes."""
    peft_task_type = ""  # peft has no multiple-choice task type: a plain PeftModel, head kept via modules_to_save
    metric_choices = ("accuracy", "f1", "precision", "recall", "matthews_correlation")
    auto_model = "AutoModelForMultipleChoice"
    has_pipeline = False

    endings: list[str] = field(default_factory=lambda: ["ending0", "ending1", "ending2", "ending3"])
    """The columns holding the candidate endings, in label order (label k = the ending in endings[k])."""
    max_length: int | None = None
    """The most tokens of a row and one ending the model reads; None: from the data (the limit that keeps 99% of the
    training rows whole, rounded up to a multiple of 8, at most the model's positions)."""

    def problems(self) -> list[str]:
        out = []
        if len(self.endings) < 2 or len(set(self.endings)) != len(self.endings):
            out.append("task.endings must name at least two different columns")
        if self.max_length is not None and self.max_length <= 0:
            out.append("task.max_length must be positive")
        return out

    def extra_columns(self) -> list[str]:
        return list(self.endings)

    def default_metrics(self) -> list[str]:
        return ["accuracy"]

    def main_metric(self) -> str:
        return "accuracy"

    def pipeline_tag(self) -> str:
        return "multiple-choice"

    def use_code(self) -> str:
        return (
            "\n\nimport torch\n\n"
            'context, endings = "She opened the fridge.", ["She took out the milk.", "She flew to the moon."]\n'
            'batch = tokenizer([context] * len(endings), endings, return_tensors="pt", padding=True)\n'
            "with torch.no_grad():\n"
            "    logits = model(**{k: v.unsqueeze(0) for k, v in batch.items()}).logits\n"
            "print(endings[int(logits.argmax(-1))])"
        )

    # ---- labels ---------------------------------------------------------------------------

    def prepare(self, splits):
        n = len(self.endings)
        for split, ds in splits.items():
            for row, label in enumerate(ds["label"]):
                if isinstance(label, bool) or not isinstance(label, int):
                    try:
                        label = int(str(label).strip())
                    except ValueError:
                        raise UserError(
                            f"Row {row} of the {split} split has label {label!r}; expected the number of the "
                            f"right ending, 0 to {n - 1}."
                        ) from None
                if not 0 <= label < n:
                    raise UserError(
                        f"Row {row} of the {split} split has label {label}; expected 0 to {n - 1} "
                        f"(one per ending column: {', '.join(self.endings)}). Unlabelled rows (-1) cannot be "
                        "trained or evaluated on."
                    )
            for column in self.endings:
                for row, text in enumerate(ds[column]):
                    if not isinstance(text, str) or not text.strip():
                        raise UserError(f"Row {row} of the {split} split has no text in ending column {column!r}.")
        encoded = {
            split: ds.map(
                lambda b: {"labels": [int(str(x).strip()) for x in b["label"]]},
                batched=True,
                remove_columns=["label"],
                desc=f"Labels ({split})",
            )
            for split, ds in splits.items()
        }
        return type(splits)(encoded), {}

    # ---- tokenization ---------------------------------------------------------------------

    def _pairs(self, contexts, questions, endings_by_row):
        firsts, seconds = [], []
        for context, question, endings in zip(contexts, questions, endings_by_row, strict=True):
            for ending in endings:
                firsts.append(context)
                seconds.append(f"{question} {ending}".strip() if question else ending)
        return firsts, seconds

    def tokenize_function(self, tokenizer):
        n = len(self.endings)

        def tokenize(batch):
            rows = len(batch["context"])
            questions = batch.get("question") or [""] * rows
            endings = [[batch[c][i] for c in self.endings] for i in range(rows)]
            firsts, seconds = self._pairs(batch["context"], questions, endings)
            encoded = tokenizer(firsts, seconds, truncation=True, max_length=self.max_length)
            return {k: [v[i : i + n] for i in range(0, len(v), n)] for k, v in encoded.items()}

        return tokenize

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorForMultipleChoice

        return DataCollatorForMultipleChoice(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    # ---- evaluation -----------------------------------------------------------------------

    def metrics_function(self, metric_names: list[str], examples=None, features=None, tokenizer=None):
        from hf_transfer.metrics import load_metric

        modules = [load_metric(name) for name in metric_names]

        def compute(eval_pred):
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            return self.score(modules, logits.argmax(-1), eval_pred.label_ids)

        return compute

    def example_records(self, examples=None, features=None, tokenizer=None):
        def records(eval_pred):
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            return [{"prediction": int(p), "reference": int(r), "correct": int(p) == int(r), "truncated": False}
                    for p, r in zip(logits.argmax(-1), eval_pred.label_ids, strict=True)]  # fmt: skip

        return records

    def aggregate(self, records: list[dict]) -> float:
        return sum(r["correct"] for r in records) / len(records)

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, HEAD_CANDIDATES)

    def check_row(self, row: dict) -> CheckedRow:
        parts = [row["context"], row.get("question") or "", *(str(row[e]) for e in self.endings)]
        return CheckedRow(" ".join(p for p in parts if p), row["labels"], (str(row["labels"]),))

    def baselines(self, train_split, eval_split) -> dict[str, float]:
        if len(eval_split) == 0:
            return {}
        majority, _ = Counter(train_split["labels"]).most_common(1)[0]
        return {"majority_choice_accuracy": sum(1 for y in eval_split["labels"] if y == majority) / len(eval_split)}

    # ---- prediction -----------------------------------------------------------------------

    def parse_predict_input(self, text: str) -> Any:
        parts = [p.strip() for p in text.split(PAIR_SEPARATOR)]
        if len(parts) < 3 or not all(parts):
            raise UserError(
                f"Multiple choice takes 'context{PAIR_SEPARATOR}ending 1{PAIR_SEPARATOR}ending 2 ...' "
                "(a context and at least two endings)."
            )
        return {"context": parts[0], "endings": parts[1:]}

    def predict_text(self, row: dict) -> str:
        context, question = row.get("context"), row.get("question") or ""
        endings = [row.get(c) for c in self.endings]
        if not isinstance(context, str):
            raise MissingInput("context", context)
        for column, ending in zip(self.endings, endings, strict=True):
            if not isinstance(ending, str) or not ending.strip():
                raise MissingInput(column, ending)
        return PAIR_SEPARATOR.join([context] + [f"{question} {e}".strip() for e in endings])

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        import torch

        results = []
        model.eval()
        for item in inputs:
            firsts, seconds = self._pairs([item["context"]], [""], [item["endings"]])
            batch = tokenizer(
                firsts, seconds, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
            with torch.no_grad():
                logits = model(**{k: v.unsqueeze(0).to(model.device) for k, v in batch.items()}).logits.float()[0]
            scores = torch.softmax(logits, -1).tolist()
            results.append(sorted(zip(item["endings"], scores, strict=True), key=lambda x: -x[1]))
        return results

    def format_prediction(self, item: Any, prediction: Any) -> str:
        shown = "; ".join(f"{ending!r} ({score:.3f})" for ending, score in prediction)
        return f"{item['context']}\n  -> {shown}"

    def prediction_fields(self, prediction: Any) -> dict[str, Any]:
        ending, score = prediction[0]
        return {"prediction": ending, "score": score}

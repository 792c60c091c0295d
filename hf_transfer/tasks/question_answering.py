"""Extractive question answering (SQuAD v1.1 and v2): answer spans found in a context.

Long contexts are split into overlapping windows (``max_length``, ``doc_stride``); predictions are
mapped back to the context through the offset mapping, keeping the best of the n-best start/end
pairs over all windows of a question.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import PAD_MULTIPLE, PAIR_SEPARATOR, Task, register
from hf_transfer.tasks._shared import CheckedRow, MissingInput, head_names_present
from hf_transfer.tasks._spans import NO_OFFSET, answer_positions, best_answer


@register
@dataclass
class QuestionAnswering(Task):
    reads_question_and_context = True
    kind = "question-answering"
    export_outputs = ("start_logits", "end_logits")
    roles = {"question": True, "context": True, "answers": True, "id": False}
    percent_metrics = ("exact_match", "f1", "exact", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_f1",
                       "best_exact")  # fmt: skip
    peft_task_type = "QUESTION_ANS"
    metric_choices = ("squad", "squad_v2")
    auto_model = "AutoModelForQuestionAnswering"
    peft_auto_model = "AutoPeftModelForQuestionAnswering"
    has_pipeline = False
    unit = "questions"
    feature_unit = "windows"

    max_length: int | None = None
    """The most tokens of one window (question and a part of its context). None: from the data, the length that keeps
    99% of the training questions in one window with their whole context (rounded up to a multiple of 8, at least
    twice ``doc_stride``, at most the model's positions): a longer context still becomes several windows, nothing is
    cut, so the limit trades windows per question against the cost of each."""
    doc_stride: int = 128
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    """SQuAD v2: questions may have no answer in the context."""
    null_score_diff_threshold: float = 0.0
    """v2: answer "no answer" when its score beats the best span by more than this."""

    def problems(self) -> list[str]:
        out = []
        if (self.max_length is not None and self.max_length <= 0) or self.doc_stride <= 0:
            out.append("task.max_length and task.doc_stride must be positive")
        elif self.max_length is not None and self.doc_stride >= self.max_length:
            out.append("task.doc_stride must be smaller than task.max_length")
        if self.n_best_size <= 0 or self.max_answer_length <= 0:
            out.append("task.n_best_size and task.max_answer_length must be positive")
        return out

    def default_metrics(self) -> list[str]:
        return ["squad_v2" if self.version_2_with_negative else "squad"]

    def main_metric(self) -> str:
        return "f1"

    def report_keys(self, metric_names: list[str]) -> list[str]:
        return ["exact_match", "f1"]

    def pipeline_tag(self) -> str:
        return "question-answering"

    # ---- data -----------------------------------------------------------------------------

    def split_rule(self, dataset):
        return ("group", list(dataset["context"]))  # SQuAD-style data asks several questions of one context

    def prepare(self, splits):
        encoded = {}
        for split, ds in splits.items():
            ids = [str(i) for i in ds["id"]] if "id" in ds.column_names else [f"{split}-{i}" for i in range(len(ds))]
            seen: dict[str, int] = {}
            for row, example_id in enumerate(ids):
                if example_id in seen:
                    raise UserError(
                        f"Rows {seen[example_id]} and {row} of the {split} split share the id {example_id!r}; ids "
                        "must be unique."
                    )
                seen[example_id] = row
            answers = []
            for row, (question, context, answer) in enumerate(
                zip(ds["question"], ds["context"], ds["answers"], strict=True)
            ):
                where = f"row {row} (id {ids[row]}) of the {split} split"
                if not isinstance(question, str) or not question.strip():
                    raise UserError(f"The question in {where} is empty.")
                if not isinstance(context, str) or not context.strip():
                    raise UserError(f"The question in {where} has no context.")
                answers.append(self._check_answers(answer, context, where))
            columns = [c for c in ("id", "answers") if c in ds.column_names]
            ds = ds.remove_columns(columns).add_column("id", [str(i) for i in ids])
            encoded[split] = ds.add_column("answers", answers)
        return type(splits)(encoded), {}

    cut_word = "split into several windows by"
    windows_long_rows = True

    def least_length(self) -> tuple[int, str]:
        # windows must advance: a window of twice the overlap moves on by at least half of itself (run_qa's 384 / 128
        # moves on by two thirds)
        return 2 * self.doc_stride, f"twice task.doc_stride={self.doc_stride}, so windows move on by half"

    def check_row(self, row: dict) -> CheckedRow:
        """The question with its context; the context alone is shared (SQuAD asks many questions of one)."""
        answers = tuple(sorted(set(row["answers"]["text"])))
        return CheckedRow(f"{row['question']} {row['context']}", answers, shared=row["context"])

    def _check_answers(self, answer, context: str, where: str) -> dict:
        if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
            raise UserError(f"The answers in {where} must be {{'text': [...], 'answer_start': [...]}}, got {answer!r}.")
        texts, starts = list(answer["text"] or []), list(answer["answer_start"] or [])
        if len(texts) != len(starts):
            raise UserError(f"The answers in {where} have {len(texts)} texts but {len(starts)} answer_start values.")
        if not texts and not self.version_2_with_negative:
            raise UserError(
                f"The question in {where} has no answer; for unanswerable questions (SQuAD v2) "
                "use --set task.version_2_with_negative=true."
            )
        for text, start in zip(texts, starts, strict=False):
            if not isinstance(text, str) or not text:
                raise UserError(f"An answer in {where} is empty.")
            if not isinstance(start, int) or context[start : start + len(text)] != text:
                found = context[start : start + len(text)] if isinstance(start, int) else start
                raise UserError(
                    f"answer_start {start!r} in {where} does not match the context: the answer is {text!r}, "
                    f"the context has {found!r} there."
                )
        return {"text": texts, "answer_start": starts}

    def tokenize_function(self, tokenizer):
        if tokenizer.padding_side != "right":
            raise UserError(
                "Question answering needs a tokenizer that pads on the right (question first, context second)."
            )

        def tokenize(batch):
            encoded = tokenizer(
                [q.lstrip() for q in batch["question"]],
                batch["context"],
                truncation="only_second",
                max_length=self.max_length,
                stride=self.doc_stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
            sample_map = encoded.pop("overflow_to_sample_mapping")
            starts, ends, example_ids, offsets_out = [], [], [], []
            for i, offsets in enumerate(encoded["offset_mapping"]):
                sequence_ids = encoded.sequence_ids(i)
                example = sample_map[i]
                context_offsets = [list(o) if s == 1 else NO_OFFSET for o, s in zip(offsets, sequence_ids, strict=True)]
                start, end = answer_positions(context_offsets, batch["answers"][example])
                starts.append(start)
                ends.append(end)
                example_ids.append(batch["id"][example])
                offsets_out.append(context_offsets)
            encoded["offset_mapping"] = offsets_out
            encoded["start_positions"] = starts
            encoded["end_positions"] = ends
            encoded["example_id"] = example_ids
            return encoded

        return tokenize

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, ("qa_outputs",))

    # ---- evaluation -----------------------------------------------------------------------

    def _decide(self, context, windows):
        """(answer text, start char, probability among the candidates)."""
        import numpy as np

        text, start, score, null_score, scores = best_answer(context, windows, self.n_best_size, self.max_answer_length)
        candidates = scores + ([null_score] if self.version_2_with_negative else [])
        if not candidates:
            return "", -1, 0.0, 1.0
        weights = np.exp(np.asarray(candidates) - max(candidates))
        total = weights.sum()
        no_answer_probability = float(weights[-1] / total) if self.version_2_with_negative else 0.0
        if self.version_2_with_negative and null_score - score > self.null_score_diff_threshold:
            return "", -1, no_answer_probability, no_answer_probability
        answer_probability = float(np.exp(score - max(candidates)) / total) if scores else 0.0
        return text, start, answer_probability, no_answer_probability

    def metrics_function(self, metric_names: list[str], examples=None, features=None, tokenizer=None):
        from hf_transfer.metrics import load_metric

        modules = [load_metric(name) for name in metric_names]
        contexts = dict(zip(examples["id"], examples["context"], strict=True))
        references = [{"id": i, "answers": a} for i, a in zip(examples["id"], examples["answers"], strict=True)]
        feature_ids, feature_offsets = features["example_id"], features["offset_mapping"]

        def compute(eval_pred):
            start_logits, end_logits = eval_pred.predictions[:2]
            windows: dict[str, list] = {}
            for i, example_id in enumerate(feature_ids):
                windows.setdefault(example_id, []).append((feature_offsets[i], start_logits[i], end_logits[i]))
            predictions = []
            for example_id in contexts:
                text, _, _, no_answer = self._decide(contexts[example_id], windows.get(example_id, []))
                prediction = {"id": example_id, "prediction_text": text}
                if self.version_2_with_negative:
                    prediction["no_answer_probability"] = no_answer
                predictions.append(prediction)
            out = {}
            for module in modules:
                out.update(module.compute(predictions=predictions, references=references))
            return out

        return compute

    def example_records(self, examples=None, features=None, tokenizer=None):
        from hf_transfer.metrics.common import best_over_golds, exact_match, token_f1

        contexts = dict(zip(examples["id"], examples["context"], strict=True))
        golds = dict(zip(examples["id"], examples["answers"], strict=True))
        feature_ids, feature_offsets = features["example_id"], features["offset_mapping"]
        windows_of: dict[str, int] = {}
        for example_id in feature_ids:
            windows_of[example_id] = windows_of.get(example_id, 0) + 1

        def records(eval_pred):
            start_logits, end_logits = eval_pred.predictions[:2]
            windows: dict[str, list] = {}
            for i, example_id in enumerate(feature_ids):
                windows.setdefault(example_id, []).append((feature_offsets[i], start_logits[i], end_logits[i]))
            out = []
            for example_id, context in contexts.items():
                text, _, _, _ = self._decide(context, windows.get(example_id, []))
                answers = [a for a in golds[example_id]["text"] if isinstance(a, str)] or [""]
                em = best_over_golds(exact_match, text, answers)
                f1 = best_over_golds(token_f1, text, answers)
                out.append({"prediction": text, "reference": answers, "exact_match": em, "f1": f1,
                            "correct": em == 1.0, "truncated": windows_of.get(example_id, 0) > 1})  # fmt: skip
            return out

        return records

    def aggregate(self, records: list[dict]) -> float:
        return 100.0 * sum(r["f1"] for r in records) / len(records)

    # ---- prediction -----------------------------------------------------------------------

    def use_code(self) -> str:
        return (
            "\n\nimport torch\n\n"
            'question, context = "Where did she go?", "In 2019 she travelled to Paris."\n'
            'inputs = tokenizer(question, context, return_tensors="pt")\n'
            "with torch.no_grad():\n    out = model(**inputs)\n"
            "start, end = int(out.start_logits.argmax()), int(out.end_logits.argmax())\n"
            'print(tokenizer.decode(inputs["input_ids"][0][start : end + 1]))'
        )

    def parse_predict_input(self, text: str) -> Any:
        question, sep, context = text.partition(PAIR_SEPARATOR)
        if not sep or not question.strip() or not context.strip():
            raise UserError(
                "Question answering needs both a non-empty --question and a non-empty --context "
                f"(or one text 'question{PAIR_SEPARATOR}context')."
            )
        return {"question": question.strip(), "context": context.strip()}

    def predict_text(self, row: dict) -> str:
        question, context = row.get("question"), row.get("context")
        for role, value in (("question", question), ("context", context)):
            if not isinstance(value, str) or not value.strip():
                raise MissingInput(role, value)
        return f"{question}{PAIR_SEPARATOR}{context}"

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        import torch

        if not all(isinstance(i, dict) and {"question", "context"} <= set(i) for i in inputs):
            raise UserError('Question answering takes --question "..." --context "...".')
        model.eval()
        tokenize = self.tokenize_function(tokenizer)
        results = []
        for item in inputs:
            batch = {
                "question": [item["question"]],
                "context": [item["context"]],
                "id": ["0"],
                "answers": [{"text": [], "answer_start": []}],
            }
            features = tokenize(batch)
            windows = []
            for i, offsets in enumerate(features["offset_mapping"]):
                keys = ("input_ids", "attention_mask", "token_type_ids")
                tensors = {k: torch.tensor([features[k][i]], device=model.device) for k in keys if k in features}
                with torch.no_grad():
                    out = model(**tensors)
                windows.append(
                    (offsets, out.start_logits[0].float().cpu().numpy(), out.end_logits[0].float().cpu().numpy())
                )
            text, start, probability, _ = self._decide(item["context"], windows)
            results.append(
                {"answer": text, "start": start, "end": start + len(text) if text else -1, "score": probability}
            )
        return results

    def prediction_fields(self, prediction: Any) -> dict[str, Any]:
        return {"prediction": prediction["answer"], "score": prediction["score"], "start": prediction["start"],
                "end": prediction["end"]}  # fmt: skip

    def format_prediction(self, item: Any, prediction: Any) -> str:
        if not prediction["answer"]:
            return f"Q: {item['question']}\n  -> (no answer in the context) ({prediction['score']:.3f})"
        return (
            f"Q: {item['question']}\n  -> {prediction['answer']!r} "
            f"(characters {prediction['start']}-{prediction['end']}, score {prediction['score']:.3f})"
        )

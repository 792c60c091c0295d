"""Sequence to sequence generation: summarization and translation, on Seq2SeqTrainer.

Sources get an optional prefix (T5 style: "summarize: "); targets are tokenized with
``text_target`` and padded with -100; evaluation generates with the recipe's settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import GENERATED_NOT_EXPORTED, IGNORE_INDEX, PAD_MULTIPLE, Task, register
from hf_transfer.tasks._shared import CheckedRow, MissingInput, head_names_present


@register
@dataclass
class Seq2SeqGeneration(Task):
    kind = "seq2seq"
    export_outputs = ()
    export_refusal = GENERATED_NOT_EXPORTED
    roles = {"source": True, "target": True}
    peft_task_type = "SEQ_2_SEQ_LM"
    metric_choices = ("rouge", "sacrebleu")
    auto_model = "AutoModelForSeq2SeqLM"
    peft_auto_model = "AutoPeftModelForSeq2SeqLM"
    has_pipeline = False
    new_head = False
    epochs_at_most = 3  # the transformers summarization example's; each pass's evaluation generates

    objective: Literal["summarization", "translation"] = "summarization"
    source_prefix: str = ""
    """Prepended to every source, e.g. "summarize: " or "translate English to Romanian: " for T5."""
    max_source_length: int | None = None
    """The most tokens of a source the model reads; None: from the data (the limit that keeps 99% of the training rows
    whole, rounded up to a multiple of 8, at most the model's positions)."""
    max_target_length: int = 128
    """The most tokens of a target the loss reads. Not taken from the data: cutting targets at a percentile would
    teach the model to stop there, and generation reads ``max_new_tokens``, which a recipe sets with it."""
    max_new_tokens: int = 64
    num_beams: int = 4

    def problems(self) -> list[str]:
        out = []
        if min(self.max_source_length or 1, self.max_target_length, self.max_new_tokens, self.num_beams) <= 0:
            out.append("task.max_source_length, max_target_length, max_new_tokens and num_beams must be positive")
        return out

    def default_metrics(self) -> list[str]:
        return ["rouge"] if self.objective == "summarization" else ["sacrebleu"]

    def main_metric(self) -> str:
        return "rougeL" if self.objective == "summarization" else "bleu"

    def report_keys(self, metric_names: list[str]) -> list[str]:
        keys = []
        if "rouge" in metric_names:
            keys += ["rouge1", "rouge2", "rougeL", "rougeLsum"]
        if "sacrebleu" in metric_names:
            keys += ["bleu", "chrf"]
        return keys

    def pipeline_tag(self) -> str:
        return self.objective

    def use_code(self) -> str:
        example = (
            "The council approved a new park after a long debate." if self.objective == "summarization" else "Hello."
        )
        return (
            f'\n\ninputs = tokenizer({self.source_prefix + example!r}, return_tensors="pt")\n'
            f"output = model.generate(**inputs, max_new_tokens={self.max_new_tokens}, num_beams={self.num_beams})\n"
            "print(tokenizer.decode(output[0], skip_special_tokens=True))"
        )

    def trainer_classes(self):
        from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

        return Seq2SeqTrainingArguments, Seq2SeqTrainer

    def training_defaults(self) -> dict[str, Any]:
        return {
            "predict_with_generate": True,
            "generation_max_length": self.max_new_tokens,
            "generation_num_beams": self.num_beams,
        }

    # ---- data -----------------------------------------------------------------------------

    length_limits = ("max_source_length", "max_target_length")
    length_setting = "max_source_length"

    def check_row(self, row: dict) -> CheckedRow:
        return CheckedRow(row["source"], row["target"])

    def prepare(self, splits):
        for split, ds in splits.items():
            for row, (source, target) in enumerate(zip(ds["source"], ds["target"], strict=True)):
                if not isinstance(source, str) or not source.strip():
                    raise UserError(f"Row {row} of the {split} split has an empty source text.")
                if not isinstance(target, str) or not target.strip():
                    raise UserError(f"Row {row} of the {split} split has an empty target text.")
        return splits, {}

    def tokenize_function(self, tokenizer):
        def tokenize(batch):
            encoded = tokenizer(
                [self.source_prefix + s for s in batch["source"]], max_length=self.max_source_length, truncation=True
            )
            encoded["labels"] = tokenizer(
                text_target=batch["target"], max_length=self.max_target_length, truncation=True
            )["input_ids"]
            return encoded

        return tokenize

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=pad_to_multiple_of)

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, ("lm_head",))

    # ---- evaluation -----------------------------------------------------------------------

    def metrics_function(self, metric_names: list[str], examples=None, features=None, tokenizer=None):
        import numpy as np

        from hf_transfer.metrics import load_metric

        modules = {name: load_metric(name) for name in metric_names}

        def compute(eval_pred):
            predictions = (
                eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            )
            predictions = np.where(np.asarray(predictions) < 0, tokenizer.pad_token_id, predictions)
            labels = np.where(
                np.asarray(eval_pred.label_ids) == IGNORE_INDEX, tokenizer.pad_token_id, eval_pred.label_ids
            )
            generated = [t.strip() for t in tokenizer.batch_decode(predictions, skip_special_tokens=True)]
            references = [t.strip() for t in tokenizer.batch_decode(labels, skip_special_tokens=True)]
            out = {}
            for name, module in modules.items():
                refs = [[r] for r in references] if name == "sacrebleu" else references
                out.update(module.compute(predictions=generated, references=refs))
            out["gen_len"] = float(np.mean([np.count_nonzero(p != tokenizer.pad_token_id) for p in predictions]))
            return out

        return compute

    # ---- prediction -----------------------------------------------------------------------

    def predict_text(self, row: dict) -> str:
        source = row.get("source")
        if not isinstance(source, str) or not source.strip():
            raise MissingInput("source", source)
        return source

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        import torch

        if not all(isinstance(i, str) and i.strip() for i in inputs):
            raise UserError('Generation takes texts: hf-transfer predict RUN_DIR "a long article ..."')
        batch = tokenizer(
            [self.source_prefix + i for i in inputs],
            max_length=self.max_source_length,
            truncation=True,
            padding=True,
            return_tensors="pt",
        ).to(model.device)
        model.eval()
        with torch.no_grad():
            output = model.generate(**batch, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams)
        return [t.strip() for t in tokenizer.batch_decode(output, skip_special_tokens=True)]

    def format_prediction(self, text: Any, prediction: Any) -> str:
        shown = text if len(text) <= 200 else text[:200] + " ..."
        return f"{shown}\n  -> {prediction}"

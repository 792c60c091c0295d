"""Task plug-ins. Each module here registers one task family by its ``kind``.

A task says: which ``AutoModelFor...`` class to load, how to check and encode the labels, how to
tokenize (a batched ``datasets.map`` function), which collator pads a batch, how predictions become
metric inputs, and which modules form the head (always trained, always saved). ``train.py`` calls
these hooks and never asks which task it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

TASKS: dict[str, type["Task"]] = {}


def register(cls: type["Task"]) -> type["Task"]:
    TASKS[cls.kind] = cls
    return cls


@dataclass(kw_only=True)
class Task:
    """The interface every task implements (settings are the dataclass fields of a subclass)."""

    kind: ClassVar[str] = ""
    roles: ClassVar[dict[str, bool]] = {}
    """Data roles this task reads, mapped to whether each is required."""
    peft_task_type: ClassVar[str] = ""
    """peft's TaskType name for adapters on this task's model (``SEQ_CLS``, ``TOKEN_CLS``, ...)."""
    new_head: ClassVar[bool] = True
    """Whether the head is created for the task (and so saved with adapters via modules_to_save).
    Generation tasks reuse the pretrained LM head: LoRA leaves it alone, freeze trains it."""

    def problems(self) -> list[str]:
        """Settings that cannot work, as short sentences (empty when valid)."""
        return []

    def default_metrics(self) -> list[str]:
        raise NotImplementedError

    def report_keys(self, metric_names: list[str]) -> list[str]:
        """The eval metric keys a results table shows (a module may return several)."""
        return metric_names

    def main_metric(self) -> str:
        """The metric that picks the best checkpoint and that the reload check compares."""
        raise NotImplementedError

    def auto_model_class(self):
        raise NotImplementedError

    def prepare(self, splits) -> tuple[Any, "Task"]:
        """Check and encode labels of a DatasetDict. Returns the encoded splits and the task with
        anything learned from the data (label names) filled in, so the resolved recipe records it."""
        raise NotImplementedError

    def drop_rows(self, splits) -> tuple[Any, dict[str, int]]:
        """Rows this task is told to drop before ``prepare`` checks the rest (e.g. empty responses),
        and how many, by reason. Dropping is always counted and reported, never silent."""
        return splits, {}

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    def tokenize_function(self, tokenizer):
        raise NotImplementedError

    def collator(self, tokenizer):
        raise NotImplementedError

    def pipeline_tag(self) -> str:
        """The Hub's pipeline tag for models of this task (model card metadata, usage snippet)."""
        raise NotImplementedError

    def greater_is_better(self) -> bool:
        return True

    def trainer_classes(self):
        """(TrainingArguments class, Trainer class) this task trains with."""
        from transformers import Trainer, TrainingArguments

        return TrainingArguments, Trainer

    def training_defaults(self) -> dict[str, Any]:
        """TrainingArguments this task needs on top of hf_transfer's defaults (the recipe may override)."""
        return {}

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Add metrics derived from the Trainer's (e.g. perplexity from eval loss)."""
        return metrics

    def after_training(self, model, tokenizer, splits, run_dir) -> None:
        """Extra artifacts written into the run folder (e.g. generated samples)."""

    def tokenizer_kwargs(self, model_type: str) -> dict[str, Any]:
        """Extra ``AutoTokenizer.from_pretrained`` arguments this task needs for a model type."""
        return {}

    def metrics_function(self, metric_names: list[str], examples, features, tokenizer):
        """``compute_metrics`` for the Trainer (or None: eval loss only). ``examples`` is the eval split
        before tokenization and ``features`` after it; tasks that map predictions back to text need
        them, and the tokenizer to decode generated ids."""
        raise NotImplementedError

    def loss_function(self, train_split):
        """A ``compute_loss_func`` for the Trainer, or None for the model's own loss."""
        return None

    def head_modules(self, model) -> list[str]:
        raise NotImplementedError

    def baselines(self, train_split, eval_split) -> dict[str, float]:
        """Scores of trivial predictors on the eval split, to read the metrics against."""
        return {}

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        """Predictions for raw inputs: texts, or ``{"question", "context"}`` dicts for QA."""
        raise NotImplementedError

    def format_prediction(self, text: str, prediction: Any) -> str:
        return f"{text}\t{prediction}"


def head_names_present(model, candidates: tuple[str, ...]) -> list[str]:
    """The candidate module names (last path component) that exist in ``model``."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [c for c in candidates if c in present]


from . import causal_lm, classification, question_answering, seq2seq, token_classification  # noqa: E402,F401  (each registers itself)

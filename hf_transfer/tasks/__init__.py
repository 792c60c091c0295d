"""Task plug-ins. Each module here registers one task family by its ``kind``.

A task says: which ``AutoModelFor...`` class to load, how to check and encode the labels, how to
tokenize (a batched ``datasets.map`` function), which collator pads a batch, how predictions become
metric inputs, and which modules form the head (always trained, always saved). ``train.py`` calls
these hooks and never asks which task it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, ClassVar

from hf_transfer.tasks._checks import missing_declarations
from hf_transfer.tasks._shared import CheckedRow, MissingInput
from hf_transfer.tasks._usage import usage_snippet

TASKS: dict[str, type[Task]] = {}
IGNORE_INDEX = -100
"""The label of positions that no loss or metric counts (special tokens, prompts, padding)."""
PAD_MULTIPLE = 8
"""Batches of a run that computes in 16 bits, or on a GPU, are padded to a multiple of 8 tokens: fewer distinct
shapes, so the allocator reuses its memory instead of growing with every new length, and the bf16 kernels get
aligned shapes (MiniLM, 2,000 Rotten Tomatoes rows, bf16 on this Xeon: peak RSS 1.76 -> 1.54 GiB, the same training
time, evaluation 1.14 -> 1.06 s). ``pad_multiple`` says when."""


def pad_multiple(args) -> int | None:
    """``PAD_MULTIPLE`` for a run that computes in bf16 / fp16 or on a GPU; None (each batch padded to its longest
    row) for fp32 on a CPU, where the extra positions are pure cost: the same run in fp32 trained 9% slower padded to
    8 (18.2 vs 16.7 s) at the same peak memory (1.62 GiB either way). ``args``: the run's TrainingArguments."""
    if getattr(args, "bf16", False) or getattr(args, "fp16", False):
        return PAD_MULTIPLE
    return None if getattr(args, "use_cpu", False) or args.device.type == "cpu" else PAD_MULTIPLE
GENERATED_NOT_EXPORTED = (
    "its predictions are generated: a loop of decoder steps around the model, with a cache, that one ONNX graph of "
    "the forward pass does not hold (and predict and the metrics need it). Deploy the run folder with transformers "
    "(an adapter run merged first: hf-transfer merge)"
)
"""Why generation tasks are not exported to ONNX."""
PAIR_SEPARATOR = " ||| "
"""How several texts are written as one on the command line for ``predict``: ``"first ||| second"``."""


def register(cls: type[Task]) -> type[Task]:
    """Add a task class to ``TASKS`` (its kind names it in recipes; its class name is a public name of
    ``hf_transfer``), once it declares everything a task must (``_checks.py``)."""
    missing = missing_declarations(cls, Task)
    if missing:
        raise TypeError(f"Task {cls.__name__} cannot be registered: it does not declare {'; '.join(missing)}. "
                        "docs/architecture.md (Adding things: a task) lists what a task declares.")  # fmt: skip
    if cls.kind in TASKS and TASKS[cls.kind] is not cls:
        raise ValueError(f"two tasks are registered as {cls.kind!r}: {TASKS[cls.kind].__name__} and {cls.__name__}")
    namesake = next((t for t in TASKS.values() if t.__name__ == cls.__name__ and t is not cls), None)
    if namesake is not None:
        raise ValueError(f"two tasks are named {cls.__name__} (kinds {namesake.kind!r} and {cls.kind!r}): "
                         "a task's class name is its public name, from hf_transfer import ...")  # fmt: skip
    TASKS[cls.kind] = cls
    return cls


@dataclass(kw_only=True)
class Task:
    """The interface every task implements (settings are the dataclass fields of a subclass)."""

    # ---- What the task is

    kind: ClassVar[str] = ""

    roles: ClassVar[dict[str, bool]] = {}
    """Data roles this task reads, mapped to whether each is required."""

    passthrough: ClassVar[tuple[str, ...]] = ()
    """Columns kept as they are besides the roles (e.g. the endings of multiple choice)."""

    unit: ClassVar[str] = "examples"
    """What one row of the data is, in the console and the card ("questions" for QA)."""

    feature_unit: ClassVar[str] = "features"
    """What the model sees when a row becomes several of them (QA: windows of a long context)."""

    def describe(self, brief: bool = False) -> str:
        """The task as the console names it: its kind, and the setting that makes it another problem where there is
        one (``text-classification (multi_label)``); two runs solve the same task when their descriptions are equal
        (``diff``). ``brief``: the common case left unsaid and words for the setting's value (``hf-transfer list``)."""
        return self.kind

    def class_names(self) -> list[str]:
        """The classes a model of this task tells apart, in id order (the log, the card, ``diff``, ``compare``'s
        smallest data share); empty where the task has none, or before a run learned them (``prepare``)."""
        return []

    def problems(self) -> list[str]:
        """Settings that cannot work, as short sentences (empty when valid)."""
        return []

    # ---- Data: rows checked and encoded, what is learned from them, tokenization and batches

    def extra_columns(self) -> list[str]:
        """Source columns this task reads besides its roles, kept under their own names."""
        return list(self.passthrough)

    def drop_rows(self, splits) -> tuple[Any, dict[str, int]]:
        """Rows this task is told to drop before ``prepare`` checks the rest (e.g. empty responses),
        and how many, by reason. Dropping is always counted and reported, never silent."""
        return splits, {}

    def prepare(self, splits) -> tuple[Any, dict[str, Any]]:
        """Check and encode labels of a DatasetDict. Returns the encoded splits and what was learned from the
        data, as values of this task's settings (``{"label_names": [...]}``; empty when nothing is learned).
        The settings stay as requested (``recipe.yaml``); a run records what it learned apart
        (``learned.json``), and trains with ``with_learned(learned)``."""
        raise NotImplementedError

    def with_learned(self, learned: dict[str, Any]) -> Task:
        """This task with what a run learned from its data filled in (see ``prepare``)."""
        return dataclasses.replace(self, **learned) if learned else self

    percent_metrics: ClassVar[tuple[str, ...]] = ()
    """Metrics this task reports on a 0-100 scale (SQuAD's exact match and F1); the others are on 0-1."""

    def metric_range(self, key: str) -> float:
        """The range of a metric (``eval_f1``): 100 for a percentage, else 1. Tolerances are shares of it."""
        return 100.0 if key.removeprefix("eval_").removeprefix("test_") in self.percent_metrics else 1.0

    def split_rule(self, dataset) -> tuple[str, list] | None:
        """How rows stay together when a split is carved from ``dataset`` (prepared rows): ``("stratify", labels)``
        keeps each label's share on both sides, ``("group", keys)`` keeps the rows of one key on one side (QA: one
        context). None: rows are independent (a seeded random split)."""
        return None

    def check_training_data(self, train_split) -> None:
        """Refuse training data this task cannot learn from (e.g. a single class), before training."""

    def check_row(self, row: dict) -> CheckedRow:
        """One prepared row (roles named, labels encoded) as the data check compares it; by default the row's text
        roles joined, with no label."""
        return CheckedRow(" ".join(v for r in self.roles if isinstance(v := row.get(r), str)))

    def label_issue_unit(self) -> str | None:
        """What ``check --label_issues`` scores: "rows" (a class per row), "tokens" (a tag per word), or None."""
        return None

    length_limits: ClassVar[tuple[str, ...]] = ("max_length",)
    """The task settings (int fields) that are token counts the model reads: each is checked against the
    checkpoint's position embeddings before a run loads it."""

    length_setting: ClassVar[str] = "max_length"
    """The one of ``length_limits`` that limits a row's tokens (the data check measures the rows it cuts). It may be
    None, "from the data": a run then takes the limit that keeps 99% of its training rows whole (``data/lengths.py``)
    and records it as learned."""

    cut_word: ClassVar[str] = "cut by"
    """What happens to a row longer than the limit, for the data check's report."""

    windows_long_rows: ClassVar[bool] = False
    """Whether a row longer than the limit becomes several features rather than being cut (QA's windows): the
    run's share of rows cut by the limit leaves such a task out."""

    epochs_at_most: ClassVar[int] = 10
    """The most passes a run takes when nothing sets its epochs (``recipe/defaults.py`` asks for a number of optimizer
    steps): tasks whose steps are long and whose evaluation generates take fewer."""

    def length_limit(self) -> int | None:
        """The value of ``length_setting``: the most tokens of a row the model reads (None: from the data, until a
        run has measured it)."""
        return getattr(self, self.length_setting)

    def least_length(self) -> tuple[int, str]:
        """The least limit this task's other settings work with when the limit comes from the data, and why, in
        words (0: any)."""
        return 0, ""

    def kept_tokens(self, encoded: dict) -> list[int]:
        """Per row of a batch tokenized with the limit lifted: the tokens a limit must never cut (an instruction's
        prompt: a row whose prompt does not fit is refused). A limit from the data keeps the longest whole."""
        return []

    def context_tokens(self) -> int:
        """The most tokens one input and what is generated for it take together (a GGUF model's context)."""
        return self.length_limit()

    def tokenize_function(self, tokenizer):
        raise NotImplementedError

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        """The batches' collator; ``pad_to_multiple_of``: the run's ``pad_multiple(args)``."""
        raise NotImplementedError

    def tokenizer_kwargs(self, model_type: str) -> dict[str, Any]:
        """Extra ``AutoTokenizer.from_pretrained`` arguments this task needs for a model type."""
        return {}

    # ---- Model and training: which model class, its head, how it trains

    auto_model: ClassVar[str] = ""
    """The transformers ``AutoModelFor...`` class this task loads."""

    peft_task_type: ClassVar[str] = ""
    """peft's TaskType name for adapters on this task's model (``SEQ_CLS``, ``TOKEN_CLS``, ...)."""

    new_head: ClassVar[bool] = True
    """Whether the head is created for the task (and so saved with adapters via modules_to_save).
    Generation tasks reuse the pretrained LM head: LoRA leaves it alone, freeze trains it."""

    def auto_model_class(self):
        import transformers

        return getattr(transformers, self.auto_model)

    def model_kwargs(self) -> dict[str, Any]:
        return {}

    def head_modules(self, model) -> list[str]:
        raise NotImplementedError

    def trainer_classes(self):
        """(TrainingArguments class, Trainer class) this task trains with."""
        from transformers import Trainer, TrainingArguments

        return TrainingArguments, Trainer

    def training_defaults(self) -> dict[str, Any]:
        """TrainingArguments this task needs on top of hf_transfer's defaults (the recipe may override)."""
        return {}

    def loss_function(self, train_split):
        """A ``compute_loss_func`` for the Trainer, or None for the model's own loss."""
        return None

    def while_training(self, model):
        """A context the Trainer's training runs inside (its evaluations included): a change of how ``model``
        computes that holds for training only; the model is saved, reloaded and evaluated as it is."""
        import contextlib

        return contextlib.nullcontext()

    def after_training(self, model, tokenizer, splits, run_dir) -> None:
        """Extra artifacts written into the run folder (e.g. generated samples)."""

    def generated_after_training(self, eval_examples: int, metric_names: list[str]) -> list[int]:
        """How many evaluation examples the end of a run generates a response for, per pass (``after_training``'s
        samples, ``generation_metrics``): ``plan`` forecasts them from a batch of ``predict`` it times."""
        return []

    # ---- Scoring: metrics, the main metric, trivial baselines

    metric_choices: ClassVar[tuple[str, ...]] = ()
    """The metric modules that can score this task's predictions."""

    def default_metrics(self) -> list[str]:
        raise NotImplementedError

    def report_keys(self, metric_names: list[str]) -> list[str]:
        """The eval metric keys a results table shows (a module may return several)."""
        return metric_names

    def main_metric(self) -> str:
        """The metric that picks the best checkpoint and that the reload check compares."""
        raise NotImplementedError

    def greater_is_better(self) -> bool:
        return True

    def metrics_function(self, metric_names: list[str], examples, features, tokenizer):
        """``compute_metrics`` for the Trainer (or None: eval loss only). ``examples`` is the eval split
        before tokenization and ``features`` after it; tasks that map predictions back to text need
        them, and the tokenizer to decode generated ids."""
        raise NotImplementedError

    @staticmethod
    def score(modules, predictions, references, kwargs_for=lambda module: {}) -> dict[str, float]:
        """Every metric module's results on the same predictions, in one dict."""
        out: dict[str, float] = {}
        for module in modules:
            out.update(module.compute(predictions=predictions, references=references, **kwargs_for(module)))
        return out

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Add metrics derived from the Trainer's (e.g. perplexity from eval loss)."""
        return metrics

    def generation_metrics(self, model, tokenizer, examples, metric_names: list[str]) -> dict[str, float]:
        """Metrics of text the model generates for evaluation examples, scored after the Trainer's evaluation of a
        saved model (the reload check, ``hf-transfer eval``); empty for tasks whose metrics come from the Trainer's
        predictions."""
        return {}

    def example_records(self, examples, features, tokenizer):
        """A function of the Trainer's evaluation predictions (rows in dataset order) that returns one record per
        evaluation example: ``prediction``, ``reference``, ``correct`` (None where right and wrong do not apply),
        ``truncated`` (cut by the length limit), and the counts this task's metrics are made of (``tp``/``fp``/``fn``
        by class, exact match and F1, absolute error). None: the task has no per-example score (``diff`` and the
        bootstrap interval then refuse it)."""
        return None

    def aggregate(self, records: list[dict]) -> float:
        """The main metric of some records, as ``metrics_function`` scores it (what a bootstrap resamples)."""
        raise NotImplementedError

    def scores_examples(self) -> bool:
        """Whether this task scores each evaluation example (``example_records``)."""
        return type(self).example_records is not Task.example_records

    def baselines(self, train_split, eval_split) -> dict[str, float]:
        """Scores of trivial predictors on the eval split, to read the metrics against."""
        return {}

    # ---- The model card: pipeline tag and usage snippet

    def pipeline_tag(self) -> str:
        """The Hub's pipeline tag for models of this task (model card metadata, usage snippet)."""
        raise NotImplementedError

    has_pipeline: ClassVar[bool] = True
    """Whether transformers has a pipeline for this task (v5 dropped question answering and text2text)."""

    peft_auto_model: ClassVar[str | None] = None
    """peft's ``AutoPeftModelFor...`` class for the card's usage snippet (None: load base + adapter by hand)."""

    example_input: ClassVar[str] = '"Your text here."'
    """The argument of ``pipe(...)`` in the card's usage snippet."""

    def generation_note(self, evaluated: dict[str, float]) -> str:
        """The card's sentence on how metrics of generated text were measured, from a run's evaluation metrics
        (empty: this task's metrics score no generated text, or none was generated)."""
        return ""

    def usage(self, repo_id: str, adapter: bool, base_checkpoint: str) -> str:
        """The card's "How to use" snippet for a model of this task at ``repo_id``: a pipeline where
        transformers has one, else the model and tokenizer and a few lines of ``use_code`` (``_usage.py``)."""
        return usage_snippet(self, repo_id, adapter, base_checkpoint)

    def use_code(self) -> str:
        """Lines after ``model`` and ``tokenizer`` in the card's snippet (none: loading is the example)."""
        return ""

    # ---- Prediction: inputs from a file or the command line, and how a prediction is shown

    reads_question_and_context: ClassVar[bool] = False
    """Whether ``predict --question Q --context C`` applies (question answering)."""

    def predict_text(self, row: dict) -> str:
        """One row of a file for ``predict --input_file`` (columns already named after the roles), written as
        a command-line input (``parse_predict_input`` reads it)."""
        text = row.get("text")
        if not isinstance(text, str) or not text.strip():
            raise MissingInput("text", text)
        return text

    def parse_predict_input(self, text: str) -> Any:
        """One ``hf-transfer predict`` argument as this task's input (texts, or several joined by ' ||| ')."""
        return text

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        """Predictions for raw inputs: texts, or ``{"question", "context"}`` dicts for QA."""
        raise NotImplementedError

    def format_prediction(self, text: str, prediction: Any) -> str:
        return f"{text}\t{prediction}"

    def prediction_fields(self, prediction: Any) -> dict[str, Any]:
        """One prediction as flat columns (``predict --output_file x.csv``): ``prediction`` and, where the task has
        them, ``score`` and others. A prediction that is a list or mapping is written as JSON."""
        import json

        if isinstance(prediction, (str, int, float)) or prediction is None:
            return {"prediction": prediction}
        return {"prediction": json.dumps(prediction, ensure_ascii=False)}

    # ---- Export: what an ONNX graph of the model returns

    export_outputs: ClassVar[tuple[str, ...]] = ("logits",)
    """The model outputs an ONNX export returns, in order (empty: this task is not exported, ``export_refusal``)."""

    export_refusal: ClassVar[str] = ""
    """Why this task's models are not exported (when ``export_outputs`` is empty)."""
    gguf_export: ClassVar[bool] = False
    """Its runs export as one GGUF file for llama.cpp and Ollama (``export --format gguf``)."""


def discover() -> None:
    """Import every module of this package: each registers its task (a new task is a new file here)."""
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


discover()

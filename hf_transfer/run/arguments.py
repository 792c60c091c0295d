"""TrainingArguments from a recipe: hf_transfer's defaults, then the recipe's ``training``, then the
command line; every key and value checked before anything is loaded."""

from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path
from typing import Any

from hf_transfer import methods
from hf_transfer.base.errors import UserError
from hf_transfer.base.hardware import device_defaults
from hf_transfer.base.plain import as_bool
from hf_transfer.recipe.recipe import Recipe

RUN_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "logging_strategy": "steps",
    "logging_steps": 10,
    "logging_first_step": True,
    "train_sampling_strategy": "group_by_length",
    "report_to": "none",
    "seed": 42,
}
"""What hf_transfer sets before the recipe's ``training`` and the command-line flags."""

COMMON_FLAGS: dict[str, tuple[str | None, str]] = {
    # flag -> (default, what it does); None: hf_transfer's own default, from RUN_DEFAULTS; else transformers' own
    "learning_rate": ("the recipe's, else from the model's size and the method",
                      "peak learning rate; recipes set their own per method (lora.learning_rate, ...)"),
    "num_train_epochs": ("the recipe's, else enough passes for 160 optimizer steps (adapters 320)",
                         "passes over the training data"),
    "per_device_train_batch_size": (None, "training rows per step and device"),
    "per_device_eval_batch_size": (None, "evaluation rows per batch (batches sorted by length)"),
    "gradient_accumulation_steps": ("1", "steps summed into one optimizer update"),
    "warmup_ratio": ("0", "share of the steps spent warming up (transformers 5 also reads --warmup_steps 0.1)"),
    "weight_decay": ("0.0", "AdamW weight decay"),
    "eval_strategy": (None, "epoch, steps (with --eval_steps N) or no"),
    "save_strategy": (None, "follows eval_strategy: the best evaluation's model is kept"),
    "bf16 / --fp16": ("auto", "on where the device computes it natively (GPU, AVX512-BF16/AMX CPU); --bf16 false"),
    "gradient_checkpointing": ("false", "recompute activations to save memory"),
    "report_to": (None, "tensorboard, wandb, mlflow, trackio (the package must be installed)"),
    "seed": (None, "for the initialisation, shuffling and the held-out split"),
}
"""The TrainingArguments people reach for, listed by ``hf-transfer run --help``."""


def default_text(name: str) -> str:
    """A common flag's default as ``--help`` shows it: hf_transfer's (RUN_DEFAULTS) or transformers' own."""
    default = COMMON_FLAGS[name][0]
    if default is not None:
        return default
    value = RUN_DEFAULTS[name]
    return f"{value:g}".replace("e-0", "e-") if isinstance(value, float) else str(value)


def common_flags_help() -> str:
    width = max(len(name) for name in COMMON_FLAGS) + 2
    lines = [f"  --{name:<{width}} {what} (default: {default_text(name)})" for name, (_, what) in COMMON_FLAGS.items()]
    return "\n".join(lines)


NOT_TRAINING_ARGS = {"output_dir", "overwrite_output_dir", "hub_token"}


def training_arguments(recipe: Recipe) -> dict[str, Any]:
    """Defaults < recipe.training, checked against TrainingArguments before anything is loaded."""
    task = recipe.task
    args_class, _ = task.trainer_classes()
    fields = {f.name: f for f in dataclasses.fields(args_class) if f.init}
    kwargs = dict(
        RUN_DEFAULTS,
        metric_for_best_model=task.main_metric(),
        greater_is_better=task.greater_is_better(),
        **device_defaults(),
        **task.training_defaults(),
    )
    training = dict(recipe.training)
    if methods.learning_rate(recipe) is not None:
        training["learning_rate"] = methods.learning_rate(recipe)
    if (
        "warmup_ratio" in training and "warmup_ratio" not in fields
    ):  # transformers 5 reads a ratio from warmup_steps < 1
        ratio = training.pop("warmup_ratio")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
            raise UserError(f"Training argument warmup_ratio must be a number in [0, 1), got {ratio!r}.")
        training.setdefault("warmup_steps", float(ratio))
    for key, value in training.items():
        if key in NOT_TRAINING_ARGS or key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1) if key not in NOT_TRAINING_ARGS else []
            hint = f" Did you mean {close[0]!r}?" if close else ""
            where = (
                "--output_dir / --overwrite_output_dir are flags of the commands that write a run folder (run, "
                "compare, tune); plan writes none" if key in NOT_TRAINING_ARGS else ""
            )
            raise UserError(f"Unknown training argument {key!r}.{hint} {where}".strip())
        default = fields[key].default
        declared = (
            fields[key].type
            if isinstance(fields[key].type, type)
            else {"float": float, "int": int}.get(str(fields[key].type))
        )
        if isinstance(default, bool):
            value = as_bool(value)
            if not isinstance(value, bool):
                raise UserError(f"Training argument {key} must be true or false, got {value!r}.")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"Training argument {key} must be a number, got {value!r}.")
            kind = declared if declared in (int, float) else type(default)
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise UserError(f"Training argument {key} must be a whole number, got {value!r}.")
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"Training argument {key} must be a finite number, got {value!r}.")
            value = (
                int(value)
                if kind is int or (isinstance(value, float) and value.is_integer() and value >= 1)
                else float(value)
            )
        kwargs[key] = value
    for key in POSITIVE_ARGS:
        if key in kwargs and not kwargs[key] >= 1:
            raise UserError(f"Training argument {key} must be 1 or more, got {kwargs[key]!r}.")
    for key in SEED_ARGS:
        if kwargs.get(key) is not None and not 0 <= kwargs[key] < 2**32:
            raise UserError(
                f"Training argument {key} must be a whole number from 0 to {2**32 - 1}, got {kwargs[key]!r}."
            )
    check_trackers(kwargs.get("report_to"))
    if not kwargs.get("learning_rate", 1) > 0:
        raise UserError(f"Training argument learning_rate must be positive, got {kwargs['learning_rate']!r}.")
    if kwargs.get("max_steps", -1) <= 0 and not kwargs.get("num_train_epochs", 1) > 0:
        raise UserError(f"Training argument num_train_epochs must be positive, got {kwargs['num_train_epochs']!r}.")
    if kwargs.get("eval_strategy") == "no":
        kwargs["load_best_model_at_end"] = False
    return kwargs


POSITIVE_ARGS = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "logging_steps",
)
SEED_ARGS = ("seed", "data_seed")
"""Seeds that numpy and torch take: 0 to 2**32 - 1."""
TRACKERS = {
    "tensorboard": "tensorboard",
    "wandb": "wandb",
    "mlflow": "mlflow",
    "trackio": "trackio",
    "comet_ml": "comet_ml",
    "clearml": "clearml",
    "neptune": "neptune",
    "dvclive": "dvclive",
}
"""--report_to value -> the package it needs."""


def check_trackers(report_to) -> None:
    """A tracker that is not installed is one message naming the package (the Trainer raises deep inside)."""
    import importlib.util

    names = [n.strip() for n in report_to.split(",")] if isinstance(report_to, str) else list(report_to or [])
    for name in names:
        if name in ("none", "all", None):
            continue
        if name not in TRACKERS:
            raise UserError(
                f"--report_to {name!r} is not a tracker transformers knows; use one of: {', '.join(TRACKERS)}, or none."
            )
        if importlib.util.find_spec(TRACKERS[name]) is None:
            extra = " (or pip install 'hf-transfer-toolkit[tracking]')" if name == "tensorboard" else ""
            raise UserError(
                f"--report_to {name} needs the {TRACKERS[name]} package, which is not installed: "
                f"pip install {TRACKERS[name]}{extra}."
            )


def make_training_args(output_dir: Path, kwargs: dict[str, Any], task):
    args_class, _ = task.trainer_classes()
    try:
        return args_class(output_dir=str(output_dir), **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"Training arguments are not valid: {exc}") from None

"""From a Recipe to a finished run folder, through ``transformers.Trainer``.

``run()`` goes through a few named phases: load (checkpoint, data, tokenizer, tokenization), build
(method, Trainer), train, evaluate (the saved model, reloaded from disk, must reproduce the metric
recorded during training: the evaluation is paid once), and publish the run folder (``runs.py``:
staged in ``<output_dir>.partial`` and renamed into place only then).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import methods
from .assets import ResolvedCheckpoint, resolve_checkpoint
from .cache import tokenization_cache_dir  # noqa: F401  (re-exported: benchmarks and notebooks import it from here)
from .card import license_warning, resolve_licenses, write_card
from .data import load_splits, tokenize_splits
from .errors import UserError
from .guards import run_warnings
from .hardware import PeakMemory, cpu_computes_bf16, device_defaults, is_main_process, silent, versions  # noqa: F401
from .models import (  # noqa: F401  (load_run, merge_run re-exported)
    check_lengths,
    load_base_model,
    load_run,
    load_tokenizer,
    merge_run,
    point_adapter_at_hub_id,
)
from .recipe import Recipe, as_bool
from .runs import (  # noqa: F401  (is_finished_run re-exported)
    CHECKPOINTS,
    CURVES_FILE,
    TRAINER_STATE,
    RunFolder,
    check_output_dir,
    check_staging,
    is_finished_run,
    locked,
    newest_complete_checkpoint,
    prepare_staging,
    publish,
    same_metric,
)

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
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            where = (
                "--output_dir / --overwrite_output_dir are flags of hf-transfer run" if key in NOT_TRAINING_ARGS else ""
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
            value = (
                int(value)
                if kind is int or (isinstance(value, float) and value.is_integer() and value >= 1)
                else float(value)
            )
        kwargs[key] = value
    for key in POSITIVE_ARGS:
        if key in kwargs and not kwargs[key] >= 1:
            raise UserError(f"Training argument {key} must be 1 or more, got {kwargs[key]!r}.")
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


def eval_order(dataset) -> list[int]:
    """Evaluation rows longest first: each batch is padded to rows of about its own length (and the
    largest batch comes first, so memory problems show at once)."""
    column = dataset["input_ids"]
    lengths = [sum(map(len, row)) if row and isinstance(row[0], list) else len(row) for row in column]
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def trainer_class(task):
    """The task's Trainer class, evaluating batches sorted by length and giving ``compute_metrics`` the
    predictions back in dataset order (NER word ids and QA offsets map each row to its feature).

    transformers would otherwise evaluate in dataset order (every batch padded to its longest row), or,
    with ``train_sampling_strategy=group_by_length``, shuffled."""
    import numpy as np
    from torch.utils.data import Sampler
    from transformers import EvalPrediction

    class InOrder(Sampler):
        def __init__(self, order: list[int]):
            self.order = order

        def __iter__(self):
            return iter(self.order)

        def __len__(self):
            return len(self.order)

    _, base = task.trainer_classes()

    class SortedEvalTrainer(base):
        _order: list[int] | None = None

        def _get_eval_sampler(self, eval_dataset):
            if eval_dataset is None or self.args.world_size > 1:
                self._order = None
                return None
            self._order = eval_order(eval_dataset)
            return InOrder(self._order)

        @property
        def compute_metrics(self):
            compute = self._compute_metrics
            if compute is None:
                return None

            def in_dataset_order(eval_pred):
                if self._order is None:
                    return compute(eval_pred)
                back = np.argsort(np.asarray(self._order))

                def restore(x):
                    if isinstance(x, (tuple, list)):
                        return type(x)(restore(y) for y in x)
                    return x[back] if x is not None else None

                return compute(
                    EvalPrediction(predictions=restore(eval_pred.predictions), label_ids=restore(eval_pred.label_ids))
                )

            return in_dataset_order

        @compute_metrics.setter
        def compute_metrics(self, function):
            self._compute_metrics = function

    return SortedEvalTrainer


# --------------------------------------------------------------------------------------------
# Data and evaluation
# --------------------------------------------------------------------------------------------


def evaluate_model(
    model, tokenizer, recipe: Recipe, examples, features, batch_size: int, precision: dict[str, Any] | None = None
) -> dict[str, float]:
    """The one evaluation path for a loaded model: the reload check and ``hf-transfer eval``.

    ``examples`` is the eval split before tokenization, ``features`` after it. ``precision``: the
    run's bf16 / fp16 / use_cpu settings, so a reloaded model is evaluated as training evaluated it."""
    task = recipe.task
    with tempfile.TemporaryDirectory() as scratch:
        settings = {"per_device_eval_batch_size": batch_size, "report_to": "none", "seed": 42, **device_defaults()}
        settings.update(precision or {})
        settings.update({k: v for k, v in task.training_defaults().items() if not k.startswith(("eval_", "save_"))})
        settings.update({k: v for k, v in recipe.training.items() if k.startswith("generation_")})
        args = make_training_args(Path(scratch), settings, task)
        trainer = trainer_class(task)(
            model=model,
            args=args,
            eval_dataset=features,
            data_collator=task.collator(tokenizer),
            processing_class=tokenizer,
            compute_metrics=task.metrics_function(recipe.metric_names, examples, features, tokenizer),
        )
        return task.finish_metrics(trainer.evaluate())


# --------------------------------------------------------------------------------------------
# The run, in phases
# --------------------------------------------------------------------------------------------

PRECISION_KEYS = ("bf16", "fp16", "use_cpu")


class Phases:
    """Wall-clock seconds per phase of a run (metrics.json "phases"), for benchmarks and bug reports."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self._last, 3)
        self._last = now


@dataclass
class Loaded:
    """What the load phase produced: the resolved recipe, checkpoint, data and tokenizer."""

    recipe: Recipe
    checkpoint: ResolvedCheckpoint
    splits: Any
    tokenized: Any
    tokenizer: Any
    licenses: dict[str, str]
    dropped: dict[str, int]
    warnings: list[str]


def _load(recipe: Recipe, state, log) -> Loaded:
    checkpoint = resolve_checkpoint(recipe.checkpoint)
    if checkpoint.note:
        log(f"[hf-transfer] {checkpoint.note}")
    if recipe.trust_remote_code:
        log(
            f"[hf-transfer] trust_remote_code is on: Python code shipped with {recipe.checkpoint} will run on this "
            "machine."
        )
    check_lengths(recipe, checkpoint)
    licenses = resolve_licenses(recipe, checkpoint.path)
    warnings = [
        w
        for w in (
            license_warning("base model", licenses["base_model"]),
            license_warning("training data", licenses["data"]),
        )
        if w
    ]
    for warning in warnings:
        log(f"[hf-transfer] warning: {warning}")
    report: dict = {}
    splits, task = load_splits(recipe.data, recipe.task, report)
    for why, count in report["dropped"].items():
        log(f"[hf-transfer] dropped {count:,} rows: {why.replace('_', ' ')} (task setting)")
    task.check_training_data(splits["train"])
    names = getattr(task, "label_names", None)
    if names:
        shown = ", ".join(map(str, names[:30])) + (f" ... ({len(names)} in all)" if len(names) > 30 else "")
        log(f"[hf-transfer] labels ({len(names)}): {shown}")
    recipe = dataclasses.replace(recipe, task=task)
    tokenizer = load_tokenizer(checkpoint, recipe)
    with state.main_process_first():  # rank 0 fills the tokenization cache, the others read it
        tokenized = tokenize_splits(splits, task, tokenizer, dataset=recipe.data.describe())
    return Loaded(recipe, checkpoint, splits, tokenized, tokenizer, licenses, report["dropped"], warnings)


def _build_model(loaded: Loaded, training_kwargs: dict):
    """The checkpoint, loaded and prepared for the method (before anything is written: a checkpoint that
    does not load leaves no unfinished run behind)."""
    from transformers import set_seed

    set_seed(training_kwargs["seed"])
    return methods.prepare_model(load_base_model(loaded.recipe, loaded.checkpoint), loaded.recipe, loaded.recipe.task)


def _build_trainer(loaded: Loaded, model, args):
    recipe, task, tokenized = loaded.recipe, loaded.recipe.task, loaded.tokenized
    trainer = trainer_class(task)(
        model=model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        data_collator=task.collator(loaded.tokenizer),
        processing_class=loaded.tokenizer,
        compute_metrics=task.metrics_function(
            recipe.metric_names, loaded.splits["validation"], tokenized["validation"], loaded.tokenizer
        ),
        compute_loss_func=task.loss_function(tokenized["train"]),
    )
    return trainer, methods.count_parameters(model)


def _evaluate_test(trainer, loaded: Loaded) -> dict[str, float] | None:
    """The test split, once, with the model chosen on the validation split."""
    if "test" not in loaded.tokenized:
        return None
    recipe, task = loaded.recipe, loaded.recipe.task
    chosen_on_validation = trainer.compute_metrics  # the test split maps predictions back to its own examples
    trainer.compute_metrics = task.metrics_function(
        recipe.metric_names, loaded.splits["test"], loaded.tokenized["test"], loaded.tokenizer
    )
    try:
        return task.finish_metrics(trainer.evaluate(eval_dataset=loaded.tokenized["test"], metric_key_prefix="test"))
    finally:
        trainer.compute_metrics = chosen_on_validation


def _save(trainer, loaded: Loaded, staging: Path, main: bool) -> None:
    trainer.save_model(str(staging))  # the Trainer saves from rank 0 only
    if main:
        (staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; metrics.json records the arguments
        point_adapter_at_hub_id(staging, loaded.recipe.checkpoint, loaded.checkpoint)
        trainer.state.save_to_json(str(staging / TRAINER_STATE))
        RunFolder(staging).write_recipe(loaded.recipe)
        loaded.recipe.task.after_training(trainer.model, loaded.tokenizer, loaded.splits, staging)


def same_outputs(trainer, reloaded, features, precision: dict) -> bool:
    """Whether the reloaded model gives the trained model's outputs (every tensor, to 1e-5) on the first
    evaluation rows, under the run's precision."""
    import torch

    rows = features.select(range(min(8, len(features))))  # a few rows are enough to catch a wrong save
    batch = next(iter(trainer.get_eval_dataloader(rows)))  # the Trainer drops the columns the model does not take
    batch = {k: v.to(trainer.model.device) if hasattr(v, "to") else v for k, v in batch.items()}
    autocast = torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=bool(precision.get("bf16")) and not torch.cuda.is_available()
    )
    outputs = []
    for model in (trainer.model, reloaded):
        model.eval()
        with torch.no_grad(), autocast:
            out = model(**batch)
        outputs.append([v.float() for v in (out.values() if hasattr(out, "values") else out) if torch.is_tensor(v)])
    return len(outputs[0]) == len(outputs[1]) and all(
        a.shape == b.shape and torch.allclose(a, b, atol=1e-5, rtol=0) for a, b in zip(*outputs)
    )


def one_evaluation_point(args, train_rows: int) -> bool:
    """Whether training would evaluate only once, at its very end (one epoch, evaluation per epoch)."""
    if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "epoch":
        return False
    steps_per_epoch = max(
        1,
        math.ceil(train_rows / (args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps)),
    )
    return args.max_steps <= steps_per_epoch if args.max_steps > 0 else args.num_train_epochs <= 1


def _evaluate_saved(trainer, loaded: Loaded, staging: Path, args, training_kwargs: dict, clock) -> tuple[dict, dict]:
    """The saved model, reloaded from disk and evaluated once: its metrics are the run's, and its main
    metric must equal the one recorded for the same weights during training (the reload check).
    Returns (eval metrics, reload check)."""
    task = loaded.recipe.task
    key = f"eval_{task.main_metric()}"
    recorded = trainer.state.best_metric if args.load_best_model_at_end else None
    _, reloaded, _ = load_run(staging)
    precision = {k: training_kwargs[k] for k in PRECISION_KEYS if k in training_kwargs}
    outputs_match = None
    if recorded is None:
        # Nothing was evaluated during training (one epoch: the end of training is the only evaluation point):
        # rather than evaluating the same weights twice, the saved model must give the trained model's outputs
        # on the first evaluation batch, and its one evaluation is the run's.
        outputs_match = same_outputs(trainer, reloaded, loaded.tokenized["validation"], precision)
    clock.lap("reload_check")
    metrics = evaluate_model(
        reloaded,
        loaded.tokenizer,
        loaded.recipe,
        loaded.splits["validation"],
        loaded.tokenized["validation"],
        args.per_device_eval_batch_size,
        precision,
    )
    if outputs_match is not None:
        check = {
            "metric": key,
            "compared": "outputs on the first 8 evaluation rows",
            "after_training": None,
            "reloaded_from_disk": metrics.get(key),
            "match": outputs_match,
        }
        if outputs_match:
            check["after_training"] = metrics.get(key)  # same outputs, same metric
    else:
        check = {
            "metric": key,
            "compared": "the metric recorded during training",
            "after_training": recorded,
            "reloaded_from_disk": metrics.get(key),
        }
        check["match"] = same_metric(check["after_training"], check["reloaded_from_disk"])
    if not check["match"]:
        raise RuntimeError(
            f"The saved run does not reproduce the trained model ({key}: {check['after_training']} during training, "
            f"{check['reloaded_from_disk']} reloaded from {staging}); the run folder was not published."
        )
    metrics["epoch"] = trainer.state.epoch
    return metrics, check


def run(
    recipe: Recipe,
    output_dir: str | Path,
    overwrite: bool = False,
    command: str | None = None,
    log=print,
    resume: bool = False,
    full_size: bool = False,
) -> dict:
    """Train ``recipe`` and write its run folder. Returns the contents of ``metrics.json``.

    ``resume``: continue the unfinished run in ``<output_dir>.partial`` from its newest complete checkpoint.
    ``full_size``: the recipe runs as written (no sample or step limits), so its ``expected`` results apply."""
    clock = Phases()
    # ---- checks, before anything is loaded
    recipe.validate()
    methods.check_available(recipe.method)
    output_dir = Path(output_dir).expanduser().resolve()
    if is_main_process():
        with locked(output_dir):  # rank 0 writes the folder, and holds it for the whole run
            return _run(recipe, output_dir, overwrite, command, log, resume, full_size, clock)
    return _run(recipe, output_dir, overwrite, command, log, resume, full_size, clock)


def _run(recipe: Recipe, output_dir: Path, overwrite: bool, command, log, resume: bool, full_size: bool, clock) -> dict:
    check_output_dir(output_dir, overwrite)
    training_kwargs = training_arguments(recipe)
    staging = RunFolder(output_dir).staging
    if is_main_process():  # rank 0 alone looks, as it alone writes
        check_staging(staging, overwrite, resume)
    requested = recipe

    from accelerate import PartialState

    # TrainingArguments set up the process group when launched by `accelerate launch` / `torchrun`;
    # made first, they let every rank agree on who is rank 0 before anything is written.
    args = make_training_args(staging / CHECKPOINTS, training_kwargs, recipe.task)
    state = PartialState()
    main = state.is_main_process
    log = log if main else silent

    # ---- load and build
    clock.lap("setup")
    loaded = _load(recipe, state, log)
    clock.lap("data_and_tokenization")
    recipe, task, tokenized = loaded.recipe, loaded.recipe.task, loaded.tokenized
    model = _build_model(loaded, training_kwargs)
    resume_from = prepare_staging(staging, requested, overwrite, resume, log) if main else None  # rank 0 owns the disk
    state.wait_for_everyone()
    if not main and resume:
        resume_from = newest_complete_checkpoint(staging / CHECKPOINTS)
    if one_evaluation_point(args, len(tokenized["train"])):
        # the evaluation at the end of the only epoch would evaluate the weights the reload check evaluates next,
        # and its checkpoint would hold the model saved next: both are left out (the run is evaluated once)
        args.eval_strategy = args.save_strategy = "no"
        args.load_best_model_at_end = False
    trainer, (trainable, total) = _build_trainer(loaded, model, args)
    clock.lap("model")
    log(
        f"[hf-transfer] {recipe.name}: method={recipe.method}, {len(tokenized['train'])} train / "
        f"{len(tokenized['validation'])} eval examples, trainable parameters {trainable:,} of {total:,}"
    )

    # ---- train
    started = time.perf_counter()
    with PeakMemory() as memory:
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - started
    clock.lap("train")

    # ---- save, then evaluate what was saved
    test_metrics = _evaluate_test(trainer, loaded)
    clock.lap("test_split")
    _save(trainer, loaded, staging, main)
    state.wait_for_everyone()
    clock.lap("save")
    eval_metrics, reload_check = _evaluate_saved(trainer, loaded, staging, args, training_kwargs, clock)
    clock.lap("evaluate")

    # ---- metrics.json, card, publish
    baselines = task.baselines(tokenized["train"], tokenized["validation"])
    warnings = loaded.warnings + run_warnings(
        recipe,
        task,
        eval_metrics,
        baselines,
        args.get_warmup_steps(trainer.state.max_steps),
        trainer.state.max_steps,
        full_size,
    )
    samples = {"train": len(tokenized["train"]), "eval": len(tokenized["validation"])}
    if test_metrics is not None:
        samples["test"] = len(tokenized["test"])
    metrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "checkpoint": recipe.checkpoint,
        "checkpoint_source": loaded.checkpoint.note or loaded.checkpoint.path,
        "dataset": recipe.data.describe(),
        "samples": samples,
        "dropped": loaded.dropped,
        "train": dict(train_output.metrics, wall_seconds=round(train_seconds, 2)),
        "eval": eval_metrics,
        **({"test": test_metrics} if test_metrics is not None else {}),
        "baselines": baselines,
        "parameters": {"trainable": trainable, "total": total, "trainable_share": trainable / total},
        "resources": {**memory.report(), "saved_bytes": 0},
        "phases": clock.seconds,
        "training_arguments": {k: v for k, v in training_kwargs.items() if isinstance(v, (str, int, float, bool))},
        "world_size": args.world_size,
        "reload_check": reload_check,
        "licenses": loaded.licenses,
        "warnings": warnings,
        "versions": versions(),
        "command": command,
    }
    if main:
        _plot_curves(trainer.state.log_history, reload_check["metric"], staging / CURVES_FILE)
        shutil.rmtree(staging / CHECKPOINTS, ignore_errors=True)
        metrics["resources"]["saved_bytes"] = sum(p.stat().st_size for p in staging.glob("*.safetensors"))
        RunFolder(staging).write_metrics(metrics)
        write_card(staging)
        publish(staging, output_dir)
    return dict(metrics, output_dir=str(output_dir))


def _plot_curves(history: list[dict], metric_key: str, path: Path) -> None:
    from .plots import _pyplot, training_curves

    figure = training_curves(history, metric_key)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)

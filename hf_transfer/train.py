"""From a Recipe to a finished run folder, through ``transformers.Trainer``.

``run()`` goes through a few named phases: load (checkpoint, data, tokenizer, tokenization), build
(method, Trainer), train, evaluate (the saved model, reloaded from disk, must reproduce the metric
recorded during training: the evaluation is paid once), and publish the run folder (``runs.py``:
staged in ``<output_dir>.partial`` and renamed into place only then).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import methods
from .arguments import (  # noqa: F401  (re-exported: tests, benchmarks and notebooks import them from here)
    NOT_TRAINING_ARGS,
    RUN_DEFAULTS,
    check_trackers,
    make_training_args,
    training_arguments,
)
from .assets import ResolvedCheckpoint, resolve_checkpoint
from .cache import tokenization_cache_dir  # noqa: F401  (re-exported: benchmarks and notebooks import it from here)
from .card import counted_text, kept_text, license_warning, resolve_licenses, write_card
from .console import Console, adopt, report_lines
from .data import load_splits, tokenize_splits
from .errors import UserError
from .evaluation import COMPARED_ROWS, eval_order, evaluate_model, same_outputs, trainer_class  # noqa: F401
from .guards import run_warnings
from .hardware import PeakMemory, cpu_computes_bf16, device_defaults, is_main_process, silent, versions  # noqa: F401
from .models import (  # noqa: F401  (load_run, merge_run re-exported)
    check_lengths,
    load_base_model,
    load_run,
    load_tokenizer,
    merge_run,
    plain_checkpoint,
    point_adapter_at_hub_id,
)
from .recipe import Recipe
from .runs import (  # noqa: F401  (is_finished_run re-exported)
    CHECKPOINTS,
    CURVES_FILE,
    TENSORBOARD_DIR,
    TRAIN_LOG,
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
    with state.main_process_first():  # rank 0 dequantizes a GGUF checkpoint, the others read its folder
        checkpoint = plain_checkpoint(resolve_checkpoint(recipe.checkpoint))
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


def _build_model(loaded: Loaded, training_kwargs: dict, log):
    """The checkpoint, loaded and prepared for the method (before anything is written: a checkpoint that
    does not load leaves no unfinished run behind)."""
    from transformers import set_seed

    set_seed(training_kwargs["seed"])
    new_weights: list[str] = []
    model = load_base_model(loaded.recipe, loaded.checkpoint, new_weights)
    if new_weights:
        log(f"[hf-transfer] {new_weights_line(new_weights, loaded.recipe.task)}")
    return methods.prepare_model(model, loaded.recipe, loaded.recipe.task)


def new_weights_line(names: list[str], task) -> str:
    """transformers' loading report of a new task head, in one line: which modules start random."""
    modules = sorted({name.rsplit(".", 1)[0] for name in names})
    labels = getattr(task, "label_names", None)
    what = f"new head: {', '.join(modules)}" if len(modules) <= 4 else f"{len(names)} weights not in the checkpoint"
    return what + (f" ({len(labels)} labels)" if labels else "") + ", initialised at random and trained by this run"


def precision_text(kwargs: dict) -> str:
    import torch

    precision = "bf16" if kwargs.get("bf16") else "fp16" if kwargs.get("fp16") else "fp32"
    if torch.cuda.is_available() and not kwargs.get("use_cpu"):
        return f"{precision} on {torch.cuda.get_device_name(0)}"
    threads = torch.get_num_threads()
    return f"{precision} on CPU ({threads} thread{'s' if threads > 1 else ''})"


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
    adopt(trainer)  # the run's console shows one progress bar and a line per evaluation
    if recipe.early_stopping_patience and args.load_best_model_at_end:
        from transformers import EarlyStoppingCallback

        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    return trainer, methods.count_parameters(model)


def keep_tracker_logs(trainer, staging: Path) -> None:
    """TensorBoard writes into the run folder (``tensorboard/``), not into its checkpoints (removed at the end)."""
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(staging / TENSORBOARD_DIR)


def close_tracker_logs(trainer) -> None:
    """The TensorBoard writer, reopened by the evaluations after training, is flushed before the folder is published."""
    for callback in trainer.callback_handler.callbacks:
        writer = getattr(callback, "tb_writer", None)
        if type(callback).__name__ == "TensorBoardCallback" and writer is not None:
            writer.close()
            callback.tb_writer = None


def check_early_stopping(recipe: Recipe, args) -> None:
    """Early stopping watches the main metric of the evaluations during training, and keeps the best model."""
    if not recipe.early_stopping_patience:
        return
    if str(getattr(args.eval_strategy, "value", args.eval_strategy)) == "no":
        raise UserError(
            "--early_stopping_patience needs evaluations during training: keep --eval_strategy epoch (the default) "
            "or use --eval_strategy steps --eval_steps N."
        )
    if not args.load_best_model_at_end:
        raise UserError(
            "--early_stopping_patience keeps the best evaluation's model: it needs --load_best_model_at_end true."
        )


def kept_model(state, args, metric: str, patience: int | None) -> dict | None:
    """Which evaluation's model the run kept, and whether (and why) training stopped early."""
    evaluations = [h for h in state.log_history if metric in h]
    if not args.load_best_model_at_end or not evaluations or state.best_global_step is None:
        return None
    best = next((h for h in evaluations if h.get("step") == state.best_global_step), evaluations[-1])
    kept = {
        "metric": metric,
        "value": state.best_metric,
        "step": state.best_global_step,
        "epoch": best.get("epoch"),
        "evaluations": len(evaluations),
    }
    if patience:
        kept["early_stopping"] = {
            "patience": patience,
            "stopped_early": state.global_step < state.max_steps,
            "stopped_at_step": state.global_step,
            "stopped_at_epoch": state.epoch,
            "planned_steps": state.max_steps,
            "planned_epochs": args.num_train_epochs if args.max_steps <= 0 else None,
        }
    return kept


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
        readable(staging)


def readable(folder: Path) -> None:
    """Every file of the run with the same permissions (safetensors writes its weights as 0600, the rest is
    0644 under the usual umask): a shared run folder must not hide its model from the others who read it."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    for path in folder.iterdir():
        if path.is_file():
            path.chmod(0o666 & ~mask)


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
    _, reloaded, _ = load_run(staging, trust_remote_code=loaded.recipe.trust_remote_code)
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
            "compared": f"outputs on the {COMPARED_ROWS} shortest evaluation rows",
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
    verbose: bool = False,
) -> dict:
    """Train ``recipe`` and write its run folder. Returns the contents of ``metrics.json``.

    ``resume``: continue the unfinished run in ``<output_dir>.partial`` from its newest complete checkpoint.
    ``full_size``: the recipe runs as written (no sample or step limits), so its ``expected`` results apply.
    ``log``: where the run's lines go; ``verbose``: also everything the libraries print (see console.py)."""
    clock = Phases()
    # ---- checks, before anything is loaded
    recipe.validate()
    methods.check_available(recipe.method)
    output_dir = Path(output_dir).expanduser().resolve()
    with Console(log=log if is_main_process() else silent, verbose=verbose) as console:
        if is_main_process():
            with locked(output_dir):  # rank 0 writes the folder, and holds it for the whole run
                return _run(recipe, output_dir, overwrite, command, console, resume, full_size, clock)
        return _run(recipe, output_dir, overwrite, command, console, resume, full_size, clock)


def _run(recipe: Recipe, output_dir: Path, overwrite: bool, command, console, resume, full_size, clock) -> dict:
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
    check_early_stopping(recipe, args)
    state = PartialState()
    main = state.is_main_process
    log = console.say

    # ---- load and build
    clock.lap("setup")
    loaded = _load(recipe, state, log)
    clock.lap("data_and_tokenization")
    model = _build_model(loaded, training_kwargs, log)
    resume_from = prepare_staging(staging, requested, overwrite, resume, log) if main else None  # rank 0 owns the disk
    # train.log: what was said so far, and all from now on (rank 0 writes the folder)
    with console.logging_to(staging / TRAIN_LOG) if main else contextlib.nullcontext():
        return _train_and_publish(
            loaded, model, args, training_kwargs, state, staging, output_dir, resume, resume_from, full_size,
            command, clock, log,
        )  # fmt: skip


def _train_and_publish(
    loaded: Loaded, model, args, training_kwargs, state, staging, output_dir, resume, resume_from, full_size,
    command, clock, log,
) -> dict:  # fmt: skip
    recipe, task, tokenized = loaded.recipe, loaded.recipe.task, loaded.tokenized
    main = state.is_main_process
    state.wait_for_everyone()
    if not main and resume:
        resume_from = newest_complete_checkpoint(staging / CHECKPOINTS)
    if one_evaluation_point(args, len(tokenized["train"])):
        # the evaluation at the end of the only epoch would evaluate the weights the reload check evaluates next,
        # and its checkpoint would hold the model saved next: both are left out (the run is evaluated once)
        args.eval_strategy = args.save_strategy = "no"
        args.load_best_model_at_end = False
        if recipe.early_stopping_patience:
            log("[hf-transfer] early stopping: this run evaluates once, at its end, so there is nothing to stop")
    trainer, (trainable, total) = _build_trainer(loaded, model, args)
    keep_tracker_logs(trainer, staging)
    clock.lap("model")
    log(
        f"[hf-transfer] {recipe.name}: {recipe.method} on {recipe.checkpoint}, {trainable:,} of {total:,} "
        f"parameters trainable ({trainable / total:.1%}), {precision_text(training_kwargs)}"
    )
    log(
        f"[hf-transfer] train on {_counted(loaded, 'train')}; evaluate on {_counted(loaded, 'validation')}: "
        f"{recipe.data.describe_evaluation()}"
    )

    # ---- train
    started = time.perf_counter()
    with PeakMemory() as memory:
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - started
    clock.lap("train")
    kept = kept_model(trainer.state, args, f"eval_{task.main_metric()}", recipe.early_stopping_patience)
    if kept:
        log(f"[hf-transfer] {kept_text(kept)}")

    # ---- save, then evaluate what was saved
    test_metrics = _evaluate_test(trainer, loaded)
    clock.lap("test_split")
    _save(trainer, loaded, staging, main)
    state.wait_for_everyone()
    clock.lap("save")
    log(f"[hf-transfer] evaluating the saved model, reloaded from disk ({_counted(loaded, 'validation')})")
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
    samples = {"train": len(loaded.splits["train"]), "eval": len(loaded.splits["validation"])}
    if test_metrics is not None:
        samples["test"] = len(loaded.splits["test"])
    features = {"train": len(tokenized["train"]), "eval": len(tokenized["validation"])}
    metrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "checkpoint": recipe.checkpoint,
        "checkpoint_source": loaded.checkpoint.note or loaded.checkpoint.path,
        "dataset": recipe.data.describe(),
        "samples": samples,
        **({"features": features} if features != {k: samples[k] for k in features} else {}),
        "unit": task.unit,
        "evaluated_on": recipe.data.describe_evaluation(),
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
        **({"kept": kept} if kept else {}),
        "licenses": loaded.licenses,
        "warnings": warnings,
        "versions": versions(),
        "command": command,
    }
    close_tracker_logs(trainer)
    if main:
        _plot_curves(trainer.state.log_history, reload_check["metric"], staging / CURVES_FILE)
        shutil.rmtree(staging / CHECKPOINTS, ignore_errors=True)
        metrics["resources"]["saved_bytes"] = sum(p.stat().st_size for p in staging.glob("*.safetensors"))
        RunFolder(staging).write_metrics(metrics)
        write_card(staging)
        publish(staging, output_dir)
    metrics = dict(metrics, output_dir=str(output_dir))
    for line in report_lines(metrics, task.report_keys(recipe.metric_names), task.unit):
        log(line)
    return metrics


def _counted(loaded: Loaded, split: str) -> str:
    task = loaded.recipe.task
    return counted_text(len(loaded.splits[split]), len(loaded.tokenized[split]), task.unit, task.feature_unit)


def _plot_curves(history: list[dict], metric_key: str, path: Path) -> None:
    from .plots import _pyplot, training_curves

    figure = training_curves(history, metric_key)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)

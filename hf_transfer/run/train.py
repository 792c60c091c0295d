"""From a Recipe to a finished run folder, through ``transformers.Trainer``, in named phases.

``Run`` holds one run's state and goes through its phases in order: ``check`` (before anything is loaded),
``load`` (checkpoint, data, tokenizer, tokenization), ``build`` (the method's model, the staging folder),
``train``, ``save``, ``evaluate_saved`` (the saved model, reloaded from disk, must reproduce the metric
recorded during training: the evaluation is paid once), ``guard`` (warnings), ``write_results``
(metrics.json and the card) and ``publish`` (``runs.py``: staged in ``<output_dir>.partial`` and renamed
into place only then). A crash at any point leaves ``.partial``, which ``--resume`` continues.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

from hf_transfer import methods
from hf_transfer.artifacts import runs, staging
from hf_transfer.artifacts.card import kept_text, write_card
from hf_transfer.artifacts.models import load_base_model, new_weights_line, point_adapter_at_hub_id
from hf_transfer.artifacts.plots import save_training_curves
from hf_transfer.artifacts.runs import CHECKPOINTS, RunFolder
from hf_transfer.artifacts.staging import FINISHED_STAGING
from hf_transfer.base.class_report import class_report
from hf_transfer.base.console import Console
from hf_transfer.base.errors import UserError
from hf_transfer.base.hardware import (
    PeakMemory,
    PhaseClock,
    SettledHeap,
    check_distributed,
    is_main_process,
    precision_text,
    silent,
)
from hf_transfer.base.tables import report_lines
from hf_transfer.recipe import defaults
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.arguments import make_training_args, training_arguments
from hf_transfer.run.guards import divergence, run_warnings
from hf_transfer.run.loading import load
from hf_transfer.run.options import RunOptions, refuse_untrusted
from hf_transfer.run.reload_check import PRECISION_KEYS, evaluate_reloaded
from hf_transfer.run.results import run_metrics, selection_record, test_metrics
from hf_transfer.run.trainer import (
    build_trainer,
    check_early_stopping,
    close_tracker_logs,
    keep_tracker_logs,
    kept_model,
    one_evaluation_point,
    release_training_state,
)


class Run:
    """One run of a recipe into ``output_dir``, phase by phase (see the module's docstring)."""

    def __init__(self, recipe: Recipe, options: RunOptions, console, callbacks=()):
        self.requested, self.options, self.console = recipe, options, console
        self.output_dir = Path(options.output_dir).expanduser().resolve()
        self.budget, self.callbacks, self.budget_plan = options.budget, list(callbacks), None
        self.overwrite, self.resume, self.command = options.overwrite, options.resume, options.command
        self.full_size = options.full_size
        self.log = console.say
        self.clock = PhaseClock()
        self.staging = RunFolder(self.output_dir).staging
        self.main = is_main_process()
        self.results: dict[str, Any] = {}
        self.resume_from = None
        self.chosen: dict[str, defaults.Chosen] = {}
        """What recipe/defaults.py chose because nothing set it (learning_rate, num_train_epochs)."""

    def execute(self) -> dict:
        with SettledHeap() as heap:  # each settle(): what exists so far is left out of later garbage collections
            heap.settle()
            self.check()
            heap.settle()
            self.load()
            self.build()
            return self.finish(heap)

    def finish(self, heap: SettledHeap) -> dict:
        # train.log: what was said so far, and all from now on (rank 0 writes the folder)
        with self.console.logging_to(self.staging / runs.TRAIN_LOG) if self.main else contextlib.nullcontext():
            if self.resume_from == FINISHED_STAGING:
                return self.publish()
            heap.settle()
            if self.budget is not None:
                self.fit_budget()
            self.train()
            self.save()
            self.evaluate_saved()
            self.guard()
            self.write_results()
            return self.publish()

    # ---- check: nothing loaded yet
    def check(self) -> None:
        if self.main:  # an earlier run that a crash left aside after its replacement was in place
            staging.remove_replaced(self.output_dir)
        staging.check_output_dir(self.output_dir, self.overwrite)
        if self.main:  # rank 0 alone looks, as it alone writes
            staging.check_staging(self.staging, self.overwrite, self.resume)
        self.training_kwargs = training_arguments(self.requested)
        from accelerate import PartialState

        # TrainingArguments set up the process group when launched by `accelerate launch` / `torchrun`;
        # made first, they let every rank agree on who is rank 0 before anything is written.
        self.args = make_training_args(self.staging / CHECKPOINTS, self.training_kwargs, self.requested.task)
        check_early_stopping(self.requested, self.args)
        if self.requested.early_stopping_patience and self.requested.data.selection_fraction == 0:
            raise UserError(
                "--early_stopping_patience chooses when to stop on a selection split carved from the training rows; "
                "data.selection_fraction=0 leaves none. Leave data.selection_fraction unset (10%) or give a share."
            )
        self.state = PartialState()
        check_distributed(self.state, self.output_dir)
        self.clock.lap("setup")

    # ---- load: checkpoint, data, tokenizer, tokenization (loading.py)
    def load(self) -> None:
        self.loaded = load(self.requested, self.state, self.console, chooses=self.chooses, command=self.command)
        self.clock.lap("data_and_tokenization")

    def chooses(self, train_rows: int) -> bool:
        """Whether this run chooses among its evaluations (keeps the best one's model, stops early): then a
        selection split is carved from the training rows for them to read."""
        args = self.args
        evaluates = str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "no"
        choosing = bool(args.load_best_model_at_end) and evaluates
        self.choose_epochs(train_rows, train_rows - math.ceil(self.selection_share * train_rows) if choosing else None)
        return choosing and not one_evaluation_point(args, train_rows)

    # ---- what nothing set: chosen from the data, the model and the method (defaults.py)
    def choose(self, key: str, chosen: defaults.Chosen) -> None:
        self.chosen[key] = chosen
        self.training_kwargs[key] = chosen.value
        setattr(self.args, key, chosen.value)
        shown = f"{chosen.value:.1e}" if isinstance(chosen.value, float) else chosen.value
        self.log(f"[hf-transfer] {key} {shown}: {chosen.reason} (nothing set it; --{key} does)")

    def choose_epochs(self, train_rows: int, carved_rows: int | None = None) -> None:
        """Once the training rows are known (``chooses``, as the data loads); ``carved_rows``: what is left to train
        on if a selection split is carved, which happens only when there is more than one pass to choose among."""
        if "num_train_epochs" in self.chosen or "num_train_epochs" not in defaults.unset(self.requested):
            return
        args, method = self.args, self.requested.method
        rows_per_step = args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps
        at_most = self.requested.task.epochs_at_most
        chosen = defaults.epochs(carved_rows or train_rows, rows_per_step, method, at_most)
        if carved_rows is not None and chosen.value <= 1:  # one pass evaluates once: nothing is carved after all
            chosen = defaults.epochs(train_rows, rows_per_step, method, at_most)
        self.choose("num_train_epochs", chosen)

    # ---- build: the model the method trains, the staging folder, the Trainer
    def build_model(self):
        """The checkpoint with its task head, prepared for the method (nothing is written yet)."""
        from transformers import set_seed

        loaded = self.loaded
        set_seed(self.training_kwargs["seed"])
        new_weights: list[str] = []
        model = load_base_model(loaded.recipe, loaded.checkpoint, new_weights)
        if new_weights:
            self.log(f"[hf-transfer] {new_weights_line(new_weights, loaded.recipe.task)}")
        if "learning_rate" not in self.chosen and "learning_rate" in defaults.unset(self.requested):
            parameters = methods.count_parameters(model)[1]
            self.choose("learning_rate", defaults.learning_rate(parameters, self.requested.method))
        self.choose_epochs(len(loaded.tokenized["train"]))  # a run that never asked (data.selection_fraction set)
        return methods.prepare_model(model, loaded.recipe, loaded.recipe.task)

    def build(self) -> None:
        loaded, log = self.loaded, self.log
        model = self.build_model()
        # before anything is written: a checkpoint that does not load leaves no unfinished run behind
        self.resume_from = (
            staging.prepare_staging(self.staging, self.requested, self.overwrite, self.resume, log)
            if self.main
            else None
        )
        self.state.wait_for_everyone()
        if self.resume_from == FINISHED_STAGING:
            return
        if not self.main and self.resume:
            self.resume_from = staging.newest_complete_checkpoint(self.staging / CHECKPOINTS)
        if one_evaluation_point(self.args, len(loaded.tokenized["train"])):
            # the evaluation at the end of the only epoch would evaluate the weights the reload check evaluates
            # next, and its checkpoint would hold the model saved next: both are left out (evaluated once)
            self.args.eval_strategy = self.args.save_strategy = "no"
            self.args.load_best_model_at_end = False
            if self.requested.early_stopping_patience:
                log("[hf-transfer] early stopping: this run evaluates once, at its end, so there is nothing to stop")
        elif "selection" not in loaded.tokenized and self.args.load_best_model_at_end:
            # data.selection_fraction=0: nothing to choose on (the evaluation split never chooses): the last model
            self.args.eval_strategy = self.args.save_strategy = "no"
            self.args.load_best_model_at_end = False
            self.training_kwargs.update(eval_strategy="no", save_strategy="no", load_best_model_at_end=False)
        self.trainer = build_trainer(loaded.recipe, loaded.splits, loaded.tokenized, loaded.tokenizer, model, self.args,
                                     self.console, self.callbacks)  # fmt: skip
        keep_tracker_logs(self.trainer, self.staging)
        self.parameters = methods.count_parameters(model)
        self.clock.lap("model")
        trainable, total = self.parameters
        recipe = loaded.recipe
        log(
            f"[hf-transfer] {recipe.name}: {recipe.method} on {recipe.checkpoint}, {trainable:,} of {total:,} "
            f"parameters trainable ({trainable / total:.1%}), {precision_text(self.training_kwargs)}"
        )
        chosen = ""
        if "selection" in loaded.splits:
            described = recipe.data.describe_selection(self.selection_share)
            chosen = f"; choose on {loaded.counted('selection')} ({described})"
        log(f"[hf-transfer] {loaded.data_line(self.command, chosen)}")

    @property
    def selection_share(self) -> float:
        from hf_transfer.data.prepare import SELECTION_FRACTION

        fraction = self.requested.data.selection_fraction
        return SELECTION_FRACTION if fraction is None else fraction

    # ---- a time budget: what fits, from a few probe steps (budget.py, forecast.py)
    def fit_budget(self) -> None:
        from hf_transfer.base.tables import duration_text
        from hf_transfer.run.budget import apply, fit, stop_callback
        from hf_transfer.run.forecast import forecast_run, planned_evaluations, planned_steps

        seconds = self.clock.seconds
        forecast = forecast_run(self, self.trainer.model, seconds["setup"] + seconds["data_and_tokenization"],
                                seconds["model"])  # fmt: skip
        steps, per_epoch = planned_steps(self.args, len(self.loaded.tokenized["train"]))
        try:
            self.budget_plan = plan = fit(forecast, self.budget, planned_evaluations(self.args, steps, per_epoch))
        except UserError:
            if self.main and self.resume_from is None:  # the staging folder this run just made holds nothing yet
                shutil.rmtree(self.staging, ignore_errors=True)
            raise
        apply(plan, self.args)
        reserve = forecast.final_seconds + (forecast.evaluation_seconds if self.args.load_best_model_at_end else 0)
        self.budget_stop = stop_callback(self.budget, reserve, self.args.load_best_model_at_end)
        self.trainer.add_callback(self.budget_stop)
        fits = f"{plan.steps:,} of {plan.planned_steps:,} steps fit" if plan.cut else "the whole run fits"
        self.log(f"[hf-transfer] time budget {duration_text(self.budget.seconds)}: {fits} (forecast from "
                 f"{forecast.probe['train_batches']} probe steps, {forecast.probe['seconds']:.1f} s)")  # fmt: skip
        self.clock.lap("budget_probe")

    # ---- train
    def train(self) -> None:
        started = time.perf_counter()
        resume_from = self.resume_from
        with PeakMemory() as self.memory, self.loaded.recipe.task.while_training(self.trainer.model):
            output = self.trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        self.results["train"] = dict(output.metrics, global_step=output.global_step,
                                     wall_seconds=round(time.perf_counter() - started, 2))  # fmt: skip
        self.clock.lap("train")
        if self.budget_plan is not None and self.budget_stop.stopped_at is not None:
            self.log(f"[hf-transfer] the time budget stopped training at step {self.budget_stop.stopped_at:,} of "
                     f"{self.budget_plan.steps:,} planned (steps ran slower than forecast); the time left goes to "
                     "saving, checking and evaluating the model")  # fmt: skip
        diverged = divergence(self.trainer.state.log_history, self.args.learning_rate, self.args.fp16)
        if diverged:  # nothing the run could publish would be a model: the staging folder it made goes
            if self.main:
                shutil.rmtree(self.staging, ignore_errors=True)
            raise UserError(diverged)
        task = self.loaded.recipe.task
        self.kept = kept_model(self.trainer.state, self.args, f"eval_{task.main_metric()}",
                               self.requested.early_stopping_patience)  # fmt: skip
        if self.kept:
            self.log(f"[hf-transfer] {kept_text(self.kept)}")

    # ---- save, then evaluate what was saved
    def save(self) -> None:
        trainer, loaded = self.trainer, self.loaded
        release_training_state(trainer)  # what follows evaluates, saves and reloads: no optimizer state needed
        self.results["selection"] = selection_record(self)
        self.results["test"] = test_metrics(self)
        self.clock.lap("test_split")
        trainer.save_model(str(self.staging))  # the Trainer saves from rank 0 only
        if self.main:
            folder = RunFolder(self.staging)
            (self.staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; metrics.json records them
            point_adapter_at_hub_id(self.staging, loaded.recipe.checkpoint, loaded.checkpoint)
            trainer.state.save_to_json(str(self.staging / runs.TRAINER_STATE))
            folder.write_learned(loaded.learned)
            loaded.recipe.task.after_training(trainer.model, loaded.tokenizer, loaded.splits, self.staging)
            folder.make_readable()
        self.state.wait_for_everyone()
        self.clock.lap("save")

    def evaluate_saved(self) -> None:
        """The saved model, reloaded from disk and evaluated once: its metrics are the run's, and it must
        reproduce what was recorded for the same weights during training (the reload check)."""
        loaded, trainer = self.loaded, self.trainer
        self.log(f"[hf-transfer] evaluating the saved model, reloaded from disk ({loaded.counted('validation')})")
        precision = {k: self.training_kwargs[k] for k in PRECISION_KEYS if k in self.training_kwargs}
        records: list = []
        metrics, check = evaluate_reloaded(trainer, loaded, self.staging, precision, self.console, self.clock,
                                           records)  # fmt: skip
        metrics["epoch"] = trainer.state.epoch
        self.results["eval"], self.results["reload_check"] = metrics, check
        self.results["classes"] = class_report(records, loaded.recipe.task.class_names())
        self.clock.lap("evaluate")

    # ---- guard: what the run and its card warn about
    def guard(self) -> None:
        loaded, state = self.loaded, self.trainer.state
        task = loaded.recipe.task
        self.results["baselines"] = task.baselines(loaded.tokenized["train"], loaded.tokenized["validation"])
        self.results["warnings"] = loaded.warnings + run_warnings(
            loaded.recipe, task, self.results["eval"], self.results["baselines"],
            self.args.get_warmup_steps(state.max_steps), state.max_steps, self.full_size,
        )  # fmt: skip

    # ---- metrics.json and the card, into the staging folder
    def write_results(self) -> None:
        close_tracker_logs(self.trainer)
        self.metrics = run_metrics(self)
        if self.main:
            save_training_curves(self.trainer.state.log_history, self.results["reload_check"]["metric"],
                                 self.staging / runs.CURVES_FILE)  # fmt: skip
            RunFolder(self.staging).write_metrics(self.metrics)
            write_card(self.staging)

    # ---- publish: the staging folder renamed into place
    def publish(self) -> dict:
        if self.resume_from == FINISHED_STAGING:  # a crash after metrics.json: the card again, then the rename
            self.metrics = RunFolder(self.staging).metrics()
            write_card(self.staging)
        if self.main:
            shutil.rmtree(self.staging / CHECKPOINTS, ignore_errors=True)
            staging.publish(self.staging, self.output_dir)
        metrics = dict(self.metrics, output_dir=str(self.output_dir))
        task = self.loaded.recipe.task
        for line in report_lines(metrics, task.report_keys(self.loaded.recipe.metric_names), task.unit):
            self.log(line)
        return metrics


def run(recipe: Recipe, options: RunOptions, console: Console | None = None, callbacks=()) -> dict:
    """Train ``recipe`` as ``options`` say (``run/options.py``: where it writes, resume, full size, the time budget,
    whether the checkpoint's own code may run) and write its run folder. Returns the contents of ``metrics.json``.

    ``console``: the command's console (several runs may share one); without one, a console of the run's own
    prints (``options.verbose``: also everything the libraries print). ``callbacks``: extra TrainerCallbacks (a
    tuner's reports)."""
    recipe.validate()
    refuse_untrusted(recipe, options.trust_remote_code)
    methods.check_available(recipe.method)
    if options.budget is not None and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise UserError(
            "--time_budget plans and stops one process's training; launched as several processes "
            f"(WORLD_SIZE={os.environ['WORLD_SIZE']}), each would plan and stop on its own clock and the others would "
            "wait for it forever. Leave out --time_budget, or run one process."
        )
    if console is None:
        with Console(log=print if is_main_process() else silent, verbose=options.verbose) as own:
            return run(recipe, options, own, callbacks)
    output_dir = Path(options.output_dir).expanduser().resolve()
    # rank 0 writes the folder, and holds it for the whole run
    with staging.locked(output_dir) if is_main_process() else contextlib.nullcontext():
        return Run(recipe, options, console, callbacks).execute()

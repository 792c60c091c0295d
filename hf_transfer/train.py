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
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import methods
from .arguments import make_training_args, training_arguments
from .assets import ResolvedCheckpoint, resolve_checkpoint
from .card import counted_text, kept_text, license_warning, resolve_licenses, write_card
from .console import Console
from .data import load_splits, tokenize_splits
from .errors import UserError
from .evaluation import COMPARED_ROWS, evaluate_model, same_outputs
from .guards import run_warnings
from .hardware import PeakMemory, is_main_process, precision_text, silent, versions
from .models import (
    check_lengths,
    load_base_model,
    load_run,
    load_tokenizer,
    new_weights_line,
    plain_checkpoint,
    point_adapter_at_hub_id,
)
from .plots import save_training_curves
from .recipe import Recipe
from .runs import (
    CHECKPOINTS,
    CURVES_FILE,
    FINISHED_STAGING,
    TRAIN_LOG,
    TRAINER_STATE,
    RunFolder,
    build_metrics,
    check_output_dir,
    check_staging,
    locked,
    newest_complete_checkpoint,
    prepare_staging,
    publish,
    remove_replaced,
    same_metric,
)
from .tables import report_lines
from .trainer import (
    build_trainer,
    check_early_stopping,
    close_tracker_logs,
    keep_tracker_logs,
    kept_model,
    one_evaluation_point,
)

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
    """What the load phase produced: the recipe with what was learned from the data, checkpoint, data, tokenizer."""

    recipe: Recipe
    learned: dict[str, Any]
    checkpoint: ResolvedCheckpoint
    splits: Any
    tokenized: Any
    tokenizer: Any
    licenses: dict[str, str]
    dropped: dict[str, int]
    warnings: list[str]

    def counted(self, split: str) -> str:
        task = self.recipe.task
        return counted_text(len(self.splits[split]), len(self.tokenized[split]), task.unit, task.feature_unit)


class Run:
    """One run of a recipe into ``output_dir``, phase by phase (see the module's docstring)."""

    def __init__(self, recipe: Recipe, output_dir: Path, console, overwrite=False, resume=False, full_size=False,
                 command=None):  # fmt: skip
        self.requested, self.output_dir, self.console = recipe, output_dir, console
        self.overwrite, self.resume, self.full_size, self.command = overwrite, resume, full_size, command
        self.log = console.say
        self.clock = Phases()
        self.staging = RunFolder(output_dir).staging
        self.main = is_main_process()
        self.results: dict[str, Any] = {}

    def execute(self) -> dict:
        self.check()
        self.load()
        self.build()
        # train.log: what was said so far, and all from now on (rank 0 writes the folder)
        with self.console.logging_to(self.staging / TRAIN_LOG) if self.main else contextlib.nullcontext():
            if self.resume_from == FINISHED_STAGING:
                return self.publish()
            self.train()
            self.save()
            self.evaluate_saved()
            self.guard()
            self.write_results()
            return self.publish()

    # ---- check: nothing loaded yet
    def check(self) -> None:
        if self.main:
            remove_replaced(self.output_dir)  # an earlier run a crash left aside after its replacement was in place
        check_output_dir(self.output_dir, self.overwrite)
        if self.main:  # rank 0 alone looks, as it alone writes
            check_staging(self.staging, self.overwrite, self.resume)
        self.training_kwargs = training_arguments(self.requested)
        from accelerate import PartialState

        # TrainingArguments set up the process group when launched by `accelerate launch` / `torchrun`;
        # made first, they let every rank agree on who is rank 0 before anything is written.
        self.args = make_training_args(self.staging / CHECKPOINTS, self.training_kwargs, self.requested.task)
        check_early_stopping(self.requested, self.args)
        self.state = PartialState()
        self.clock.lap("setup")

    # ---- load: checkpoint, data, tokenizer, tokenization
    def load(self) -> None:
        recipe, log, state = self.requested, self.log, self.state
        with state.main_process_first():  # rank 0 dequantizes a GGUF checkpoint, the others read its folder
            checkpoint = plain_checkpoint(resolve_checkpoint(recipe.checkpoint), self.console)
        if checkpoint.note:
            log(f"[hf-transfer] {checkpoint.note}")
        if recipe.trust_remote_code:
            log(f"[hf-transfer] trust_remote_code is on: Python code shipped with {recipe.checkpoint} will run here.")
        check_lengths(recipe, checkpoint)
        licenses = resolve_licenses(recipe, checkpoint.path)
        warnings = [license_warning("base model", licenses["base_model"])]
        warnings = [w for w in (*warnings, license_warning("training data", licenses["data"])) if w]
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
        trained = recipe.with_task(task)
        tokenizer = load_tokenizer(checkpoint, trained)
        with state.main_process_first():  # rank 0 fills the tokenization cache, the others read it
            tokenized = tokenize_splits(splits, task, tokenizer, dataset=recipe.data.describe(), log=log)
        self.loaded = Loaded(
            trained, report["learned"], checkpoint, splits, tokenized, tokenizer, licenses, report["dropped"], warnings
        )
        self.clock.lap("data_and_tokenization")

    # ---- build: the model the method trains, the staging folder, the Trainer
    def build(self) -> None:
        from transformers import set_seed

        loaded, log = self.loaded, self.log
        set_seed(self.training_kwargs["seed"])
        new_weights: list[str] = []
        model = load_base_model(loaded.recipe, loaded.checkpoint, new_weights)
        if new_weights:
            log(f"[hf-transfer] {new_weights_line(new_weights, loaded.recipe.task)}")
        model = methods.prepare_model(model, loaded.recipe, loaded.recipe.task)
        # before anything is written: a checkpoint that does not load leaves no unfinished run behind
        self.resume_from = (
            prepare_staging(self.staging, self.requested, self.overwrite, self.resume, log) if self.main else None
        )
        self.state.wait_for_everyone()
        if self.resume_from == FINISHED_STAGING:
            return
        if not self.main and self.resume:
            self.resume_from = newest_complete_checkpoint(self.staging / CHECKPOINTS)
        if one_evaluation_point(self.args, len(loaded.tokenized["train"])):
            # the evaluation at the end of the only epoch would evaluate the weights the reload check evaluates
            # next, and its checkpoint would hold the model saved next: both are left out (evaluated once)
            self.args.eval_strategy = self.args.save_strategy = "no"
            self.args.load_best_model_at_end = False
            if self.requested.early_stopping_patience:
                log("[hf-transfer] early stopping: this run evaluates once, at its end, so there is nothing to stop")
        self.trainer = build_trainer(
            loaded.recipe, loaded.splits, loaded.tokenized, loaded.tokenizer, model, self.args, self.console
        )
        keep_tracker_logs(self.trainer, self.staging)
        self.parameters = methods.count_parameters(model)
        self.clock.lap("model")
        trainable, total = self.parameters
        recipe = loaded.recipe
        log(
            f"[hf-transfer] {recipe.name}: {recipe.method} on {recipe.checkpoint}, {trainable:,} of {total:,} "
            f"parameters trainable ({trainable / total:.1%}), {precision_text(self.training_kwargs)}"
        )
        log(
            f"[hf-transfer] train on {loaded.counted('train')}; evaluate on {loaded.counted('validation')}: "
            f"{recipe.data.describe_evaluation()}"
        )

    # ---- train
    def train(self) -> None:
        started = time.perf_counter()
        resume_from = self.resume_from
        with PeakMemory() as self.memory:
            output = self.trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
        self.results["train"] = dict(output.metrics, wall_seconds=round(time.perf_counter() - started, 2))
        self.clock.lap("train")
        self.check_divergence()
        task = self.loaded.recipe.task
        self.kept = kept_model(self.trainer.state, self.args, f"eval_{task.main_metric()}",
                               self.requested.early_stopping_patience)  # fmt: skip
        if self.kept:
            self.log(f"[hf-transfer] {kept_text(self.kept)}")

    def check_divergence(self) -> None:
        """A training loss that became inf or nan: nothing the run could publish would be a model. The staging
        folder this run made goes, and the message says what to change."""
        history = self.trainer.state.log_history
        bad = next((h for h in history if isinstance(h.get("loss"), float) and not math.isfinite(h["loss"])), None)
        if bad is None:
            return
        if self.main:
            shutil.rmtree(self.staging, ignore_errors=True)
        raise UserError(
            f"Training diverged: the training loss was {bad['loss']} at step {bad.get('step')} (learning rate "
            f"{self.args.learning_rate:g}). Nothing was published; lower --learning_rate and run again."
        )

    # ---- save, then evaluate what was saved
    def save(self) -> None:
        trainer, loaded = self.trainer, self.loaded
        self.results["test"] = self.evaluate_test()
        self.clock.lap("test_split")
        trainer.save_model(str(self.staging))  # the Trainer saves from rank 0 only
        if self.main:
            folder = RunFolder(self.staging)
            (self.staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; metrics.json records them
            point_adapter_at_hub_id(self.staging, loaded.recipe.checkpoint, loaded.checkpoint)
            trainer.state.save_to_json(str(self.staging / TRAINER_STATE))
            folder.write_learned(loaded.learned)
            loaded.recipe.task.after_training(trainer.model, loaded.tokenizer, loaded.splits, self.staging)
            folder.make_readable()
        self.state.wait_for_everyone()
        self.clock.lap("save")

    def evaluate_test(self) -> dict[str, float] | None:
        """The test split, once, with the model chosen on the validation split."""
        loaded, trainer = self.loaded, self.trainer
        if "test" not in loaded.tokenized:
            return None
        recipe, task = loaded.recipe, loaded.recipe.task
        chosen_on_validation = trainer.compute_metrics  # the test split maps predictions back to its own examples
        trainer.compute_metrics = task.metrics_function(
            recipe.metric_names, loaded.splits["test"], loaded.tokenized["test"], loaded.tokenizer
        )
        try:
            return task.finish_metrics(
                trainer.evaluate(eval_dataset=loaded.tokenized["test"], metric_key_prefix="test")
            )
        finally:
            trainer.compute_metrics = chosen_on_validation

    def evaluate_saved(self) -> None:
        """The saved model, reloaded from disk and evaluated once: its metrics are the run's, and its main
        metric must equal the one recorded for the same weights during training (the reload check)."""
        loaded, trainer, args = self.loaded, self.trainer, self.args
        self.log(f"[hf-transfer] evaluating the saved model, reloaded from disk ({loaded.counted('validation')})")
        key = f"eval_{loaded.recipe.task.main_metric()}"
        recorded = trainer.state.best_metric if args.load_best_model_at_end else None
        _, reloaded, _ = load_run(self.staging, trust_remote_code=loaded.recipe.trust_remote_code, console=self.console)
        precision = {k: self.training_kwargs[k] for k in PRECISION_KEYS if k in self.training_kwargs}
        # Nothing evaluated during training (one epoch: its end is the only evaluation point): rather than
        # evaluating the same weights twice, the saved model must give the trained model's outputs on the shortest
        # evaluation rows, and its one evaluation is the run's.
        matches = (
            same_outputs(trainer, reloaded, loaded.tokenized["validation"], precision) if recorded is None else None
        )
        self.clock.lap("reload_check")
        metrics = evaluate_model(reloaded, loaded.tokenizer, loaded.recipe, loaded.splits["validation"],
                                 loaded.tokenized["validation"], args.per_device_eval_batch_size, precision,
                                 self.console)  # fmt: skip
        if matches is not None:
            check = {"metric": key, "compared": f"outputs on the {COMPARED_ROWS} shortest evaluation rows",
                     "after_training": metrics.get(key) if matches else None,
                     "reloaded_from_disk": metrics.get(key), "match": matches}  # fmt: skip
        else:
            check = {"metric": key, "compared": "the metric recorded during training", "after_training": recorded,
                     "reloaded_from_disk": metrics.get(key)}  # fmt: skip
            check["match"] = same_metric(check["after_training"], check["reloaded_from_disk"])
        if not check["match"]:
            raise RuntimeError(
                f"The saved run does not reproduce the trained model ({key}: {check['after_training']} during "
                f"training, {check['reloaded_from_disk']} reloaded from {self.staging}); the run folder was not "
                "published."
            )
        metrics["epoch"] = trainer.state.epoch
        self.results["eval"], self.results["reload_check"] = metrics, check
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
        loaded, results = self.loaded, self.results
        samples = {"train": len(loaded.splits["train"]), "eval": len(loaded.splits["validation"])}
        if results["test"] is not None:
            samples["test"] = len(loaded.splits["test"])
        close_tracker_logs(self.trainer)
        self.metrics = build_metrics(
            recipe=loaded.recipe,
            checkpoint_source=loaded.checkpoint.note or loaded.checkpoint.path,
            samples=samples,
            features={"train": len(loaded.tokenized["train"]), "eval": len(loaded.tokenized["validation"])},
            unit=loaded.recipe.task.unit,
            dropped=loaded.dropped,
            train=results["train"],
            eval=results["eval"],
            test=results["test"],
            baselines=results["baselines"],
            parameters=self.parameters,
            resources={**self.memory.report(), "saved_bytes": RunFolder(self.staging).saved_bytes()},
            phases=self.clock.seconds,
            training_arguments=self.training_kwargs,
            world_size=self.args.world_size,
            reload_check=results["reload_check"],
            kept=self.kept,
            licenses=loaded.licenses,
            warnings=results["warnings"],
            versions=versions(),
            command=self.command,
        )
        if self.main:
            save_training_curves(self.trainer.state.log_history, results["reload_check"]["metric"],
                                 self.staging / CURVES_FILE)  # fmt: skip
            RunFolder(self.staging).write_metrics(self.metrics)
            write_card(self.staging)

    # ---- publish: the staging folder renamed into place
    def publish(self) -> dict:
        if self.resume_from == FINISHED_STAGING:  # a crash after metrics.json: the card again, then the rename
            self.metrics = RunFolder(self.staging).metrics()
            write_card(self.staging)
        if self.main:
            shutil.rmtree(self.staging / CHECKPOINTS, ignore_errors=True)
            publish(self.staging, self.output_dir)
        metrics = dict(self.metrics, output_dir=str(self.output_dir))
        task = self.loaded.recipe.task
        for line in report_lines(metrics, task.report_keys(self.loaded.recipe.metric_names), task.unit):
            self.log(line)
        return metrics


def run(
    recipe: Recipe,
    output_dir: str | Path,
    overwrite: bool = False,
    command: str | None = None,
    log=print,
    resume: bool = False,
    full_size: bool = False,
    verbose: bool = False,
    trust_remote_code: bool = False,
    console: Console | None = None,
) -> dict:
    """Train ``recipe`` and write its run folder. Returns the contents of ``metrics.json``.

    ``resume``: continue the unfinished run in ``<output_dir>.partial`` from its newest complete checkpoint.
    ``full_size``: the recipe runs as written (no sample or step limits), so its ``expected`` results apply.
    ``trust_remote_code``: allow a recipe that asks for it to run its checkpoint's own code (a recipe alone
    cannot switch that on). ``console``: the command's console (several runs may share one); without one, a
    console of the run's own prints through ``log`` (``verbose``: also everything the libraries print)."""
    recipe.validate()
    if recipe.trust_remote_code and not trust_remote_code:
        raise UserError(
            f"The recipe asks to run Python code shipped with {recipe.checkpoint} (trust_remote_code): a recipe "
            "cannot switch that on by itself. Pass --trust_remote_code (or run(..., trust_remote_code=True))."
        )
    methods.check_available(recipe.method)
    output_dir = Path(output_dir).expanduser().resolve()
    if console is None:
        with Console(log=log if is_main_process() else silent, verbose=verbose) as own:
            return run(recipe, output_dir, overwrite, command, log, resume, full_size, verbose, trust_remote_code, own)
    settings = {"overwrite": overwrite, "resume": resume, "full_size": full_size, "command": command}
    with locked(output_dir) if is_main_process() else contextlib.nullcontext():  # rank 0 writes, and holds the folder
        return Run(recipe, output_dir, console, **settings).execute()

"""The Trainer a run trains with: the task's Trainer class, evaluating in length-sorted batches; the settings
that decide when it evaluates and what it keeps; tracker logs in the run folder.

transformers would otherwise evaluate in dataset order (every batch padded to its longest row), or, with
``train_sampling_strategy=group_by_length``, shuffled.
"""

from __future__ import annotations

import math
from pathlib import Path

from hf_transfer.artifacts.runs import TENSORBOARD_DIR
from hf_transfer.base.errors import UserError
from hf_transfer.tasks import pad_multiple


def row_length(ids) -> int:
    """Tokens in one row's input ids (a row of several sequences, multiple choice: all of them)."""
    return sum(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids)


def eval_order(dataset) -> list[int]:
    """Evaluation rows longest first: each batch is padded to rows of about its own length (and the
    largest batch comes first, so memory problems show at once)."""
    lengths = [row_length(row) for row in dataset["input_ids"]]
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def trainer_class(task):
    """The task's Trainer class, evaluating batches sorted by length and giving ``compute_metrics`` the
    predictions back in dataset order (NER word ids and QA offsets map each row to its feature)."""
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
        grouped_optimizer = None
        """(model, args) -> an optimizer with rates by group (LoRA+, layer decay), or None for the Trainer's own;
        set by ``build_trainer`` from the method's settings."""

        def create_optimizer(self, model=None):
            # The Trainer's own hook rather than ``optimizers=``: it runs on the model as the Trainer prepared it
            # (after FSDP wraps it; transformers refuses a ready-made optimizer under FSDP) and is the one DeepSpeed
            # calls when its config names no optimizer of its own.
            if self.optimizer is None and self.grouped_optimizer is not None:
                self.optimizer = self.grouped_optimizer(self.model if model is None else model, self.args)
            return super().create_optimizer(model)

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


def build_trainer(recipe, splits, tokenized, tokenizer, model, args, console=None, callbacks=()):
    """The run's Trainer: the task's collator, metrics and loss, the console's progress lines, early stopping,
    and ``callbacks`` (a time budget, a tuner's reports). Its evaluations during training read the selection split
    when the run has one (they choose the kept checkpoint and when to stop)."""
    from hf_transfer import methods

    task = recipe.task
    chooses_on = "selection" if "selection" in tokenized else "validation"  # the evaluation split never chooses
    settings = methods.get(recipe.method).settings_of(recipe)
    trainer = trainer_class(task)(
        model=model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized[chooses_on],
        data_collator=task.collator(tokenizer, pad_multiple(args)),
        processing_class=tokenizer,
        compute_metrics=task.metrics_function(
            recipe.metric_names, splits[chooses_on], tokenized[chooses_on], tokenizer
        ),
        compute_loss_func=task.loss_function(tokenized["train"]),
    )
    if settings is not None:
        trainer.grouped_optimizer = settings.optimizer  # LoRA+, layer decay: rates by group (None: the Trainer's)
    if console is not None:
        console.adopt(trainer)  # the run's console shows one progress bar and a line per evaluation
    if recipe.early_stopping_patience and args.load_best_model_at_end:
        from transformers import EarlyStoppingCallback

        trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=recipe.early_stopping_patience))
    for callback in callbacks:
        trainer.add_callback(callback)
    return trainer


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


def release_training_state(trainer) -> None:
    """Once the model is saved: the optimizer's state (AdamW keeps two values per trained weight: twice the model
    in a full run) and the gradients let go, and their memory given back, before the end of the run loads the
    saved model a second time and evaluates it."""
    from hf_transfer.base.hardware import give_back_memory

    trainer.optimizer = trainer.lr_scheduler = None
    trainer.accelerator._optimizers.clear()
    trainer.accelerator._schedulers.clear()
    trainer.model.zero_grad(set_to_none=True)
    give_back_memory()


def check_early_stopping(recipe, args) -> None:
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


def one_evaluation_point(args, train_rows: int) -> bool:
    """Whether training would evaluate only once, at its very end (one epoch, evaluation per epoch)."""
    if str(getattr(args.eval_strategy, "value", args.eval_strategy)) != "epoch":
        return False
    steps_per_epoch = max(
        1,
        math.ceil(train_rows / (args.per_device_train_batch_size * args.world_size * args.gradient_accumulation_steps)),
    )
    return args.max_steps <= steps_per_epoch if args.max_steps > 0 else args.num_train_epochs <= 1

"""Evaluation: batches sorted by length with predictions given back in dataset order, the one evaluation
path for a loaded model, and the reload check's comparison of two models' outputs."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from .arguments import make_training_args
from .console import adopt
from .hardware import device_defaults
from .recipe import Recipe


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
        adopt(trainer)
        return task.finish_metrics(trainer.evaluate())


COMPARED_ROWS = 4
"""How many evaluation rows (the shortest) the reload check runs through both models when nothing was
evaluated during training: any row shows a wrong save, and the shortest cost least (the longest of an
Alpaca eval set takes seconds per forward pass on a CPU)."""


def same_outputs(trainer, reloaded, features, precision: dict) -> bool:
    """Whether the reloaded model gives the trained model's outputs (every tensor, to 1e-5) on the shortest
    evaluation rows, under the run's precision."""
    import torch

    rows = features.select(eval_order(features)[::-1][:COMPARED_ROWS])
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

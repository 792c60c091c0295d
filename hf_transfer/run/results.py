"""What a trained run records, read from a ``train.Run`` whose phases have run: the selection split's record
(what chose the model), the test split's metrics, and the contents of ``metrics.json`` (``runs.build_metrics``)."""

from __future__ import annotations

from typing import Any

from hf_transfer.artifacts import runs
from hf_transfer.artifacts.runs import RunFolder
from hf_transfer.base.hardware import versions


def selection_record(run) -> dict[str, Any]:
    """What chose the model: the selection split's rows and the kept model's metric on it (the kept evaluation's,
    or, when training evaluated nothing, one evaluation of the trained model: what a tuner compares), or why
    nothing was carved."""
    loaded, trainer = run.loaded, run.trainer
    key = f"eval_{loaded.recipe.task.main_metric()}"
    if "selection" not in loaded.tokenized:
        why = ("data.selection_fraction=0: trained on every row, the last model kept"
               if run.requested.data.selection_fraction == 0 else "one evaluation: the last model is the model")
        return {"rows": 0, "chose": why}  # fmt: skip
    value = run.kept["value"] if run.kept else trainer.evaluate(eval_dataset=loaded.tokenized["selection"]).get(key)
    return {
        "rows": len(loaded.splits["selection"]),
        "fraction": run.selection_share,
        "described": loaded.recipe.data.describe_selection(run.selection_share),
        "metric": key,
        "value": value,
        "chose": "the kept checkpoint" + (" and early stopping" if run.requested.early_stopping_patience else "")
        if run.kept else "nothing during training (one evaluation); its metric ranks tuner trials",
    }

def test_metrics(run) -> dict[str, float] | None:
    """The test split, once, with the model chosen on the validation split (the Trainer's metrics put back after)."""
    loaded, trainer = run.loaded, run.trainer
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


def run_metrics(run) -> runs.RunMetrics:
    """The run's ``metrics.json``: its data, training, the saved model's evaluation and check, resources, phases."""
    loaded, results = run.loaded, run.results
    samples = {"train": len(loaded.splits["train"]), "eval": len(loaded.splits["validation"])}
    if "selection" in loaded.splits:
        samples["selection"] = len(loaded.splits["selection"])
    if results["test"] is not None:
        samples["test"] = len(loaded.splits["test"])
    metrics = runs.build_metrics(
        recipe=loaded.recipe,
        checkpoint_source=loaded.checkpoint.note or loaded.checkpoint.path,
        samples=samples,
        features={"train": len(loaded.tokenized["train"]), "eval": len(loaded.tokenized["validation"])},
        unit=loaded.recipe.task.unit,
        dropped=loaded.dropped,
        data_check=loaded.data_check,
        length_limit=loaded.length,
        train=results["train"],
        eval=results["eval"],
        test=results["test"],
        baselines=results["baselines"],
        parameters=run.parameters,
        resources={**run.memory.report(), "saved_bytes": RunFolder(run.staging).saved_bytes()},
        phases=run.clock.seconds,
        training_arguments=run.training_kwargs,
        world_size=run.args.world_size,
        reload_check=results["reload_check"],
        kept=run.kept,
        licenses=loaded.licenses,
        warnings=results["warnings"],
        versions=versions(),
        command=run.command,
        selection=results["selection"],
        **({"budget": budget_record(run)} if run.budget_plan else {}),
    )
    if results.get("classes"):
        metrics["classes"] = results["classes"]
    if run.chosen:  # what nothing set, and why it is what it is (recipe/defaults.py)
        metrics["chosen"] = {key: chosen.record() for key, chosen in run.chosen.items()}
    return metrics


def budget_record(run) -> dict:
    """What the time budget planned and what happened (``budget.budget_record``), and the time spent so far."""
    from hf_transfer.run.budget import budget_record

    record = budget_record(run.budget, run.budget_plan, run.budget_stop.stopped_at, run.trainer.state.global_step)
    return dict(record, wall_seconds_before_publish=round(run.budget.seconds - run.budget.left(), 2))

"""Checks after training that say plainly when a run probably learned nothing, or less than it should.

Each returns sentences for the run's summary, ``metrics.json`` ("warnings") and the model card. A
quick trial that cuts the data (``--max_train_samples 3000 --num_train_epochs 1``) must not end at
chance accuracy without a word.
"""

from __future__ import annotations

EXPECTED_TOLERANCE = 0.05
"""A full-size run warns when its main metric is more than 5% (relative) below the recipe's ``expected``."""

WARMUP_SHARE = 0.5
"""Warmup covering this share of the optimizer steps or more leaves the learning rate below its peak for most
of the run."""


def warmup_warning(warmup_steps: int, total_steps: int) -> str | None:
    if total_steps <= 0 or warmup_steps < WARMUP_SHARE * total_steps:
        return None
    return (
        f"Warmup takes {warmup_steps:,} of the {total_steps:,} optimizer steps ({warmup_steps / total_steps:.0%}): "
        "the learning "
        "rate stays below its peak for most or all of the run. Give warmup as a share of the steps (--warmup_steps 0.1 "
        "means 10%), or train for more steps."
    )


def baseline_warning(
    main_metric: str, value: float | None, baselines: dict[str, float], greater_is_better: bool
) -> str | None:
    """The main metric is not above what a trivial predictor scores on the same evaluation data."""
    if value is None or not greater_is_better:
        return None
    trivial = {k: v for k, v in baselines.items() if k.endswith(f"_{main_metric}")}
    if not trivial and not baselines:
        trivial = {"a model that predicts nothing": 0.0}
    for name, score in trivial.items():
        if value <= score + 1e-9:
            return (
                f"The main metric {main_metric} = {value:.4f} is not above the trivial baseline "
                f"({name.replace('_', ' ')} "
                f"= {score:.4f}): the model has probably learned nothing. Check the learning rate, warmup and the "
                "amount "
                "of training data."
            )
    return None


def expected_warning(
    main_metric: str, value: float | None, expected: dict[str, float], greater_is_better: bool
) -> str | None:
    """A full-size run far below what the recipe says such a run reaches."""
    if value is None or main_metric not in expected:
        return None
    target = expected[main_metric]
    short = target - value if greater_is_better else value - target
    if short <= EXPECTED_TOLERANCE * abs(target):
        return None
    return (
        f"{main_metric} = {value:.4f} is more than {EXPECTED_TOLERANCE:.0%} below what a full run of this recipe "
        "reaches "
        f"({target}, the recipe's expected result): something differs from the recipe's setting."
    )


def divergence(log_history: list[dict], learning_rate: float, fp16: bool = False) -> str | None:
    """Training that diverged (a loss or gradient norm became inf or nan), said as the reason the run stops;
    None when training held. The Trainer logs a nan training loss as the mean of the earlier ones
    (``logging_nan_inf_filter``), so the gradient norm and the evaluation loss are read too; under fp16 an
    infinite gradient norm is the loss scaler skipping a step, not a divergence."""
    import math

    keys = ("loss", "eval_loss") + (() if fp16 else ("grad_norm",))
    for entry in log_history:
        for key in keys:
            value = entry.get(key)
            if isinstance(value, float) and not math.isfinite(value):
                return (
                    f"Training diverged: the {key.replace('_', ' ')} was {value} at step {entry.get('step')} "
                    f"(learning rate {learning_rate:g}). Nothing was published; lower --learning_rate and run again."
                )
    return None


def run_warnings(
    recipe, task, eval_metrics: dict, baselines: dict, warmup_steps: int, total_steps: int, full_size: bool
) -> list[str]:
    """Every check that applies to a finished run, as sentences (empty when all is well)."""
    main = task.main_metric()
    value = eval_metrics.get(f"eval_{main}")
    found = [
        warmup_warning(warmup_steps, total_steps),
        baseline_warning(main, value, baselines, task.greater_is_better()),
        expected_warning(main, value, recipe.expected, task.greater_is_better()) if full_size else None,
    ]
    return [w for w in found if w]

"""A hard time budget (``--time_budget 10m``): before training, the forecast decides how many steps and
evaluations fit, and the learning-rate schedule is set for those steps (it decays to zero at the end of the
budget, not somewhere after it); during training, a callback stops at the next step when time is up, so the
run can still evaluate, save, check what it saved and write its card in time."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from hf_transfer.base.errors import UserError
from hf_transfer.base.tables import duration_text

MARGIN = 0.02
"""The share of the budget kept free of planned work, for what a forecast cannot see."""
EVALUATION_SHARE = 0.25
"""At most this share of the training time goes to evaluations during training when the budget is tight."""


def parse_duration(text) -> float | None:
    """``45s``, ``10m``, ``1h``, ``1h30m`` or plain seconds -> seconds (None stays None)."""
    if text is None:
        return None
    raw = str(text).strip().lower()
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?", raw)
    if not raw or match is None or not any(match.groups()):
        raise UserError(f"--time_budget {text!r}: give seconds or a duration such as 45s, 10m, 1h or 1h30m.")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if not math.isfinite(total) or total <= 0:
        raise UserError(f"--time_budget {text!r} must be more than 0 seconds.")
    return total


@dataclass(frozen=True)
class Budget:
    """``seconds`` in all, ending at ``deadline`` (``time.monotonic()``); a search hands each run a share."""

    seconds: float
    deadline: float

    @classmethod
    def starting_now(cls, seconds: float) -> Budget:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def share(self, parts: int) -> Budget:
        """An equal share of what is left, for the next of ``parts`` runs."""
        seconds = max(self.left(), 0.0) / max(parts, 1)
        return Budget(seconds, time.monotonic() + seconds)


@dataclass
class BudgetPlan:
    """What fits: ``steps`` of the ``planned_steps``, with ``evaluations`` during training every ``eval_steps``."""

    steps: int
    planned_steps: int
    evaluations: int
    eval_steps: int
    forecast_seconds: float
    cut: bool

    def as_dict(self) -> dict:
        return {
            "planned_steps": self.planned_steps,
            "steps": self.steps,
            "evaluations": self.evaluations,
            "forecast_seconds": round(self.forecast_seconds, 2),
        }


def fit(forecast, budget: Budget, planned_evaluations: int) -> BudgetPlan:
    """The steps and evaluations of the forecast run that fit in what is left of ``budget``; a budget too small for
    one step and the run's end (save, reload, evaluation) is refused, naming the least it would need."""
    left = budget.left() - MARGIN * budget.seconds
    step, evaluation, final = forecast.step_seconds, forecast.evaluation_seconds, forecast.final_seconds
    available = left - final
    if available < step:
        least = budget.seconds - budget.left() + step + final + MARGIN * budget.seconds
        raise UserError(
            f"--time_budget {duration_text(budget.seconds)} is too small for this run here: one training step "
            f"({step:.1f} s), then saving, reloading and evaluating the model ({final:.1f} s), after the "
            f"{budget.seconds - budget.left():.0f} s spent loading, need at least {math.ceil(least)} s."
        )
    planned = forecast.steps
    if planned * step + planned_evaluations * evaluation <= available:
        return BudgetPlan(planned, planned, planned_evaluations, 0, forecast.total_seconds, cut=False)
    evaluations = min(planned_evaluations, int(EVALUATION_SHARE * available / evaluation) if evaluation > 0 else 0)
    steps = max(1, int((available - evaluations * evaluation) / step))
    if evaluations >= 2 and steps >= evaluations:
        every = steps // evaluations
        steps = every * evaluations  # the last evaluation falls on the last step
    else:
        evaluations, every = 0, 0
    seconds = budget.seconds - left + steps * step + evaluations * evaluation + final
    return BudgetPlan(steps, planned, evaluations, every, seconds, cut=True)


def apply(plan: BudgetPlan, args) -> None:
    """TrainingArguments for the plan: max_steps (the schedule decays over them) and the evaluation cadence."""
    if not plan.cut:
        return
    args.max_steps = plan.steps
    if plan.evaluations:
        args.eval_strategy = args.save_strategy = "steps"
        args.eval_steps = args.save_steps = plan.eval_steps
    else:  # the run's one evaluation is the saved model's, at its end
        args.eval_strategy = args.save_strategy = "no"
        args.load_best_model_at_end = False


def stop_callback(budget: Budget, reserve: float, evaluate_at_stop: bool):
    """A TrainerCallback that stops training at the first step end past ``budget.deadline - reserve`` (the end of
    the run needs ``reserve`` seconds), evaluating and saving there when the run keeps its best evaluation; and that
    keeps the learning-rate schedule on the clock: when steps run slower than forecast, the schedule moves to where
    the elapsed share of the training time puts it, so it has decayed to its end when time is up (it would be cut
    off part-way down otherwise)."""
    from transformers import TrainerCallback

    class StopAtBudget(TrainerCallback):
        stopped_at: int | None = None
        started: float | None = None

        def on_step_begin(self, args, state, control, lr_scheduler=None, **kwargs):
            now = time.monotonic()
            if self.started is None:
                self.started = now
                return control
            window = budget.deadline - reserve - self.started
            if lr_scheduler is None or not hasattr(lr_scheduler, "lr_lambdas") or window <= 0 or not state.max_steps:
                return control
            by_clock = int(min(1.0, (now - self.started) / window) * state.max_steps)
            if by_clock > lr_scheduler.last_epoch:  # behind the clock: the schedule goes where the time is
                lr_scheduler.last_epoch = min(by_clock, state.max_steps) - 1
                lr_scheduler.step()
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() >= budget.deadline - reserve and state.global_step < state.max_steps:
                control.should_training_stop = True
                if evaluate_at_stop:
                    control.should_evaluate = control.should_save = True
                self.stopped_at = state.global_step
            return control

    return StopAtBudget()


def budget_record(budget: Budget, plan: BudgetPlan, stopped_at: int | None, steps_done: int) -> dict:
    """metrics.json's ``budget``: what was planned, what fitted, and where the run stopped."""
    stopped = stopped_at is not None or plan.cut
    return {
        "seconds": budget.seconds,
        **plan.as_dict(),
        "stopped_by_budget": stopped,
        "stopped_at_step": steps_done,
        "text": (
            f"stopped by the time budget ({duration_text(budget.seconds)}) at step {steps_done:,} of "
            f"{plan.planned_steps:,}"
            if stopped
            else f"finished within the time budget ({duration_text(budget.seconds)})"
        ),
    }


"""The Trainer's progress, as the console shows it: one training bar with the latest loss (a terminal), or a
progress line every tenth of the run (CI logs, notebooks, ``| tee``), and one line per evaluation; every
logged value also goes to train.log."""

from __future__ import annotations

import json
import time

from hf_transfer.base.tables import duration_text, is_timing


def _nothing(*args, **kwargs) -> None:
    return None


SHOWN_LIMIT = 6
"""At most this many metrics on an evaluation line (all of them are in train.log and metrics.json)."""


def evaluation_line(metrics: dict, epoch: float | None) -> str:
    shown = [
        (key.split("_", 1)[1], value)
        for key, value in metrics.items()
        if "_" in key and isinstance(value, (int, float)) and not is_timing(key)
    ]
    main = [kv for kv in shown if kv[0] != "loss"][:SHOWN_LIMIT] + [kv for kv in shown if kv[0] == "loss"]
    where = f"epoch {epoch:g}" if epoch is not None else "evaluation"
    return f"  {where}: " + ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in main)


class Keep:
    """--verbose: the Trainer prints as it does; its logged values also go to train.log.

    A Trainer callback by its methods (``on_<event>``); the events it does not handle do nothing, so this
    module imports no transformers until a Trainer runs."""

    def __init__(self, console):
        self.console = console

    def __getattr__(self, name: str):
        if name.startswith("on_"):
            return _nothing
        raise AttributeError(name)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.console.keep(f"[trainer] step {state.global_step}: {json.dumps(logs, default=str)}")


class Progress(Keep):
    """One training bar with the latest loss (a terminal), or a progress line every tenth of the run
    (anything else); one line per evaluation during training."""

    def __init__(self, console):
        super().__init__(console)
        self.training = False
        self.loss = None
        self.next_line = 0.1
        self.eval_bar = None
        self.last_line = 0.0

    min_seconds = 10.0
    """Plain progress lines (not a terminal): at each tenth of the run, but no more often than this."""

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.training, self.started, self.first = True, time.perf_counter(), state.global_step
        self.last_line = self.started
        if self.console.tty:
            from tqdm.auto import tqdm

            self.console._bar = tqdm(
                total=state.max_steps, initial=state.global_step, desc="Training", unit="step", dynamic_ncols=True
            )
        else:
            self.next_line = (int(10 * state.global_step / max(1, state.max_steps)) + 1) / 10
            self.console.say(f"Training: {state.max_steps:,} steps")

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        bar = self.console._bar
        if bar is not None:
            bar.update(state.global_step - bar.n)
            return
        done = state.global_step / max(1, state.max_steps)
        now = time.perf_counter()
        if done + 1e-9 >= self.next_line and (now - self.last_line >= self.min_seconds or done >= 1):
            while self.next_line <= done + 1e-9:
                self.next_line += 0.1
            self.last_line = now
            elapsed = now - self.started
            steps = state.global_step - self.first
            left = elapsed / steps * (state.max_steps - state.global_step) if steps else 0
            loss = f", loss {self.loss:.4f}" if self.loss is not None else ""
            self.console.say(
                f"  step {state.global_step:,}/{state.max_steps:,} ({100 * done:.0f}%){loss}, "
                f"{duration_text(elapsed)} elapsed, ~{duration_text(left)} left"
            )

    def on_log(self, args, state, control, logs=None, **kwargs):
        super().on_log(args, state, control, logs=logs, **kwargs)
        if logs and "loss" in logs and isinstance(logs["loss"], (int, float)):
            self.loss = float(logs["loss"])
            if self.console._bar is not None:
                self.console._bar.set_postfix(loss=f"{self.loss:.4f}", refresh=False)

    def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
        if not (state.is_world_process_zero and self.console.tty) or eval_dataloader is None:
            return
        if self.eval_bar is None:
            from tqdm.auto import tqdm

            total = len(eval_dataloader) if hasattr(eval_dataloader, "__len__") else None
            self.eval_bar = tqdm(total=total, desc="Evaluating", leave=False, dynamic_ncols=True)
        self.eval_bar.update(1)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.eval_bar is not None:
            self.eval_bar.close()
            self.eval_bar = None
        if state.is_world_process_zero and self.training and metrics:
            self.console.say(evaluation_line(metrics, state.epoch))

    def on_train_end(self, args, state, control, **kwargs):
        self.training = False
        if self.console._bar is not None:
            self.console._bar.close()
            self.console._bar = None
        if state.is_world_process_zero:
            self.console.keep(f"training ended at step {state.global_step:,} (epoch {state.epoch or 0:g})")

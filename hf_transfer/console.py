"""What a run shows, and what it keeps.

The console gets a short account: what runs, one training progress bar (plain progress lines when the
output is not a terminal: CI logs, notebooks, ``| tee``), one line per evaluation, the warnings that
matter, then the results. ``train.log`` in the run folder gets everything, with timestamps: our lines,
every library log record and Python warning (the expected ones included), and the values the Trainer
logged. ``verbose=True`` leaves the libraries' own output as they print it (and still keeps train.log).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

from .tables import is_timing

EXPECTED = (
    # (what the message holds, why it is expected): kept in train.log, not shown
    ("LOAD REPORT", "transformers lists the weights a new task head starts without; the run says it in one line"),
    ("is_gradient_checkpointing` is deprecated", "a transformers deprecation inside transformers itself"),
    ("Could not find a config file in", "peft saving an adapter of a local checkpoint"),
    ("will assume that the vocabulary was not modified", "peft saving an adapter of a local checkpoint"),
    ("Setting `save_embedding_layers` to `True`", "peft saving the resized embeddings of an adapter run"),
    ("Using the `WANDB_DISABLED`", "transformers: trackers are off unless --report_to names one"),
    ("introduces a better way to train encoder-decoder models", "transformers: a note for models trained before 4.12"),
)
"""Library messages that every run of this kind meets, and that would read like errors to a new user."""

LIBRARIES = ("transformers", "datasets", "peft", "accelerate", "huggingface_hub", "evaluate")


def expected(message: str) -> bool:
    return any(pattern in message for pattern, _ in EXPECTED)


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


class _Records(logging.Handler):
    """Library log records -> train.log; the unexpected warnings also to the console (quiet mode)."""

    def __init__(self, console: Console):
        super().__init__(logging.DEBUG)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed log call must not stop a run
            return
        library = record.name.split(".")[0]
        self.console.keep(f"[{library}] {record.levelname.lower()}: {message}")
        if not self.console.verbose and record.levelno >= logging.WARNING and not expected(message):
            self.console.show(f"[{library}] {message}", stream=sys.stderr)


class Console:
    """``with Console(verbose=...) as console:`` for the length of a command, handed to what it runs
    (``train.run(..., console=console)``): one console speaks for the whole command, however many runs it
    holds. A console opened inside another takes the libraries' output over until it closes, then gives it
    back; each keeps its own arguments."""

    def __init__(self, log=print, verbose: bool = False, tty: bool | None = None):
        self._print = log
        self.verbose = verbose
        self.tty = sys.stdout.isatty() if tty is None else tty
        self._kept: list[str] = []
        self._file = None
        self._bar = None
        self._saved: list = []

    # ---- lines
    def say(self, message: str) -> None:
        """A line for the user: shown, and kept in train.log."""
        self.show(message)
        self.keep(message)

    def show(self, message: str, stream=None) -> None:
        if self._bar is not None:
            self._bar.write(message, file=stream or sys.stdout)
        elif stream is None:
            self._print(message)
        else:
            print(message, file=stream, flush=True)

    def keep(self, message: str) -> None:
        """A line for train.log only."""
        line = f"{stamp()} {message}"
        if self._file is None:
            self._kept.append(line)
        else:
            self._file.write(line + "\n")
            self._file.flush()

    @contextmanager
    def logging_to(self, path: Path):
        """train.log at ``path`` for the length of the block, beginning with what was said before it (appends:
        a resumed run keeps the interrupted run's log above its own). Several runs under one console (compare,
        a notebook) each get their own file."""
        previous, self._file = self._file, open(path, "a", encoding="utf-8")
        try:
            for line in self._kept:
                self._file.write(line + "\n")
            self._file.flush()
            self._kept = []
            yield
        finally:
            self._file.close()
            self._file = previous

    # ---- library output
    def __enter__(self) -> Console:
        self._showwarning = warnings.showwarning
        try:
            self._capture()
        except BaseException:  # an interrupted import, a warning turned error: leave the libraries as they were
            self._release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._release()
            if self._bar is not None:
                self._bar.close()
        finally:
            self._bar = None
            if self._file is not None:
                self._file.close()
                self._file = None

    def _capture(self) -> None:
        self._bars = _progress_bars_enabled()  # imports transformers and datasets: their loggers get their handlers
        handler = _Records(self)
        for name in LIBRARIES:
            logger = logging.getLogger(name)
            self._saved.append((logger, list(logger.handlers), logger.propagate))
            if not self.verbose:
                for old in list(logger.handlers):
                    logger.removeHandler(old)
                logger.propagate = False
            logger.addHandler(handler)
        warnings.showwarning = self._warning
        if not self.verbose:  # bars switched off by the user (environment) stay off
            bars = self._bars
            _set_progress_bars(models=False, data=self.tty and bars["data"], hub=self.tty and bars["hub"])

    def _release(self) -> None:
        for logger, handlers, propagate in self._saved:
            for handler in list(logger.handlers):
                logger.removeHandler(handler)
            for handler in handlers:
                logger.addHandler(handler)
            logger.propagate = propagate
        self._saved = []
        warnings.showwarning = self._showwarning
        if getattr(self, "_bars", None):
            _set_progress_bars(**self._bars)

    def _warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        self.keep(f"[{category.__name__}] {text} ({filename}:{lineno})")
        if self.verbose:
            self._showwarning(message, category, filename, lineno, file, line)
        elif not expected(text):
            self.show(f"{category.__name__}: {text}", stream=sys.stderr)

    # ---- the Trainer
    def adopt(self, trainer) -> None:
        """The Trainer's progress bars and printed dicts give way to this console's bar and lines."""
        if self.verbose:
            trainer.add_callback(_Keep(self))
            return
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        trainer.remove_callback(ProgressCallback)
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(_Progress(self))


@contextmanager
def quiet(console: Console | None = None, verbose: bool = False):
    """The console a command that is not a run (eval, predict) or a library step (loading a model) speaks
    through: ``console`` when the caller has one, else a new one with the same quiet library output and no
    log file."""
    if console is not None:
        yield console
        return
    with Console(verbose=verbose) as fresh:
        yield fresh


def _progress_bars_enabled() -> dict[str, bool]:
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging

    return {
        "models": transformers.utils.logging.is_progress_bar_enabled(),
        "data": datasets.is_progress_bar_enabled(),
        "hub": not huggingface_hub.utils.are_progress_bars_disabled(),
    }


def _set_progress_bars(models: bool, data: bool, hub: bool) -> None:
    """transformers' bars (loading and writing weights), datasets' (map: tokenization), the Hub's (downloads)."""
    import datasets
    import huggingface_hub.utils
    import transformers.utils.logging

    # transformers' switch also flips the Hub's: set it first
    (transformers.utils.logging.enable_progress_bar if models else transformers.utils.logging.disable_progress_bar)()
    (datasets.enable_progress_bars if data else datasets.disable_progress_bars)()
    (huggingface_hub.utils.enable_progress_bars if hub else huggingface_hub.utils.disable_progress_bars)()


# --------------------------------------------------------------------------------------------
# Trainer callbacks
# --------------------------------------------------------------------------------------------


def _nothing(*args, **kwargs) -> None:
    return None


SHOWN_LIMIT = 6
"""At most this many metrics on an evaluation line (all of them are in train.log and metrics.json)."""


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def evaluation_line(metrics: dict, epoch: float | None) -> str:
    shown = [
        (key.split("_", 1)[1], value)
        for key, value in metrics.items()
        if "_" in key and isinstance(value, (int, float)) and not is_timing(key)
    ]
    main = [kv for kv in shown if kv[0] != "loss"][:SHOWN_LIMIT] + [kv for kv in shown if kv[0] == "loss"]
    where = f"epoch {epoch:g}" if epoch is not None else "evaluation"
    return f"  {where}: " + ", ".join(f"{name.replace('_', ' ')} {value:.4f}" for name, value in main)


class _Keep:
    """--verbose: the Trainer prints as it does; its logged values also go to train.log.

    A Trainer callback by its methods (``on_<event>``); the events it does not handle do nothing, so this
    module imports no transformers until a Trainer runs."""

    def __init__(self, console: Console):
        self.console = console

    def __getattr__(self, name: str):
        if name.startswith("on_"):
            return _nothing
        raise AttributeError(name)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.console.keep(f"[trainer] step {state.global_step}: {json.dumps(logs, default=str)}")


class _Progress(_Keep):
    """One training bar with the latest loss (a terminal), or a progress line every tenth of the run
    (anything else); one line per evaluation during training."""

    def __init__(self, console: Console):
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
                f"{_duration(elapsed)} elapsed, ~{_duration(left)} left"
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

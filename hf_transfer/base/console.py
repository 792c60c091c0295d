"""What a run shows, and what it keeps.

The console gets a short account: what runs, one training progress bar (plain progress lines when the
output is not a terminal: CI logs, notebooks, ``| tee``), one line per evaluation, the warnings that
matter, then the results. ``train.log`` in the run folder gets everything, with timestamps: our lines,
every library log record and Python warning (the expected ones included), and the values the Trainer
logged. ``verbose=True`` leaves the libraries' own output as they print it (and still keeps train.log).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

PROG = "hf-transfer"
"""The command's name, as its messages and a run's recorded command line write it."""

EXPECTED = (
    # (what the message holds, why it is expected): kept in train.log, not shown
    ("LOAD REPORT", "transformers lists the weights a new task head starts without; the run says it in one line"),
    ("is_gradient_checkpointing` is deprecated", "a transformers deprecation inside transformers itself"),
    ("Could not find a config file in", "peft saving an adapter of a local checkpoint"),
    ("will assume that the vocabulary was not modified", "peft saving an adapter of a local checkpoint"),
    ("Setting `save_embedding_layers` to `True`", "peft saving the resized embeddings of an adapter run"),
    ("Using the `WANDB_DISABLED`", "transformers: trackers are off unless --report_to names one"),
    ("introduces a better way to train encoder-decoder models", "transformers: a note for models trained before 4.12"),
    ("Failed to load CPU gemm_4bit_forward", "bitsandbytes: an optional faster CPU kernel it fetches from the Hub"),
    ("Skipping publisher trust check", "kernels (imported by bitsandbytes): the Hub is offline, nothing is fetched"),
    ("torchvision is not installed. Skipping", "torch's ONNX exporter: image operators, which text models do not use"),
    ("isinstance(treespec, LeafSpec)", "a torch deprecation inside torch's own ONNX exporter"),
    ("consider to run pre-processing before quantization", "onnxruntime: optional shape inference before int8"),
)
"""Library messages that every run of this kind meets, and that would read like errors to a new user."""

LIBRARIES = ("transformers", "datasets", "peft", "accelerate", "huggingface_hub", "evaluate", "bitsandbytes",
             "kernels", "torch.onnx", "onnxscript")


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
    (``train.run(recipe, options, console)``): one console speaks for the whole command, however many runs it
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
        self._said: set[str] | None = None
        self._warned: set = set()

    # ---- lines
    def say(self, message: str) -> None:
        """A line for the user: shown, and kept in train.log (within ``once()``: only the first time)."""
        if self._said is not None:
            if message in self._said:
                return
            self._said.add(message)
        self.show(message)
        self.keep(message)

    @contextmanager
    def once(self):
        """Each line said once for the length of the block: a command that loads the same recipe several times
        (``plan`` with several methods) says what loading found (licenses, labels, sample limits) once."""
        previous, self._said = self._said, set()
        try:
            yield self
        finally:
            self._said = previous

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
        previous, self._file = self._file, open(path, "a", encoding="utf-8")  # noqa: SIM115  (closed below)
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
        elif not expected(text) and (category, text) not in self._warned:  # each warning shown once
            self._warned.add((category, text))
            self.show(f"{category.__name__}: {text}", stream=sys.stderr)

    # ---- the Trainer
    def adopt(self, trainer) -> None:
        """The Trainer's progress bars and printed dicts give way to this console's bar and lines."""
        from hf_transfer.base.progress import Keep, Progress

        if self.verbose:
            trainer.add_callback(Keep(self))
            return
        hush(trainer)
        trainer.add_callback(Progress(self))


def hush(trainer) -> None:
    """A Trainer without its own progress bar and printed dictionaries: a step of a command that says what it
    does in its own words (an evaluation inside diff or export, a plan's probe steps)."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)


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

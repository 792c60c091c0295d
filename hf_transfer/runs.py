"""The run folder: its file names, staging in ``<output_dir>.partial``, resume, publish, and metrics.json.

A run is built in ``<output_dir>.partial`` and renamed into place only once the model is saved,
reloaded from disk and re-evaluated to the same metric, so a crash never leaves a folder that looks
finished and never touches an earlier finished run. ``metrics.json`` is written last: a folder is
finished when it has one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from .errors import UserError

RECIPE_FILE = "recipe.yaml"
METRICS_FILE = "metrics.json"
ADAPTER_CONFIG = "adapter_config.json"
CARD_FILE = "README.md"
TRAINER_STATE = "trainer_state.json"
CURVES_FILE = "training_curves.png"
TRAIN_LOG = "train.log"
"""Everything the run printed, library messages included; kept on this machine (push leaves it out: it
names local paths)."""
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard event files, with --report_to tensorboard."""
SAMPLES_FILE = "samples.jsonl"
CHECKPOINTS = "checkpoints"
STAGING_SUFFIX = ".partial"
FINISHED_MARKER = METRICS_FILE
"""A run folder is finished when this file exists; it is written last, before the rename."""

CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


class RunMetrics(TypedDict, total=False):
    """What ``metrics.json`` holds (every run writes the keys marked in ``REQUIRED_METRICS``)."""

    recipe: str
    method: str
    checkpoint: str
    checkpoint_source: str
    dataset: str
    samples: dict[str, int]  # train, eval (and test)
    dropped: dict[str, int]  # rows dropped by task settings, by reason
    train: dict[str, float]  # the Trainer's train metrics + wall_seconds
    eval: dict[str, float]  # eval_<metric> of the saved model
    test: dict[str, float]  # test_<metric>, when the recipe has a test split
    baselines: dict[str, float]
    parameters: dict[str, float]  # trainable, total, trainable_share
    resources: dict[str, int]  # peak_rss_bytes (peak_cuda_bytes), saved_bytes
    training_arguments: dict[str, Any]
    world_size: int
    reload_check: dict[str, Any]  # metric, recorded, reloaded_from_disk, match
    licenses: dict[str, str]  # base_model, data
    warnings: list[str]
    versions: dict[str, str]
    command: str | None
    merged_from: str  # merged folders only


REQUIRED_METRICS = (
    "recipe",
    "method",
    "checkpoint",
    "samples",
    "train",
    "eval",
    "parameters",
    "reload_check",
    "versions",
)


@dataclass(frozen=True)
class RunFolder:
    """A run folder (finished, or staged as ``<name>.partial``) and the files in it."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path).expanduser().resolve())

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def staging(self) -> Path:
        return self.path.with_name(self.path.name + STAGING_SUFFIX)

    @property
    def is_finished(self) -> bool:
        return (self.path / FINISHED_MARKER).is_file()

    @property
    def is_staged(self) -> bool:
        return self.path.name.endswith(STAGING_SUFFIX)

    def require_finished(self, why: str) -> None:
        """Stop with one message unless this is a finished run folder: an unfinished one (no metrics.json, or a
        ``.partial`` left by a crash) is never evaluated, predicted with, merged or pushed. ``why`` ends it."""
        if self.is_staged or not self.is_finished:
            raise UserError(f"{self.path} is not a finished run folder (no {FINISHED_MARKER}): {why}")

    @property
    def has_adapter(self) -> bool:
        return (self.path / ADAPTER_CONFIG).is_file()

    @property
    def has_recipe(self) -> bool:
        return (self.path / RECIPE_FILE).is_file()

    def recipe(self):
        from .recipe import Recipe

        if not self.has_recipe:
            raise UserError(f"{self.path} is not a hf_transfer run folder: it has no {RECIPE_FILE}.")
        return Recipe.from_yaml((self.path / RECIPE_FILE).read_text())

    def metrics(self) -> RunMetrics:
        return json.loads((self.path / METRICS_FILE).read_text())

    def adapter_config(self) -> dict:
        return json.loads((self.path / ADAPTER_CONFIG).read_text())

    def write_recipe(self, recipe) -> None:
        write_atomically(self.path / RECIPE_FILE, recipe.to_yaml())

    def write_metrics(self, metrics: RunMetrics) -> None:
        missing = [k for k in REQUIRED_METRICS if k not in metrics]
        if missing:
            raise ValueError(f"metrics.json lacks {missing}")  # a bug, not user input
        write_atomically(self.path / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def is_finished_run(path: Path) -> bool:
    return RunFolder(path).is_finished


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old one or the whole new one, never a part."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        f.write(text)
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def is_run_folder(path: Path) -> bool:
    """A folder hf_transfer made: the resolved recipe and metrics.json (a finished run or a merge)."""
    return (path / RECIPE_FILE).is_file() and (path / METRICS_FILE).is_file()


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir} is a file, not a folder.")
    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return
    if not is_run_folder(output_dir):
        names = sorted(p.name for p in output_dir.iterdir())
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        raise UserError(
            f"--output_dir {output_dir} holds files that are not a hf_transfer run ({shown}). hf_transfer never "
            "replaces or deletes files it did not write, --overwrite_output_dir included: choose another --output_dir "
            "(an empty or new folder)."
        )
    if not overwrite:
        raise UserError(
            f"--output_dir {output_dir} already holds a finished run. Pass --overwrite_output_dir to replace it "
            "(the old folder stays until the new run has finished), or choose another --output_dir."
        )


@contextmanager
def locked(output_dir: Path):
    """Hold ``.<name>.lock`` beside the output folder for a whole run: a second run into the same folder
    stops at once with a message instead of silently replacing the first one's work."""
    import fcntl

    lock = output_dir.with_name(f".{output_dir.name}.lock")
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError as exc:
        raise UserError(f"--output_dir {output_dir} cannot be written: {exc.strerror} ({lock.parent}).") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise UserError(
            f"Another hf-transfer command is writing {output_dir} right now (it holds {lock}). Wait for it to finish, "
            "or choose another --output_dir."
        ) from None
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def newest_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` that was written to the end. The Trainer writes trainer_state.json
    last, so a checkpoint cut short by a crash lacks it (or holds it truncated) and is skipped."""
    found = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()]
    for candidate in sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True):
        if not all((candidate / name).is_file() for name in CHECKPOINT_FILES):
            continue
        if not any((candidate / name).is_file() for name in WEIGHT_FILES):
            continue
        try:
            json.loads((candidate / "trainer_state.json").read_text())
        except ValueError:
            continue
        return candidate
    return None


def check_staging(staging: Path, overwrite: bool, resume: bool) -> None:
    if staging.exists() and not (overwrite or resume):
        raise UserError(
            f"An unfinished run is in {staging} (a crash or an interruption). Pass --resume to continue it from its "
            "newest complete checkpoint, or --overwrite_output_dir to start over."
        )


def prepare_staging(staging: Path, recipe, overwrite: bool, resume: bool, log) -> Path | None:
    """Create or reuse ``<output_dir>.partial``; returns the checkpoint to resume from, if any."""
    from .recipe import Recipe

    check_staging(staging, overwrite, resume)
    if staging.exists() and resume:
        started = staging / RECIPE_FILE
        if started.is_file() and Recipe.from_yaml(started.read_text()) != recipe:
            raise UserError(
                f"The unfinished run in {staging} was started with a different recipe; resume it with the same "
                "flags, or pass --overwrite_output_dir to start over."
            )
        checkpoint = newest_complete_checkpoint(staging / CHECKPOINTS)
        log(
            f"[hf-transfer] resuming from {checkpoint}"
            if checkpoint
            else f"[hf-transfer] no complete checkpoint in {staging}: starting over"
        )
        if checkpoint is not None:
            return checkpoint
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    RunFolder(staging).write_recipe(recipe)
    return None


def publish(staging: Path, output_dir: Path) -> None:
    """Swap the staged run into place; an earlier run is removed only after the swap."""
    old = None
    if output_dir.exists():
        if any(output_dir.iterdir()) and not is_run_folder(
            output_dir
        ):  # checked before the run; never delete others' files
            raise UserError(
                f"{output_dir} now holds files that are not a hf_transfer run; the new run stays in {staging}."
            )
        old = output_dir.with_name(output_dir.name + ".replaced")
        if old.exists() and is_run_folder(old):
            shutil.rmtree(old)
        output_dir.rename(old)
    staging.rename(output_dir)
    if old is not None:
        shutil.rmtree(old)


def same_metric(a, b) -> bool:
    """The reload check: a saved run must reproduce its metric to 1e-6."""
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)

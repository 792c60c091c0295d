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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from .errors import UserError
from .files import write_atomically

RECIPE_FILE = "recipe.yaml"
"""The recipe as it was asked for (after the command line's flags): a resumed run is checked against it."""
LEARNED_FILE = "learned.json"
"""What the run learned from its data (the label names), apart from the recipe that was asked for."""
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
    kept: dict[str, Any]  # which evaluation's model was kept (and early stopping)
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

    def requested_recipe(self):
        """The recipe as it was asked for (``recipe.yaml``)."""
        from .recipe import Recipe

        if not self.has_recipe:
            raise UserError(f"{self.path} is not a hf_transfer run folder: it has no {RECIPE_FILE}.")
        try:
            return Recipe.from_yaml((self.path / RECIPE_FILE).read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{self / RECIPE_FILE} is damaged: it is not UTF-8 text.") from None

    def learned(self) -> dict[str, Any]:
        """What the run learned from its data (``learned.json``; empty for runs that learn nothing, and for runs
        made before it existed, whose recipe.yaml holds it)."""
        file = self.path / LEARNED_FILE
        if not file.is_file():
            return {}
        try:
            return json.loads(file.read_text())
        except ValueError:
            raise UserError(f"{file} is damaged: it is not JSON. Train the run again.") from None

    def recipe(self):
        """The recipe the run trained with: as asked for, with what it learned from the data (label names)."""
        import dataclasses

        recipe = self.requested_recipe()
        learned = self.learned()
        return dataclasses.replace(recipe, task=recipe.task.with_learned(learned)) if learned else recipe

    def metrics(self) -> RunMetrics:
        return json.loads((self.path / METRICS_FILE).read_text())

    def trainer_state(self) -> dict:
        return json.loads((self.path / TRAINER_STATE).read_text())

    def recipe_name(self) -> str:
        import yaml

        return str(yaml.safe_load((self.path / RECIPE_FILE).read_text()).get("name", self.path.name))

    def adapter_config(self) -> dict:
        return json.loads((self.path / ADAPTER_CONFIG).read_text())

    def write_recipe(self, recipe) -> None:
        write_atomically(self.path / RECIPE_FILE, recipe.to_yaml())

    def write_learned(self, learned: dict[str, Any]) -> None:
        if learned:
            write_atomically(self.path / LEARNED_FILE, json.dumps(learned, indent=2) + "\n")

    def make_readable(self) -> None:
        """Every file of the run with the same permissions (safetensors writes its weights as 0600, the rest is
        0644 under the usual umask): a shared run folder must not hide its model from the others who read it."""
        mask = os.umask(0)
        os.umask(mask)
        for path in self.path.iterdir():
            if path.is_file():
                path.chmod(0o666 & ~mask)

    def saved_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob("*.safetensors"))

    def write_metrics(self, metrics: RunMetrics) -> None:
        missing = [k for k in REQUIRED_METRICS if k not in metrics]
        if missing:
            raise ValueError(f"metrics.json lacks {missing}")  # a bug, not user input
        write_atomically(self.path / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


def default_output_dir(template, recipe) -> Path:
    """runs/<recipe>-<method>; an adapted run adds what it was adapted to (its data file, its checkpoint), so it
    does not land in the folder of the recipe as written."""
    import re

    parts = [recipe.name]
    if template.differences(recipe):
        if isinstance(getattr(recipe.data, "train_file", None), str):
            parts.append(Path(recipe.data.train_file).stem)
        elif recipe.data.describe() != template.data.describe():  # another Hub dataset or config
            parts.append(re.sub(r"[^a-z0-9]+", "-", recipe.data.describe().lower()).strip("-")[:40])
        if recipe.checkpoint != template.checkpoint:
            parts.append(Path(recipe.checkpoint.rstrip("/")).name)
    parts.append(recipe.method)
    return Path("runs") / "-".join(parts)


def is_finished_run(path: Path) -> bool:
    return RunFolder(path).is_finished


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


FINISHED_STAGING = "finished"
"""``prepare_staging``'s answer when the staged run is complete (metrics.json written) but not yet published."""


def prepare_staging(staging: Path, recipe, overwrite: bool, resume: bool, log) -> Path | str | None:
    """Create or reuse ``<output_dir>.partial``. Returns the checkpoint to resume from, ``FINISHED_STAGING`` when
    the staged run only needs its card and the rename (a crash after metrics.json was written), or None."""
    check_staging(staging, overwrite, resume)
    if staging.exists() and resume:
        started = RunFolder(staging)
        if started.has_recipe and started.requested_recipe() != recipe:
            raise UserError(
                f"The unfinished run in {staging} was started with a different recipe; resume it with the same "
                "flags, or pass --overwrite_output_dir to start over."
            )
        if started.is_finished and any(staging.glob("*.safetensors")):
            log(f"[hf-transfer] the run in {staging} had finished training and its checks: publishing it")
            return FINISHED_STAGING
        checkpoint = newest_complete_checkpoint(staging / CHECKPOINTS)
        log(
            f"[hf-transfer] resuming from {checkpoint}"
            if checkpoint
            else f"[hf-transfer] no complete checkpoint in {staging}: starting over"
        )
        if checkpoint is not None:
            for name in (METRICS_FILE, CARD_FILE):  # written again at the end, from the resumed run
                (staging / name).unlink(missing_ok=True)
            return checkpoint
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    RunFolder(staging).write_recipe(recipe)
    return None


def publish(staging: Path, output_dir: Path) -> None:
    """Swap the staged run into place; an earlier run is removed only after the swap (and one left aside by a
    swap that a crash cut short is removed now)."""
    old = output_dir.with_name(output_dir.name + REPLACED_SUFFIX)
    if output_dir.exists():
        if any(output_dir.iterdir()) and not is_run_folder(output_dir):  # checked before the run; never delete others'
            raise UserError(
                f"{output_dir} now holds files that are not a hf_transfer run; the new run stays in {staging}."
            )
        if old.exists() and is_run_folder(old):
            shutil.rmtree(old)
        output_dir.rename(old)
    staging.rename(output_dir)
    remove_replaced(output_dir)


REPLACED_SUFFIX = ".replaced"
"""Where ``publish`` puts an earlier run for the moment of the swap."""


def remove_replaced(output_dir: Path) -> None:
    """The earlier run that a finished swap left aside (a crash between the rename and the removal)."""
    old = output_dir.with_name(output_dir.name + REPLACED_SUFFIX)
    if old.is_dir() and is_run_folder(old) and is_run_folder(output_dir):
        shutil.rmtree(old)


def build_metrics(
    *,
    recipe,
    checkpoint_source: str,
    samples: dict[str, int],
    features: dict[str, int],
    unit: str,
    dropped: dict[str, int],
    train: dict[str, float],
    eval: dict[str, float],
    test: dict[str, float] | None,
    baselines: dict[str, float],
    parameters: tuple[int, int],
    resources: dict[str, int],
    phases: dict[str, float],
    training_arguments: dict[str, Any],
    world_size: int,
    reload_check: dict[str, Any],
    kept: dict | None,
    licenses: dict[str, str],
    warnings: list[str],
    versions: dict[str, str],
    command: str | None,
    **extra: Any,
) -> RunMetrics:
    """metrics.json, from the run's parts (``RunMetrics`` says what each holds). ``features`` is recorded only
    where rows became more model inputs than rows (QA windows); ``extra`` holds sections a run adds
    (``budget``, ``seeds``)."""
    trainable, total = parameters
    metrics: RunMetrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "checkpoint": recipe.checkpoint,
        "checkpoint_source": checkpoint_source,
        "dataset": recipe.data.describe(),
        "samples": samples,
        **({"features": features} if features != {k: samples[k] for k in features} else {}),
        "unit": unit,
        "evaluated_on": recipe.data.describe_evaluation(),
        "dropped": dropped,
        "train": train,
        "eval": eval,
        **({"test": test} if test is not None else {}),
        "baselines": baselines,
        "parameters": {"trainable": trainable, "total": total, "trainable_share": trainable / total},
        "resources": resources,
        "phases": phases,
        "training_arguments": {k: v for k, v in training_arguments.items() if isinstance(v, (str, int, float, bool))},
        "world_size": world_size,
        "reload_check": reload_check,
        **({"kept": kept} if kept else {}),
        "licenses": licenses,
        "warnings": warnings,
        "versions": versions,
        "command": command,
        **extra,
    }
    return metrics


def same_metric(a, b) -> bool:
    """The reload check: a saved run must reproduce its metric to 1e-6."""
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)

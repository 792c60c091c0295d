"""A run folder's life on disk: checked before a run (never someone else's files), held by a lock while the run
writes, staged in ``<output_dir>.partial``, resumed from its newest complete checkpoint (or, after a crash past
metrics.json, only published), and swapped into place at the end."""

from __future__ import annotations

import json
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from hf_transfer.artifacts.runs import (
    CARD_FILE,
    CHECKPOINT_FILES,
    CHECKPOINTS,
    METRICS_FILE,
    WEIGHT_FILES,
    RunFolder,
    is_run_folder,
)
from hf_transfer.base.errors import UserError


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


def check_replaces_only(output_dir: Path, kind: str) -> None:
    """``merge`` and ``export`` with --overwrite_output_dir replace an earlier merge or export (``kind``) only: never
    a training run, nor a folder of the other kind (checked after ``check_output_dir``)."""
    if not output_dir.is_dir() or not any(output_dir.iterdir()):
        return
    folder = RunFolder(output_dir)
    merged = folder.is_finished and "merged_from" in folder.metrics()
    if (kind == "export" and folder.is_export) or (kind == "merge" and merged):
        return
    holds = "an export" if folder.is_export else "a merge" if merged else "a training run"
    raise UserError(f"--output_dir {output_dir} holds {holds}, not an earlier {kind}: --overwrite_output_dir replaces "
                    f"an earlier {kind} only. Choose another --output_dir.")  # fmt: skip


def check_collection_dir(output_dir: Path, what: str) -> None:
    """Before a command that writes many runs into one folder (tune's study, compare's and ``run --seeds``' runs):
    the folder is not a run or export, nor inside one (``push RUN`` would upload what it holds), and can be made
    (nothing is made yet)."""
    for folder in (output_dir, *output_dir.parents):
        if is_run_folder(folder) or (folder != output_dir and folder.name.endswith(".partial")):
            raise UserError(
                f"--output_dir {output_dir}: {folder} is a run folder; {what} would write its runs into it (and "
                "`hf-transfer push` would upload them with it). Choose a folder of its own."
            )
        if folder.exists() and not folder.is_dir():
            raise UserError(f"--output_dir {output_dir}: {folder} is a file, not a folder.")
    import tempfile

    existing = next(folder for folder in (output_dir, *output_dir.parents) if folder.exists())
    try:
        tempfile.TemporaryFile(dir=existing).close()  # a read-only folder or file system says so here
    except OSError as exc:
        raise UserError(f"--output_dir {output_dir} cannot be written: {exc.strerror} ({existing}).") from None


def make_dir(output_dir: Path) -> None:
    """Make an output folder (and its parents), a failure said in one line."""
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--output_dir {output_dir} cannot be written: {exc.strerror}.") from None


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

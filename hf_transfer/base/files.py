"""Writing files so that nothing a user has is lost: atomic writes, and output files checked before any work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hf_transfer.base.errors import UserError


def write_atomically(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old one or the whole new one, never a part."""
    path = Path(path)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as f:
        f.write(text)
    os.chmod(f.name, 0o644)
    os.replace(f.name, path)


def data_files(data) -> list[Path]:
    """The local files a recipe's data source reads (a run's training and evaluation files): never an output."""
    names = (getattr(data, "train_file", None), getattr(data, "validation_file", None))
    return [Path(name).expanduser() for name in names if isinstance(name, str) and name]


def check_output_file(output_file: Path, *inputs: Path | None, flag: str = "--output_file", runs: tuple = ()) -> None:
    """Before any work: an output file goes into an existing, writable folder, and is never one of the command's
    own input files (a prediction written over the data it was made from loses the data), nor one of the files a
    run folder in ``runs`` (``RunFolder``) is made of (its model, recipe, metrics)."""
    output_file = Path(output_file)
    for run in runs:  # RunFolder
        if run.holds(output_file):
            raise UserError(
                f"{flag} {output_file} is a file of the run {run.path}: writing there would damage the run. Choose "
                "another output file."
            )
    if not output_file.parent.is_dir():
        raise UserError(f"{flag} {output_file}: the folder {output_file.parent} does not exist.")
    if output_file.is_dir():
        raise UserError(f"{flag} {output_file} is a folder; give a file name.")
    for given in inputs:
        if given is not None and output_file.exists() and Path(given).exists() and os.path.samefile(output_file, given):
            raise UserError(
                f"{flag} {output_file} is the input file {given}: writing there would replace your data. Choose "
                "another output file."
            )
    if not os.access(output_file.parent, os.W_OK):
        raise UserError(f"{flag} {output_file}: the folder {output_file.parent} cannot be written.")

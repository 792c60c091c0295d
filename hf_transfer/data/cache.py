"""The tokenization cache: where it is, what it holds, and clearing it (and where dequantized GGUF
checkpoints are kept, see ``gguf_checkpoint.plain_checkpoint``).

Tokenized splits are kept as Arrow files named ``<key>-<data fingerprint>.arrow`` (the key covers the
task settings, the tokenizer and the versions), each with a small ``.json`` beside it that says what it
holds (dataset, split, tokenizer, rows); beside them, each split's token-length profile (``<key>-<data
fingerprint>.lengths.json``, ``lengths.py``), cleared with them. ``datasets`` writes each Arrow file into a
temporary file in the same folder and renames it into place, so an interrupted write leaves a ``tmp*`` file that no run
loads; ``clear`` removes those too. The metadata file is written the same way.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hf_transfer.base.errors import UserError


def cache_root() -> Path:
    """``$HF_TRANSFER_CACHE``, else ``$HF_HOME/hf_transfer`` (``~/.cache/huggingface/hf_transfer``)."""
    return Path(
        os.environ.get("HF_TRANSFER_CACHE")
        or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hf_transfer"
    )


def tokenization_cache_dir(create: bool = True) -> Path:
    """``<cache root>/tokenized``; one that cannot be made is named, with the variable that points there."""
    path = cache_root() / "tokenized"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            where = "HF_TRANSFER_CACHE" if os.environ.get("HF_TRANSFER_CACHE") else "HF_HOME"
            raise UserError(
                f"The tokenization cache {path} cannot be made ({exc.strerror}): {where} points at "
                f"{cache_root()}. Point HF_TRANSFER_CACHE at a folder you can write."
            ) from None
    return path


def dequantized_dir() -> Path:
    """``<cache root>/dequantized``: GGUF checkpoints dequantized once into safetensors folders (models.py)."""
    return cache_root() / "dequantized"


DEQUANTIZED_NAME = re.compile(r"\.?.+-[0-9a-f]{16}(\..+\.tmp)?")
"""``<file>-<key>``, as ``gguf_checkpoint.plain_checkpoint`` names a folder; ``.<file>-<key>.<random>.tmp``
while it writes."""


def dequantized_entries() -> list[Path]:
    """The dequantized checkpoints, and any conversion that never finished (``.*.tmp``: never loaded); only
    folders named as hf_transfer names them (``cache clear`` removes nothing else a user put there)."""
    folder = dequantized_dir()
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and DEQUANTIZED_NAME.fullmatch(p.name))


def clear_dequantized(older_than_days: float | None = None) -> tuple[int, int]:
    """Remove dequantized checkpoints (only those not used for ``older_than_days``, if given; a run converts
    its GGUF file again when it needs it), and conversions left unfinished over an hour ago.
    Returns (folders removed, bytes freed)."""
    import shutil

    check_age(older_than_days)
    removed = freed = 0
    for path in dequantized_entries():
        age = time.time() - path.stat().st_mtime
        if older_than_days is not None and age < older_than_days * 86400:
            continue
        if path.name.endswith(".tmp") and age < 3600:  # a conversion that may be under way in another run
            continue
        freed += total_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        removed += 1
    return removed, freed


def write_json_atomically(path: Path, data: dict) -> None:
    """Write JSON so that a reader sees the old file or the whole new one, never a part."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as f:
        json.dump(data, f, indent=2)
    os.replace(f.name, path)


def describe_entry(arrow_file: Path, **about) -> None:
    """Record what a cache file holds (dataset, split, tokenizer, rows) beside it."""
    write_json_atomically(arrow_file.with_suffix(".json"), {**about, "file": arrow_file.name, "created": time.time()})


@dataclass
class Entry:
    path: Path
    bytes: int
    modified: float
    about: dict

    @property
    def label(self) -> str:
        about = self.about
        if not about:
            return "(unknown: written before hf_transfer recorded what its cache files hold)"
        what = f"{about.get('dataset', '?')} [{about.get('split', '?')}], {about.get('task', '?')}"
        return f"{what}, tokenizer {about.get('tokenizer', '?')}"


PROFILE_SUFFIX = ".lengths.json"
"""A split's token-length profile (``lengths.py``), kept in the tokenization cache."""


def profiles(folder: Path | None = None) -> list[Path]:
    """The cached length profiles."""
    folder = folder or tokenization_cache_dir(create=False)
    return sorted(folder.glob(f"*{PROFILE_SUFFIX}")) if folder.is_dir() else []


def entries(folder: Path | None = None) -> list[Entry]:
    """The cached tokenized splits, newest first."""
    folder = folder or tokenization_cache_dir(create=False)
    if not folder.is_dir():
        return []
    out = []
    for file in folder.glob("*.arrow"):
        meta = file.with_suffix(".json")
        try:
            about = json.loads(meta.read_text()) if meta.is_file() else {}
        except ValueError:
            about = {}
        stat = file.stat()
        out.append(Entry(file, stat.st_size + (meta.stat().st_size if meta.is_file() else 0), stat.st_mtime, about))
    return sorted(out, key=lambda e: e.modified, reverse=True)


def leftovers(folder: Path | None = None) -> list[Path]:
    """Temporary files of writes that never finished (an interrupted run): never loaded, only in the way."""
    folder = folder or tokenization_cache_dir(create=False)
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and (p.name.startswith("tmp") or p.name.endswith(".tmp"))]


def total_bytes(folder: Path | None = None) -> int:
    folder = folder or tokenization_cache_dir(create=False)
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


IN_USE = ".in-use.lock"
"""A lock file in the tokenization cache: every run holds it shared while it tokenizes or reads its splits,
``cache clear`` asks for it alone, and so knows whether a write may be under way."""

RECENT_SECONDS = 3600
"""While a run is tokenizing, ``clear`` leaves alone what was written or used this recently."""


@contextmanager
def in_use(folder: Path | None = None, exclusive: bool = False):
    """Hold the cache's lock for the block: shared (a run tokenizing), or exclusive without waiting (``clear``).
    Yields whether the lock was had (an exclusive one is not while a run holds it)."""
    import fcntl

    folder = folder or tokenization_cache_dir()
    try:
        fd = os.open(folder / IN_USE, os.O_CREAT | os.O_RDWR, 0o644)
    except OSError:  # a cache that cannot be written fails where it is written, with its own message
        yield True
        return
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX | fcntl.LOCK_NB) if exclusive else fcntl.LOCK_SH)
            had = True
        except BlockingIOError:
            had = False
        yield had
    finally:
        os.close(fd)


def check_age(older_than_days: float | None) -> None:
    if older_than_days is not None and not (math.isfinite(older_than_days) and older_than_days >= 0):
        raise UserError(f"--older-than takes a number of days, 0 or more (got {older_than_days!r}).")


def clear(older_than_days: float | None = None, folder: Path | None = None) -> tuple[int, int, int]:
    """Remove cached splits and their length profiles (only those not used for ``older_than_days``, if given) and
    unfinished writes.
    While a run is tokenizing (it holds the cache's lock), its write under way and the splits written or used
    in the last hour stay. Returns (files removed, bytes freed, entries kept because a run may be using them)."""
    check_age(older_than_days)
    folder = folder or tokenization_cache_dir(create=False)
    if not folder.is_dir():
        return 0, 0, 0
    now = time.time()
    removed = freed = spared = 0
    with in_use(folder, exclusive=True) as alone:

        def recent(path: Path) -> bool:
            return not alone and now - path.stat().st_mtime < RECENT_SECONDS

        def young(modified: float) -> bool:
            return older_than_days is not None and now - modified < older_than_days * 86400

        for entry in entries(folder):
            if young(entry.modified):
                continue
            if recent(entry.path):
                spared += 1
                continue
            for file in (entry.path, entry.path.with_suffix(".json")):
                if file.is_file():
                    freed += file.stat().st_size
                    file.unlink()
                    removed += 1
        # length profiles by age like the splits; unfinished writes whatever their age
        for file in [p for p in profiles(folder) if not young(p.stat().st_mtime)] + list(leftovers(folder)):
            if recent(file):
                spared += 1
                continue
            freed += file.stat().st_size
            file.unlink(missing_ok=True)
            removed += 1
    return removed, freed, spared


def human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"

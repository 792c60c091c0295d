"""Local data files: csv / tsv / json / jsonl / parquet (csv and json also compressed), CoNLL columns, and
SQuAD-format JSON, each read with checks that name what is wrong (a quote that would swallow rows, a column
named twice, an empty file, a folder given as a file)."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hf_transfer.base.errors import UserError, first_line
from hf_transfer.sources import CAPS, DataSource, register


@register
@dataclass
class FileData(DataSource):
    """Local csv / tsv / json / jsonl / parquet files."""

    kind: ClassVar[str] = "files"

    train_file: str
    validation_file: str | None = None

    def describe(self) -> str:
        return self.train_file

    @classmethod
    def in_place_of(cls, data: DataSource, template: DataSource, train_file: str, validation_file: str | None = None):
        """The user's files in place of a recipe's ``data`` (``--train_file``, ``copy --train_file``): its column
        mapping, held-out split and data checks kept; its sample limits (``CAPS``) only where they differ from the
        ``template``'s own (set by this command), as the recipe's were sized for its own data."""
        shared = {k: getattr(data, k) for k in DataSource.usage_fields()}
        shared.update({k: getattr(data, k) for k in CAPS if getattr(data, k) != getattr(template, k)})
        return cls(
            train_file=str(Path(train_file).expanduser().resolve()),
            validation_file=str(Path(validation_file).expanduser().resolve()) if validation_file else None,
            **shared,
        )

    def describe_split(self, split: str) -> str:
        if split == "validation" and self.validation_file:  # the selection split is carved from training
            return self.validation_file
        return self.describe()

    def public(self) -> FileData:
        import dataclasses

        named = {"train_file": Path(self.train_file).name}
        if self.validation_file:
            named["validation_file"] = Path(self.validation_file).name
        return dataclasses.replace(self, **named)

    def license(self, online: bool) -> str:
        return "unknown (local files)"

    def load(self):
        from datasets import DatasetDict

        splits = {"train": read_file(self.train_file)}
        if self.validation_file:
            splits["validation"] = read_file(self.validation_file)
        return DatasetDict(splits)


FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".conll": "conll",
    ".txt": "conll",
}


COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
"""Compressed csv / tsv / json / jsonl files, which ``datasets`` reads as they are (``train.csv.gz``)."""


def file_format(file: Path) -> tuple[str | None, str, str | None]:
    """(datasets' format, the data suffix, the compression) of a data file's name: ``x.csv.gz`` is csv, gzip."""
    suffixes = [s.lower() for s in file.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    suffix = (suffixes[-2] if len(suffixes) > 1 else "") if compression else (suffixes[-1] if suffixes else "")
    fmt = FILE_FORMATS.get(suffix)
    if compression and fmt not in ("csv", "json"):
        fmt = None
    return fmt, suffix, compression


def open_text(file: Path, compression: str | None):
    """A data file's text, through its compression."""
    import bz2
    import gzip
    import lzma

    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression)
    if compression == "zstd":
        return None
    return opener(file, "rt", encoding="utf-8") if opener else file.open(encoding="utf-8")


def check_data_file(path: str, what: str = "Data file") -> Path:
    """The file exists, is a file, and is not empty (named in one message otherwise)."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise UserError(f"{what} {path} is a folder, not a file: name a file in it.")
    if not file.is_file():
        raise UserError(f"{what} {path} does not exist.")
    if file.stat().st_size == 0:
        raise UserError(f"{what} {path} is empty.")
    return file


def read_file(path: str):
    """One local data file as a Dataset: csv / tsv / json / jsonl / parquet (csv and json also compressed),
    CoNLL columns (.conll / .txt), or SQuAD-format JSON."""
    from datasets import load_dataset

    file = Path(path).expanduser()
    fmt, suffix, compression = file_format(file)
    if fmt is None:
        shown = "".join(file.suffixes[-2:]) or "(none)"
        raise UserError(
            f"Data file {path}: unsupported extension {shown!r}; use one of {', '.join(FILE_FORMATS)} (csv, tsv, json "
            f"and jsonl may be compressed: {', '.join(COMPRESSIONS)})."
        )
    file = check_data_file(path)
    if fmt == "conll":
        return read_conll(file)
    if fmt == "json" and not compression and (squad := read_squad_json(file)) is not None:
        return squad
    # TSV files do not quote fields: a stray " must not join lines (pandas would, silently dropping rows)
    kwargs = {"delimiter": "\t", "quoting": 3} if suffix == ".tsv" else {}
    if fmt == "csv":
        _check_header(file, compression, "\t" if kwargs else ",")
        if not kwargs:
            _check_quotes(file, compression)
    check_cache_writable()
    try:
        with _quiet("datasets"):  # it logs a parser's traceback before raising; the message below says it
            return load_dataset(fmt, data_files={"train": str(file.resolve())}, split="train", **kwargs)
    except Exception as exc:  # datasets wraps parser errors in several types
        if "corresponds to no data" in str(exc):
            raise UserError(f"Data file {path} has no rows.") from None
        raise UserError(f"Data file {path} could not be read as {fmt}: {first_line(exc.__cause__ or exc)}") from None


def check_cache_writable() -> None:
    """datasets writes what it reads into its cache folder (under HF_HOME): one that cannot be written is named,
    instead of a file that "could not be read"."""
    import os

    from datasets import config

    folder = Path(config.HF_DATASETS_CACHE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK | os.X_OK)
    except OSError:
        writable = False
    if not writable:
        raise UserError(
            f"The datasets cache folder {folder} cannot be written (it is under HF_HOME, or HF_DATASETS_CACHE): "
            "datasets keeps what it reads there. Point HF_HOME at a folder you can write, e.g. "
            "HF_HOME=$HOME/.cache/huggingface."
        )


def _check_header(file: Path, compression: str | None, delimiter: str) -> None:
    """A CSV header that names a column twice: pandas would rename one (``label.1``) and train on the wrong one."""
    import csv
    from collections import Counter

    try:
        with open_text(file, compression) or open(file, "rb") as f:
            if not hasattr(f, "encoding"):
                return  # zstd: datasets reads it, the header is checked by what it finds
            header = next(csv.reader(f, delimiter=delimiter), [])
    except (UnicodeDecodeError, OSError, EOFError, csv.Error):
        return  # the reader says what is wrong
    twice = sorted(name for name, n in Counter(c.strip() for c in header).items() if n > 1)
    if twice:
        raise UserError(
            f"Data file {file}: its header names the column(s) {', '.join(map(repr, twice))} more than once. Rename "
            "them so that each column has its own name."
        )


def _check_quotes(file: Path, compression: str | None = None) -> None:
    """An unbalanced quote makes the CSV reader join the following lines into one field: rows vanish
    without a word. Refuse such a file by name, with the line where the quote opens."""
    try:
        handle = open_text(file, compression)
        if handle is None:
            return
        with handle as f:
            text = f.read()
    except (UnicodeDecodeError, OSError, EOFError):
        return  # the reader says what is wrong
    if text.count('"') % 2 == 0:
        return
    open_at = next((n for n, line in enumerate(text.splitlines(), 1) if line.count('"') % 2), None)
    lines = sum(1 for line in text.splitlines() if line.strip())
    raise UserError(
        f'Data file {file} has an unbalanced quote (") on line {open_at}: a CSV reader would join the lines after '
        f"it into one field and drop rows ({lines - 1} data lines in the file). Close or remove the quote, or save the "
        "file as .tsv (fields are not quoted there)."
    )


@contextlib.contextmanager
def _quiet(logger_name: str):
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_conll(path: Path):
    """CoNLL column files: one token per line, token first and tag last, a blank line between
    sentences, ``-DOCSTART-`` lines skipped. Columns: ``tokens``, ``tags``."""
    from datasets import Dataset

    sentences, tokens, tags = [], [], []
    try:
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                parts = line.split()
                if not parts:
                    if tokens:
                        sentences.append((tokens, tags))
                    tokens, tags = [], []
                elif parts[0] == "-DOCSTART-":
                    continue
                elif len(parts) < 2:
                    raise UserError(f"{path} line {number}: expected a token and a tag, got {line.strip()!r}.")
                else:
                    tokens.append(parts[0])
                    tags.append(parts[-1])
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    if tokens:
        sentences.append((tokens, tags))
    if not sentences:
        raise UserError(f"{path} has no sentences.")
    return Dataset.from_dict({"tokens": [s[0] for s in sentences], "tags": [s[1] for s in sentences]})


def read_squad_json(path: Path):
    """SQuAD-format JSON (``{"data": [{"paragraphs": [{"context", "qas"}]}]}``) flattened to one
    row per question, or None when the file is not in that format."""
    from datasets import Dataset

    with path.open("rb") as f:
        if f.read(64).lstrip()[:1] != b"{":
            return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None  # JSON lines, or broken: the json loader reports it
    if not (
        isinstance(data, dict)
        and isinstance(data.get("data"), list)
        and data["data"]
        and "paragraphs" in data["data"][0]
    ):
        return None
    rows = {"id": [], "title": [], "context": [], "question": [], "answers": []}
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                answers = [] if qa.get("is_impossible") else qa.get("answers", [])
                rows["id"].append(str(qa.get("id", len(rows["id"]))))
                rows["title"].append(article.get("title", ""))
                rows["context"].append(paragraph.get("context"))
                rows["question"].append(qa.get("question"))
                rows["answers"].append(
                    {"text": [a.get("text") for a in answers], "answer_start": [a.get("answer_start") for a in answers]}
                )
    if not rows["id"]:
        raise UserError(f"{path} is SQuAD-format JSON without questions.")
    return Dataset.from_dict(rows)

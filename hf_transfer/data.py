"""Loading a recipe's data: Hub datasets, local files, packaged datasets.

Everything here returns a ``DatasetDict`` whose columns are the task's role names (``text``,
``label``, ...), so tasks never see a source's own column names.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import logging
import math
from pathlib import Path

from .assets import installed_version
from .cache import describe_entry, tokenization_cache_dir
from .errors import UserError, first_line
from .recipe import DataSource, FileData, HubData, PackagedData

FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
    ".conll": "conll",
    ".txt": "conll",
}


def load_raw(source: DataSource):
    """The source's splits as loaded: a DatasetDict with 'train' and, if the source has one, 'validation'."""
    from datasets import Dataset, DatasetDict

    if isinstance(source, PackagedData):
        from .assets import load_packaged_dataset

        return DatasetDict({"train": Dataset.from_pandas(load_packaged_dataset(source.name), preserve_index=False)})
    if isinstance(source, FileData):
        splits = {"train": read_file(source.train_file)}
        if source.validation_file:
            splits["validation"] = read_file(source.validation_file)
        return DatasetDict(splits)
    if isinstance(source, HubData):
        return _load_hub(source)
    raise TypeError(f"unknown data source {source!r}")


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


PARQUET_EXPORT = "refs/convert/parquet"
"""The revision where the Hub keeps its automatic parquet export of a dataset, one folder per config."""


def _hub_where(source: HubData) -> str:
    return (
        f"{source.path!r}"
        + (f", config {source.name!r}" if source.name else "")
        + f", revision {source.revision or 'main'!r}"
    )


def _load_hub(source: HubData):
    from datasets import DatasetDict, load_dataset

    from .assets import hub_offline, hub_reachable

    where = _hub_where(source)
    if not hub_offline() and not hub_reachable():
        raise UserError(
            f"Dataset {where} is on the Hugging Face Hub, which cannot be reached. "
            "Set HF_HUB_OFFLINE=1 to use a cached copy, or pass --train_file / --validation_file."
        )
    kwargs = {"revision": source.revision}
    if source.revision == PARQUET_EXPORT:
        # The export holds <config>/<split>/NNNN.parquet and no card: a config is a folder. A dataset with one
        # config needs no name (its folder is found whatever it is called).
        if source.name:
            kwargs["data_dir"] = source.name
    else:
        kwargs["name"] = source.name
    try:
        loaded = load_dataset(source.path, **kwargs)
    except Exception as exc:
        raise _hub_error(exc, source, where) from None
    wanted = [source.train_split] + [s for s in (source.eval_split, source.test_split) if s]
    for split in wanted:
        if split not in loaded:
            raise UserError(
                f"Dataset {where} has no split {split!r}; it has: {', '.join(loaded)}. "
                "Name one of those with --set data.train_split=... / data.eval_split=... / data.test_split=..."
            )
    splits = {"train": loaded[source.train_split]}
    if source.eval_split:
        splits["validation"] = loaded[source.eval_split]
    if source.test_split:
        splits["test"] = loaded[source.test_split]
    return DatasetDict(splits)


def _hub_error(exc: Exception, source: HubData, where: str) -> UserError:
    """One short message for what went wrong loading a Hub dataset, naming it and what to do."""
    from .assets import hub_offline

    text = str(exc)
    if hub_offline() and (isinstance(exc, ConnectionError) or "OfflineModeIsEnabled" in text or "offline" in text):
        return UserError(
            f"Dataset {where}: HF_HUB_OFFLINE is set, and this machine has no cached copy of it. Load it once with "
            "network access (HF_HUB_OFFLINE unset) to keep a copy in the datasets cache, or pass --train_file / "
            "--validation_file for local data."
        )
    if "scripts are no longer supported" in text:
        return UserError(
            f"Dataset {where} holds a loading script, which datasets 4 and later no longer run. The Hub's parquet "
            f"export of the same data usually works: --set data.revision={PARQUET_EXPORT}"
            + (f" (the config {source.name!r} is then a folder of the export)." if source.name else ".")
        )
    if "gated" in text:
        return UserError(
            f"Dataset {where} is gated on the Hub: accept its terms on https://huggingface.co/datasets/{source.path} "
            "and set HF_TOKEN (or run `hf auth login`) with an account that has access."
        )
    if "Revision" in text and "doesn't exist" in text:
        return UserError(
            f"Dataset {where}: that revision does not exist on the Hub. Check data.revision (a branch, tag or commit)."
        )
    if "doesn't exist on the Hub" in text or "cannot be accessed" in text:
        return UserError(
            f"Dataset {where} was not found on the Hub (or it is private and no token with access is set). "
            "Check the id in data.path, or pass --train_file / --validation_file for local data."
        )
    if "BuilderConfig" in text or "Config name" in text or "config" in text.lower() and "not found" in text.lower():
        return UserError(f"Dataset {where}: no such config. {first_line(exc)} Set it with --set data.name=...")
    if isinstance(exc, ConnectionError) or "Couldn't reach" in text:
        return UserError(
            f"Dataset {where} could not be reached on the Hub: {first_line(exc)}. Check the network, "
            "or set HF_HUB_OFFLINE=1 to use a cached copy."
        )
    if source.revision == PARQUET_EXPORT and (
        "Couldn't find any data" in text
        or "corresponds to no data" in text
        or "Unable to find" in text
        or isinstance(exc, FileNotFoundError)
    ):
        return UserError(
            f"Dataset {where}: the parquet export has no config folder {source.name!r}; "
            "set data.name to one of the export's config folders."
        )
    return UserError(f"Dataset {where} could not be loaded: {type(exc).__name__}: {first_line(exc)}")


def _names(columns: list[str], width: int = 40, most: int = 30) -> str:
    """Column names for a message: each cut to ``width`` characters, at most ``most`` of them."""
    shown = [c if len(c) <= width else c[:width] + "..." for c in columns[:most]]
    return ", ".join(shown) + (f" (and {len(columns) - most} more)" if len(columns) > most else "")


def select_columns(splits, source: DataSource, roles: dict[str, bool], extra_columns: list[str] = ()):
    """Rename the source's columns to the task's role names, drop the others (but ``extra_columns``),
    check what is there."""
    unknown_roles = [r for r in source.columns if r not in roles]
    if unknown_roles:
        raise UserError(
            f"data.columns maps {unknown_roles}, which this task does not read; its roles are: {', '.join(roles)}."
        )
    out = {}
    for split, ds in splits.items():
        if any("." in c and c not in ds.column_names for c in source.columns.values()):
            ds = ds.flatten()  # nested fields, e.g. translation.en, become columns of their own
        mapping = {}
        for role, required in roles.items():
            column = source.columns.get(role, role)
            if column not in ds.column_names and role in ds.column_names:
                column = role  # files named after the roles (CoNLL files, or data written for this task)
            if column in ds.column_names:
                mapping[column] = role
            elif required or role in source.columns:
                close = difflib.get_close_matches(column, ds.column_names, n=1)
                hint = f" Did you mean {close[0]!r}? Map it with --set data.columns.{role}={close[0]}." if close else ""
                raise UserError(
                    f"Column {column!r} ({role}) is not in the {split} split of {source.describe()}; "
                    f"its columns are: {_names(ds.column_names)}.{hint}"
                )
        extra = [c for c in extra_columns if c not in mapping]
        missing = [c for c in extra if c not in ds.column_names]
        if missing:
            raise UserError(
                f"Columns {missing} are not in the {split} split of {source.describe()}; its columns are: "
                f"{_names(ds.column_names)}."
            )
        ds = ds.select_columns(list(mapping) + extra).rename_columns({c: r for c, r in mapping.items() if c != r})
        if len(ds) == 0:
            raise UserError(f"The {split} split of {source.describe()} is empty.")
        for role in ("text", "text_pair"):
            if role in ds.column_names:
                for i, value in enumerate(ds[role]):
                    if not isinstance(value, str) or not value.strip():
                        raise UserError(f"Row {i} of the {split} split has no text in column {role!r} (got {value!r}).")
        out[split] = ds
    return type(splits)(out)


def split_and_limit(splits, source: DataSource):
    """Make sure there is a validation split (seeded), then apply the sample limits (seeded shuffle)."""
    from datasets import DatasetDict

    train = splits["train"]
    if "validation" in splits:
        evaluation = splits["validation"]
    else:
        if len(train) < 2:
            raise UserError(f"{source.describe()} has too few rows ({len(train)}) to hold out an evaluation split.")
        held_out = math.ceil(source.eval_fraction * len(train))
        if held_out >= len(train):
            raise UserError(
                f"data.eval_fraction={source.eval_fraction} of {source.describe()}'s {len(train)} rows leaves no "
                "training rows; lower it, or give a validation file / split."
            )
        parts = train.train_test_split(test_size=held_out, seed=source.split_seed)
        train, evaluation = parts["train"], parts["test"]
    if source.max_train_samples is not None and source.max_train_samples < len(train):
        train = train.shuffle(seed=source.split_seed).select(range(source.max_train_samples))
    if source.max_eval_samples is not None and source.max_eval_samples < len(evaluation):
        evaluation = evaluation.shuffle(seed=source.split_seed).select(range(source.max_eval_samples))
    out = {"train": train, "validation": evaluation}
    if "test" in splits:  # evaluated once, at the end, with the model chosen on the validation split
        test = splits["test"]
        if source.max_eval_samples is not None and source.max_eval_samples < len(test):
            test = test.shuffle(seed=source.split_seed).select(range(source.max_eval_samples))
        out["test"] = test
    for name, ds in out.items():
        if len(ds) == 0:
            raise UserError(f"The {name} split of {source.describe()} is empty.")
    return DatasetDict(out)


def load_splits(source: DataSource, task, report: dict | None = None):
    """Load, map columns, drop the rows the task is told to drop, check and encode labels, split and
    limit. Returns (splits, the task with what was learned from the data); ``report``, when given, receives
    ``{"dropped": {why: count}, "learned": {setting: value}}``."""
    splits = select_columns(load_raw(source), source, task.roles, task.extra_columns())
    splits, dropped = task.drop_rows(splits)
    splits, learned = task.prepare(splits)
    if report is not None:
        report["dropped"] = dropped
        report["learned"] = learned
    return split_and_limit(splits, source), task.with_learned(learned)


def load_evaluation_file(path: str, source: DataSource, task, max_eval_samples: int | None = None):
    """A new labelled file to evaluate a finished run on (``hf-transfer eval --validation_file``): read as the
    validation split alone, with the run's column mapping and its label set (a label the run never saw is
    refused as a validation row's); ``max_eval_samples`` takes a seeded sample. Returns (splits, task), the
    splits holding the file as both "train" and "validation" (the trivial baselines read its own labels)."""
    from datasets import DatasetDict

    file_source = FileData(train_file=path, validation_file=path, columns=source.columns, split_seed=source.split_seed)
    splits = select_columns(DatasetDict({"validation": read_file(path)}), file_source, task.roles, task.extra_columns())
    splits, _ = task.drop_rows(splits)
    splits, learned = task.prepare(splits)
    task = task.with_learned(learned)
    evaluation = splits["validation"]
    if max_eval_samples is not None and max_eval_samples < len(evaluation):
        evaluation = evaluation.shuffle(seed=source.split_seed).select(range(max_eval_samples))
    return DatasetDict({"train": evaluation, "validation": evaluation}), task


# --------------------------------------------------------------------------------------------
# Tokenization, cached on disk (hf_transfer.cache: where, what, clearing)
# --------------------------------------------------------------------------------------------


def _tokenization_key(task, tokenizer) -> str:
    """What the tokenized data depends on, besides the data itself: task settings, tokenizer, versions."""
    import hashlib

    import transformers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # truncation / padding state changes as the tokenizer is used: leave it out
        described = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        described = json.dumps(described, sort_keys=True)
    else:
        described = repr(tokenizer)
    parts = [
        task.kind,
        repr(sorted(dataclasses.asdict(task).items())),
        described,
        repr(sorted(tokenizer.special_tokens_map.items())),
        tokenizer.padding_side,
        str(getattr(tokenizer, "chat_template", "")),
        transformers.__version__,
        installed_version("hf-transfer-toolkit"),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def tokenize_splits(splits, task, tokenizer, dataset: str = "", log=None):
    """Batched fast tokenization, cached on disk: a second run over the same data, task settings and
    tokenizer loads the result instead of tokenizing again (``hf-transfer cache`` lists and clears it).
    A cached file that no longer reads whole (cut short, damaged) is removed and built again.
    ``log``, when given, hears about such a rebuild."""
    import os

    from .cache import in_use

    key = _tokenization_key(task, tokenizer)
    cache = tokenization_cache_dir()
    function = task.tokenize_function(tokenizer)
    out = {}
    with in_use(cache):  # `hf-transfer cache clear` leaves this run's writes alone
        for split, ds in splits.items():
            fingerprint = f"{key}-{ds._fingerprint}"
            file = cache / f"{fingerprint}.arrow"
            if file.is_file() and not _readable_cache_file(file):
                file.unlink(missing_ok=True)
                file.with_suffix(".json").unlink(missing_ok=True)
                if log is not None:
                    log(f"[hf-transfer] the cached tokenization of {split} ({file.name}) was damaged: built again")
            out[split] = ds.map(
                function,
                batched=True,
                remove_columns=[c for c in ds.column_names if c != "labels"],
                cache_file_name=str(file),
                new_fingerprint=fingerprint,
                load_from_cache_file=True,
                desc=f"Tokenizing {split}",
            )
            if file.is_file():
                if not file.with_suffix(".json").is_file():
                    describe_entry(
                        file,
                        dataset=dataset,
                        split=split,
                        task=task.kind,
                        rows=len(out[split]),
                        tokenizer=getattr(tokenizer, "name_or_path", ""),
                    )
                with contextlib.suppress(FileNotFoundError):  # cleared by `cache clear` meanwhile: already loaded
                    os.utime(file)  # last used: `hf-transfer cache clear --older-than DAYS` keeps what runs use
    return type(splits)(out)


def _readable_cache_file(file: Path) -> bool:
    """Whether a cached Arrow file reads to its end, with the rows its description records."""
    from datasets import Dataset

    try:
        table = Dataset.from_file(str(file))
        about = json.loads(file.with_suffix(".json").read_text()) if file.with_suffix(".json").is_file() else {}
    except Exception:  # pyarrow's errors for a cut file are of several kinds
        return False
    return about.get("rows") in (None, len(table))

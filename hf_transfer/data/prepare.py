"""A recipe's data made ready for its task: columns mapped to the task's roles, rows checked, labels encoded,
a seeded evaluation split, sample limits; then tokenized, with an on-disk cache.

Everything here returns a ``DatasetDict`` whose columns are the task's role names (``text``,
``label``, ...), so tasks never see a source's own column names. Where the data comes from is the
data source's own business (``sources/``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import json
import math
from pathlib import Path

from hf_transfer.base.errors import UserError
from hf_transfer.data.cache import describe_entry, tokenization_cache_dir
from hf_transfer.sources import DataSource, FileData
from hf_transfer.sources.assets import installed_version
from hf_transfer.sources.files import read_file


def _names(columns: list[str], width: int = 40, most: int = 30) -> str:
    """Column names for a message: each cut to ``width`` characters, at most ``most`` of them."""
    shown = [c if len(c) <= width else c[:width] + "..." for c in columns[:most]]
    return ", ".join(shown) + (f" (and {len(columns) - most} more)" if len(columns) > most else "")


SYNONYMS = {
    "text": ("sentence", "review", "text", "content", "body", "document", "comment", "tweet", "utterance", "sentence1"),
    "text_pair": ("sentence2", "hypothesis", "question2", "text_b", "pair"),
    "label": ("labels", "label", "target", "class", "category", "sentiment", "gold", "y"),
}
"""What a column holding a role is often called, for the fix a column error suggests."""


def likely_column(role: str, missing: str, ds, taken: list[str] = ()) -> str:
    """The data's column most likely meant for ``role``: a near spelling of ``missing``, a usual name for the role,
    then (text roles) the column of the longest strings or (labels) the one of fewest distinct values."""
    free = [c for c in ds.column_names if c not in taken] or list(ds.column_names)
    close = difflib.get_close_matches(missing, free, n=1) or difflib.get_close_matches(role, free, n=1)
    if close:
        return close[0]
    lowered = {c.lower(): c for c in free}
    for name in SYNONYMS.get(role, ()):
        if name in lowered:
            return lowered[name]
    sample = ds.select(range(min(len(ds), 200)))
    if role.startswith("text"):
        lengths = {c: sum(len(v) for v in sample[c] if isinstance(v, str)) for c in free}
        return max(free, key=lambda c: lengths[c])
    if role == "label":
        return min(free, key=lambda c: len({repr(v) for v in sample[c]}))
    return free[0]


def set_column_fix(role: str, missing: str, candidate: str) -> str:
    """How ``run`` (and plan, compare, tune) map a column: ``--set data.columns.ROLE=COLUMN``."""
    import shlex

    return f"Map the column to read with --set {shlex.quote(f'data.columns.{role}={candidate}')}"


def select_columns(splits, source: DataSource, roles: dict[str, bool], extra_columns: list[str] = (),
                   require_text: bool = True, fix=set_column_fix):  # fmt: skip
    """Rename the source's columns to the task's role names, drop the others (but ``extra_columns``),
    check what is there (``require_text=False``: rows without text are left for the data check to report).
    ``fix(role, missing column, likely column)``: the sentence that ends a missing column's error, the command's own
    way to map a column."""
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
                candidate = likely_column(role, column, ds, taken=list(mapping))
                close = difflib.get_close_matches(column, ds.column_names, n=1) == [candidate]
                raise UserError(
                    f"Column {column!r} ({role}) is not in the {split} split of {source.describe()}; "
                    f"its columns are: {_names(ds.column_names)}.{f' Did you mean {candidate!r}?' if close else ''} "
                    f"{fix(role, column, candidate)}"
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
        for role in ("text", "text_pair") if require_text else ():
            if role in ds.column_names:
                for i, value in enumerate(ds[role]):
                    if not isinstance(value, str) or not value.strip():
                        raise UserError(f"Row {i} of the {split} split has no text in column {role!r} (got {value!r}).")
        out[split] = ds
    return type(splits)(out)


SELECTION_FRACTION = 0.1
"""The share of the training rows carved out (seeded) as the selection split when a run chooses (the best
checkpoint, early stopping, a tuner's trials) and ``data.selection_fraction`` is not set."""


def seeded_split(dataset, size: int, seed: int, task=None):
    """(rest, carved): ``size`` rows of ``dataset`` carved out with ``seed``, keeping together what the task says
    belongs together (``Task.split_rule``): each label's share on both sides (stratified), or every row of one group
    (a QA context) on one side. Both parts keep the dataset's row order."""
    import random
    from collections import defaultdict

    rng = random.Random(seed)
    n = len(dataset)
    rule = task.split_rule(dataset) if task is not None else None
    order = list(range(n))
    rng.shuffle(order)
    carved = order[:size]
    if rule and rule[0] == "group":
        members: dict = defaultdict(list)
        for i, key in enumerate(rule[1]):
            members[key].append(i)
        keys = list(members)
        rng.shuffle(keys)
        grouped: list[int] = []
        for key in keys:
            if len(grouped) >= size:
                break
            grouped.extend(members[key])
        if len(grouped) < n:  # one group holding every row cannot be split by group
            carved = grouped
    elif rule and rule[0] == "stratify":
        classes: dict = defaultdict(list)
        for i in order:
            classes[rule[1][i]].append(i)
        quota = {label: size * len(rows) / n for label, rows in classes.items()}
        take = {label: int(q) for label, q in quota.items()}
        for label in sorted(classes, key=lambda c: take[c] - quota[c])[: size - sum(take.values())]:
            take[label] += 1  # the largest remainders round up: exactly ``size`` rows
        carved = [i for label, rows in classes.items() for i in rows[: take[label]]]
    chosen = set(carved)
    return dataset.select([i for i in range(n) if i not in chosen]), dataset.select(sorted(chosen))


def split_and_limit(splits, source: DataSource, task=None, chooses=False, capped: dict | None = None):
    """Make sure there is a validation split (seeded, as the task keeps rows together), apply the training cap, carve
    the selection split from the training rows when the run chooses (``chooses``: a bool, or a function of the
    training rows' count) or ``data.selection_fraction`` asks for one, then the share of the rest that trains
    (``train_fraction``) and the evaluation cap. The evaluation split never chooses: it is scored once. ``capped``, when
    given, receives ``{split: (rows kept, rows before, the setting)}`` for each limit that cut."""
    capped = {} if capped is None else capped
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
        train, evaluation = seeded_split(train, held_out, source.split_seed, task)
    if source.max_train_samples is not None and source.max_train_samples < len(train):
        capped["train"] = (source.max_train_samples, len(train), "max_train_samples")
        train = train.shuffle(seed=source.split_seed).select(range(source.max_train_samples))
    fraction = source.selection_fraction
    if fraction is None:
        wanted = chooses(len(train)) if callable(chooses) else chooses
        fraction = SELECTION_FRACTION if wanted else 0
    out = {}
    if fraction:  # what chooses reads rows carved from training, never the evaluation data
        carved = math.ceil(fraction * len(train))
        if not 0 < carved < len(train):
            raise UserError(
                f"data.selection_fraction={fraction} of {len(train)} training rows leaves no rows to train or to "
                "select on; lower it, or set it to 0 to train on every row and keep the last model."
            )
        train, out["selection"] = seeded_split(train, carved, source.split_seed, task)
    if source.train_fraction is not None and source.train_fraction < 1:
        # the same seeded order for every fraction: the 10% is inside the 25%
        kept = max(1, round(source.train_fraction * len(train)))
        capped["train"] = (kept, capped.get("train", (0, len(train)))[1], f"train_fraction {source.train_fraction:g}")
        train = train.shuffle(seed=source.split_seed).select(range(kept))
    if source.max_eval_samples is not None and source.max_eval_samples < len(evaluation):
        capped["validation"] = (source.max_eval_samples, len(evaluation), "max_eval_samples")
        evaluation = evaluation.shuffle(seed=source.split_seed).select(range(source.max_eval_samples))
    out = {"train": train, **out, "validation": evaluation}
    if "test" in splits:  # evaluated once, at the end, with the model chosen on the selection split
        test = splits["test"]
        if source.max_eval_samples is not None and source.max_eval_samples < len(test):
            test = test.shuffle(seed=source.split_seed).select(range(source.max_eval_samples))
        out["test"] = test
    for name, ds in out.items():
        if len(ds) == 0:
            raise UserError(f"The {name} split of {source.describe()} is empty.")
    return DatasetDict(out)


def load_splits(source: DataSource, task, report: dict | None = None, chooses=False, require_text: bool = True):
    """Load, map columns, drop the rows the task is told to drop, check and encode labels, split and
    limit. Returns (splits, the task with what was learned from the data); ``report``, when given, receives
    ``{"dropped": {why: count}, "learned": {setting: value}}``. ``chooses``: see ``split_and_limit``."""
    splits = select_columns(source.load(), source, task.roles, task.extra_columns(), require_text)
    splits, dropped = task.drop_rows(splits)
    splits, learned = task.prepare(splits)
    capped: dict = {}
    if report is not None:
        report["dropped"] = dropped
        report["learned"] = learned
        report["capped"] = capped
    task = task.with_learned(learned)
    return split_and_limit(splits, source, task, chooses, capped), task


def load_evaluation_file(path: str, source: DataSource, task, max_eval_samples: int | None = None):
    """A new labelled file to evaluate a finished run on (``hf-transfer eval --validation_file``): read as the
    validation split alone, with the run's column mapping and its label set (a label the run never saw is
    refused as a validation row's); ``max_eval_samples`` takes a seeded sample. Returns (splits, task), the
    splits holding the file as both "train" and "validation" (the trivial baselines read its own labels)."""
    from datasets import DatasetDict

    file_source = FileData(train_file=path, validation_file=path, columns=source.columns, split_seed=source.split_seed)
    def rename(role: str, missing: str, candidate: str) -> str:
        return f"The run reads {role} from a column named {missing!r}: rename the file's column {candidate!r} to that."

    splits = select_columns(DatasetDict({"validation": read_file(path)}), file_source, task.roles, task.extra_columns(),
                            fix=rename)  # fmt: skip
    splits, _ = task.drop_rows(splits)
    splits, learned = task.prepare(splits)
    task = task.with_learned(learned)
    evaluation = splits["validation"]
    if max_eval_samples is not None and max_eval_samples < len(evaluation):
        evaluation = evaluation.shuffle(seed=source.split_seed).select(range(max_eval_samples))
    return DatasetDict({"train": evaluation, "validation": evaluation}), task


# --------------------------------------------------------------------------------------------
# Tokenization, cached on disk (hf_transfer.data.cache: where, what, clearing)
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


def tokenize_splits(splits, task, tokenizer, dataset: str | DataSource = "", log=None):
    """Batched fast tokenization, cached on disk: a second run over the same data, task settings and
    tokenizer loads the result instead of tokenizing again (``hf-transfer cache`` lists and clears it).
    ``dataset``: the data source (each split recorded under the file it came from), or a name for them all.
    A cached file that no longer reads whole (cut short, damaged) is removed and built again.
    ``log``, when given, hears about such a rebuild."""
    import os

    from hf_transfer.data.cache import in_use

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
                        dataset=dataset if isinstance(dataset, str) else dataset.describe_split(split),
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

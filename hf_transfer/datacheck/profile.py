"""What each split holds, apart from repeats: labels per split, token lengths with the recipe's tokenizer, and rows
that are not text."""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from collections import Counter

LIFTED = 1_000_000
"""The task's length limit while the check measures lengths: nothing is cut, so each row's whole length is seen."""
LENGTH_SAMPLE = 20_000
"""Rows per split whose tokens are counted (a seeded sample of larger splits)."""
ABSURD_CHARS = 20_000
"""A row longer than this many characters, and 50 times the split's median, is reported as absurdly long."""
PERCENTILES = (50, 90, 95, 99)
_ALLOWED_CONTROL = {"\t", "\n", "\r"}


def non_text(texts: list[str]) -> dict:
    """Rows that are not text: empty, whitespace only, no letters or digits (SST-2's "(" row), with U+FFFD (text
    decoded wrongly), with control characters, absurdly long. ``{kind: [rows]}`` for the kinds found."""
    found: dict[str, list[int]] = {}
    lengths = sorted(len(t) for t in texts)
    median = lengths[len(lengths) // 2] if lengths else 0
    for i, text in enumerate(texts):
        kinds = []
        if not text:
            kinds.append("empty")
        elif not text.strip():
            kinds.append("whitespace only")
        elif not any(c.isalnum() for c in text):
            kinds.append("no letters or digits")
        if "\ufffd" in text:
            kinds.append("replacement character")
        if any(unicodedata.category(c) == "Cc" and c not in _ALLOWED_CONTROL for c in text):
            kinds.append("control characters")
        if len(text) > max(ABSURD_CHARS, 50 * median):
            kinds.append("absurdly long")
        for kind in kinds:
            found.setdefault(kind, []).append(i)
    return found


def label_counts(classes_by_split: dict[str, list[tuple]]) -> dict:
    """Class counts per split, the classes one split has and another lacks, the training imbalance ratio."""
    counts = {split: Counter(c for row in rows for c in row) for split, rows in classes_by_split.items()}
    if not any(counts.values()):
        return {}
    train = counts.get("train", Counter())
    missing = {}
    for split, own in counts.items():
        if split != "train":
            absent = sorted(set(train) - set(own))
            unseen = sorted(set(own) - set(train))
            if absent:
                missing[f"in train, not in {split}"] = absent
            if unseen:
                missing[f"in {split}, not in train"] = unseen
    out = {"counts": {s: dict(c.most_common()) for s, c in counts.items()}, "missing": missing}
    if len(train) > 1:
        out["imbalance"] = round(max(train.values()) / min(train.values()), 2)
    return out


def token_lengths(task, tokenizer, ds, seed: int = 42) -> tuple[list[int], bool]:
    """Each row's length in tokens as the task tokenizes it, nothing cut (multiple choice: its longest choice);
    (lengths, whether a sample was measured)."""
    import transformers

    sampled = len(ds) > LENGTH_SAMPLE
    if sampled:
        ds = ds.shuffle(seed=seed).select(range(LENGTH_SAMPLE))
    lifted = dataclasses.replace(task, **{task.length_setting: LIFTED})
    function = lifted.tokenize_function(tokenizer)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "longer than the model's maximum": measured on purpose
    lengths: list[int] = []
    try:
        for start in range(0, len(ds), 1000):
            encoded = function(ds[start : start + 1000])
            for ids in encoded["input_ids"]:
                lengths.append(max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids))
    finally:
        transformers.logging.set_verbosity(verbosity)
    return lengths, sampled


def length_summary(lengths: list[int], limit: int | None) -> dict:
    import numpy as np

    if not lengths:
        return {}
    values = np.asarray(lengths)
    out = {f"p{p}": int(math.ceil(np.percentile(values, p))) for p in PERCENTILES}
    out["max"] = int(values.max())
    if limit is not None:
        out["over_limit"] = int((values > limit).sum())
        out["over_limit_share"] = round(float((values > limit).mean()), 4)
    return out


def fits_99(lengths: list[int]) -> int | None:
    """The length limit that keeps 99% of these rows whole."""
    import numpy as np

    return int(math.ceil(np.percentile(np.asarray(lengths), 99))) if lengths else None

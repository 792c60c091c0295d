"""What each split holds, apart from repeats: labels per split and rows that are not text (token lengths:
``data/lengths.py``, cached with the tokenization)."""

from __future__ import annotations

import re
from collections import Counter

ABSURD_CHARS = 20_000
"""A row longer than this many characters, and 50 times the split's median, is reported as absurdly long."""
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc: U+0000-U+001F and U+007F-U+009F), tab and line breaks allowed."""


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
        if _CONTROL.search(text):
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

"""What the task modules share besides the ``Task`` base: the row the data check reads, the error a row for
``predict`` raises, per-example counts for the records, and finding a head's modules."""

from __future__ import annotations

from typing import Any, NamedTuple


class MissingInput(ValueError):
    """A row for ``predict`` lacks what the task reads (``role``): ``predict`` names the file's own column."""

    def __init__(self, role: str, got: Any = None, what: str = ""):
        self.role, self.got = role, got
        super().__init__(what or f"no {role} in column {role!r} (got {got!r})")

    def in_column(self, column: str) -> str:
        """The message, naming the column of the user's file that the role is read from."""
        return str(self).replace(repr(self.role), repr(column), 1) if column != self.role else str(self)


class CheckedRow(NamedTuple):
    """What the data check (``hf_transfer.datacheck``) compares of one row, as its task reads it."""

    text: str
    """The row's text: repeated inside training it is a duplicate, found in training and evaluation it is leakage."""
    label: Any = None
    """What the text is labelled with (hashable): the same text with two labels is a conflict. None: no label."""
    classes: tuple = ()
    """The class names the row counts towards (label counts per split; NER: one per token)."""
    shared: str | None = None
    """A part of the text the splits may share by design (QA: the context), reported on its own."""


def counts_f1(records: list[dict]) -> float:
    """Micro F1 from the records' tp / fp / fn."""
    tp = sum(r["tp"] for r in records)
    wrong = sum(r["fp"] + r["fn"] for r in records)
    return 2 * tp / (2 * tp + wrong) if tp else 0.0


def class_counts(predicted: set, reference: set) -> dict:
    """tp / fp / fn of one example, overall and by class."""
    by_class: dict[str, dict[str, int]] = {}
    for item in predicted | reference:
        name = item[0] if isinstance(item, tuple) else item
        counts = by_class.setdefault(str(name), {"tp": 0, "fp": 0, "fn": 0})
        counts["tp" if item in predicted and item in reference else "fp" if item in predicted else "fn"] += 1
    return {
        "tp": len(predicted & reference),
        "fp": len(predicted - reference),
        "fn": len(reference - predicted),
        "by_class": by_class,
    }


def head_names_present(model, candidates: tuple[str, ...]) -> list[str]:
    """The candidate module names (last path component) that exist in ``model``."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    return [c for c in candidates if c in present]

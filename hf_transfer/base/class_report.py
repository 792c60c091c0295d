"""Per class precision, recall, F1 and support, and the confusion matrix, of a classification evaluation.

Computed from the per-example records a classifying task makes (``Task.example_records``: each record's
``by_class`` true / false positive and false negative counts, its ``prediction`` and ``reference``). One
computation for what a run prints and its card shows (``classes`` in metrics.json) and for ``hf-transfer diff``.
"""

from __future__ import annotations

MATRIX_LIMIT = 12
"""A confusion matrix of more labels is kept in metrics.json only (too wide for a console or a card)."""


def prf(counts: dict) -> dict:
    """Precision, recall, F1 and support from true / false positive and false negative counts."""
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def by_class(records: list[dict]) -> dict[str, dict]:
    """Class (or entity type) -> precision, recall, F1 and support over the records."""
    totals: dict[str, dict[str, int]] = {}
    for record in records:
        for name, counts in record.get("by_class", {}).items():
            total = totals.setdefault(name, {"tp": 0, "fp": 0, "fn": 0})
            for key in total:
                total[key] += counts[key]
    return {name: prf(counts) for name, counts in sorted(totals.items())}


def confusion(records: list[dict], labels: list[str] | None = None) -> dict | None:
    """Counts of (reference, prediction) for single-label records: ``{"labels": [...], "counts": rows}``, a row
    per reference label and a column per predicted label. None where a record has several labels (multi-label,
    entities)."""
    if not records or not all(isinstance(r.get("prediction"), str) and isinstance(r.get("reference"), str)
                              for r in records):  # fmt: skip
        return None
    seen = {r["reference"] for r in records} | {r["prediction"] for r in records}
    names = [str(n) for n in labels or []]
    names = [n for n in names if n in seen] + sorted(seen - set(names))
    index = {name: i for i, name in enumerate(names)}
    counts = [[0] * len(names) for _ in names]
    for record in records:
        counts[index[record["reference"]]][index[record["prediction"]]] += 1
    return {"labels": names, "counts": counts}


def class_report(records: list[dict], labels: list[str] | None = None) -> dict:
    """``{"per_class": ..., "confusion": ...}`` of a classification evaluation; empty for other tasks."""
    if not records or "by_class" not in records[0]:
        return {}
    return {"per_class": by_class(records), "confusion": confusion(records, labels)}


def _table(report: dict) -> tuple[list[str], list[list[str]]] | None:
    """One table: a row per class (its true label) with precision, recall, F1 and support, then, where the
    confusion matrix is small enough to read, how many of its examples were predicted as each label."""
    classes = report.get("per_class") or {}
    if not classes:
        return None
    matrix = report.get("confusion")
    if matrix and len(matrix["labels"]) > MATRIX_LIMIT:
        matrix = None
    names = matrix["labels"] if matrix else list(classes)
    header = ["class", "precision", "recall", "F1", "support"]
    header += [f"predicted {name}" for name in matrix["labels"]] if matrix else []
    rows = []
    for i, name in enumerate(names):
        c = classes.get(name) or prf({"tp": 0, "fp": 0, "fn": 0})
        row = [name, f"{c['precision']:.3f}", f"{c['recall']:.3f}", f"{c['f1']:.3f}", f"{c['support']:,}"]
        rows.append(row + ([str(n) for n in matrix["counts"][i]] if matrix else []))
    return header, rows


def _matrix_note(report: dict) -> str:
    matrix = report.get("confusion")
    if matrix and len(matrix["labels"]) > MATRIX_LIMIT:
        return f"The confusion matrix ({len(matrix['labels'])} labels) is in metrics.json (classes.confusion)."
    return ""


def console_table(report: dict) -> tuple[tuple[list[str], list[list[str]]] | None, str]:
    """(the per-class table, with the confusion matrix as its last columns, or None; a note on a matrix too wide to
    show): ``tables.report_lines`` prints them after a run's results."""
    return _table(report), _matrix_note(report)


def markdown(report: dict) -> str:
    """The same table for the model card."""

    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    table = _table(report)
    parts = []
    if table:
        header, rows = table
        lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
        parts.append("\n".join(lines + ["| " + " | ".join(map(cell, row)) + " |" for row in rows]))
    note = _matrix_note(report)
    return "\n\n".join(parts + ([note] if note else []))

"""Text classification's labels read from data: the label set learned, each label checked and encoded (a class id,
a multi-hot vector for multi-label, a float for regression), with errors that name the row."""

from __future__ import annotations

import math
import re
import warnings

from hf_transfer.base.errors import UserError


def canonical_label(value) -> str:
    """A label as one kind of value: surrounding spaces stripped; numbers written as whole numbers
    (1, 1.0, "1", " 1.0 ") all read "1"."""
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            return text
        return str(int(number)) if number.is_integer() else text
    return str(int(value)) if float(value).is_integer() else str(value)


def learn_names(train, problem_type: str) -> list[str]:
    """The label set of training data without given names: ClassLabel names, else its values sorted."""
    feature = train.features["label"]
    inner = getattr(feature, "feature", None)  # Sequence / List of ClassLabel (multi-label)
    for candidate in (feature, inner):
        if candidate is not None and hasattr(candidate, "names"):
            return list(candidate.names)
    seen = set()
    for i, value in enumerate(train["label"]):
        items = value if problem_type == "multi_label" and isinstance(value, (list, tuple)) else [value]
        for item in items:
            check_scalar(item, "train", i, problem_type)
            seen.add(canonical_label(item))
    if not seen:
        raise UserError("The training split has no labels.")
    numbers = [int(v) for v in seen if re.fullmatch(r"-?\d+", v)]
    if len(numbers) == len(seen):
        # labels written as numbers (1, "1", "1.0"): one kind; 0..k-1 are class ids, other sets their values
        return [str(n) for n in sorted(numbers)]
    by_case: dict[str, list[str]] = {}
    for value in seen:
        by_case.setdefault(value.lower(), []).append(value)
    clashes = [sorted(v) for v in by_case.values() if len(v) > 1]
    if clashes:
        warnings.warn(
            f"Label values that differ only by case are different classes: {clashes[:3]}. "
            "Fix the data if they are the same class.",
            stacklevel=2,
        )
    return sorted(seen)


def check_scalar(value, split, index, problem_type: str) -> None:
    """Refuse a label that is missing, of a wrong type, or a fraction where classes are asked for."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise UserError(f"Label missing in {split} row {index}.")
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise UserError(f"Label of wrong type in {split} row {index}: {value!r} ({type(value).__name__}).")
    if isinstance(value, float) and problem_type != "regression" and not value.is_integer():
        raise UserError(
            f"Label {value!r} in {split} row {index} is not a class: for real-valued targets "
            "use --set task.problem_type=regression."
        )


def class_id(value, split, index, names: list[str]) -> int:
    """A label's class id in ``names`` (a class, never a fraction)."""
    check_scalar(value, split, index, "single_label")
    named = not all(re.fullmatch(r"-?\d+", n) for n in names)
    if named and not isinstance(value, str) and 0 <= int(value) < len(names):
        return int(value)  # an integer label with named classes (a ClassLabel): the class id
    key = canonical_label(value)
    if key in names:
        return names.index(key)
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise UserError(
        f"Label {value!r} in {split} row {index} is outside the label set "
        f"({', '.join(names[:20])}{' ...' if len(names) > 20 else ''})."
    )


def encode_label(value, split, index, problem_type: str, names: list[str] | None):
    """One label encoded: a class id, a multi-hot vector, or a float."""
    if problem_type == "regression":
        check_scalar(value, split, index, problem_type)
        if isinstance(value, str):
            raise UserError(f"Regression label in {split} row {index} is not a number: {value!r}.")
        return float(value)
    if problem_type == "single_label":
        return class_id(value, split, index, names)
    if not isinstance(value, (list, tuple)):
        raise UserError(f"Multi-label row {index} of {split} has label {value!r}; expected a list of labels.")
    vector = [0.0] * len(names)
    for item in value:
        vector[class_id(item, split, index, names)] = 1.0
    return vector

"""What a task class must declare to be registered (``tasks.register``): a task that forgets one is refused at
import, naming what is missing, instead of being passed over where a command later asks for it."""

from __future__ import annotations

import dataclasses

REQUIRED_VALUES = {
    "kind": "the name recipes give the task (``type:``)",
    "auto_model": "the transformers AutoModelFor... class",
    "roles": "the data roles it reads",
    "metric_choices": "the metrics that can score it",
}
"""Class attributes every task sets (the ``Task`` base leaves them empty)."""

REQUIRED_HOOKS = (
    "prepare",
    "tokenize_function",
    "collator",
    "head_modules",
    "default_metrics",
    "main_metric",
    "metrics_function",
    "pipeline_tag",
    "predict",
)
"""Methods every task implements (the ``Task`` base only raises NotImplementedError)."""


def missing_declarations(cls: type, base: type) -> list[str]:
    """What ``cls``, a subclass of the ``Task`` base ``base``, lacks, as short phrases (empty: complete)."""
    out = [f"{name} ({what})" for name, what in REQUIRED_VALUES.items() if not getattr(cls, name)]
    out += [f"{name}()" for name in REQUIRED_HOOKS if getattr(cls, name) is getattr(base, name)]
    if cls.example_records is not base.example_records and cls.aggregate is base.aggregate:
        out.append("aggregate() (it scores examples: the main metric of some records)")
    if not dataclasses.is_dataclass(cls):
        return [*out, "@dataclass (its settings are dataclass fields)"]
    ints = {f.name for f in dataclasses.fields(cls) if f.type in (int, "int", "int | None")}
    out += [f"{name} (in length_limits: an int setting)" for name in cls.length_limits if name not in ints]
    if cls.length_setting not in cls.length_limits:
        out.append(f"length_setting {cls.length_setting!r} among length_limits {cls.length_limits}")
    return out

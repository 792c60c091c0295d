"""``hf-transfer run RECIPE [flags]`` (and ``python recipes/x.py [flags]``): fine-tune a recipe."""

from __future__ import annotations

import argparse

from .flags import add_run_flags, training_epilog

ACCEPTS_EXTRA = True
"""TrainingArguments flags (``--learning_rate 3e-5``) come as extra arguments."""


def add_parser(sub) -> None:
    run = sub.add_parser(
        "run", help="fine-tune a recipe", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=training_epilog()
    )
    run.add_argument("recipe", help="packaged recipe name, or path to a recipe .py / .yaml")
    add_run_flags(run)


def run(args, extra, argv, recipe=None) -> None:
    from ..console import Console
    from ..hardware import is_main_process, silent
    from ..launch import run as launch
    from ..overrides import command_line, resolve_run
    from ..registry import find_recipe

    source = None
    if recipe is None:
        recipe, source = find_recipe(args.recipe)
    resolved, options = resolve_run(recipe, {**vars(args), "command": command_line(argv)}, extra, source)
    with Console(log=print if is_main_process() else silent, verbose=options.verbose) as console:
        launch(resolved, options, console)


def run_recipe_script(recipe, argv: list[str]) -> None:
    """A recipe module run as a script (``main(RECIPE)``): the run flags, on that recipe."""
    from . import script_parser

    parser = script_parser(recipe)
    add_run_flags(parser)
    args, extra = parser.parse_known_args(argv)
    run(args, extra, ["run", recipe.name, *argv], recipe=recipe)

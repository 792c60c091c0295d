"""``hf-transfer run RECIPE [flags]`` (and ``python recipes/x.py [flags]``): fine-tune a recipe."""

from __future__ import annotations

import argparse

from hf_transfer.cli.flags import add_run_flags, training_epilog

ACCEPTS_EXTRA = True
"""TrainingArguments flags (``--learning_rate 3e-5``) come as extra arguments."""


def add_parser(sub) -> None:
    run = sub.add_parser(
        "run", help="fine-tune a recipe", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=training_epilog()
    )
    run.add_argument("recipe", help="packaged recipe name, or path to a recipe .py / .yaml")
    add_run_flags(run)
    add_seeds_flag(run)


def add_seeds_flag(parser) -> None:
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="train K times with different seeds (data order, head initialisation) and report a 95%% interval",
    )


def run(args, extra, argv, recipe=None) -> None:
    from hf_transfer.base.console import Console
    from hf_transfer.base.hardware import is_main_process, silent
    from hf_transfer.cli.startup import start
    from hf_transfer.commands.launch import run_with_follow_ups

    resolved, options = start(args, extra, argv, recipe)
    if getattr(args, "seeds", 1) != 1:
        if not args.output_dir:  # not the single run's default folder: a folder of runs never goes into a run
            import dataclasses

            from hf_transfer.artifacts.runs import seeds_output_dir

            options = dataclasses.replace(options, output_dir=seeds_output_dir(options.output_dir))
        return run_seeds(resolved, options, args.seeds)
    with Console(log=print if is_main_process() else silent, verbose=options.verbose) as console:
        run_with_follow_ups(resolved, options, console)


def run_seeds(recipe, options, seeds: int) -> None:
    """``run --seeds K``: the recipe's method K times into one folder, with the interval over seeds."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.commands.compare import compare
    from hf_transfer.commands.comparison import summary_lines
    from hf_transfer.commands.plan import check_run_count

    if options.test_file or options.merge_adapter or options.push_to_hub:
        raise UserError(
            "--seeds runs a recipe several times; --test_file, --merge_adapter and --push_to_hub take one run."
        )
    check_run_count(recipe, [recipe.method], seeds, None, options.trust_remote_code, options.verbose)
    report = compare(recipe, [recipe.method], options, seeds=seeds)
    for line in summary_lines(report):
        print(f"- {line}")
    print(f"Runs and report: {options.output_dir}")


def run_recipe_script(recipe, argv: list[str]) -> None:
    """A recipe module run as a script (``main(RECIPE)``): the run flags, on that recipe."""
    from hf_transfer.cli.startup import script_parser

    parser = script_parser(recipe)
    add_run_flags(parser)
    add_seeds_flag(parser)
    args, extra = parser.parse_known_args(argv)
    run(args, extra, ["run", recipe.name, *argv], recipe=recipe)

"""``hf-transfer plan RECIPE [--methods full,lora] [run flags]``: forecast each method's run before training."""

from __future__ import annotations

import argparse

from hf_transfer.cli.flags import RUN_ONLY_FLAGS, add_run_flags, methods_help, training_epilog

ACCEPTS_EXTRA = True


def add_parser(sub) -> None:
    plan = sub.add_parser(
        "plan",
        help="forecast, per method, the wall time, peak memory and folder size of a run (a few probe steps)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=training_epilog(),
    )
    plan.add_argument("recipe")
    plan.add_argument("--methods", help=methods_help("methods to forecast (default: the recipe's, or --method)"))
    plan.add_argument("--json", action="store_true", help="the forecasts as JSON")
    add_run_flags(plan, leave_out=RUN_ONLY_FLAGS)  # plan trains nothing and writes no run folder


def run(args, extra, argv) -> None:
    import contextlib
    import json
    import sys

    from hf_transfer.base.console import Console
    from hf_transfer.base.tables import format_table
    from hf_transfer.cli.startup import methods_or_recipes, start
    from hf_transfer.commands.plan import budget_choice, phase_lines, plan, plan_table

    recipe, options = start(args, extra, argv)
    names = methods_or_recipes(args, recipe)
    from hf_transfer import cli
    from hf_transfer.run.forecast import process_seconds

    startup = process_seconds(cli.ENTERED) if cli.ENTERED is not None else 0.0  # main() called in a running process
    # with --json, stdout holds the JSON only: every line said on the way (probes, warnings) goes to stderr
    aside = contextlib.redirect_stdout(sys.stderr) if args.json else contextlib.nullcontext()
    with aside, Console(verbose=options.verbose) as console:
        forecasts = plan(recipe, names, console, trust_remote_code=options.trust_remote_code, startup_seconds=startup,
                         command=options.command, options=options)
    if args.json:
        print(json.dumps([{**f.as_dict(), "lengths": getattr(f, "lengths", None)} for f in forecasts], indent=2))
        return
    header, rows = plan_table(forecasts)
    print()
    print(format_table(header, rows))
    print("\nWhere the time goes:")
    for line in phase_lines(forecasts):
        print(f"  {line}")
    if options.budget:
        print(f"\n{budget_choice(forecasts, options.budget.seconds)}")
    print(
        "\nForecast from the probe steps above, on this machine; the data's tokenization is now cached for the run. "
        f"The probes took {sum(f.probe['seconds'] for f in forecasts):.1f} s."
    )

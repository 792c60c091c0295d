"""``hf-transfer compare RECIPE [--methods ...] [flags]``: several methods on one recipe, side by side."""

from __future__ import annotations

from hf_transfer.cli.flags import add_run_flags, methods_help

ACCEPTS_EXTRA = True


def add_parser(sub) -> None:
    cmp = sub.add_parser(
        "compare", help="run a recipe once per method (scratch, freeze, lora, full) and report side by side"
    )
    cmp.add_argument("recipe")
    cmp.add_argument("--methods", default="scratch,freeze,lora,full",
                     help=methods_help("the methods to run (default: scratch,freeze,lora,full)"))  # fmt: skip
    cmp.add_argument("--seeds", type=int, default=1, help="runs per method with different seeds (intervals over seeds)")
    cmp.add_argument(
        "--fractions", help="training-data shares for learning curves, e.g. 0.1,0.25,0.5,1 (nested seeded subsets)"
    )
    add_run_flags(cmp)


def run(args, extra, argv) -> None:
    from hf_transfer.base.errors import UserError
    from hf_transfer.base.tables import format_table
    from hf_transfer.cli.startup import parse_methods, start
    from hf_transfer.commands.compare import compare, parse_fractions
    from hf_transfer.commands.comparison import report_table, summary_lines
    from hf_transfer.commands.plan import check_run_count

    if args.method or args.merge_adapter or args.test_file:
        raise UserError(
            "compare runs the methods listed by --methods (e.g. --methods scratch,lora,full); --method and "
            "--merge_adapter / --test_file apply to run."
        )
    methods = parse_methods(args.methods)
    recipe, options = start(args, extra, argv, many_runs="compare")
    if options.push_to_hub:
        raise UserError("compare does not push; push a method's run folder with hf-transfer push.")
    fractions = parse_fractions(args.fractions)
    check_run_count(recipe, methods, args.seeds, fractions, options.trust_remote_code, options.verbose)
    report = compare(recipe, methods, options, seeds=args.seeds, fractions=fractions)
    header, rows = report_table(report)
    print()
    print(format_table(header, rows))
    for line in summary_lines(report):
        print(f"- {line}")
    written = ["report.md", "report.json", "metric_by_method.png", "learning_curves.png"]
    written += ["data_curves.png"] if report.get("curves") else []
    print(f"\nReport: {options.output_dir / written[0]} (also {', '.join(written[1:])})")

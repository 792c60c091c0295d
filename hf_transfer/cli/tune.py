"""``hf-transfer tune RECIPE --trials N [--methods lora,full] [--space FILE] [--time_budget 1h] [--refit]``."""

from __future__ import annotations

import argparse

from hf_transfer.cli.flags import add_run_flags, methods_help, training_epilog

ACCEPTS_EXTRA = True


def add_parser(sub) -> None:
    tune = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna (TPE, median pruning), selecting on a split carved from training",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=training_epilog(),
    )
    tune.add_argument("recipe")
    tune.add_argument("--trials", type=int, required=True, help="trials in the study (finished or pruned)")
    tune.add_argument("--methods", help=methods_help("methods to search over (default: the recipe's, or --method)"))
    tune.add_argument("--space", help="a YAML search space: name: {low, high, log} or {choices: [...]}")
    tune.add_argument(
        "--storage", help="an Optuna RDB storage URL shared by several tune processes (default: SQLite in the folder)"
    )
    tune.add_argument(
        "--selection_fraction",
        type=float,
        default=0.1,
        help="share of the training rows carved out (seeded) to select on (default 0.1)",
    )
    tune.add_argument("--refit", action="store_true", help="train the winner again on all the training data")
    tune.add_argument(
        "--keep", choices=["all", "best"], default="all", help="trial folders to keep (best: metrics only)"
    )
    tune.add_argument(
        "--seeds", type=int, default=1, metavar="K",
        help="train each trial's settings K times (seeds) and rank on the mean; the winner gets a paired interval "
        "against the runner-up (default 1)",
    )  # fmt: skip
    add_run_flags(tune)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.base.console import Console
    from hf_transfer.base.errors import UserError
    from hf_transfer.cli.startup import methods_or_recipes, start
    from hf_transfer.commands.tune import tune
    from hf_transfer.run.options import parse_training_flags

    if args.test_file or args.merge_adapter:
        raise UserError("--test_file and --merge_adapter apply to run; tune writes the winner as a recipe to run.")
    recipe, options = start(args, extra, argv, many_runs="tune")
    given = {key.strip().removeprefix("training."): value for key, _, value in
             (assignment.partition("=") for assignment in args.set or [])}  # fmt: skip
    given.update(parse_training_flags(list(extra)))
    with Console(verbose=options.verbose) as console:
        report = tune(
            recipe,
            methods_or_recipes(args, recipe),
            options.output_dir,
            args.trials,
            console,
            storage=args.storage,
            space_file=Path(args.space) if args.space else None,
            selection_fraction=args.selection_fraction,
            refit=args.refit,
            keep=args.keep,
            budget=options.budget,
            trust_remote_code=options.trust_remote_code,
            given=given,
            seeds=args.seeds,
        )
    best = report["best"]
    print(
        f"\nBest: trial {best['trial']} ({best['method']}), {report['metric']} {best['value']:.4f} on "
        f"{report['selected_on']}.\nIts recipe: {best['recipe']} (hf-transfer run {best['recipe']})"
    )
    against = best.get("against_runner_up")
    if against:
        noise = "within noise" if against["within_noise"] else "beyond noise"
        print(f"Against the runner-up, trial {against['trial']}: {against['mean']:+.4f} (95% interval "
              f"{against['low']:+.4f} to {against['high']:+.4f}, {against['how']}): {noise}.")
    elif report.get("seeds", 1) == 1 and len([r for r in report["trials"] if r["state"] == "complete"]) > 1:
        print("One seed per trial: whether the winner beats the runner-up beyond seed noise is unknown (--seeds 3).")
    if "refit" in report:
        print(f"Refit on all the training data: {report['refit']['run_dir']}")
    print(f"Trials: {options.output_dir / 'trials.md'}; report: {options.output_dir / 'report.json'}")

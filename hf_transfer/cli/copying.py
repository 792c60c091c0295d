"""``hf-transfer copy RECIPE [DEST] [--name N]``: a recipe module (or YAML file) to adapt, under a name of its own."""

from __future__ import annotations

ACCEPTS_EXTRA = True
"""``copy RECIPE --name N DEST``: argparse hands an optional positional given late over as an extra argument."""


def add_parser(sub) -> None:
    copy = sub.add_parser("copy", help="copy a recipe module to adapt it, under a name of its own")
    copy.add_argument("recipe")
    copy.add_argument("dest", nargs="?")
    copy.add_argument("--name", help="the copy's recipe name (default: from the file name, e.g. my_sentiment.py)")
    copy.add_argument("--description", help="the copy's description, the first line of its model card")
    copy.add_argument("--train_file", help="the copy trains on this file (csv/tsv/json/jsonl/parquet) instead of the "
                      "template's data, without the template's sample limits")  # fmt: skip
    copy.add_argument("--validation_file", help="with --train_file: the copy evaluates on this file")


def run(args, extra, argv) -> None:
    from hf_transfer.base.errors import UserError
    from hf_transfer.cli import PROG
    from hf_transfer.recipe.registry import copy_recipe
    from hf_transfer.sources import CAPS

    dest = args.dest
    if dest is None and len(extra) == 1 and not extra[0].startswith("-"):
        dest, extra = extra[0], []
    if extra:
        raise UserError(f"unrecognized arguments: {' '.join(extra)}")
    template, copied, written = copy_recipe(args.recipe, dest, name=args.name, description=args.description,
                                            train_file=args.train_file, validation_file=args.validation_file)
    if args.train_file:
        limits = [f"{k}={getattr(template.data, k)}" for k in CAPS if getattr(template.data, k) is not None]
        left = f" (the template's {', '.join(limits)} left out: sized for its own data)" if limits else ""
        print(f"The copy trains on {copied.data.describe()}{left}.")
    print(
        f"Copied recipe {template.name!r} to {written} as {copied.name!r} (its runs go to runs/{copied.name}-<method>; "
        f"the template's expected results were left out: they were measured on its data). Run it with: {PROG} run "
        f"{written}"
    )

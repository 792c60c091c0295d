"""``hf-transfer show RECIPE [--training]``: a recipe, fully resolved, as YAML."""

from __future__ import annotations


def add_parser(sub) -> None:
    show = sub.add_parser("show", help="a recipe, fully resolved, as YAML")
    show.add_argument("recipe")
    show.add_argument("--set", action="append", metavar="KEY=VALUE")
    show.add_argument(
        "--training", action="store_true", help="the TrainingArguments a run would use on this machine, as YAML"
    )


def run(args, extra, argv) -> None:
    from hf_transfer.cli import PROG
    from hf_transfer.recipe.registry import find_recipe

    recipe, _ = find_recipe(args.recipe)
    recipe = recipe.with_overrides(args.set or []).validate()
    if args.training:
        import yaml

        from hf_transfer.base.console import quiet
        from hf_transfer.run.arguments import training_arguments

        with quiet():  # importing TrainingArguments imports bitsandbytes, which speaks of kernels it cannot fetch
            values = training_arguments(recipe)
        print(f"# TrainingArguments of `{PROG} run {recipe.name}` ({recipe.method}) on this machine:")
        print("# hf_transfer's defaults, then the recipe's `training`, then --set; flags on the run command win.")
        print(yaml.safe_dump(values, sort_keys=True), end="")
        return
    print(recipe.to_yaml(), end="")

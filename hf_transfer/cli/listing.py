"""``hf-transfer list``: the packaged recipes."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("list", help="the packaged recipes")


def run(args, extra, argv) -> None:
    from hf_transfer.base.tables import format_table
    from hf_transfer.recipe.registry import packaged_recipes

    rows = [
        [name, recipe.task.describe(brief=True), recipe.checkpoint, recipe.data.describe(), recipe.method]
        for name, (recipe, _) in packaged_recipes().items()
    ]
    print(format_table(["name", "task", "checkpoint", "dataset", "method"], rows))

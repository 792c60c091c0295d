"""The ``hf-transfer`` command. One module per command, each with ``add_parser(subparsers)`` and
``run(args, extra)``: argparse wiring and printing only; the work is done where it lives (``startup`` turns
a training command's flags into a run, ``commands/launch`` runs it, ...).

Imports are lazy: ``hf-transfer list`` and ``show`` never import torch. Bad input ends with one short
message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from hf_transfer.base.console import PROG
from hf_transfer.base.errors import UserError

COMMANDS = {
    "list": "listing",
    "show": "show",
    "copy": "copying",
    "run": "run",
    "compare": "compare",
    "plan": "plan",
    "check": "check",
    "tune": "tune",
    "eval": "evaluate",
    "diff": "diff",
    "predict": "predict",
    "merge": "merge",
    "export": "export",
    "push": "push",
    "doctor": "doctor",
    "cache": "cache",
    "demo": "demo",
}
"""Command -> its module in this package (in the order ``hf-transfer --help`` lists them)."""


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations: ``--seed 7`` is TrainingArguments' seed, never a shortened ``--seeds``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def command_module(command: str):
    return importlib.import_module(f"{__name__}.{COMMANDS[command]}")


def build_parser() -> argparse.ArgumentParser:
    from hf_transfer.sources.assets import installed_version

    parser = Parser(
        prog=PROG,
        description="Transfer learning for NLP on the Hugging Face stack.",
        epilog="Something odd about this machine or install? `hf-transfer doctor` tells what it sees.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {installed_version('hf-transfer-toolkit', '(not installed)')}"
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command_module(command).add_parser(sub)
    return parser


def fail(exc: UserError) -> None:
    """The one way a command ends on bad input: one message on stderr, exit code 2."""
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None


ENTERED: float | None = None
"""When a process started as ``hf-transfer`` (or a recipe script) reached ``main``, its arguments from the command
line; None where Python code calls ``main(argv=...)`` in a process that was already running (a notebook, the tests):
``plan`` counts a fresh process's start-up only for the former."""


def main(recipe=None, argv: list[str] | None = None) -> None:
    """Entry point of ``hf-transfer``; a recipe module calls ``main(RECIPE)`` to run itself."""
    global ENTERED
    if argv is None:
        import time

        ENTERED = time.time()
    argv = list(sys.argv[1:] if argv is None else argv)
    from hf_transfer.commands.doctor import name_clash

    clash = name_clash()
    if clash:
        print(f"{PROG}: warning: {clash}", file=sys.stderr)
    try:
        if recipe is not None:
            from hf_transfer.cli import run

            run.run_recipe_script(recipe, argv)
            return
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        module = command_module(args.command)
        if extra and not getattr(module, "ACCEPTS_EXTRA", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        module.run(args, extra, argv)
    except UserError as exc:
        fail(exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


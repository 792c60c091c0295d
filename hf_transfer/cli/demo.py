"""``hf-transfer demo`` (also ``python -m hf_transfer.demo`` and ``make demo``): the packaged MiniLM fine-tuned
on the packaged Rotten Tomatoes snippets once per method, with one results table at the end."""

from __future__ import annotations


def add_parser(sub) -> None:
    demo = sub.add_parser("demo", help="the offline demo: MiniLM on Rotten Tomatoes snippets, once per method")
    demo.add_argument("--methods", default="full,freeze,lora")
    demo.add_argument("--output_dir", default="runs/demo")


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.cli.startup import parse_methods
    from hf_transfer.commands.compare import run_demo

    run_demo(parse_methods(args.methods), Path(args.output_dir))

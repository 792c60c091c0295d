"""``hf-transfer doctor [--json]``: what this machine offers and what hf_transfer will do with it."""

from __future__ import annotations


def add_parser(sub) -> None:
    doc = sub.add_parser("doctor", help="what this machine offers and what hf_transfer will do with it")
    doc.add_argument("--json", action="store_true", help="machine-readable, for bug reports")


def run(args, extra, argv) -> None:
    from hf_transfer.commands.doctor import main as doctor

    doctor(as_json=args.json)

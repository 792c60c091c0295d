"""``hf-transfer diff RUN_A RUN_B [--validation_file F]``: what one run gets right that the other gets wrong."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    diff = sub.add_parser("diff", help="compare two finished runs example by example on the same evaluation data")
    diff.add_argument("run_a")
    diff.add_argument("run_b")
    diff.add_argument("--validation_file", help="evaluate both runs on this labelled file (default: their own data)")
    diff.add_argument(
        "--output_file", help="the changed examples as JSON lines (default: diff-A-vs-B.jsonl beside RUN_B's folder)"
    )
    add_trust_flag(diff)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.commands.diff import diff, report_lines

    result = diff(
        Path(args.run_a),
        Path(args.run_b),
        validation_file=Path(args.validation_file) if args.validation_file else None,
        output_file=Path(args.output_file) if args.output_file else None,
        trust_remote_code=args.trust_remote_code,
    )
    for line in report_lines(result):
        print(line)

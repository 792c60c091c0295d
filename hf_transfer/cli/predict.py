"""``hf-transfer predict RUN_DIR TEXT ... | --input_file F``: predictions of a finished run."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    pr = sub.add_parser("predict", help="predict with a finished run")
    pr.add_argument("run_dir")
    pr.add_argument("texts", nargs="*", help="texts to classify or tag; a pair is written 'first ||| second'")
    pr.add_argument("--question", help="question answering: the question")
    pr.add_argument("--context", help="question answering: the text that holds the answer")
    pr.add_argument(
        "--input_file", help="predict every row of a csv/tsv/json/jsonl/parquet file (.txt: one text a line)"
    )
    pr.add_argument("--output_file", help="where --input_file's predictions go (.jsonl or .csv; default: in RUN_DIR)")
    pr.add_argument("--batch_size", type=int, default=32, help="rows per batch (default 32)")
    pr.add_argument("--column", action="append", metavar="ROLE=COLUMN", help="map a role to the file's column name")
    add_trust_flag(pr)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.base.console import quiet
    from hf_transfer.base.errors import UserError
    from hf_transfer.commands.predict import predict_file, predict_texts
    from hf_transfer.tasks import PAIR_SEPARATOR

    texts = list(args.texts)
    asked = args.question is not None or args.context is not None
    if asked:  # a spelling of "question ||| context"
        texts.append(f"{args.question or ''}{PAIR_SEPARATOR}{args.context or ''}")
    if args.input_file:
        if texts:
            raise UserError("Give texts on the command line or --input_file, not both.")
        with quiet():  # the base model's loading report (a LoRA run's head is loaded next) is not the user's concern
            summary = predict_file(
                Path(args.run_dir),
                Path(args.input_file),
                Path(args.output_file) if args.output_file else None,
                batch_size=args.batch_size,
                columns=parse_columns(args.column),
                trust_remote_code=args.trust_remote_code,
                require_finished=True,
            )
        print(
            f"Predicted {summary['predicted']:,} of {summary['rows']:,} rows in {summary['seconds']:.1f} s "
            f"({summary['rows_per_second']:.0f} rows/s)"
            + (f"; {summary['failed']} rows failed" if summary["failed"] else "")
            + f". Predictions: {summary['output_file']}"
        )
        return
    if args.output_file:
        raise UserError("--output_file goes with --input_file (texts on the command line are printed).")
    if not texts:
        raise UserError('Give at least one text to predict, e.g. hf-transfer predict RUN_DIR "a fine film".')
    with quiet():
        for line in predict_texts(
            Path(args.run_dir),
            texts,
            batch_size=args.batch_size,
            trust_remote_code=args.trust_remote_code,
            question_flags=asked,
        ):
            print(line)


def parse_columns(assignments: list[str] | None) -> dict[str, str]:
    from hf_transfer.base.errors import UserError
    from hf_transfer.base.plain import parse_value

    columns = {}
    for assignment in assignments or []:
        role, sep, column = assignment.partition("=")
        if not sep or not role or not column:
            raise UserError(f"--column {assignment!r}: expected role=column, e.g. --column text=review")
        columns[role.strip()] = str(parse_value(column))
    return columns

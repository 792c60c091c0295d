"""``hf-transfer eval RUN_DIR [--validation_file F]``: re-evaluate a finished run (on new labelled data)."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    ev = sub.add_parser("eval", help="re-evaluate a finished run")
    ev.add_argument("run_dir")
    ev.add_argument("--validation_file")
    ev.add_argument("--max_eval_samples", type=int)
    ev.add_argument("--per_device_eval_batch_size", type=int, help="evaluation rows per batch (default: hf_transfer's)")
    ev.add_argument("--output_file", help="where the metrics JSON goes (default: RUN_DIR/eval-<file name>.json)")
    add_trust_flag(ev)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.base.tables import eval_table
    from hf_transfer.run.evaluation import evaluate_run

    result = evaluate_run(
        Path(args.run_dir),
        validation_file=Path(args.validation_file) if args.validation_file else None,
        max_eval_samples=args.max_eval_samples,
        batch_size=args.per_device_eval_batch_size,
        output_file=Path(args.output_file) if args.output_file else None,
        trust_remote_code=args.trust_remote_code,
    )
    record = result["record"]
    print(f"Evaluated {result['run_name']} on {record['samples']:,} {record['unit']}: {record['evaluated_on']}\n")
    print(eval_table(record["metrics"], record["baselines"], result["report_keys"], record["baselines_from"]))
    print(f"\nMetrics: {result['output_file']}")

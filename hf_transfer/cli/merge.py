"""``hf-transfer merge RUN_DIR [--output_dir D]``: an adapter run merged into its base model."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    from hf_transfer.methods import mergeable_names

    merge = sub.add_parser("merge", help=f"merge an adapter run ({', '.join(mergeable_names())}) into its base model")
    merge.add_argument("run_dir")
    merge.add_argument("--output_dir", help="default: <run_dir>-merged")
    merge.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="replace an earlier merge (only once the new one is written)",
    )
    add_trust_flag(merge)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.artifacts.merging import merge_run

    output_dir = Path(args.output_dir) if args.output_dir else None
    merged = merge_run(
        Path(args.run_dir), output_dir, overwrite=args.overwrite_output_dir, trust_remote_code=args.trust_remote_code
    )
    print(f"Merged model: {merged}")

"""``hf-transfer push RUN_DIR --hub_model_id ID``: a finished run to the Hugging Face Hub, with its card."""

from __future__ import annotations

from hf_transfer.cli.flags import add_trust_flag


def add_parser(sub) -> None:
    from hf_transfer.methods import mergeable_names

    ps = sub.add_parser(
        "push", help="upload a finished run to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`)"
    )
    ps.add_argument("run_dir")
    ps.add_argument("--hub_model_id", required=True, help="name or namespace/name")
    ps.add_argument("--private", action="store_true")
    ps.add_argument("--merge", action="store_true", help=f"adapter runs ({', '.join(mergeable_names())}): push the "
                    "merged model instead of the adapter")  # fmt: skip
    ps.add_argument(
        "--export", metavar="EXPORT_DIR", help="also upload the run's export (hf-transfer export), in onnx/ or gguf/"
    )
    add_trust_flag(ps)


def run(args, extra, argv) -> None:
    from pathlib import Path

    from hf_transfer.commands.hub import push

    url = push(
        Path(args.run_dir),
        args.hub_model_id,
        private=args.private,
        merge=args.merge,
        trust_remote_code=args.trust_remote_code,
        export_dir=Path(args.export) if args.export else None,
    )
    print(f"Pushed: {url}")

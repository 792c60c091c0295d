"""``python -m hf_transfer.demo [--methods full,freeze,lora] [--output_dir runs/demo]``: ``hf-transfer demo``,
the offline demo (``compare.run_demo``)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    import sys

    from hf_transfer.cli import main as cli

    cli(argv=["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()

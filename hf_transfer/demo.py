"""The offline demo: the packaged MiniLM fine-tuned on the packaged Rotten Tomatoes snippets,
once per method (full, freeze, lora), with one results table at the end.

    python -m hf_transfer.demo [--methods full,freeze,lora] [--output_dir runs/demo]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

DEMO_RECIPE = "rotten-tomatoes-minilm"


def main(argv: list[str] | None = None) -> None:
    from .cli import PROG, results_table
    from .errors import UserError
    from .methods import names as method_names

    parser = argparse.ArgumentParser(prog="python -m hf_transfer.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default="full,freeze,lora")
    parser.add_argument("--output_dir", default="runs/demo")
    args = parser.parse_args(argv)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = [m for m in methods if m not in method_names()]
    if unknown:
        parser.error(f"unknown method(s) {unknown}; choose from {', '.join(method_names())}")

    from .registry import find_recipe
    from .train import run

    recipe, _ = find_recipe(DEMO_RECIPE)
    started = time.perf_counter()
    results = []
    try:
        for method in methods:
            out = Path(args.output_dir) / method
            print(f"\n=== {DEMO_RECIPE}: {method} -> {out}", flush=True)
            results.append(
                run(
                    dataclasses.replace(recipe, method=method),
                    out,
                    overwrite=True,
                    command=f"python -m hf_transfer.demo --methods {method}",
                )
            )
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    total = time.perf_counter() - started
    print(
        f"\nResults ({recipe.checkpoint} on {recipe.data.describe()}, "
        f"{results[0]['samples']['train']} train / {results[0]['samples']['eval']} eval examples):\n"
    )
    print(results_table(results, recipe.task.report_keys(recipe.metric_names)))
    print(f"\nRun folders: {', '.join(r['output_dir'] for r in results)}")
    print(f"Total wall time: {total:.0f} s")


if __name__ == "__main__":
    main()

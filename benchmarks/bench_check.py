"""The data check's leakage search at scale (issue 37): synthetic training rows and evaluation rows a tenth as many,
with near-duplicates and exact duplicates of training rows planted at known rates; rows per second, peak memory,
and the recall and precision of what was planted.

    python benchmarks/bench_check.py [--sizes 10000,100000] [--near_rate 0.05] [--exact_rate 0.02]

Texts are 20 words drawn from a 5,000-word vocabulary (two unplanted rows share almost no 3-word shingle). A planted
near-duplicate is a training text with its last word replaced (Jaccard of shingles 17/19 = 0.89, above the 0.8
default); a planted exact duplicate is a training text upper-cased with punctuation added (the same after
normalisation). Each size runs in a process of its own (its peak RSS is the size's alone). The check is
``datacheck.check_splits`` as ``hf-transfer check`` calls it, without token lengths (a tokenizer's cost, not the
search's) and without the containment pass. Writes benchmarks/results/check.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VOCAB = [f"v{i}" for i in range(5000)]


def synthetic(n_train: int, near_rate: float, exact_rate: float, seed: int = 0):
    rng = random.Random(seed)
    train = [" ".join(rng.choices(VOCAB, k=20)) for _ in range(n_train)]
    n_eval = max(1, n_train // 10)
    evaluation, planted = [], {}
    for i in range(n_eval):
        draw = rng.random()
        if draw < near_rate:
            source = rng.randrange(n_train)
            evaluation.append(train[source].rsplit(" ", 1)[0] + " changed")
            planted[i] = "near"
        elif draw < near_rate + exact_rate:
            source = rng.randrange(n_train)
            evaluation.append(train[source].upper() + " !")
            planted[i] = "exact"
        else:
            evaluation.append(" ".join(rng.choices(VOCAB, k=20)))
    return train, evaluation, planted


def measure(n_train: int, near_rate: float, exact_rate: float) -> dict:
    """One size, in this process: the check's time, this process's peak RSS, recall and precision."""
    from datasets import Dataset, DatasetDict

    from hf_transfer import TextClassification
    from hf_transfer.datacheck import check_splits

    train, evaluation, planted = synthetic(n_train, near_rate, exact_rate)
    splits = DatasetDict({
        "train": Dataset.from_dict({"text": train, "labels": [i % 2 for i in range(len(train))]}),
        "validation": Dataset.from_dict({"text": evaluation, "labels": [i % 2 for i in range(len(evaluation))]}),
    })  # fmt: skip
    task = TextClassification(label_names=["a", "b"])
    started = time.perf_counter()
    report = check_splits(splits, task, contained=False)
    seconds = time.perf_counter() - started
    found = set(report["leakage"]["validation"]["leaked_rows"])
    hits = found & set(planted)
    return {
        "train_rows": len(train),
        "eval_rows": len(evaluation),
        "planted": {kind: sum(v == kind for v in planted.values()) for kind in ("near", "exact")},
        "found": {k: report["leakage"]["validation"][k] for k in ("exact", "near")},
        "recall": round(len(hits) / len(planted), 4) if planted else None,
        "precision": round(len(hits) / len(found), 4) if found else None,
        "seconds": round(seconds, 2),
        "rows_per_second": round((len(train) + len(evaluation)) / seconds),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="training rows per measurement (evaluation: a tenth)")
    parser.add_argument("--near_rate", type=float, default=0.05)
    parser.add_argument("--exact_rate", type=float, default=0.02)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: measure one size, print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.near_rate, args.exact_rate)))
        return
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        command = [sys.executable, __file__, "--one", str(size), "--near_rate", str(args.near_rate),
                   "--exact_rate", str(args.exact_rate)]  # fmt: skip
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
        print(results[-1], flush=True)
    record = {"machine": platform.processor() or platform.machine(), "python": platform.python_version(),
              "near_rate": args.near_rate, "exact_rate": args.exact_rate, "results": results}  # fmt: skip
    out_dir = HERE / "results"
    (out_dir / "check.json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [
        "# Data check: leakage search at scale",
        "",
        f"`python benchmarks/bench_check.py --sizes {args.sizes}`: 20-word synthetic texts, evaluation rows a tenth "
        f"of the training rows, {args.near_rate:.0%} of them planted near-duplicates (Jaccard 0.89) and "
        f"{args.exact_rate:.0%} exact duplicates after normalisation. Exact + MinHash LSH (128 permutations, "
        "threshold 0.8); one process per size.",
        "",
        "| train rows | eval rows | planted (near / exact) | found (near / exact) | recall | precision | seconds "
        "| rows/s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['train_rows']:,} | {r['eval_rows']:,} | {r['planted']['near']} / {r['planted']['exact']} | "
            f"{r['found']['near']} / {r['found']['exact']} | {r['recall']} | {r['precision']} | {r['seconds']} | "
            f"{r['rows_per_second']:,} | {r['peak_rss_mib']:,} |"
        )
    (out_dir / "check.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""What choosing on the evaluation split did to the reported number (issue 33): the same runs, several seeds, with
the code under test and with an earlier checkout (``--before DIR``: a worktree of the commit to compare with),
side by side.

    python benchmarks/bench_selection.py --before /path/to/old/checkout [--seeds 3] [--epochs 3]
                                         [--max_train_samples 2000] [--datasets rotten-tomatoes,sst2]

rotten-tomatoes: the packaged recipe as it ships (its seeded 10% held out). sst2: the shared SST-2 subset
(../shared/data/sst2) given as a user's own files, the way README tells a user to run theirs
(``--train_file train.tsv --validation_file validation.tsv --set data.columns.text=sentence``). Both with the full
method, ``--num_train_epochs`` epochs (several evaluations: something chooses), the packaged MiniLM. For each run:
the reported main metric, the kept epoch, and how many rows chose and how many reported. Writes
benchmarks/results/selection.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "sst2"


NOTES = (
    "Read with care: `after` trains on 90% of the capped rows (10% choose); the Rotten Tomatoes held-out split is "
    "stratified by label after the change, so its two rows score different (equally many) evaluation rows, while "
    "SST-2 reads the same validation file on both sides. `before`'s number is the best of three evaluations of the "
    "rows that report it; `after`'s is one evaluation of the model chosen elsewhere."
)


def dataset_flags(name: str) -> list[str]:
    if name == "rotten-tomatoes":
        return []
    if name == "sst2":
        if not SHARED.is_dir():
            raise SystemExit(f"sst2 needs the shared SST-2 copy in {SHARED}.")
        return ["--train_file", str(SHARED / "train.tsv"), "--validation_file", str(SHARED / "validation.tsv"),
                "--set", "data.columns.text=sentence"]  # fmt: skip
    raise SystemExit(f"unknown dataset {name!r}: rotten-tomatoes or sst2")


def one_run(code: Path, dataset: str, seed: int, epochs: int, cap: int, out: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"))
    command = [sys.executable, "-m", "hf_transfer.cli", "run", "rotten-tomatoes-minilm", "--method", "full",
               "--num_train_epochs", str(epochs), "--max_train_samples", str(cap), "--seed", str(seed),
               "--output_dir", str(out), *dataset_flags(dataset)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=code)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    samples = metrics["samples"]
    kept = metrics.get("kept") or {}
    return {
        "seed": seed,
        "accuracy": metrics["eval"]["eval_accuracy"],
        "kept_epoch": kept.get("epoch"),
        "chose_rows": samples.get("selection", samples["eval"] if kept else 0),
        "reported_rows": samples["eval"],
        "train_rows": samples["train"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the commit to compare with")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max_train_samples", type=int, default=2000)
    parser.add_argument("--datasets", default="rotten-tomatoes,sst2")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "selection")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_e2e import machine

    sides = {"before": args.before.resolve(), "after": HERE.parent}
    results: dict = {"machine": machine(), "settings": vars(args) | {"before": str(args.before)}, "runs": {}}
    with tempfile.TemporaryDirectory(prefix="bench-selection-") as work:
        for dataset in args.datasets.split(","):
            for side, code in sides.items():
                runs = [one_run(code, dataset, 42 + k, args.epochs, args.max_train_samples,
                                Path(work) / f"{dataset}-{side}-{k}") for k in range(args.seeds)]  # fmt: skip
                results["runs"][f"{dataset}/{side}"] = runs
                print(dataset, side, [r["accuracy"] for r in runs], flush=True)
    lines = [
        "# Choosing on the evaluation split vs on a selection split (issue 33)",
        "",
        f"CPU: {results['machine']['cpu']} ({results['machine']['cores']} cores; "
        f"{', '.join(results['machine']['instruction_sets'])}). Full fine-tuning of the packaged MiniLM, "
        f"{args.epochs} epochs, at most {args.max_train_samples:,} training rows, seeds 42..{41 + args.seeds}; "
        "`before` is the earlier checkout (the kept checkpoint chosen on the evaluation split, which then reported), "
        "`after` this one (chosen on a seeded 10% carved from the training rows, the evaluation split scored once).",
        "",
        "| data | code | accuracy, mean (per seed) | kept epochs | rows that chose | rows that reported |",
        "|---|---|---|---|---|---|",
    ]
    for key, runs in results["runs"].items():
        dataset, side = key.split("/")
        values = [r["accuracy"] for r in runs]
        spread = f" ± {statistics.stdev(values):.4f}" if len(values) > 1 else ""
        lines.append(
            f"| {dataset} | {side} | {statistics.mean(values):.4f}{spread} ({', '.join(f'{v:.4f}' for v in values)}) "
            f"| {', '.join(str(r['kept_epoch']) for r in runs)} | {runs[0]['chose_rows']:,} "
            f"| {runs[0]['reported_rows']:,} |"
        )
    regenerate = "Regenerate: `python benchmarks/bench_selection.py --before <checkout of the earlier commit>`."
    lines += ["", NOTES, "", regenerate]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

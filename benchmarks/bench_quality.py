"""Time to a good model, the MLPerf / DAWNBench way (issue 25): how long until a fixed held-out quality, ours against
a Trainer script run as the transformers example README says, side by side in one invocation.

    python benchmarks/bench_quality.py [--task classification] [--precision fp32|bf16] [--seeds 3]

classification: the packaged MiniLM on the Rotten Tomatoes snippets with the recipe's own seeded split (6,000
training / 1,281 held out, written to CSV so both sides read the same rows). The baseline is run_glue-style
(baselines/classification.py) with the text-classification README's settings: lr 2e-5, 3 epochs, batch 32,
max_seq_length 128, its best flags for the hardware (dynamic padding, length-grouped batches, bf16 where asked),
evaluated after every epoch, each evaluation timed from the process's start. Quality target = the mean over seeds
of the baseline's best evaluation, minus 0.5 point; its time = from start to the first evaluation that reaches it
(mean over the seeds that reach it). Ours = the whole ``hf-transfer run rotten-tomatoes-minilm`` with no flags but
the data files and the seed, from process start to a saved, reload-checked model (wall, _measure.py), its final
metric checked against the target. Other families (NER, QA, summarization, SFT against TRL) are not built here yet.
Writes benchmarks/results/quality-<task>-<precision>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_e2e import machine, measured, model_flags, prepare  # noqa: E402

README_SETTINGS = [
    "--learning_rate",
    "2e-5",
    "--num_train_epochs",
    "3",
    "--per_device_train_batch_size",
    "32",
    "--max_seq_length",
    "128",
]
"""run_glue's README command (examples/pytorch/text-classification)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification"], default="classification")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default="full,lora", help="our methods to time (the recipe's defaults each)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    out = Path(args.out or HERE / "results" / f"quality-{args.task}-{args.precision}")
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))}
    bf16 = args.precision == "bf16"
    seeds = [42 + k for k in range(args.seeds)]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        train, valid, model = prepare(work, None)
        baseline = []
        for seed in seeds:
            result = measured(
                [
                    str(HERE / "baselines" / "classification.py"),
                    *model_flags(model),
                    "--train_file",
                    str(train),
                    "--validation_file",
                    str(valid),
                    "--output_dir",
                    str(work / f"base-{seed}"),
                    *README_SETTINGS,
                    "--eval_each_epoch",
                    "--seed",
                    str(seed),
                    *(["--bf16"] if bf16 else []),
                ],
                work / f"base-{seed}",
                env,
            )
            baseline.append(
                {
                    "seed": seed,
                    "wall_seconds": result["wall_seconds"],
                    "peak_rss_bytes": result["peak_rss_bytes"],
                    "evaluations": [(e["seconds"], e["eval_accuracy"]) for e in result["evaluations"]],
                }
            )
        target = statistics.mean(max(a for _, a in b["evaluations"]) for b in baseline) - 0.005
        for b in baseline:
            b["time_to_target"] = next((t for t, a in b["evaluations"] if a >= target), None)
        ours = {}
        for method in args.methods.split(","):
            rows = []
            for seed in seeds:
                folder = work / f"ours-{method}-{seed}"
                result = measured(
                    [
                        "hf-transfer",
                        "run",
                        "rotten-tomatoes-minilm",
                        "--method",
                        method,
                        "--train_file",
                        str(train),
                        "--validation_file",
                        str(valid),
                        "--output_dir",
                        str(folder),
                        "--seed",
                        str(seed),
                        "--bf16",
                        "true" if bf16 else "false",
                    ],
                    folder,
                    env,
                )
                metrics = json.loads((folder / "metrics.json").read_text())
                rows.append(
                    {
                        "seed": seed,
                        "wall_seconds": result["wall_seconds"],
                        "peak_rss_bytes": result["peak_rss_bytes"],
                        "metric": metrics["eval"]["eval_accuracy"],
                        "reaches": metrics["eval"]["eval_accuracy"] >= target,
                    }
                )
            ours[method] = rows
    reached = [b["time_to_target"] for b in baseline if b["time_to_target"] is not None]
    base_time = statistics.mean(reached) if reached else None
    lines = [
        f"Time to quality, {args.task}, {args.precision}, {len(seeds)} seed(s); {machine()['cpu']}",
        "",
        f"Target: accuracy {target:.4f} (the baseline's best evaluation, mean over seeds, minus 0.5 point)",
        "",
        "| side | accuracy (mean, spread) | time to target | wall to a saved model | peak RSS | time-to-target ratio |",
        "|---|---|---|---|---|---|",
    ]
    best = [max(a for _, a in b["evaluations"]) for b in baseline]
    lines.append(
        f"| run_glue-style, README settings (3 epochs) | {statistics.mean(best):.4f} ({min(best):.4f}-{max(best):.4f}) "
        f"| {base_time:.0f} s | {statistics.mean(b['wall_seconds'] for b in baseline):.0f} s | "
        f"{max(b['peak_rss_bytes'] for b in baseline) / 2**30:.2f} GiB | 1.00x |"
    )
    for method, rows in ours.items():
        metric = [r["metric"] for r in rows]
        wall = statistics.mean(r["wall_seconds"] for r in rows)
        reach = all(r["reaches"] for r in rows)
        lines.append(
            f"| hf-transfer run, defaults, {method} | {statistics.mean(metric):.4f} "
            f"({min(metric):.4f}-{max(metric):.4f}) | {'reached' if reach else 'not reached by every seed'} | "
            f"{wall:.0f} s | "
            f"{max(r['peak_rss_bytes'] for r in rows) / 2**30:.2f} GiB | "
            f"{(base_time / wall) if reach and base_time else 0:.2f}x |"
        )
    lines += [
        "",
        "Baseline evaluations (seconds from process start, accuracy): "
        + "; ".join(
            f"seed {b['seed']}: " + ", ".join(f"{t:.0f} s {a:.4f}" for t, a in b["evaluations"]) for b in baseline
        ),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            {"settings": vars(args), "target": target, "baseline": baseline, "ours": ours, "machine": machine()},
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()

"""End to end, side by side in one invocation: ``hf-transfer run`` against a plain Trainer script written like
the transformers example for the task, with that script's best flags for this hardware. Each runs in a
process of its own, from start (imports included) to a saved model; same model, data, epochs, batch,
learning rate and seed.

    python benchmarks/bench_e2e.py                      # classification, fp32 and (where native) bf16
    python benchmarks/bench_e2e.py --precision fp32     # only fp32 (what a CPU without native bf16 gets)

Classification: the packaged all-MiniLM-L6-v2 on the packaged Rotten Tomatoes snippets, the recipe's
seeded split (2,000 training examples by default, 1,281 held out), 1 epoch, batch 32, lr 1e-4, no warmup.
Other task families have no baseline script here yet. Results: benchmarks/results/e2e-<task>.{json,md},
with the machine's CPU instruction sets, so results from different machines are not mixed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> dict:
    sys.path.insert(0, str(HERE.parent))
    from hf_transfer.doctor import _cpu_name, _nvidia_gpus, cpu_flags

    gpus = _nvidia_gpus()
    return {
        "cpu": _cpu_name(),
        "cores": os.cpu_count(),
        "instruction_sets": cpu_flags(),
        "gpu": gpus[0]["name"] if gpus else None,
        "python": platform.python_version(),
    }


def prepare(work: Path, train_samples: int) -> tuple[Path, Path, Path]:
    """The recipe's seeded split written to CSV files (both sides read the same files), and the model folder."""
    import dataclasses

    from hf_transfer import load_recipe
    from hf_transfer.assets import resolve_checkpoint
    from hf_transfer.data import load_splits

    recipe = load_recipe("rotten-tomatoes-minilm")
    data = dataclasses.replace(recipe.data, max_train_samples=train_samples)
    splits, task = load_splits(data, recipe.task)
    for name, split in splits.items():
        frame = split.to_pandas()
        frame["label"] = [task.label_names[i] for i in frame["labels"]]
        frame[["text", "label"]].to_csv(work / f"{name}.csv", index=False)
    model = Path(resolve_checkpoint(recipe.checkpoint).path)
    return work / "train.csv", work / "validation.csv", model


def measured(command: list[str], out: Path, env: dict) -> dict:
    result_file = out.with_suffix(".measure.json")
    proc = subprocess.run(
        [sys.executable, str(HERE / "_measure.py"), str(result_file), "--", *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(result_file.read_text())
    for line in proc.stdout.splitlines():
        if line.startswith("BASELINE "):
            result.update(json.loads(line.removeprefix("BASELINE ")))
    return result


def run_ours(precision: str, files, work: Path, env: dict, extra: list[str], name: str) -> dict:
    train, valid, _ = files
    out = work / f"{name.replace(' ', '-')}-{precision}"
    ours = measured(
        ["hf-transfer", "run", "rotten-tomatoes-minilm", "--method", "full", "--train_file", str(train),
         "--validation_file", str(valid), "--output_dir", str(out), "--overwrite_output_dir", *COMMON,
         "--warmup_steps", "0", "--bf16", "true" if precision == "bf16" else "false", *extra],
        out, env,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    ours.update(phases=metrics["phases"], accuracy=metrics["eval"]["eval_accuracy"])
    return ours


COMMON = ["--learning_rate", "1e-4", "--num_train_epochs", "1", "--per_device_train_batch_size", "32"]


def run_pair(precision: str, files, work: Path, args) -> dict:
    train, valid, model = files
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
        "HF_TRANSFER_CACHE": str(work / f"cache-{precision}"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    baseline = measured(
        [str(HERE / "baselines" / "classification.py"), "--model_name_or_path", str(model), "--train_file", str(train),
         "--validation_file", str(valid), "--output_dir", str(work / f"baseline-{precision}"), *COMMON,
         *(["--bf16"] if precision == "bf16" else [])],
        work / f"baseline-{precision}", env,
    )  # fmt: skip
    ours = run_ours(precision, files, work, env, [], "ours")
    variants = {name: run_ours(precision, files, work, env, flags, name) for name, flags in args.variants.items()}
    return {
        "precision": precision,
        "baseline": baseline,
        "ours": ours,
        "variants": variants,
        "speedup": round(baseline["wall_seconds"] / ours["wall_seconds"], 2),
        "rss_ratio": round(ours["peak_rss_bytes"] / baseline["peak_rss_bytes"], 2),
        "accuracy_gap_points": round(100 * (ours["accuracy"] - baseline["accuracy"]), 2),
    }


def table(rows: list[dict], info: dict) -> str:
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {', '.join(info['instruction_sets']) or 'no AVX2'}"
        + (f", GPU {info['gpu']}" if info["gpu"] else "")
        + f"; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}.",
        "",
        "| precision | side | wall (start → saved) | phases (s) | accuracy | peak RSS | speed-up (baseline / ours) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sides = [("baseline", r["baseline"]), ("ours", r["ours"])] + [
            (f"ours, {k}", v) for k, v in r["variants"].items()
        ]
        for side, m in sides:
            phases = ", ".join(f"{k} {v:.1f}" for k, v in m.get("phases", {}).items())
            ratio = "" if side == "baseline" else f"**{r['baseline']['wall_seconds'] / m['wall_seconds']:.2f}x**"
            lines.append(
                f"| {r['precision']} | {side} | {m['wall_seconds']:.1f} s | {phases} | {m['accuracy']:.4f} | "
                f"{m['peak_rss_bytes'] / 2**30:.2f} GiB | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="classification", choices=["classification"])
    parser.add_argument("--precision", default="both", choices=["fp32", "bf16", "both"])
    parser.add_argument("--train_samples", type=int, default=2000)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="also run ours with extra flags, e.g. --variant 'fused adamw=--optim adamw_torch_fused'",
    )
    args = parser.parse_args()
    args.variants = {v.split("=", 1)[0]: v.split("=", 1)[1].split() for v in args.variant}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE.parent))
    from hf_transfer.hardware import cpu_computes_bf16

    info = machine()
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    if "bf16" in precisions and not cpu_computes_bf16():
        print("This CPU has no native bf16: measuring fp32 only.")
        precisions = ["fp32"]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = prepare(work, args.train_samples)
        rows = []
        for precision in precisions:
            rows.append(run_pair(precision, files, work, args))
            print(json.dumps({k: rows[-1][k] for k in ("precision", "speedup", "rss_ratio", "accuracy_gap_points")}))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"e2e-{args.task}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    text = table(rows, info)
    (RESULTS / f"e2e-{args.task}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

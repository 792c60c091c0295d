"""How close ``hf-transfer plan`` comes to the run it forecasts (issue 35): per task family, ``plan --json`` and then
the same ``hf-transfer run`` (same data, flags and machine), each in a fresh process; the forecast's wall time and
peak memory against the measured ones (``_measure.py``: wall from process start, peak RSS).

    python benchmarks/bench_forecast.py [--tasks classification,ner,qa,sft,seq2seq] [--train_samples 600]
                                        [--epochs 2] [--methods full,lora]

Data as ``bench_e2e.py`` prepares it (the recipe's own split for classification, the shared CoNLL-2003, SQuAD,
Alpaca and XSum subsets for the others). Target (issue 35): time within ±15% and peak memory within ±20% on an idle
machine. Writes benchmarks/results/forecast.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_e2e import TASKS, machine, measured  # noqa: E402

SMALL = {"sft": 120, "seq2seq": 200}
"""Training rows for the families whose steps cost most on a CPU (the others take --train_samples)."""


def run_flags(task: str, files, epochs: int, method: str) -> list[str]:
    """The flags plan and run share (the run adds its folder)."""
    train, valid, model = files
    _, recipe, _, _ = TASKS[task]
    return [*[a.format(model=model) for a in recipe], "--method", method, "--train_file", str(train),
            "--validation_file", str(valid), "--num_train_epochs", str(epochs)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="classification,ner,qa,sft,seq2seq")
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--train_samples", type=int, default=600)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "forecast")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "2"), HF_HUB_OFFLINE="1",
               PYTHONPATH=str(HERE.parent))  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-forecast-") as scratch:
        work = Path(scratch)
        for task in args.tasks.split(","):
            prepare = TASKS[task][0]
            folder = work / task
            folder.mkdir()
            files = prepare(folder, SMALL.get(task, args.train_samples))
            for method in args.methods.split(","):
                out = folder / f"run-{method}"
                flags = run_flags(task, files, args.epochs, method)
                planned = subprocess.run([sys.executable, "-m", "hf_transfer.cli", "plan", *flags, "--json"],
                                         capture_output=True, text=True, env=env)  # fmt: skip
                if planned.returncode != 0:
                    raise SystemExit(f"plan {task} {method} failed:\n{planned.stderr[-3000:]}")
                [forecast] = json.loads(planned.stdout)
                real = measured(["hf-transfer", "run", *flags, "--output_dir", str(out), "--overwrite_output_dir"],
                                out, env)  # fmt: skip
                metrics = json.loads((out / "metrics.json").read_text())
                row = {
                    "task": task,
                    "method": method,
                    "forecast_seconds": forecast["seconds"]["total"],
                    "measured_seconds": real["wall_seconds"],
                    "forecast_peak_rss_bytes": forecast["peak_rss_bytes"],
                    "measured_peak_rss_bytes": real["peak_rss_bytes"],
                    "forecast_steps": forecast["steps"],
                    "measured_steps": metrics["train"].get("global_step"),
                    "forecast_phases": forecast["seconds"],
                    "measured_phases": metrics["phases"],
                }
                row["time_error"] = row["forecast_seconds"] / row["measured_seconds"] - 1
                row["memory_error"] = row["forecast_peak_rss_bytes"] / row["measured_peak_rss_bytes"] - 1
                rows.append(row)
                print(f"{task} {method}: {row['forecast_seconds']:.1f} s forecast vs {row['measured_seconds']:.1f} s "
                      f"({row['time_error']:+.0%}); memory {row['memory_error']:+.0%}", flush=True)  # fmt: skip
    info = machine()
    lines = [
        "# plan's forecast against the run it forecasts",
        "",
        f"CPU: {info['cpu']} ({info['cores']} cores; {', '.join(info['instruction_sets'])}), "
        f"OMP_NUM_THREADS={env['OMP_NUM_THREADS']}; {args.epochs} epochs; `hf-transfer plan --json` and then "
        "`hf-transfer run` with the same flags, each a fresh process. Target: time within ±15%, peak memory ±20%.",
        "",
        "| task | method | steps | forecast | measured | time error | forecast peak RSS | measured peak RSS | "
        "memory error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task']} | {r['method']} | {r['measured_steps']} | {r['forecast_seconds']:.1f} s | "
            f"{r['measured_seconds']:.1f} s | {r['time_error']:+.0%} | "
            f"{r['forecast_peak_rss_bytes'] / 2**30:.2f} GiB | {r['measured_peak_rss_bytes'] / 2**30:.2f} GiB | "
            f"{r['memory_error']:+.0%} |"
        )
    lines += ["", "Regenerate: `python benchmarks/bench_forecast.py`."]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    args.output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

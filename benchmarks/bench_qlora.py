"""QLoRA against LoRA on the packaged SmolLM2-135M (GGUF, dequantized), side by side in one invocation: peak RSS,
step time and eval loss of the same instruction-tuning run with a 4-bit NF4 base and with a full-precision base.

    python benchmarks/bench_qlora.py [--train_file alpaca.json] [--max_train_samples 160] [--precision fp32|bf16]

Each method runs in a fresh process (``_measure.py``: wall from process start, peak RSS of the process);
the step time is the Trainer's train_runtime over its steps. Writes benchmarks/results/qlora.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from hf_transfer.commands.doctor import cpu_name

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "alpaca"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_file", default=None, help="Alpaca-style JSON (default: the shared subset if present)")
    parser.add_argument("--max_train_samples", type=int, default=160)
    parser.add_argument("--max_eval_samples", type=int, default=40)
    parser.add_argument("--max_length", type=int, default=160)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--methods", default="lora,qlora")
    parser.add_argument("--out", default=str(HERE / "results" / "qlora"))
    args = parser.parse_args()
    train = args.train_file or next((str(p) for p in sorted(SHARED.glob("*.json"))), None)
    data = ["--train_file", train, "--set", "data.eval_fraction=0.15"] if train else []
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for method in args.methods.split(","):
            out = Path(scratch) / method
            measured = Path(scratch) / f"{method}.json"
            command = [
                sys.executable, str(HERE / "_measure.py"), str(measured), "--", "hf-transfer", "run",
                "alpaca-smollm2" if train else "chatterbot-smollm2", "--method", method, *data,
                "--max_train_samples", str(args.max_train_samples), "--max_eval_samples", str(args.max_eval_samples),
                "--set", f"task.max_length={args.max_length}", "--set", "task.num_samples=0", "--num_train_epochs",
                "1", "--learning_rate", "2e-4", "--per_device_train_batch_size", "8", "--warmup_steps", "3",
                "--bf16", "true" if args.precision == "bf16" else "false", "--output_dir", str(out),
            ]  # fmt: skip
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                sys.exit(f"{method} failed:\n{done.stderr[-3000:]}")
            metrics = json.loads((out / "metrics.json").read_text())
            process = json.loads(measured.read_text())
            steps = json.loads((out / "trainer_state.json").read_text())["global_step"]
            rows.append(
                {
                    "method": method,
                    "eval_loss": metrics["eval"]["eval_loss"],
                    "train_seconds": metrics["train"]["train_runtime"],
                    "seconds_per_step": metrics["train"]["train_runtime"] / steps,
                    "wall_seconds": process["wall_seconds"],
                    "peak_rss_bytes": process["peak_rss_bytes"],
                    "train_peak_rss_bytes": metrics["resources"]["peak_rss_bytes"],
                    "saved_bytes": metrics["resources"]["saved_bytes"],
                }
            )
    base = rows[0]
    lines = [
        f"QLoRA vs LoRA, SmolLM2-135M-Instruct (packaged GGUF, dequantized), {args.precision}, "
        f"{cpu_name()}; {args.max_train_samples} train / {args.max_eval_samples} eval "
        f"rows, max length {args.max_length}, batch 8, 1 epoch",
        "",
        "| method | eval loss | s / step | train | wall | peak RSS (process) | peak RSS (training) | step time vs "
        f"{base['method']} | peak RSS vs {base['method']} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['method']} | {r['eval_loss']:.4f} | {r['seconds_per_step']:.2f} | {r['train_seconds']:.1f} s | "
            f"{r['wall_seconds']:.1f} s | {r['peak_rss_bytes'] / 2**30:.2f} GiB | "
            f"{r['train_peak_rss_bytes'] / 2**30:.2f} GiB | {r['seconds_per_step'] / base['seconds_per_step']:.2f}x | "
            f"{r['peak_rss_bytes'] / base['peak_rss_bytes']:.2f}x |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

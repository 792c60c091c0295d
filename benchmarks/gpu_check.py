"""The GPU check: one script, a few minutes on one GPU, that runs what a CPU machine cannot check.

    python benchmarks/gpu_check.py OUT_DIR [--quick]

Prints the device, then runs: a LoRA classification run in bf16 and in fp16 (the packaged MiniLM on the
packaged Rotten Tomatoes snippets), a QLoRA SFT run on the packaged SmolLM2 with CUDA bitsandbytes, DDP on
every visible GPU when there are several, and the classification and SFT rows of the benchmarks (hf-transfer
against the plain Trainer baseline, one after the other). Writes OUT_DIR/gpu_check.md (a markdown table) and
OUT_DIR/gpu_check.json. On a machine without CUDA it says so and exits 0. Everything runs offline: the
models and data come from installed packages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def device_line() -> str | None:
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    bf16 = "bf16" if torch.cuda.is_bf16_supported() else "no bf16"
    return (f"{torch.cuda.device_count()} x {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability "
            f"{props.major}.{props.minor}, {bf16}; torch {torch.__version__}, CUDA {torch.version.cuda}")  # fmt: skip


def hf_transfer(args: list[str], out: Path, launcher: list[str] | None = None) -> dict:
    """One ``hf-transfer run`` in a fresh process; its metrics.json, wall time and exit status."""
    command = (launcher or [sys.executable, "-m", "hf_transfer"]) + ["run", *args, "--output_dir", str(out),
                                                                    "--overwrite_output_dir"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    row = {
        "command": " ".join(command[2:]),
        "exit": done.returncode,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    if done.returncode == 0 and (out / "metrics.json").is_file():
        metrics = json.loads((out / "metrics.json").read_text())
        row["eval"] = {k: v for k, v in metrics["eval"].items() if isinstance(v, float) and "runtime" not in k}
        row["train_seconds"] = metrics["train"]["train_runtime"]
        row["reload_match"] = metrics["reload_check"]["match"]
        row["peak_cuda_bytes"] = metrics["resources"].get("peak_cuda_bytes")
        row["world_size"] = metrics.get("world_size")
    else:
        row["error"] = done.stderr[-1500:]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--quick", action="store_true", help="smaller runs (a first look, about 2 minutes)")
    args = parser.parse_args()
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = device_line()
    if device is None:
        print("gpu_check: this machine has no CUDA GPU (torch.cuda.is_available() is False); nothing to check here.")
        (out / "gpu_check.md").write_text("No CUDA GPU on this machine: the GPU check did not run.\n")
        return
    print(f"gpu_check: {device}")
    import torch

    size = ["--max_train_samples", "1000" if args.quick else "6000", "--num_train_epochs", "1"]
    rows = {}
    for precision in ("bf16", "fp16"):
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            rows["lora classification bf16"] = {"skipped": "this GPU has no bf16"}
            continue
        flags = ["--bf16", "true", "--fp16", "false"] if precision == "bf16" else ["--bf16", "false", "--fp16", "true"]
        rows[f"lora classification {precision}"] = hf_transfer(
            ["rotten-tomatoes-minilm", "--method", "lora", *size, *flags], out / f"lora-{precision}"
        )
        print(f"  lora classification {precision}: {rows[f'lora classification {precision}'].get('eval')}")
    sft = ["chatterbot-smollm2", "--max_train_samples", "200" if args.quick else "800", "--max_eval_samples", "50",
           "--num_train_epochs", "1", "--set", "task.num_samples=1"]  # fmt: skip
    for method in ("lora", "qlora"):
        rows[f"{method} SFT SmolLM2"] = hf_transfer([*sft, "--method", method], out / f"sft-{method}")
        print(f"  {method} SFT: {rows[f'{method} SFT SmolLM2'].get('eval')}")
    gpus = torch.cuda.device_count()
    if gpus > 1:
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(gpus),
                    "-m", "hf_transfer"]  # fmt: skip
        rows[f"DDP on {gpus} GPUs"] = hf_transfer(["rotten-tomatoes-minilm", "--method", "lora", *size], out / "ddp",
                                                 launcher)  # fmt: skip
        fsdp = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                str(HERE.parent / "configs" / "accelerate" / "fsdp.yaml"), "--num_processes", str(gpus), "-m",
                "hf_transfer"]  # fmt: skip
        rows[f"FSDP on {gpus} GPUs"] = hf_transfer(["rotten-tomatoes-minilm", "--method", "full", *size], out / "fsdp",
                                                  fsdp)  # fmt: skip
    for task in ("classification", "sft"):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, str(HERE / "bench_e2e.py"), "--task", task, "--precision", "bf16"],
                              capture_output=True, text=True)  # fmt: skip
        wall = round(time.perf_counter() - started, 1)
        table = done.stdout[-3000:] if done.returncode == 0 else done.stderr[-1500:]
        rows[f"benchmark {task}"] = {"exit": done.returncode, "wall_seconds": wall, "table": table}
    lines = [f"# GPU check: {device}", "", "| check | exit | wall | result | reload check |", "|---|---|---|---|---|"]
    for name, row in rows.items():
        result = row.get("eval") or row.get("skipped") or (row.get("error") or "")[:200].replace("\n", " ")
        lines.append(f"| {name} | {row.get('exit', '')} | {row.get('wall_seconds', '')} s | {result} | "
                     f"{row.get('reload_match', '')} |")  # fmt: skip
    for name, row in rows.items():
        if "table" in row:
            lines += ["", f"## {name}", "", row["table"]]
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n")
    (out / "gpu_check.json").write_text(json.dumps({"device": device, "rows": rows}, indent=2, default=str) + "\n")
    print(f"gpu_check: {out / 'gpu_check.md'}")


if __name__ == "__main__":
    main()

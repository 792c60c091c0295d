"""PyTorch fp32 against its ONNX export (onnxruntime fp32 and int8) on this CPU, side by side in one invocation:
latency at batch 1, throughput at batch 32, and the task metric, for the packaged MiniLM fine-tuned as a classifier
(Rotten Tomatoes snippets) and as an NER tagger (the shared CoNLL-2003 subset, when ../shared is there).

    python benchmarks/bench_export.py [--tasks classification,ner] [--threads 2] [--max_train_samples 2000]

Each model is trained by ``hf-transfer run`` and exported by ``hf-transfer export --quantize int8`` (which verifies
the export on the run's evaluation data: the metrics below are its numbers). Then, in this process, the same
evaluation rows go through the three models: batch 1 (the median of ``--latency_rows`` rows) and batch 32 (every
batch of the evaluation rows, padded as the collator pads them). PyTorch and onnxruntime run with the same number
of threads. PyTorch bf16 autocast is measured too where the CPU computes bf16 natively (never a general claim).
Writes benchmarks/results/export.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hf_transfer.doctor import cpu_name

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data"


def train_and_export(task: str, scratch: Path, args) -> tuple[Path, Path]:
    run, export = scratch / task, scratch / f"{task}-onnx"
    common = ["--max_train_samples", str(args.max_train_samples), "--num_train_epochs", "1", "--bf16", "false",
              "--output_dir", str(run)]  # fmt: skip
    if task == "classification":
        command = ["hf-transfer", "run", "rotten-tomatoes-minilm", *common]
    else:
        conll = SHARED / "conll2003"
        if not conll.is_dir():
            return None, None
        command = ["hf-transfer", "run", "conll2003-bert", "--model_name_or_path",
                   "sentence-transformers/all-MiniLM-L6-v2", "--train_file", str(conll / "train.txt"),
                   "--validation_file", str(conll / "validation.txt"), "--learning_rate", "1e-4", *common]  # fmt: skip
    for step in (command, ["hf-transfer", "export", str(run), "--quantize", "int8", "--output_dir", str(export)]):
        done = subprocess.run([sys.executable, "-m", "hf_transfer", *step[1:]], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{' '.join(step[:3])} failed:\n{done.stderr[-3000:]}")
    return run, export


def batches(task, tokenizer, features, size: int):
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in features.column_names]
    collate = task.collator(tokenizer)
    labels = [n for n in ("labels", "label") if n in features.column_names]
    rows = features.select_columns(names + labels)
    for start in range(0, len(rows), size):
        chunk = rows.select(range(start, min(start + size, len(rows))))
        batch = collate([chunk[i] for i in range(len(chunk))])
        yield {n: batch[n] for n in names}


def timed(model, batch_list, autocast: bool = False) -> list[float]:
    import torch

    seconds = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        model(**batch_list[0])  # warm-up: first-call allocation and graph setup
        for batch in batch_list:
            started = time.perf_counter()
            model(**batch)
            seconds.append(time.perf_counter() - started)
    return seconds


def measure(run: Path, export: Path, args) -> list[dict]:
    import torch

    from hf_transfer.console import quiet
    from hf_transfer.evaluation import evaluation_data
    from hf_transfer.hardware import cpu_computes_bf16
    from hf_transfer.models import load_run
    from hf_transfer.onnx_model import INT8_FILE, MODEL_FILE, OnnxModel

    torch.set_num_threads(args.threads)
    with quiet():
        recipe, model, tokenizer = load_run(run)
        model = model.float().eval()
        _, _, task, tokenized = evaluation_data(recipe, tokenizer)
    features = tokenized["validation"]
    singles = list(batches(task, tokenizer, features.select(range(min(args.latency_rows, len(features)))), 1))
    full = list(batches(task, tokenizer, features, 32))
    rows_total = len(features)
    record = json.loads((export / "export.json").read_text())["verification"]
    models = [("PyTorch fp32", model, False, record["pytorch_fp32"]),
              ("onnxruntime fp32", OnnxModel(export, MODEL_FILE), False, record["onnx_fp32"]),
              ("onnxruntime int8", OnnxModel(export, INT8_FILE), False, record["onnx_int8"])]  # fmt: skip
    if cpu_computes_bf16():
        models.insert(1, ("PyTorch bf16 autocast (this CPU computes bf16)", model, True, None))
    out = []
    for name, m, autocast, metric in models:
        latency = statistics.median(timed(m, singles, autocast))
        throughput = rows_total / sum(timed(m, full, autocast))
        out.append({"model": name, "latency_ms": latency * 1000, "rows_per_second": throughput, "metric": metric,
                    "metric_name": record["metric"].removeprefix("eval_")})  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="classification,ner")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max_train_samples", type=int, default=2000)
    parser.add_argument("--latency_rows", type=int, default=64)
    parser.add_argument("--out", default=str(HERE / "results" / "export"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for task in args.tasks.split(","):
            run, export = train_and_export(task, Path(scratch), args)
            if run is None:
                print(f"{task}: skipped (no {SHARED / 'conll2003'})")
                continue
            results[task] = {"rows": measure(run, export, args),
                             "sizes": json.loads((export / "export.json").read_text())["bytes"]}  # fmt: skip
    import torch

    cpu = cpu_name()
    flags = {name: getattr(torch.cpu, f"_is_{name}_supported", lambda: None)() for name in ("avx2", "avx512", "vnni",
                                                                                           "avx512_bf16")}  # fmt: skip
    cpu += ", " + ", ".join(f"{name} {'yes' if on else 'no'}" for name, on in flags.items())
    lines = [
        f"PyTorch fp32 vs its ONNX export on CPU ({cpu}, {args.threads} threads), MiniLM-L6 fine-tuned on "
        f"{args.max_train_samples} rows for 1 epoch; metrics from hf-transfer export's verification",
        "",
    ]
    for task, result in results.items():
        rows = result["rows"]
        base = rows[0]
        lines += [f"### {task}", "", f"| model | {base['metric_name']} | latency, batch 1 | throughput, batch 32 | "
                  "speed-up, batch 1 | speed-up, batch 32 |", "|---|---|---|---|---|---|"]  # fmt: skip
        for r in rows:
            metric = f"{r['metric']:.4f}" if r["metric"] is not None else "(not measured)"
            lines.append(
                f"| {r['model']} | {metric} | {r['latency_ms']:.1f} ms | {r['rows_per_second']:.0f} rows/s | "
                f"{base['latency_ms'] / r['latency_ms']:.2f}x | "
                f"{r['rows_per_second'] / base['rows_per_second']:.2f}x |"
            )
        sizes = ", ".join(f"{name} {size / 2**20:.1f} MiB" for name, size in result["sizes"].items())
        lines += ["", f"Sizes: {sizes}", ""]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps({"settings": vars(args), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

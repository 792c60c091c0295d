"""PyTorch fp32 against its ONNX export (onnxruntime fp32 and int8) on this CPU, side by side in one invocation:
latency at batch 1, throughput at batch 32, and the task metric, for the packaged MiniLM fine-tuned as a classifier
(Rotten Tomatoes snippets) and as an NER tagger (the shared CoNLL-2003 subset, when ../shared is there).

    python benchmarks/bench_export.py [--tasks classification,ner] [--threads 2] [--max_train_samples 2000]

Each model is trained by ``hf-transfer run`` and exported by ``hf-transfer export --quantize int8`` (which verifies
the export on the run's evaluation data: the metrics below are its numbers). Then, in this process, the same
evaluation rows go through the three models: batch 1 (the median of ``--latency_rows`` rows) and batch 32 (every
batch of the evaluation rows, padded as the collator pads them). PyTorch and onnxruntime run with the same number
of threads. PyTorch bf16 autocast is measured too where the CPU computes bf16 natively (never a general claim).

``--tasks decoder``: the packaged SmolLM2-135M (chatterbot recipe, LoRA, merged) against its GGUF exports (f16, q8_0,
q4_0: ``hf-transfer export --format gguf``, verified in llama.cpp; the eval-loss change is the verification's) in
llama.cpp through llama-cpp-python: prompt tokens/s (the prompt in one pass) and generation tokens/s at batch 1
(``--new_tokens`` greedy tokens after it, with a cache), PyTorch fp32 (and bf16 autocast where native) vs llama.cpp.
Writes benchmarks/results/export.{json,md} (export-decoder.{json,md} with --tasks decoder).
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

from hf_transfer.commands.doctor import cpu_name

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


def train_and_export_decoder(scratch: Path, args) -> tuple[Path, dict[str, Path]]:
    run = scratch / "smollm2"
    steps = [["run", "chatterbot-smollm2", "--max_train_samples", str(min(args.max_train_samples, 256)),
              "--max_eval_samples", "16", "--set", "task.num_samples=0", "--output_dir", str(run)]]  # fmt: skip
    exports = {q: scratch / f"smollm2-{q}" for q in ("f16", "q8_0", "q4_0")}
    steps += [["export", str(run), "--format", "gguf", "--quantize", q, "--output_dir", str(out)]
              for q, out in exports.items()]  # fmt: skip
    for step in steps:
        done = subprocess.run([sys.executable, "-m", "hf_transfer", *step], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"hf-transfer {step[0]} failed:\n{done.stderr[-3000:]}")
    return run, exports


def measure_decoder(run: Path, exports: dict[str, Path], args) -> list[dict]:
    """Prompt and generation tokens/s at batch 1, PyTorch vs llama.cpp, over ``--latency_rows`` evaluation prompts
    (at most 8); llama.cpp decodes the tokens PyTorch generated greedily, so both do the same work."""
    import torch
    from llama_cpp import Llama

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.base.console import quiet
    from hf_transfer.base.hardware import cpu_computes_bf16
    from hf_transfer.run.evaluation import evaluation_data

    torch.set_num_threads(args.threads)
    with quiet():
        recipe, model, tokenizer = load_run(run)
        model = (model.merge_and_unload() if hasattr(model, "merge_and_unload") else model).float().eval()
        _, splits, task, _ = evaluation_data(recipe, tokenizer)
    examples = splits["validation"]
    texts = [task._texts(tokenizer, task._conversation(examples[i], "a row"), True)[0]
             for i in range(min(8, args.latency_rows, len(examples)))]  # fmt: skip
    prompts = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    n = args.new_tokens
    out, continuations = [], []
    variants = [("PyTorch fp32", False)] + ([("PyTorch bf16 autocast", True)] if cpu_computes_bf16() else [])
    for name, autocast in variants:
        prefill, decode = 0.0, 0.0
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            warm = torch.tensor([prompts[0]])  # first-call allocation and kernel selection, not timed
            model.generate(input_ids=warm, attention_mask=torch.ones_like(warm), max_new_tokens=4, do_sample=False,
                           pad_token_id=tokenizer.eos_token_id)  # fmt: skip
            for prompt in prompts:
                ids = torch.tensor([prompt])
                started = time.perf_counter()
                model(input_ids=ids)
                middle = time.perf_counter()
                generated = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                           min_new_tokens=n, do_sample=False,
                                           pad_token_id=tokenizer.eos_token_id)  # fmt: skip
                whole = time.perf_counter() - middle  # the prompt pass again, then n - 1 cached steps
                prefill, decode = prefill + middle - started, decode + whole - (middle - started)
                if not autocast:
                    continuations.append(generated[0, len(prompt) :].tolist())
        out.append({"model": name, "prompt_tokens_per_s": sum(map(len, prompts)) / prefill,
                    "generation_tokens_per_s": (n - 1) * len(prompts) / decode, "bytes": None,
                    "loss_change": None})  # fmt: skip
    for q, folder in exports.items():
        record = json.loads((folder / "export.json").read_text())
        llm = Llama(model_path=str(folder / "model.gguf"), n_ctx=512, n_threads=args.threads, verbose=False)
        llm.eval(prompts[0])  # warm-up, not timed
        prefill, decode = 0.0, 0.0
        for prompt, continuation in zip(prompts, continuations, strict=True):
            llm.reset()
            started = time.perf_counter()
            llm.eval(prompt)
            middle = time.perf_counter()
            for token in continuation:
                llm.eval([token])
            prefill, decode = prefill + middle - started, decode + time.perf_counter() - middle
        out.append({"model": f"llama.cpp {q}", "prompt_tokens_per_s": sum(map(len, prompts)) / prefill,
                    "generation_tokens_per_s": n * len(prompts) / decode, "bytes": record["bytes"]["model.gguf"],
                    "loss_change": record["verification"]["eval_loss"]["change"]})  # fmt: skip
    return out


def decoder_lines(rows: list[dict]) -> list[str]:
    base = rows[0]
    lines = ["### decoder (SmolLM2-135M, batch 1)", "", "| model | prompt tokens/s | generation tokens/s | "
             "generation speed-up | file | eval-loss change (verification) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        size = f"{r['bytes'] / 2**20:.0f} MiB" if r["bytes"] else ""
        change = f"{r['loss_change']:+.2%}" if r["loss_change"] is not None else ""
        speedup = r["generation_tokens_per_s"] / base["generation_tokens_per_s"]
        lines.append(f"| {r['model']} | {r['prompt_tokens_per_s']:.0f} | {r['generation_tokens_per_s']:.1f} | "
                     f"{speedup:.2f}x | {size} | {change} |")  # fmt: skip
    return lines + [""]


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

    from hf_transfer.artifacts.models import load_run
    from hf_transfer.artifacts.onnx_model import INT8_FILE, MODEL_FILE, OnnxModel
    from hf_transfer.base.console import quiet
    from hf_transfer.base.hardware import cpu_computes_bf16
    from hf_transfer.run.evaluation import evaluation_data

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
    parser.add_argument("--new_tokens", type=int, default=32, help="decoder: tokens generated per prompt")
    parser.add_argument("--out", default=None, help="default: benchmarks/results/export (export-decoder for decoder)")
    args = parser.parse_args()
    args.out = args.out or str(HERE / "results" / ("export-decoder" if args.tasks == "decoder" else "export"))
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        for task in args.tasks.split(","):
            if task == "decoder":
                run, exports = train_and_export_decoder(Path(scratch), args)
                results[task] = {"rows": measure_decoder(run, exports, args)}
                continue
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
        f"PyTorch vs its GGUF exports in llama.cpp on CPU ({cpu}, {args.threads} threads), SmolLM2-135M (chatterbot "
        f"recipe, LoRA merged); eval-loss change from hf-transfer export's verification",
        "",
    ] if args.tasks == "decoder" else [
        f"PyTorch fp32 vs its ONNX export on CPU ({cpu}, {args.threads} threads), MiniLM-L6 fine-tuned on "
        f"{args.max_train_samples} rows for 1 epoch; metrics from hf-transfer export's verification",
        "",
    ]
    for task, result in results.items():
        if task == "decoder":
            lines += decoder_lines(result["rows"])
            continue
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

"""Fine-tuning speed and memory, side by side, in one process, on the same model, data, seed and budget.

    python benchmarks/bench_train.py            # 2,000 training examples (about 10 minutes on 2 CPU cores)
    python benchmarks/bench_train.py --full     # 8,000 training examples, as in the issue's reference table

Configurations (packaged all-MiniLM-L6-v2 on the packaged Rotten Tomatoes snippets, max length 128,
batch 32, learning rate 5e-5, 1 epoch, seed 42):

  a. a plain Trainer configured like transformers' run_glue.py defaults: every example padded to
     max length, the default random sampler;
  b. a plain Trainer with that script's best flags: dynamic padding and length-grouped batches;
  c. hf_transfer's defaults (``hf_transfer.run.train.run``): on CPUs with native bf16, bf16 autocast;
  d. on such CPUs, (c) with ``--bf16 false``, to show what the autocast buys.

Throughput counts optimizer-step time only (a callback times each step), so per-epoch evaluation
and checkpointing in (c) do not count against it. Also measured: a matmul ceiling (fp32, this
process, this machine), tokenization first pass against a cache hit, ``hf-transfer list`` start-up,
and LoRA against full fine-tuning. Results go to benchmarks/results/ as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
)

from hf_transfer import load_recipe
from hf_transfer.base.console import Console
from hf_transfer.base.hardware import PeakMemory, cpu_computes_bf16
from hf_transfer.commands.doctor import cpu_name
from hf_transfer.data.cache import tokenization_cache_dir
from hf_transfer.data.prepare import load_splits, tokenize_splits
from hf_transfer.run.options import RunOptions
from hf_transfer.run.train import run
from hf_transfer.sources.assets import resolve_checkpoint

RESULTS = Path(__file__).resolve().parent / "results"


class StepTimer(TrainerCallback):
    """Wall time spent inside optimizer steps (forward, backward, update), nothing else."""

    def __init__(self):
        self.seconds, self._start = 0.0, None

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds += time.perf_counter() - self._start


def matmul_ceiling(dtype=torch.float32, seconds: float = 6.0) -> float:
    """Best GFLOP/s over a few matrix shapes like the model's and a large square one, after warm-up."""
    best = 0.0
    shapes = ((4096, 384, 1536), (4096, 1536, 384), (4096, 384, 384), (3072, 3072, 3072))
    for m, k, n in shapes:
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        warm = time.perf_counter()
        while time.perf_counter() - warm < 0.5:
            a @ b
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / len(shapes):
            a @ b
            count += 1
        best = max(best, 2 * m * k * n * count / (time.perf_counter() - start) / 1e9)
    return best


def flops_per_real_token(model) -> float:
    """Training FLOPs per token: 6 x parameters outside the embeddings (forward 2N, backward 4N)."""
    embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    return 6.0 * (sum(p.numel() for p in model.parameters()) - embedding)


def padding_share(trainer) -> tuple[int, int]:
    """(real tokens, processed tokens) over one pass of the trainer's own training batches."""
    real = total = 0
    for batch in trainer.get_train_dataloader():
        mask = batch["attention_mask"]
        real += int(mask.sum())
        total += mask.numel()
    return real, total


def accuracy(eval_pred) -> dict[str, float]:
    logits, labels = eval_pred
    return {"accuracy": float((logits.argmax(-1) == labels).mean())}


def plain_trainer(config: str, checkpoint: str, splits, args: argparse.Namespace, scratch: Path) -> dict:
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    padding = "max_length" if config == "a" else False

    def tokenize(batch):
        return tokenizer(batch["text"], padding=padding, truncation=True, max_length=args.max_length)

    data = {s: ds.map(tokenize, batched=True, remove_columns=["text"]) for s, ds in splits.items()}
    torch.manual_seed(args.seed)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    training = TrainingArguments(
        output_dir=str(scratch / config),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_train_epochs=1,
        seed=args.seed,
        report_to="none",
        save_strategy="no",
        eval_strategy="no",
        logging_steps=50,
        disable_tqdm=True,
        train_sampling_strategy="group_by_length" if config == "b" else "random",
    )
    timer = StepTimer()
    trainer = Trainer(
        model=model,
        args=training,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        data_collator=default_data_collator if config == "a" else DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
        callbacks=[timer],
    )
    real, processed = padding_share(trainer)
    with PeakMemory() as memory:
        trainer.train()
    result = trainer.evaluate()
    return {
        "step_seconds": timer.seconds,
        "real_tokens": real,
        "processed_tokens": processed,
        "peak_rss_bytes": memory.peak_rss,
        "eval_accuracy": result["eval_accuracy"],
        "model": model,
    }


def hf_transfer_run(recipe, output: Path, args: argparse.Namespace) -> dict:
    timer = StepTimer()
    captured = {}
    from hf_transfer.run import trainer as train_module

    original = train_module.trainer_class

    def with_timer(task):  # the same Trainer hf_transfer builds, plus the step timer
        base = original(task)

        class Timed(base):
            def __init__(self, *a, **kw):
                kw["callbacks"] = [timer]
                super().__init__(*a, **kw)
                if self.train_dataset is not None:
                    captured["trainer"] = self
                    captured["tokens"] = padding_share(self)

        return Timed

    train_module.trainer_class = with_timer
    try:
        with Console(log=lambda *_: None) as console:
            metrics = run(recipe, RunOptions(output_dir=output, overwrite=True), console)
    finally:
        train_module.trainer_class = original
    real, processed = captured["tokens"]
    return {
        "step_seconds": timer.seconds,
        "real_tokens": real,
        "processed_tokens": processed,
        "peak_rss_bytes": metrics["resources"]["peak_rss_bytes"],
        "eval_accuracy": metrics["eval"]["eval_accuracy"],
        "saved_bytes": metrics["resources"]["saved_bytes"],
        "model": captured["trainer"].model,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="8,000 training examples instead of 2,000")
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip_lora", action="store_true")
    parser.add_argument("--train_samples", type=int, help="override the example count (quick checks of this script)")
    args = parser.parse_args()
    train_samples = args.train_samples or (8000 if args.full else 2000)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    recipe = load_recipe("rotten-tomatoes-minilm")
    recipe = dataclasses.replace(
        recipe,
        data=dataclasses.replace(recipe.data, max_train_samples=train_samples, max_eval_samples=1000),
        task=dataclasses.replace(recipe.task, max_length=args.max_length),
        training={
            "learning_rate": args.learning_rate,
            "num_train_epochs": 1,
            "per_device_train_batch_size": args.batch_size,
            "seed": args.seed,
            "disable_tqdm": True,
        },
    )
    checkpoint = resolve_checkpoint(recipe.checkpoint).path
    splits, task = load_splits(recipe.data, recipe.task)
    plain_splits = {s: ds.rename_column("labels", "label") for s, ds in splits.items()}

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_name()}",
        flush=True,
    )
    ceiling = matmul_ceiling()
    ceiling_bf16 = matmul_ceiling(torch.bfloat16) if cpu_computes_bf16() else None
    print(
        f"matmul ceiling: {ceiling:.0f} GFLOP/s fp32" + (f", {ceiling_bf16:.0f} GFLOP/s bf16" if ceiling_bf16 else ""),
        flush=True,
    )

    rows = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for config in ("a", "b"):
            print(f"config {config} ...", flush=True)
            rows[config] = plain_trainer(config, checkpoint, plain_splits, args, scratch)
        print("config c ...", flush=True)
        rows["c"] = hf_transfer_run(recipe, scratch / "c", args)
        if cpu_computes_bf16():  # the defaults autocast to bf16 here; show what fp32 would do
            print("config d (c with --bf16 false) ...", flush=True)
            rows["d"] = hf_transfer_run(
                dataclasses.replace(recipe, training={**recipe.training, "bf16": False}), scratch / "d", args
            )
        flops_token = flops_per_real_token(rows["c"].pop("model"))
        for r in rows:
            rows[r].pop("model", None)

        # tokenization: first pass (empty cache) against a cache hit
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        full_splits, full_task = load_splits(
            dataclasses.replace(recipe.data, max_train_samples=None, max_eval_samples=None), recipe.task
        )
        os.environ["HF_TRANSFER_CACHE"] = str(scratch / "token-cache")
        start = time.perf_counter()
        tokenize_splits(full_splits, full_task, tokenizer)
        first_pass = time.perf_counter() - start
        hits = []
        for _ in range(5):
            start = time.perf_counter()
            tokenize_splits(full_splits, full_task, tokenizer)
            hits.append(time.perf_counter() - start)
        cache_hit = sorted(hits)[2]  # the median of five
        assert tokenization_cache_dir() == scratch / "token-cache" / "tokenized"

        # start-up of `hf-transfer list` (a fresh interpreter, best of 3)
        startup = min(_timed([sys.executable, "-m", "hf_transfer.cli", "list"]) for _ in range(3))

        lora = None
        if not args.skip_lora:
            print("lora ...", flush=True)
            lora = hf_transfer_run(dataclasses.replace(recipe, method="lora"), scratch / "lora", args)
            lora.pop("model")

    n = train_samples
    table = {}
    for key, r in rows.items():
        samples_per_s = n / r["step_seconds"]
        real_tokens_per_s = r["real_tokens"] / r["step_seconds"]
        table[key] = {
            "train_samples_per_second": samples_per_s,
            "real_tokens_per_second": real_tokens_per_s,
            "padding_share": 1 - r["real_tokens"] / r["processed_tokens"],
            "mfu_real_tokens": real_tokens_per_s
            * flops_token
            / ((ceiling_bf16 if key == "c" and ceiling_bf16 else ceiling) * 1e9),
            "precision": "bf16 autocast" if key == "c" and ceiling_bf16 else "fp32",
            "peak_rss_gib": r["peak_rss_bytes"] / 2**30,
            "eval_accuracy": r["eval_accuracy"],
        }
    result = {
        "train_samples": n,
        "eval_samples": len(splits["validation"]),
        "max_length": args.max_length,
        "batch_size": args.batch_size,
        "matmul_ceiling_gflops": ceiling,
        "matmul_ceiling_bf16_gflops": ceiling_bf16,
        "flops_per_real_token": flops_token,
        "configs": table,
        "ratios": {
            f"{x}/{y} samples/s": table[x]["train_samples_per_second"] / table[y]["train_samples_per_second"]
            for x in ("c",)
            for y in ("a", "b", "d")
            if y in table
        },
        "tokenization": {
            "first_pass_s": first_pass,
            "cache_hit_s": cache_hit,
            "speedup": first_pass / cache_hit,
            "rows": sum(len(d) for d in full_splits.values()),
        },
        "hf_transfer_list_startup_s": startup,
        "lora_vs_full": None
        if lora is None
        else {
            "lora_samples_per_second": n / lora["step_seconds"],
            "full_samples_per_second": table["c"]["train_samples_per_second"],
            "lora_peak_rss_gib": lora["peak_rss_bytes"] / 2**30,
            "full_peak_rss_gib": table["c"]["peak_rss_gib"],
            "lora_saved_mib": lora["saved_bytes"] / 2**20,
            "full_saved_mib": rows["c"]["saved_bytes"] / 2**20,
            "lora_eval_accuracy": lora["eval_accuracy"],
        },
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__},
    }
    RESULTS.mkdir(exist_ok=True)
    name = "train_full" if args.full else "train" if not args.train_samples else f"train_{train_samples}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    markdown = render(result, args)
    (RESULTS / f"{name}.md").write_text(markdown)
    print(markdown)


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def render(result: dict, args) -> str:
    names = {
        "a": "a. plain Trainer, run_glue defaults (pad to max length)",
        "b": "b. plain Trainer, dynamic padding + group_by_length",
        "c": "c. hf_transfer defaults"
        + (" (bf16 autocast: this CPU computes bf16 natively)" if "d" in result["configs"] else ""),
    }
    lines = [
        f"Training {result['train_samples']:,} examples (1 epoch, max length {result['max_length']}, batch "
        f"{result['batch_size']}), "
        f"evaluating {result['eval_samples']:,}; matmul ceiling measured in the same run: "
        f"{result['matmul_ceiling_gflops']:.0f} GFLOP/s fp32"
        + (
            f", {result['matmul_ceiling_bf16_gflops']:.0f} GFLOP/s bf16"
            if result.get("matmul_ceiling_bf16_gflops")
            else ""
        )
        + ". MFU counts 6 x non-embedding parameters FLOPs per real (non-padding) token, "
        "against the ceiling of the precision used.",
        "",
        "| configuration | train samples/s | real tokens/s | padding share | MFU on real tokens | peak RSS | eval "
        "accuracy |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, r in result["configs"].items():
        if key == "d":
            continue
        lines.append(
            f"| {names[key]} | {r['train_samples_per_second']:.1f} | {r['real_tokens_per_second']:.0f} | "
            f"{100 * r['padding_share']:.1f}% | "
            f"{100 * r['mfu_real_tokens']:.1f}% | {r['peak_rss_gib']:.2f} GiB | {r['eval_accuracy']:.3f} |"
        )
    if "d" in result["configs"]:
        d = result["configs"]["d"]
        lines.append(
            f"| d. hf_transfer defaults with `--bf16 false` (fp32) | {d['train_samples_per_second']:.1f} | "
            f"{d['real_tokens_per_second']:.0f} | {100 * d['padding_share']:.1f}% | "
            f"{100 * d['mfu_real_tokens']:.1f}% | "
            f"{d['peak_rss_gib']:.2f} GiB | {d['eval_accuracy']:.3f} |"
        )
    ratios = result["ratios"]
    tok = result["tokenization"]
    lines += [
        "",
        ", ".join(f"{k.split()[0]} = {v:.2f}x" for k, v in ratios.items()) + " (train samples/s).",
        "",
        f"Tokenizing {tok['rows']:,} rows: first pass {tok['first_pass_s']:.2f} s, cache hit "
        f"{tok['cache_hit_s']:.3f} s (median of 5; {tok['speedup']:.0f}x).",
        f"`hf-transfer list` start-up: {result['hf_transfer_list_startup_s']:.2f} s.",
    ]
    lora = result["lora_vs_full"]
    if lora:
        lines += [
            "",
            "| hf_transfer | train samples/s | peak RSS | saved | eval accuracy |",
            "|---|---|---|---|---|",
            f"| full | {lora['full_samples_per_second']:.1f} | {lora['full_peak_rss_gib']:.2f} GiB | "
            f"{lora['full_saved_mib']:.1f} MiB | {result['configs']['c']['eval_accuracy']:.3f} |",
            f"| lora | {lora['lora_samples_per_second']:.1f} | {lora['lora_peak_rss_gib']:.2f} GiB | "
            f"{lora['lora_saved_mib']:.1f} MiB | {lora['lora_eval_accuracy']:.3f} |",
        ]
    lines += ["", f"Command: `python benchmarks/bench_train.py{' --full' if args.full else ''}`", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

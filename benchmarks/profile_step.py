"""Where a training step's time goes: torch.profiler over a few optimizer steps of the packaged
MiniLM on real Rotten Tomatoes batches, as hf_transfer builds them (dynamic padding, length-grouped).

    python benchmarks/profile_step.py [--steps 6] [--bf16]

Prints the operators that take the most CPU time, and the share of matmul-like operators.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_transfer import PackagedData, TextClassification
from hf_transfer.data.prepare import load_splits, tokenize_splits
from hf_transfer.sources.assets import resolve_checkpoint

MATMUL_OPS = (
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::matmul",
    "aten::linear",
    "mkldnn",
    "aten::_scaled_dot_product",
)


def minilm_path() -> str:
    return resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").path


def rotten_tomatoes_batches(tokenizer, count: int, batch_size: int) -> list[dict]:
    """``count`` batches of ``batch_size`` Rotten Tomatoes rows spread over the length range, each of similar
    lengths and padded to its longest, as the Trainer's length-grouped sampler and dynamic padding build them."""
    splits, task = load_splits(
        PackagedData("rotten-tomatoes-snippets", max_train_samples=2000), TextClassification(max_length=128)
    )
    train = tokenize_splits(splits, task, tokenizer)["train"]
    order = sorted(range(len(train)), key=lambda i: len(train[i]["input_ids"]))
    collate = DataCollatorWithPadding(tokenizer)
    stride = len(order) // count
    return [collate([train[i] for i in order[s : s + batch_size]]) for s in range(0, len(order), stride)][:count]


def train_step(model, optimizer, batch, bf16: bool) -> None:
    """One optimizer step on ``batch``: forward (autocast to bf16 when asked), backward, update."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (CPUs with native bf16)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    checkpoint = minilm_path()
    batches = rotten_tomatoes_batches(AutoTokenizer.from_pretrained(checkpoint), args.steps + 2, args.batch_size)
    model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5)

    def step(batch):
        train_step(model, optimizer, batch, args.bf16)

    for batch in batches[:2]:  # warm-up
        step(batch)
    start = time.perf_counter()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        for batch in batches[2:]:
            step(batch)
    seconds = time.perf_counter() - start
    events = profiler.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    matmul = sum(e.self_cpu_time_total for e in events if e.key.startswith(MATMUL_OPS))
    print(
        f"{args.steps} steps in {seconds:.2f} s ({'bf16 autocast' if args.bf16 else 'fp32'}, "
        f"{torch.get_num_threads()} threads)"
    )
    print(f"matmul-like operators: {100 * matmul / total:.1f}% of self CPU time")
    print(events.table(sort_by="self_cpu_time_total", row_limit=15))


if __name__ == "__main__":
    main()

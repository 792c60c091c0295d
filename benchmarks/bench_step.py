"""A classification training step with the last layer computing every position against the first position only
(``task.first_position_only``, the default), side by side in one process, on a model of MiniLM-L6's size (the
packaged checkpoint) or BERT-base's (12 layers of 768, built from transformers' BertConfig defaults with random
weights: the same cost as the real one, which is not on this machine).

    python benchmarks/bench_step.py --size bert-base [--bf16] [--steps 12]

The batches are Rotten Tomatoes rows as a run builds them (32 rows, dynamic padding, similar lengths together);
the two sides alternate step by step over the same batches (a machine that slows down slows both). Writes
benchmarks/results/step-first-position-<size>-<precision>.{json,md}: mean seconds a step each way and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from profile_step import minilm_path, rotten_tomatoes_batches, train_step
from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertConfig

from hf_transfer.tasks._first_position import first_position_only

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=["minilm", "bert-base"], default="bert-base")
    parser.add_argument("--steps", type=int, default=12, help="measured steps a side (after 2 of warm-up)")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--bf16", action="store_true", help="autocast to bfloat16 (CPUs with native bf16)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.manual_seed(0)

    checkpoint = minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)  # bert-base-uncased's vocabulary
    batches = rotten_tomatoes_batches(tokenizer, args.steps + 2, args.batch_size)

    if args.size == "minilm":
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=2)
    else:
        config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=2)  # 12 layers, 768 hidden: BERT-base
        model = AutoModelForSequenceClassification.from_config(config, attn_implementation="sdpa")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)

    def step(batch) -> float:
        start = time.perf_counter()
        train_step(model, optimizer, batch, args.bf16)
        return time.perf_counter() - start

    def first_position_step(batch) -> float:
        with first_position_only(model) as applies:
            assert applies, "the model's last layer is found"
            return step(batch)

    sides = {"every position": step, "first position only": first_position_step}
    for batch in batches[:2]:  # warm-up, both ways
        for run in sides.values():
            run(batch)
    seconds = {side: [] for side in sides}
    for batch in batches[2:]:
        for side, run in sides.items():
            seconds[side].append(run(batch))
    mean = {side: statistics.mean(s) for side, s in seconds.items()}
    precision = "bf16" if args.bf16 else "fp32"
    parameters = sum(p.numel() for p in model.parameters())
    layers = model.config.num_hidden_layers
    lengths = [int(b["input_ids"].shape[1]) for b in batches[2:]]
    text = "\n".join([
        f"A training step, every position against the first position only: {args.size} ({parameters / 1e6:.1f}M "
        f"parameters, {layers} layers), {precision}, batches of {args.batch_size} Rotten Tomatoes rows "
        f"(lengths {min(lengths)}-{max(lengths)}), {args.steps} steps a side alternating, "
        f"{torch.get_num_threads()} threads",
        "",
        "| side | seconds a step (mean) | min-max |",
        "|---|---|---|",
        *(f"| {side} | {mean[side]:.4f} | {min(s):.4f}-{max(s):.4f} |" for side, s in seconds.items()),
        "",
        f"First position only: {mean['every position'] / mean['first position only']:.2f}x as fast a step.",
        "",
    ])  # fmt: skip
    print(text)
    out = HERE / "results" / f"step-first-position-{args.size}-{precision}"
    out.with_suffix(".md").write_text(text)
    record = {"settings": vars(args), "seconds": seconds, "threads": torch.get_num_threads(), "lengths": lengths}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

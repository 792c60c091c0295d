"""Generating responses one prompt at a time against batches of prompts (sorted by length, padded on the left, and
unsorted), side by side in one invocation, on the packaged SmolLM2-135M-Instruct: what the instruction-tuning
recipe's generation metrics (``task.generation_batch_size``) should use.

    python benchmarks/bench_generation.py [--prompts 24] [--max_new_tokens 48] [--threads 2] [--precision fp32|bf16]

Prompts are Alpaca instructions (the shared subset in ../shared/data/alpaca), rendered with the model's chat
template. Each way generates the same prompts greedily; reported: seconds, the speed ratio against one at a time,
and how many responses are identical to one-at-a-time's.
Writes benchmarks/results/generation.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hf_transfer.commands.doctor import cpu_name

HERE = Path(__file__).resolve().parent
SHARED = HERE.parents[1] / "shared" / "data" / "alpaca" / "train.json"


def prompts(count: int) -> list[dict]:
    if not SHARED.is_file():
        raise SystemExit(f"bench_generation.py reads its prompts from {SHARED}, which is not there.")
    rows = json.loads(SHARED.read_text())
    return [{"instruction": r["instruction"], "input": r.get("input", ""), "output": r["output"]}
            for r in rows if r["output"].strip()][:count]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=24)
    parser.add_argument("--max_new_tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch_sizes", default="4,8")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--out", default=str(HERE / "results" / "generation"))
    args = parser.parse_args()

    import dataclasses

    import torch

    from hf_transfer.artifacts.models import load_base_model, load_tokenizer, plain_checkpoint
    from hf_transfer.base.console import quiet
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.sources.assets import resolve_checkpoint

    torch.set_num_threads(args.threads)
    recipe, _ = find_recipe("alpaca-smollm2")
    recipe = dataclasses.replace(
        recipe, method="full", task=dataclasses.replace(recipe.task, max_new_tokens=args.max_new_tokens)
    )
    with quiet():
        checkpoint = plain_checkpoint(resolve_checkpoint(recipe.checkpoint))
        tokenizer = load_tokenizer(checkpoint, recipe)
        model = load_base_model(recipe, checkpoint).eval()
    if args.precision == "bf16":
        model = model.to(torch.bfloat16)
    task = recipe.task
    use_template = task._uses_template(tokenizer)
    texts = [task._texts(tokenizer, task._conversation(r, "a prompt"), use_template)[0] for r in prompts(args.prompts)]
    lengths = [len(tokenizer(t, add_special_tokens=not use_template)["input_ids"]) for t in texts]

    def run(batch: int, sort: bool) -> tuple[float, list[str]]:
        if sort:
            started = time.perf_counter()
            out = task._generate(model, tokenizer, texts, use_template, batch)
            return time.perf_counter() - started, out
        # unsorted: batches in the prompts' own order (what batching without sorting costs)
        started = time.perf_counter()
        out = []
        for start in range(0, len(texts), batch):
            out += task._generate(model, tokenizer, texts[start : start + batch], use_template, batch)
        return time.perf_counter() - started, out

    task._generate(model, tokenizer, texts[:1], use_template, 1)  # warm-up
    rows = []
    base_seconds, base_out = run(1, True)
    rows.append({"way": "one at a time", "seconds": base_seconds, "identical": len(texts)})
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        for sort in (True, False):
            seconds, out = run(batch, sort)
            rows.append({"way": f"batches of {batch}, {'sorted by length' if sort else 'unsorted'}", "seconds": seconds,
                         "identical": sum(a == b for a, b in zip(out, base_out, strict=True))})  # fmt: skip
    lines = [
        f"Greedy generation, SmolLM2-135M-Instruct (packaged), {args.precision}, {args.threads} threads, "
        f"{cpu_name()}: {len(texts)} Alpaca prompts ({min(lengths)}-{max(lengths)} "
        f"tokens), up to {args.max_new_tokens} new tokens",
        "",
        "| way | seconds | speed vs one at a time | responses identical to one at a time |",
        "|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['way']} | {r['seconds']:.1f} | {base_seconds / r['seconds']:.2f}x | "
                     f"{r['identical']}/{len(texts)} |")  # fmt: skip
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".md").write_text(text)
    Path(args.out + ".json").write_text(json.dumps({"settings": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

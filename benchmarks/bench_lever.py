"""One lever against our defaults, side by side in one run: the same data, seeds and precision, each run in its own
process, so a default is changed only on numbers (docs/defaults.md says how they are read).

    python benchmarks/bench_lever.py --task classification [--data sst2] --method full --precision bf16 --seeds 3 \\
        --lever "frozen word embeddings=--set full.freeze_word_embeddings=true"

The data and our command are bench_quality.py's families (Rotten Tomatoes' recipe split and CoNLL-2003 are the
development data, SST-2 as a user's file confirms); no baseline script runs. Writes
benchmarks/results/lever-<lever>-<task>[-sst2]-<method>-<precision>.{json,md}: per side the metric (mean, min-max),
the training phase's seconds, the wall to a saved model, and the ratio of the defaults' means to the lever's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
from pathlib import Path

from bench_quality import FAMILIES, HERE, machine, machine_line, run_ours, spread


def row(side: str, runs: list[dict], digits: int) -> str:
    train = [r["phases"].get("train", 0.0) for r in runs]
    wall = [r["wall_seconds"] for r in runs]
    metric = spread([r["metric"] for r in runs], digits)
    seeds = ", ".join(f"{r['metric']:.{digits}f}" for r in runs)
    return f"| {side} | {metric} | {seeds} | {spread(train, 1)} s | {spread(wall, 1)} s |"


def table(name: str, method: str, precision: str, lever: str, flags: list[str], sides: dict, info: dict) -> str:
    key = FAMILIES[name].ours_key.removeprefix("eval_").replace("_", " ")
    digits = 2 if FAMILIES[name].margin >= 0.5 else 4
    base, moved = sides["defaults"], sides[lever]
    mean = {side: statistics.mean(r["metric"] for r in runs) for side, runs in sides.items()}
    train = {side: statistics.mean(r["phases"].get("train", 0.0) for r in runs) for side, runs in sides.items()}
    wall = {side: statistics.mean(r["wall_seconds"] for r in runs) for side, runs in sides.items()}
    flags_text = " ".join(flags)
    return "\n".join([
        f"Lever '{lever}' ({flags_text}) against the defaults: {name}, {method}, {precision}, {len(base)} seed(s)",
        machine_line(info),
        "",
        f"| side | {key} (mean, min-max) | per seed | training phase (mean, min-max) | wall to a saved model |",
        "|---|---|---|---|---|",
        row("defaults", base, digits),
        row(lever, moved, digits),
        "",
        f"Change of the mean {key}: {mean[lever] - mean['defaults']:+.{digits}f}; training phase "
        f"{train['defaults'] / train[lever]:.2f}x as fast, wall {wall['defaults'] / wall[lever]:.2f}x "
        "(ratios of means: above 1, the lever is faster).",
        "",
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", choices=["classification", "ner", "qa", "sft"], default="classification")
    parser.add_argument("--data", choices=["recipe", "sst2"], default="recipe", help="classification only")
    parser.add_argument("--method", default="full")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--lever", required=True, metavar="NAME=FLAGS", help="the lever's name and our flags for it")
    parser.add_argument("--train_samples", type=int, help=argparse.SUPPRESS)  # smoke runs only
    parser.add_argument("--eval_samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.data != "recipe" and args.task != "classification":
        parser.error("--data sst2 is for --task classification")
    lever, _, flag_text = args.lever.partition("=")
    flags = flag_text.split()
    if not lever or not flags:
        parser.error("--lever takes NAME=FLAGS, e.g. 'frozen word embeddings=--set full.freeze_word_embeddings=true'")
    name = args.task + ("-sst2" if args.data == "sst2" else "")
    family = FAMILIES[name]
    slug = re.sub(r"[^a-z0-9]+", "-", lever.lower()).strip("-")
    out = Path(args.out or HERE / "results" / f"lever-{slug}-{name}-{args.method}-{args.precision}")
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    bf16 = args.precision == "bf16"
    seeds = [42 + k for k in range(args.seeds)]
    info = {**machine(), "threads": threads}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = family.prepare(work, args.train_samples or family.train_samples, args.eval_samples)
        sides = {"defaults": [], lever: []}
        for seed in seeds:  # interleaved, so a machine that slows down later slows both sides
            sides["defaults"].append(run_ours(family, files, work, args.method, seed, bf16, env))
            sides[lever].append(run_ours(family, files, work, args.method, seed, bf16, env, flags, tag="lever-"))
    text = table(name, args.method, args.precision, lever, flags, sides, info)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    record = {"settings": vars(args), "flags": flags, "sides": sides, "machine": info}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

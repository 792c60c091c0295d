"""One lever against our defaults, side by side in one run: the same data, seeds and precision, each run in its own
process, so a default is changed only on numbers (docs/defaults.md says how they are read).

    python benchmarks/bench_lever.py --task classification [--data sst2] --method full --precision bf16 --seeds 3 \\
        --lever "frozen word embeddings=--set full.freeze_word_embeddings=true"
    python benchmarks/bench_lever.py --task sft --data chatterbot --method lora --precision bf16 --seeds 3 \\
        --lever "padded batches=--set task.packing=false"

The data and our command are bench_quality.py's families (Rotten Tomatoes' recipe split and CoNLL-2003 are the
development data, SST-2 as a user's file confirms; for instruction tuning Alpaca develops and the chatterbot
recipe, run as a user runs it on its own data, confirms); no baseline script runs. Writes
benchmarks/results/lever-<lever>-<task>[-sst2]-<method>-<precision>.{json,md}: per side the metric (mean, min-max),
the training phase's seconds, the wall to a saved model, and the ratio of the defaults' means to the lever's.
"""

from __future__ import annotations

import json
import re
import statistics
import tempfile
from pathlib import Path

from bench_quality import FAMILIES, HERE, family_parser, family_setup, machine_line, run_ours, seed_suffix, spread


def row(side: str, runs: list[dict], digits: int) -> str:
    train = [r["phases"].get("train", 0.0) for r in runs]
    wall = [r["wall_seconds"] for r in runs]
    metric = spread([r["metric"] for r in runs], digits)
    seeds = ", ".join(f"{r['metric']:.{digits}f}" for r in runs)
    return f"| {side} | {metric} | {seeds} | {spread(train, 1)} s | {spread(wall, 1)} s |"


def table(name: str, method: str, precision: str, lever: str, flags: list[str], sides: dict, info: dict) -> str:
    key, digits = FAMILIES[name].metric_name, FAMILIES[name].digits
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
    parser = family_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="full")
    parser.add_argument("--lever", required=True, metavar="NAME=FLAGS", help="the lever's name and our flags for it")
    args = parser.parse_args()
    lever, _, flag_text = args.lever.partition("=")
    flags = flag_text.split()
    if not lever or not flags:
        parser.error("--lever takes NAME=FLAGS, e.g. 'frozen word embeddings=--set full.freeze_word_embeddings=true'")
    name, family, env, bf16, seeds, info = family_setup(parser, args)
    slug = re.sub(r"[^a-z0-9]+", "-", lever.lower()).strip("-")
    out = Path(args.out or HERE / "results" / f"lever-{slug}-{name}-{args.method}-{args.precision}{seed_suffix(seeds)}")
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

"""Time to a good model, the MLPerf / DAWNBench way (issues 25, 34): how long until a fixed held-out quality, ours
against the transformers example script (or TRL) run as its README says, side by side, several seeds each.

    python benchmarks/bench_quality.py --task classification [--data recipe|sst2] --precision fp32|bf16 --seeds 3
    python benchmarks/bench_quality.py --task ner|qa|sft --precision fp32|bf16 --seeds 3

Each side runs in a process of its own (imports included; _measure.py), with a tokenization / checkpoint cache of its
own (nothing carried from an earlier run), OMP_NUM_THREADS = the cores unless set. The baseline evaluates after every
epoch, each evaluation timed from its process's start. Quality target = the mean over seeds of the baseline's best
evaluation, minus 0.5 point (sft, a loss: times 1.005); its time = from start to the first evaluation that reaches
it (mean over the seeds that reach it). Ours = ``hf-transfer run RECIPE`` with no flags but the data files, the seed
and --bf16, from process start to a saved, reload-checked model (wall), its final metric checked against the target.

- classification, --data recipe: the packaged MiniLM on the Rotten Tomatoes recipe's own seeded split (6,000 /
  1,281, written to CSV so both sides read the same rows); baseline run_glue-style (baselines/classification.py),
  the text-classification README's settings: lr 2e-5, 3 epochs, batch 32, max_seq_length 128, dynamic padding,
  length-grouped batches, bf16 where asked.
- classification, --data sst2: data the defaults were not chosen on, the way README runs a user's own file:
  ``hf-transfer run rotten-tomatoes-minilm --train_file train.tsv --validation_file validation.tsv --set
  data.columns.text=sentence``: a seeded sample of 3,000 of the shared SST-2 training rows (sized so one precision,
  3 seeds, both sides, full and lora, takes about 13 minutes on a 2-core CPU) and all 872 validation rows; the
  baseline reads the same TSV files with the same README settings.
- ner: the shared CoNLL-2003 (first 1,200 training, 1,000 validation sentences); baseline run_ner-style
  (baselines/token_classification.py) with the Trainer's defaults its README leaves (lr 5e-5, 3 epochs, batch 8);
  ours ``conll2003-bert --model_name_or_path MiniLM``; overall entity F1.
- qa: the shared SQuAD (first 500 training, 300 validation questions: one baseline run under 10 minutes here);
  baseline run_qa-style (baselines/question_answering.py) with its README's batch 12, lr 3e-5, 2 epochs, 384 tokens,
  stride 128; ours ``squad-bert --model_name_or_path MiniLM``; F1 (0-100).
- sft: the shared Alpaca sample (first 150 training records, last 35 for evaluation), the packaged SmolLM2-135M GGUF
  dequantized; baseline TRL's ``SFTTrainer`` (baselines/sft_trl.py: LoRA r16, length 512, SFTConfig's 3 epochs and
  batch 8, TRL's docs' LoRA rate 2e-4; --trl_flags adds e.g. --packing); ours ``alpaca-smollm2`` (LoRA). Both scored
  by the same code: every epoch's TRL adapter through hf_transfer's evaluation (_quality_sft.py; the response-token
  mean loss ours reports). Lower is better.

Writes benchmarks/results/quality-<task>[-sst2]-<precision>.{json,md}, with the machine (CPU, instruction sets, cores,
threads). --train_samples / --eval_samples shrink a family for a smoke run (such results are not the benchmark).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _quality_tasks import FAMILIES, Family  # noqa: E402
from bench_e2e import machine, measured, model_flags  # noqa: E402


def run_baseline(family: Family, files, work: Path, seed: int, bf16: bool, env: dict, extra: list[str]) -> dict:
    train, valid, model = files
    folder = work / f"base-{seed}"
    result = measured(
        [str(HERE / "baselines" / family.baseline), *model_flags(model), "--train_file", str(train),
         "--validation_file", str(valid), "--output_dir", str(folder), *family.settings, *family.baseline_flags,
         *extra, "--eval_each_epoch", "--seed", str(seed), *(["--bf16"] if bf16 else [])],
        folder, {**env, "HF_TRANSFER_CACHE": str(work / f"cache-base-{seed}")},
    )  # fmt: skip
    evaluations = result["evaluations"]
    if family.baseline_key == "score":  # every epoch's adapter scored by hf_transfer's evaluation (_quality_sft.py)
        proc = subprocess.run(
            [sys.executable, str(HERE / "_quality_sft.py"), str(valid), *[e["checkpoint"] for e in evaluations],
             *(["--bf16"] if bf16 else [])],
            capture_output=True, text=True, env={**env, "HF_TRANSFER_CACHE": str(work / "cache-scoring")},
        )  # fmt: skip
        if proc.returncode != 0:
            raise SystemExit(f"scoring the TRL adapters failed:\n{proc.stderr[-3000:]}")
        scores = json.loads(proc.stdout.strip().splitlines()[-1])
        for e in evaluations:
            e["score"] = scores[e["checkpoint"]]
    keep = {k: result[k] for k in ("packing", "padding_free") if k in result}
    return {
        "seed": seed,
        "wall_seconds": result["wall_seconds"],
        "peak_rss_bytes": result["peak_rss_bytes"],
        "evaluations": [(e["seconds"], e[family.baseline_key]) for e in evaluations],
        **({"trl_eval_loss": [e["eval_loss"] for e in evaluations]} if family.baseline_key == "score" else {}),
        **keep,
    }


def run_ours(
    family: Family, files, work: Path, method: str, seed: int, bf16: bool, env: dict, extra=(), tag: str = ""
) -> dict:
    """Our run with its defaults (``extra``: a lever's flags on top, bench_lever.py; ``tag`` names its folder)."""
    train, valid, model = files
    folder = work / f"ours-{tag}{method}-{seed}"
    files_flags = [] if train is None else ["--train_file", str(train), "--validation_file", str(valid)]
    result = measured(
        ["hf-transfer", "run", *[a.format(model=model) for a in family.ours], "--method", method, *files_flags,
         "--output_dir", str(folder), "--seed", str(seed), "--bf16", "true" if bf16 else "false", *extra],
        folder, {**env, "HF_TRANSFER_CACHE": str(work / f"cache-{tag}{method}-{seed}")},
    )  # fmt: skip
    metrics = json.loads((folder / "metrics.json").read_text())
    return {
        "seed": seed,
        "wall_seconds": result["wall_seconds"],
        "peak_rss_bytes": result["peak_rss_bytes"],
        "metric": metrics["eval"][family.ours_key],
        "phases": metrics.get("phases", {}),
    }


def better(family: Family, value: float, target: float) -> bool:
    return value <= target if family.lower_is_better else value >= target


def spread(values: list[float], digits: int = 4) -> str:
    return f"{statistics.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def machine_line(info: dict) -> str:
    sets = ", ".join(info["instruction_sets"]) or "no AVX2"
    return f"Machine: {info['cpu']}, {info['cores']} cores, {sets}; OMP_NUM_THREADS={info['threads']}."


def table(name: str, family: Family, precision: str, target: float, baseline: list, ours: dict, info: dict) -> str:
    best = min if family.lower_is_better else max
    metric, digits = family.metric_name, family.digits
    reached = [b["time_to_target"] for b in baseline if b["time_to_target"] is not None]
    base_time = statistics.mean(reached) if reached else None
    base_spread = (max(reached) - min(reached)) if reached else 0.0
    lines = [
        f"Time to quality, {name}, {precision}, {len(baseline)} seed(s)",
        machine_line(info),
        "",
        f"Target: {metric} {target:.4f} (the baseline's best evaluation, mean over seeds, {family.margin_text})",
        "",
        f"| side | {metric} (mean, min-max) | time to target (mean, min-max) | wall to a saved model (mean, min-max) "
        "| peak RSS | time-to-target ratio (of means) | note |",
        "|---|---|---|---|---|---|---|",
    ]
    bests = [best(v for _, v in b["evaluations"]) for b in baseline]
    walls = [b["wall_seconds"] for b in baseline]
    lines.append(
        f"| baseline ({family.baseline}, README settings) | {spread(bests, digits)} | "
        + (f"{spread(reached, 0)} s" if reached else "never")
        + f" ({len(reached)}/{len(baseline)} seeds) | {spread(walls, 0)} s | "
        f"{max(b['peak_rss_bytes'] for b in baseline) / 2**30:.2f} GiB | 1.00x | |"
    )
    for method, rows in ours.items():
        values = [r["metric"] for r in rows]
        walls = [r["wall_seconds"] for r in rows]
        reach = sum(better(family, r["metric"], target) for r in rows)
        wall = statistics.mean(walls)
        ratio = f"{base_time / wall:.2f}x" if reach == len(rows) and base_time else "-"
        note = f"{reach}/{len(rows)} seeds reach the target"
        if base_time and base_spread > abs(base_time - wall):
            gap = base_time - wall
            note += f"; the baseline's own spread ({base_spread:.0f} s) is wider than the gap ({gap:.0f} s)"
        lines.append(
            f"| hf-transfer run, defaults, {method} | {spread(values, digits)} | "
            f"{'reached' if reach == len(rows) else 'not reached by every seed'} | {spread(walls, 0)} s | "
            f"{max(r['peak_rss_bytes'] for r in rows) / 2**30:.2f} GiB | {ratio} | {note} |"
        )
    lines += [
        "",
        "Baseline evaluations (seconds from process start, " + metric + "): "
        + "; ".join(
            f"seed {b['seed']}: " + ", ".join(f"{t:.0f} s {v:.4f}" for t, v in b["evaluations"]) for b in baseline
        ),
    ]
    if family.baseline_key == "score":
        lines.append(
            "TRL's own eval_loss at the same evaluations (its definition, not compared): "
            + "; ".join(f"seed {b['seed']}: " + ", ".join(f"{v:.4f}" for v in b["trl_eval_loss"]) for b in baseline)
        )
    return "\n".join(lines) + "\n"


def family_parser(description: str) -> argparse.ArgumentParser:
    """The flags every benchmark over the families shares (this one's and bench_lever.py's)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--task", choices=["classification", "ner", "qa", "sft"], default="classification")
    parser.add_argument("--data", choices=["recipe", "sst2", "chatterbot"], default="recipe",
                        help="sst2: classification on SST-2 as a user's file; chatterbot: sft on the chatterbot recipe "
                        "as a user runs it (bench_lever.py only)")  # fmt: skip
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first_seed", type=int, default=42, help="seeds FIRST_SEED.. (more seeds after a 3-seed run: 45)"
    )
    parser.add_argument("--train_samples", type=int, help=argparse.SUPPRESS)  # smoke runs only
    parser.add_argument("--eval_samples", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None)
    return parser


def seed_suffix(seeds: list[int]) -> str:
    """A results file's suffix for seeds other than the usual 42.. (so more seeds never overwrite the first)."""
    return "" if seeds[0] == 42 else f"-seeds{seeds[0]}-{seeds[-1]}"


def family_setup(parser: argparse.ArgumentParser, args) -> tuple[str, Family, dict, bool, list[int], dict]:
    """(the family's name, the family, the runs' environment, bf16, the seeds, the machine) for parsed ``args``."""
    for data, task in (("sst2", "classification"), ("chatterbot", "sft")):
        if args.data == data and args.task != task:
            parser.error(f"--data {data} is for --task {task}")
    name = args.task + ("" if args.data == "recipe" else f"-{args.data}")
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    seeds = [args.first_seed + k for k in range(args.seeds)]
    return name, FAMILIES[name], env, args.precision == "bf16", seeds, {**machine(), "threads": threads}


def main() -> None:
    parser = family_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--methods", default=None, help="our methods to time (default: full,lora; sft: lora)")
    parser.add_argument("--trl_flags", default="", help="sft: TRL's own flags for the baseline, e.g. '--packing'")
    args = parser.parse_args()
    name, family, env, bf16, seeds, info = family_setup(parser, args)
    if not family.baseline:
        parser.error(f"--data {args.data} has no baseline script: it is bench_lever.py's confirming data")
    out = Path(args.out or HERE / "results" / f"quality-{name}-{args.precision}{seed_suffix(seeds)}")
    methods = (args.methods or family.methods).split(",")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = family.prepare(work, args.train_samples or family.train_samples, args.eval_samples)
        baseline = [run_baseline(family, files, work, s, bf16, env, args.trl_flags.split()) for s in seeds]
        best = min if family.lower_is_better else max
        mean_best = statistics.mean(best(v for _, v in b["evaluations"]) for b in baseline)
        target = mean_best * (1 + family.margin) if family.lower_is_better else mean_best - family.margin
        for b in baseline:
            b["time_to_target"] = next((t for t, v in b["evaluations"] if better(family, v, target)), None)
        ours = {m: [run_ours(family, files, work, m, s, bf16, env) for s in seeds] for m in methods}
    for rows in ours.values():
        for r in rows:
            r["reaches"] = better(family, r["metric"], target)
    text = table(name, family, args.precision, target, baseline, ours, info)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    record = {"settings": vars(args), "target": target, "baseline": baseline, "ours": ours, "machine": info}
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

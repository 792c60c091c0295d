"""End to end, side by side in one invocation: ``hf-transfer run`` against a plain Trainer script written like
the transformers example for the task, with that script's best flags for this hardware. Each runs in a
process of its own, from start (imports included) to a saved model; same model, data, epochs, batch,
learning rate and seed.

    python benchmarks/bench_e2e.py                      # classification, fp32 and (where native) bf16
    python benchmarks/bench_e2e.py --precision fp32     # only fp32 (what a CPU without native bf16 gets)
    python benchmarks/bench_e2e.py --repeats 5          # each side 5 times, interleaved: mean, spread, ratio
    python benchmarks/bench_e2e.py --task ner           # token classification (needs ../shared/data/conll2003)
    python benchmarks/bench_e2e.py --task qa            # extractive QA (needs ../shared/data/squad)
    python benchmarks/bench_e2e.py --task sft           # LoRA instruction tuning (needs ../shared/data/alpaca)
    python benchmarks/bench_e2e.py --task seq2seq       # summarization (needs ../shared/data/xsum)

Both sides fine-tune the packaged all-MiniLM-L6-v2, 1 epoch, batch 32, lr 1e-4, no warmup, no weight decay.
classification: the packaged Rotten Tomatoes snippets, the recipe's seeded split (2,000 training examples by
default, 1,281 held out); the baseline is run_glue-style (baselines/classification.py).
ner: the first 2,000 training sentences of CoNLL-2003 and the first 1,000 of its validation split (the shared
copy in ../shared/data/conll2003); the baseline is run_ner-style (baselines/token_classification.py).
qa: the first 600 training questions of SQuAD v1.1 and the first 300 validation questions (../shared/data/squad),
windows of 384 tokens with stride 128; the baseline is run_qa-style with its post-processing
(baselines/question_answering.py), F1 compared.
sft: LoRA instruction tuning of the packaged SmolLM2-135M-Instruct (GGUF, dequantized) on the shared Alpaca sample
(300 training, 35 evaluation records), batch 8, eval loss compared; the baseline is a plain LoRA Trainer script
(baselines/instruction_tuning.py).
seq2seq: summarization of the shared XSum sample (400 training, 100 evaluation articles) by a MiniLM-to-MiniLM
encoder-decoder (warm-started from the packaged MiniLM), batch 16, sources of 256 tokens, 2 beams, 32 new tokens,
ROUGE-L compared; the baseline is run_summarization-style (baselines/summarization.py).
Results: benchmarks/results/e2e-<task>.{json,md},
with the machine's CPU instruction sets, so results from different machines are not mixed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> dict:
    sys.path.insert(0, str(HERE.parent))
    from hf_transfer.commands.doctor import _nvidia_gpus, cpu_flags, cpu_name

    gpus = _nvidia_gpus()
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "instruction_sets": cpu_flags(),
        "gpu": gpus[0]["name"] if gpus else None,
        "python": platform.python_version(),
    }


def prepare_ner(work: Path, train_samples: int) -> tuple[Path, Path, Path]:
    """The first sentences of the shared CoNLL-2003 copy, as CoNLL files both sides read, and the model folder."""
    from hf_transfer.sources.assets import resolve_checkpoint

    source = HERE.parent.parent / "shared" / "data" / "conll2003"
    if not source.is_dir():
        raise SystemExit(f"--task ner needs the shared CoNLL-2003 copy in {source}.")

    def head(name: str, sentences: int) -> Path:
        kept, count = [], 0
        for line in (source / name).read_text(encoding="utf-8").splitlines():
            if not line.strip():
                count += 1 if kept and kept[-1].strip() and not kept[-1].startswith("-DOCSTART-") else 0
                if count >= sentences:
                    break
            kept.append(line)
        out = work / name
        out.write_text("\n".join(kept) + "\n", encoding="utf-8")
        return out

    model = Path(resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").path)
    return head("train.txt", train_samples), head("validation.txt", NER_EVAL_SENTENCES), model


NER_EVAL_SENTENCES = 1000
QA_EVAL_QUESTIONS = 300


def prepare_qa(work: Path, train_samples: int) -> tuple[Path, Path, Path]:
    """The first questions of the shared SQuAD copy, as SQuAD JSON files both sides read, and the model folder."""
    from hf_transfer.sources.assets import resolve_checkpoint

    source = HERE.parent.parent / "shared" / "data" / "squad"
    if not source.is_dir():
        raise SystemExit(f"--task qa needs the shared SQuAD copy in {source}.")

    def head(name: str, questions: int) -> Path:
        data, left = [], questions
        for article in json.loads((source / name).read_text(encoding="utf-8"))["data"]:
            paragraphs = []
            for paragraph in article["paragraphs"]:
                if left <= 0:
                    break
                qas = paragraph["qas"][:left]
                left -= len(qas)
                paragraphs.append({"context": paragraph["context"], "qas": qas})
            if paragraphs:
                data.append({"title": article.get("title", ""), "paragraphs": paragraphs})
        out = work / name
        out.write_text(json.dumps({"data": data}), encoding="utf-8")
        return out

    model = Path(resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").path)
    return head("train.json", train_samples), head("validation.json", QA_EVAL_QUESTIONS), model


SFT_EVAL_EXAMPLES = 35


def prepare_sft(work: Path, train_samples: int) -> tuple[Path, Path, Path]:
    """The shared Alpaca sample (335 records) split in order into training and evaluation JSON files, and the
    packaged SmolLM2-135M-Instruct (GGUF, dequantized by both sides)."""
    from hf_transfer.sources.assets import resolve_checkpoint

    source = HERE.parent.parent / "shared" / "data" / "alpaca" / "train.json"
    if not source.is_file():
        raise SystemExit(f"--task sft needs the shared Alpaca sample in {source}.")
    rows = json.loads(source.read_text(encoding="utf-8"))
    evaluation, train = rows[-SFT_EVAL_EXAMPLES:], rows[: len(rows) - SFT_EVAL_EXAMPLES][:train_samples]
    for name, part in (("train.json", train), ("validation.json", evaluation)):
        (work / name).write_text(json.dumps(part), encoding="utf-8")
    checkpoint = resolve_checkpoint("HuggingFaceTB/SmolLM2-135M-Instruct")
    return work / "train.json", work / "validation.json", Path(checkpoint.path) / checkpoint.gguf_file


SEQ2SEQ_EVAL_EXAMPLES = 100


def prepare_seq2seq(work: Path, train_samples: int) -> tuple[Path, Path, Path]:
    """The shared XSum sample (1,000 articles) split in order into training and evaluation JSON lines, and a
    sequence-to-sequence model warm-started from the packaged MiniLM (its weights as both encoder and decoder,
    new cross-attention: no pretrained encoder-decoder ships in a Python package), saved once for both sides."""
    import torch
    from transformers import AutoTokenizer, EncoderDecoderModel

    from hf_transfer.base.console import quiet
    from hf_transfer.sources.assets import resolve_checkpoint

    source = HERE.parent.parent / "shared" / "data" / "xsum" / "test.jsonl"
    if not source.is_file():
        raise SystemExit(f"--task seq2seq needs the shared XSum sample in {source}.")
    rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    evaluation, train = rows[-SEQ2SEQ_EVAL_EXAMPLES:], rows[: len(rows) - SEQ2SEQ_EVAL_EXAMPLES][:train_samples]
    for name, part in (("train.jsonl", train), ("validation.jsonl", evaluation)):
        with (work / name).open("w", encoding="utf-8") as f:
            for row in part:
                f.write(json.dumps({"document": row["document"], "summary": row["summary"]}) + "\n")
    encoder = resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").path
    torch.manual_seed(0)  # the new cross-attention weights
    with quiet():
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(encoder, encoder)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id = tokenizer.cls_token_id
        config.eos_token_id, config.pad_token_id = tokenizer.sep_token_id, tokenizer.pad_token_id
    folder = work / "minilm2minilm"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return work / "train.jsonl", work / "validation.jsonl", folder


def prepare(work: Path, train_samples: int | None) -> tuple[Path, Path, Path]:
    """The recipe's seeded split written to CSV files (both sides read the same files), and the model folder.
    ``train_samples`` None keeps the recipe's own sample cap (6,000 of its 11,527 training rows): exactly the rows
    its own run trains on, not the whole training split (bench_quality's classification family once trained on all
    11,527 and read 3-4 points above the recipe's 0.80-0.81 for that reason alone)."""
    import dataclasses

    from hf_transfer import load_recipe
    from hf_transfer.data.prepare import load_splits
    from hf_transfer.sources.assets import resolve_checkpoint

    recipe = load_recipe("rotten-tomatoes-minilm")
    keep = recipe.data.max_train_samples if train_samples is None else train_samples
    data = dataclasses.replace(recipe.data, max_train_samples=keep)
    splits, task = load_splits(data, recipe.task)
    for name, split in splits.items():
        frame = split.to_pandas()
        frame["label"] = [task.label_names[i] for i in frame["labels"]]
        frame[["text", "label"]].to_csv(work / f"{name}.csv", index=False)
    model = Path(resolve_checkpoint(recipe.checkpoint).path)
    return work / "train.csv", work / "validation.csv", model


def measured(command: list[str], out: Path, env: dict) -> dict:
    result_file = out.with_suffix(".measure.json")
    proc = subprocess.run(
        [sys.executable, str(HERE / "_measure.py"), str(result_file), "--", *command],
        capture_output=True,
        text=True,
        env=env,
        cwd=out.parent,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{proc.stderr[-3000:]}")
    result = json.loads(result_file.read_text())
    for line in proc.stdout.splitlines():
        if line.startswith("BASELINE "):
            result.update(json.loads(line.removeprefix("BASELINE ")))
    return result


TASKS = {
    # task: (prepare, our recipe and flags, baseline script, our metric key)
    "classification": (prepare, ["rotten-tomatoes-minilm"], "classification.py", "eval_accuracy"),
    "ner": (prepare_ner, ["conll2003-bert", "--model_name_or_path", "{model}"], "token_classification.py",
            "eval_overall_f1"),
    "qa": (prepare_qa, ["squad-bert", "--model_name_or_path", "{model}"], "question_answering.py", "eval_f1"),
    # the packaged GGUF is what the recipe's checkpoint resolves to offline
    "sft": (prepare_sft, ["alpaca-smollm2"], "instruction_tuning.py", "eval_loss"),
    # the baseline's defaults: sources of 256 tokens, 32 new tokens, 2 beams (the recipe's own are 512, 64, 4)
    "seq2seq": (prepare_seq2seq, ["xsum-t5-small", "--model_name_or_path", "{model}", "--set",
                "task.max_source_length=256", "--set", "task.max_new_tokens=32", "--set", "task.num_beams=2"],
                "summarization.py", "eval_rougeL"),
}  # fmt: skip
TRAIN_SAMPLES = {"classification": 2000, "ner": 2000, "qa": 600, "sft": 300, "seq2seq": 400}
METHOD = {"sft": "lora"}
"""The method each side trains (full fine-tuning unless named here; the SFT baseline is a LoRA script)."""
TASK_FLAGS = {
    # the baselines' own length limits, given to ours too (ours would otherwise take the p99 of the data's lengths)
    "classification": ["--max_seq_length", "128"],
    "ner": ["--max_seq_length", "256"],
    "sft": ["--per_device_train_batch_size", "8"],
    "seq2seq": ["--per_device_train_batch_size", "16", "--per_device_eval_batch_size", "32"],
}
"""Flags after COMMON, on both sides (a 135M causal LM trains in batches of 8 here): the same settings."""
"""Training examples (sentences, questions) by default: about a minute of training each on this CPU."""


def run_ours(task: str, precision: str, files, work: Path, env: dict, extra: list[str], name: str) -> dict:
    train, valid, model = files
    _, recipe, _, key = TASKS[task]
    out = work / f"{name.replace(' ', '-')}-{precision}"
    ours = measured(
        ["hf-transfer", "run", *[a.format(model=model) for a in recipe], "--method", METHOD.get(task, "full"),
         "--train_file", str(train), "--validation_file", str(valid), "--output_dir", str(out),
         "--overwrite_output_dir", *COMMON, *TASK_FLAGS.get(task, []),
         "--warmup_steps", "0", "--weight_decay", "0", "--bf16", "true" if precision == "bf16" else "false", *extra],
        out, env,
    )  # fmt: skip
    metrics = json.loads((out / "metrics.json").read_text())
    ours.update(phases=metrics["phases"], metric=metrics["eval"][key])
    return ours


COMMON = ["--learning_rate", "1e-4", "--num_train_epochs", "1", "--per_device_train_batch_size", "32"]


def model_flags(model: Path) -> list[str]:
    if model.suffix == ".gguf":
        return ["--model_name_or_path", str(model.parent), "--gguf_file", model.name]
    return ["--model_name_or_path", str(model)]


def run_pair(precision: str, files, work: Path, args) -> dict:
    """Each side ``args.repeats`` times, interleaved (baseline then ours, ours then baseline on the next repeat, so
    a machine that drifts slower favours neither), at the same seed: the runs differ only in their timing."""
    task = args.task
    train, valid, model = files
    env = {
        **os.environ,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "HF_HUB_OFFLINE": "1",
        "HF_TRANSFER_CACHE": str(work / f"cache-{precision}"),
        "TOKENIZERS_PARALLELISM": "false",
    }

    def baseline() -> dict:
        return measured(
            [str(HERE / "baselines" / TASKS[task][2]), *model_flags(model), "--train_file", str(train),
             "--validation_file", str(valid), "--output_dir", str(work / f"baseline-{precision}"), *COMMON,
             *TASK_FLAGS.get(task, []),
             *(["--bf16"] if precision == "bf16" else [])],
            work / f"baseline-{precision}", env,
        )  # fmt: skip

    sides = {"baseline": baseline, "ours": lambda: run_ours(task, precision, files, work, env, [], "ours")}
    for name, flags in args.variants.items():
        sides[name] = lambda name=name, flags=flags: run_ours(task, precision, files, work, env, flags, name)
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for repeat in range(args.repeats):
        for side in list(sides)[:: -1 if repeat % 2 else 1]:
            runs[side].append(sides[side]())
    summary = {side: summarised(measures) for side, measures in runs.items()}
    base, ours = summary.pop("baseline"), summary.pop("ours")
    pairs = [b["wall_seconds"] / o["wall_seconds"] for b, o in zip(runs["baseline"], runs["ours"], strict=True)]
    return {
        "precision": precision,
        "repeats": args.repeats,
        "baseline": base,
        "ours": ours,
        "variants": summary,
        "speedup": round(base["wall_seconds"] / ours["wall_seconds"], 3),
        "speedup_per_repeat": [round(r, 3) for r in pairs],
        "rss_ratio": round(ours["peak_rss_bytes"] / base["peak_rss_bytes"], 2),
        "metric": TASKS[task][3].removeprefix("eval_"),
        "metric_gap_points": round(100 * (ours["metric"] - base["metric"]), 2),
    }


def summarised(measures: list[dict]) -> dict:
    """One side's runs: mean wall and phases, their walls one by one, the largest peak RSS, the metric (the same
    seed every repeat: a metric that moved is kept as its runs' range)."""
    import statistics

    walls = [m["wall_seconds"] for m in measures]
    metrics = [m["metric"] for m in measures]
    phases: dict[str, float] = {}
    for m in measures:
        for key, value in m.get("phases", {}).items():
            phases[key] = phases.get(key, 0.0) + value / len(measures)
    return {
        "wall_seconds": round(statistics.mean(walls), 3),
        "wall_sd": round(statistics.stdev(walls), 3) if len(walls) > 1 else 0.0,
        "walls": walls,
        "peak_rss_bytes": max(m["peak_rss_bytes"] for m in measures),
        "phases": {k: round(v, 3) for k, v in phases.items()},
        "metric": statistics.mean(metrics),
        "metric_range": [min(metrics), max(metrics)],
    }


def table(rows: list[dict], info: dict) -> str:
    repeats = rows[0].get("repeats", 1)
    lines = [
        f"Machine: {info['cpu']}, {info['cores']} cores, {', '.join(info['instruction_sets']) or 'no AVX2'}"
        + (f", GPU {info['gpu']}" if info["gpu"] else "")
        + f"; OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}; {repeats} run(s) a side, interleaved, "
        "mean (± standard deviation) and the ratio of the means.",
        "",
        f"| precision | side | wall (start → saved) | phases (s, mean) | {rows[0]['metric'].replace('_', ' ')} "
        "| peak RSS | speed-up (baseline / ours) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        sides = [("baseline", r["baseline"]), ("ours", r["ours"])] + [
            (f"ours, {k}", v) for k, v in r["variants"].items()
        ]
        for side, m in sides:
            phases = ", ".join(f"{k} {v:.1f}" for k, v in m.get("phases", {}).items())
            ratio = "" if side == "baseline" else f"**{r['baseline']['wall_seconds'] / m['wall_seconds']:.2f}x**"
            if side == "ours" and len(r.get("speedup_per_repeat", [])) > 1:
                ratio += f" (runs: {min(r['speedup_per_repeat']):.2f}-{max(r['speedup_per_repeat']):.2f}x)"
            spread = f" ± {m['wall_sd']:.1f}" if m.get("wall_sd") else ""
            low, high = m.get("metric_range", [m["metric"]] * 2)
            metric = f"{m['metric']:.4f}" + (f" ({low:.4f}-{high:.4f})" if high - low > 5e-5 else "")
            lines.append(
                f"| {r['precision']} | {side} | {m['wall_seconds']:.1f} s{spread} | {phases} | {metric} | "
                f"{m['peak_rss_bytes'] / 2**30:.2f} GiB | {ratio} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="classification", choices=list(TASKS))
    parser.add_argument("--precision", default="both", choices=["fp32", "bf16", "both"])
    parser.add_argument(
        "--train_samples", type=int, help="default: 2,000 (classification, ner), 600 (qa), 300 (sft), 400 (seq2seq)"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=FLAGS",
        help="also run ours with extra flags, e.g. --variant 'fused adamw=--optim adamw_torch_fused'",
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs a side, interleaved (default 1); timing "
                        "differences of a second need several")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be 1 or more, got {args.repeats}")
    args.variants = {v.split("=", 1)[0]: v.split("=", 1)[1].split() for v in args.variant}
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.path.insert(0, str(HERE.parent))
    from hf_transfer.base.hardware import cpu_computes_bf16

    info = machine()
    precisions = ["fp32", "bf16"] if args.precision == "both" else [args.precision]
    if "bf16" in precisions and not cpu_computes_bf16():
        print("This CPU has no native bf16: measuring fp32 only.")
        precisions = ["fp32"]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        files = TASKS[args.task][0](work, args.train_samples or TRAIN_SAMPLES[args.task])
        rows = []
        for precision in precisions:
            rows.append(run_pair(precision, files, work, args))
            print(json.dumps({k: rows[-1][k] for k in ("precision", "speedup", "rss_ratio", "metric_gap_points")}))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"e2e-{args.task}.json").write_text(json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    text = table(rows, info)
    (RESULTS / f"e2e-{args.task}.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()

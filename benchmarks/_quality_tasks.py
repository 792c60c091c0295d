"""The families of ``bench_quality.py``: per family, the shared data both sides read, the baseline script with its
example README's settings, our command with its defaults, the metric each side reports and how the target is made.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import bench_e2e
from bench_e2e import prepare, prepare_ner, prepare_qa, prepare_sft

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@dataclass(frozen=True)
class Family:
    prepare: Callable  # (work, train_samples, eval_samples) -> (train file, validation file, model)
    train_samples: int | None
    baseline: str  # the script in baselines/
    settings: list[str]  # the example README's flags
    baseline_key: str  # the baseline's evaluation key (after the scoring, for sft)
    ours: list[str]  # hf-transfer run RECIPE [flags] ({model}: the model folder)
    ours_key: str  # in our metrics.json's "eval"
    methods: str  # our methods timed by default
    baseline_flags: list[str] = field(default_factory=list)
    lower_is_better: bool = False
    margin: float = 0.005  # the target: the baseline's best minus this (or times 1 + this, lower is better)
    margin_text: str = "minus 0.5 point"

    @property
    def metric_name(self) -> str:
        """Our metric as a table names it (``eval_overall_f1`` -> ``overall f1``)."""
        return self.ours_key.removeprefix("eval_").replace("_", " ")

    @property
    def digits(self) -> int:
        """Decimals a table shows: 2 for metrics on a 0-100 scale (a margin of points), else 4."""
        return 2 if self.margin >= 0.5 else 4


def _with_eval(prepare_fn, constant: str):
    """A prepare function of bench_e2e with its evaluation size overridable (the smoke runs' --eval_samples)."""

    def prepare_sized(work: Path, train_samples: int | None, eval_samples: int | None):
        if eval_samples is not None:
            setattr(bench_e2e, constant, eval_samples)
        return prepare_fn(work, train_samples)

    return prepare_sized


def _recipe_split(work: Path, train_samples: int | None, eval_samples: int | None):
    """The recipe's own seeded split (6,000 / 1,281), as CSV files (bench_e2e.prepare)."""
    train, valid, model = prepare(work, train_samples)
    if eval_samples is not None:
        rows = valid.read_text(encoding="utf-8").splitlines(keepends=True)
        valid.write_text("".join(rows[: eval_samples + 1]), encoding="utf-8")  # a CSV of one-line snippets
    return train, valid, model


SST2_TRAIN_ROWS = 3000
"""SST-2 training rows (a seeded sample of the shared 10,000): SST-2's training phrases are about half as long as the
Rotten Tomatoes snippets, so 3,000 rows cost about 1,500 of the recipe's rows; with ours at about 60 s (full) and
50 s (LoRA) a run and the baseline's 3 epochs at about 150 s (results/quality-classification-fp32.md's per-epoch
times scaled), 3 seeds of both sides take about 13 minutes in fp32 on the 2-core EPYC."""


def _sst2(work: Path, train_samples: int | None, eval_samples: int | None):
    """The shared SST-2 subset as a user's own files: a seeded sample of its training rows and all 872 validation
    rows, TSV with GLUE's column names (sentence, label), as the user has them."""
    from hf_transfer.sources.assets import resolve_checkpoint

    source = SHARED / "sst2"
    if not source.is_dir():
        raise SystemExit(f"--data sst2 needs the shared SST-2 copy in {source}.")
    out = {}
    for name, keep in (("train", train_samples or SST2_TRAIN_ROWS), ("validation", eval_samples)):
        header, *rows = (source / f"{name}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
        if name == "train" and keep < len(rows):
            rows = random.Random(0).sample(rows, keep)  # the file's lines as they are, a seeded sample
        elif keep is not None:
            rows = rows[:keep]
        out[name] = work / f"{name}.tsv"
        out[name].write_text(header + "".join(rows), encoding="utf-8")
    model = Path(resolve_checkpoint("sentence-transformers/all-MiniLM-L6-v2").path)
    return out["train"], out["validation"], model


def _recipe_data(work: Path, train_samples: int | None, eval_samples: int | None):
    """No files: our run reads the recipe's own packaged data, as a user runs the recipe (no baseline reads it)."""
    return None, None, None


CLASSIFICATION = {
    "baseline": "classification.py",
    # run_glue's README command (examples/pytorch/text-classification)
    "settings": ["--learning_rate", "2e-5", "--num_train_epochs", "3", "--per_device_train_batch_size", "32",
              "--max_seq_length", "128"],
    "baseline_key": "eval_accuracy",
    "ours_key": "eval_accuracy",
    "methods": "full,lora",
}  # fmt: skip

FAMILIES = {
    "classification": Family(
        prepare=_recipe_split, train_samples=None, ours=["rotten-tomatoes-minilm"], **CLASSIFICATION
    ),
    # README: "hf-transfer run rotten-tomatoes-minilm --train_file $D/sst2/train.tsv --set data.columns.text=sentence"
    "classification-sst2": Family(
        prepare=_sst2,
        train_samples=SST2_TRAIN_ROWS,
        ours=["rotten-tomatoes-minilm", "--set", "data.columns.text=sentence"],
        baseline_flags=["--text_column", "sentence"],
        **CLASSIFICATION,
    ),
    # run_ner's README (examples/pytorch/token-classification) gives no learning-rate or batch flags: the Trainer's
    # defaults (lr 5e-5, 3 epochs, batch 8, evaluation batch 8); our conll2003-bert recipe's defaults on MiniLM
    "ner": Family(
        prepare=_with_eval(prepare_ner, "NER_EVAL_SENTENCES"),
        train_samples=1200,  # about 15 minutes for 3 seeds of both sides in fp32 here (2,000: about 25)
        baseline="token_classification.py",
        settings=["--learning_rate", "5e-5", "--num_train_epochs", "3", "--per_device_train_batch_size", "8",
                  "--per_device_eval_batch_size", "8"],
        baseline_key="eval_overall_f1",
        ours=["conll2003-bert", "--model_name_or_path", "{model}"],
        ours_key="eval_overall_f1",
        methods="full,lora",
    ),
    # run_qa's README (examples/pytorch/question-answering): batch 12, lr 3e-5, 2 epochs, 384 / stride 128
    "qa": Family(
        prepare=_with_eval(prepare_qa, "QA_EVAL_QUESTIONS"),
        train_samples=500,  # one baseline run (fp32) about 8 minutes here: 2 epochs and 2 evaluations of 300
        baseline="question_answering.py",
        settings=["--learning_rate", "3e-5", "--num_train_epochs", "2", "--per_device_train_batch_size", "12",
                  "--per_device_eval_batch_size", "8", "--max_seq_length", "384", "--doc_stride", "128"],
        baseline_key="eval_f1",
        ours=["squad-bert", "--model_name_or_path", "{model}"],
        ours_key="eval_f1",
        methods="full,lora",
        margin=0.5,  # F1 in points (0-100)
    ),
    # TRL's SFTTrainer with SFTConfig's defaults (3 epochs, batch 8) and TRL's docs' LoRA learning rate (2e-4), LoRA r16
    # (alpha 32, dropout 0.05: our alpaca-smollm2 recipe's), length 512; each epoch's adapter scored by our evaluation
    "sft": Family(
        prepare=_with_eval(prepare_sft, "SFT_EVAL_EXAMPLES"),
        train_samples=150,
        baseline="sft_trl.py",
        settings=["--learning_rate", "2e-4", "--num_train_epochs", "3", "--per_device_train_batch_size", "8",
                  "--max_seq_length", "512", "--lora_r", "16", "--lora_alpha", "32", "--lora_dropout", "0.05"],
        baseline_key="score",
        ours=["alpaca-smollm2"],
        ours_key="eval_loss",
        methods="lora",
        lower_is_better=True,
        margin=0.005,
        margin_text="times 1.005 (within 0.5%)",
    ),
    # confirming data for instruction tuning (docs/defaults.md): the chatterbot recipe as a user runs it, its own
    # packaged data and held-out 10%; bench_lever.py only (no baseline script reads it)
    "sft-chatterbot": Family(
        prepare=_recipe_data,
        train_samples=None,
        baseline="",
        settings=[],
        baseline_key="",
        ours=["chatterbot-smollm2"],
        ours_key="eval_loss",
        methods="lora",
        lower_is_better=True,
        margin=0.005,
        margin_text="times 1.005 (within 0.5%)",
    ),
}  # fmt: skip

"""The task x method matrix: one tiny finished run per (task, method), made once per test session and
shared by every test module that needs one (``finished_run`` fixture in conftest).

Each task case names a packaged recipe, the tiny model it starts from, its data files and its flags;
each method runs the same case. Full and LoRA keep the settings the task's own tests assert quality
with (more epochs); the other methods stop after a few steps, enough to check the run folder.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from conftest import (
    TINY_TRAINING,
    instruction_rows,
    ner_sentences,
    qa_rows,
    sentiment_rows,
    write_conll,
    write_csv,
    write_jsonl,
    write_squad,
)

TASKS = ("text-classification", "token-classification", "question-answering", "seq2seq", "causal-lm", "multiple-choice")
METHODS = ("full", "freeze", "lora", "dora", "ia3", "scratch")
ADAPTERS = ("lora", "dora", "ia3")
SHORT = ["--max_steps", "6"]
"""Methods the task's own tests do not assert quality on: a few steps are enough for the folder checks."""


def seq2seq_rows(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    words = ["anna", "paris", "good", "film", "oslo", "pilot"]
    rows = []
    for _ in range(n):
        source = " ".join(rng.choice(words) for _ in range(6))
        rows.append({"document": source, "summary": " ".join(source.split()[:2])})
    return rows


def choice_rows(n: int, seed: int) -> list[dict]:
    """SWAG-shaped rows: sent1, sent2, ending0-3, label; the right ending names the person's city."""
    rng = random.Random(seed)
    people, cities = ["anna", "boris", "chen", "dara"], ["paris", "lima", "oslo", "cairo"]
    rows = []
    for _ in range(n):
        person, city = rng.choice(people), rng.choice(cities)
        others = [c for c in cities if c != city]
        label = rng.randrange(4)
        endings = others[:label] + [city] + others[label:]
        rows.append(
            {
                "sent1": f"{person} lives in {city} .",
                "sent2": f"{person} was born in",
                **{f"ending{i}": e for i, e in enumerate(endings)},
                "label": label,
            }
        )
    return rows


def write_data(root: Path) -> dict[str, tuple[Path, Path]]:
    root.mkdir(parents=True, exist_ok=True)
    return {
        "text-classification": (
            write_csv(root / "train.csv", sentiment_rows(160, seed=1)),
            write_csv(root / "valid.csv", sentiment_rows(40, seed=2)),
        ),
        "token-classification": (
            write_conll(root / "train.txt", ner_sentences(120, seed=1)),
            write_conll(root / "valid.txt", ner_sentences(30, seed=2)),
        ),
        "question-answering": (
            write_squad(root / "train.json", qa_rows(120, seed=1)),
            write_squad(root / "valid.json", qa_rows(30, seed=2)),
        ),
        "seq2seq": (
            write_jsonl(root / "s2s-train.jsonl", seq2seq_rows(60, 1)),
            write_jsonl(root / "s2s-valid.jsonl", seq2seq_rows(12, 2)),
        ),
        "causal-lm": (
            write_jsonl(root / "sft-train.jsonl", instruction_rows(80, seed=1)),
            write_jsonl(root / "sft-valid.jsonl", instruction_rows(16, seed=2)),
        ),
        "multiple-choice": (
            write_csv(root / "mc-train.csv", choice_rows(64, 1)),
            write_csv(root / "mc-valid.csv", choice_rows(16, 2)),
        ),
    }


CASES = {
    # task: (recipe, model fixture, flags)
    "text-classification": (
        "rotten-tomatoes-minilm",
        "tiny_bert",
        ["--set", "data.columns.text=sentence", *TINY_TRAINING],
    ),
    "token-classification": (
        "conll2003-bert",
        "tiny_bert",
        ["--set", "task.max_length=128", *TINY_TRAINING, "--num_train_epochs", "8"],
    ),
    "question-answering": (
        "squad-bert",
        "tiny_bert",
        # 120 training questions: the default 10% selection split (13 questions) chose epoch 1 by chance (EM 43 on
        # the evaluation rows); a quarter (30) chooses epoch 9 (EM 80)
        ["--set", "task.max_length=64", "--set", "task.doc_stride=16", "--set", "data.selection_fraction=0.25",
         *TINY_TRAINING, "--num_train_epochs", "10"],  # fmt: skip
    ),
    "seq2seq": (
        "xsum-t5-small",
        "tiny_t5",
        ["--set", "task.source_prefix=", "--set", "task.max_new_tokens=4", "--set", "task.num_beams=1", *TINY_TRAINING],
    ),
    "causal-lm": (
        "alpaca-smollm2",
        "tiny_smollm2",
        ["--set", "task.max_new_tokens=6", "--set", "task.max_length=128", *TINY_TRAINING],
    ),
    "multiple-choice": ("swag-bert", "tiny_bert", [*TINY_TRAINING]),
}
EXTRA = {
    ("causal-lm", "lora"): ["--merge_adapter"],
    ("causal-lm", "full"): ["--set", "task.packing=true"],
}


def run_args(task: str, method: str, model: Path, data: tuple[Path, Path], out: Path) -> list[str]:
    recipe, _, flags = CASES[task]
    args = [
        "run",
        recipe,
        "--method",
        method,
        "--model_name_or_path",
        str(model),
        "--train_file",
        str(data[0]),
        "--validation_file",
        str(data[1]),
        "--output_dir",
        str(out),
        *flags,
        *EXTRA.get((task, method), []),
    ]
    if method not in ("full", "lora"):
        args += SHORT
    return args


def usage_snippet(card: str) -> str:
    """The python code block of a card's "How to use" section."""
    return re.search(r"## How to use\n\n```python\n(.*?)\n```", card, re.S).group(1)

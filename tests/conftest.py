"""Shared fixtures: the tiny checkpoints (built offline by ``tiny_models.build``: ``tiny_bert``, a 2-layer,
hidden-32 BERT with its pooler and a WordPiece tokenizer of the test vocabulary, and the T5, Llama and SmolLM2-shaped
ones), small labelled data files made of that vocabulary, and a tiny run's argument list (``tiny_run_args``).
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path

# Before torch / datasets are imported anywhere: one thread, no Hub, caches out of the home folder.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="hf-transfer-tests-home-"))
os.environ.pop("HF_TOKEN", None)

import pytest  # noqa: E402

import tiny_models  # noqa: E402
from tiny_models import CITIES, JOBS, NEGATIVE, PEOPLE, POSITIVE, sentence  # noqa: E402  (the test vocabulary)


def sentiment_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        rows.append(
            {"sentence": sentence(rng, POSITIVE if positive else NEGATIVE), "label": "pos" if positive else "neg"}
        )
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    import csv

    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A local checkpoint folder: tiny BertModel (with pooler) + fast WordPiece tokenizer of the test vocabulary."""
    import torch

    torch.set_num_threads(1)
    return tiny_models.build("test-bert", tmp_path_factory.mktemp("tiny-bert"))


def ner_sentences(n: int, seed: int = 0) -> list[tuple[list[str], list[str]]]:
    """Sentences like 'anna smith visited paris .' with IOB2 tags (PER may span two words)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        person = [rng.choice(PEOPLE)] + (["smith"] if rng.random() < 0.5 else [])
        city = rng.choice(CITIES)
        if rng.random() < 0.5:
            tokens = person + ["visited", city, "."]
            tags = ["B-PER"] + ["I-PER"] * (len(person) - 1) + ["O", "B-LOC", "O"]
        else:
            tokens = ["in", city, "the", "film", "was", "good"]
            tags = ["O", "B-LOC", "O", "O", "O", "O"]
        out.append((tokens, tags))
    return out


def write_conll(path: Path, sentences) -> Path:
    lines = ["-DOCSTART- -X- -X- O", ""]
    for tokens, tags in sentences:
        lines += [f"{t} NN O {g}" for t, g in zip(tokens, tags, strict=True)] + [""]
    path.write_text("\n".join(lines) + "\n")
    return path


def qa_rows(n: int, seed: int = 0) -> list[dict]:
    """Question / context pairs whose answers sit at known character offsets."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        person, city, job = rng.choice(PEOPLE), rng.choice(CITIES), rng.choice(JOBS)
        context = f"{person} lives in {city} and works as a {job} . the film was good ."
        if i % 2:
            question, answer = f"where does {person} live ?", city
        else:
            question, answer = f"what is the job of {person} ?", job
        rows.append(
            {
                "id": f"q{i}",
                "question": question,
                "context": context,
                "answers": {"text": [answer], "answer_start": [context.index(answer)]},
            }
        )
    return rows


def write_squad(path: Path, rows: list[dict]) -> Path:
    paragraphs = [
        {
            "context": r["context"],
            "qas": [
                {
                    "id": r["id"],
                    "question": r["question"],
                    "answers": [
                        {"text": t, "answer_start": s}
                        for t, s in zip(r["answers"]["text"], r["answers"]["answer_start"], strict=True)
                    ],
                }
            ],
        }
        for r in rows
    ]
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return path


@pytest.fixture(scope="session")
def tiny_t5(tiny_bert, tmp_path_factory) -> Path:
    """A tiny T5 (2+2 layers, d_model 32) sharing the test tokenizer; [SEP] ends sequences."""
    return tiny_models.build("test-t5", tmp_path_factory.mktemp("tiny-t5"), tokenizer_from=tiny_bert)


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


@pytest.fixture(scope="session")
def tiny_llama(tiny_bert, tmp_path_factory) -> Path:
    """A tiny Llama (2 layers, hidden 32) sharing the test tokenizer, without a chat template."""
    return tiny_models.build("test-llama", tmp_path_factory.mktemp("tiny-llama"), tokenizer_from=tiny_bert)


def instruction_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        person, city = rng.choice(PEOPLE), rng.choice(CITIES)
        rows.append(
            {"instruction": f"where does {person} live ?", "input": "", "output": f"{person} lives in {city} ."}
        )
    return rows


@pytest.fixture(scope="session")
def sentiment_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sentiment")
    return {
        "train": write_csv(folder / "train.csv", sentiment_rows(160, seed=1)),
        "validation": write_csv(folder / "validation.csv", sentiment_rows(40, seed=2)),
    }


TINY_TRAINING = [
    "--num_train_epochs",
    "3",
    "--learning_rate",
    "5e-3",
    "--per_device_train_batch_size",
    "16",
    "--warmup_steps",
    "0",
    "--logging_steps",
    "5",
]


def tiny_run_args(tiny_bert, files, out, *extra, command="run", training=TINY_TRAINING, text_column="sentence"):
    """``hf-transfer run`` of the demo recipe on the tiny BERT and the sentiment files (160 train / 40 validation),
    with the tiny training settings: the argument list the tests share.

    ``files``: ``{"train": ...}`` and, where given, ``"validation"``; ``out``: the run folder (``None``: no
    ``--output_dir``); ``extra`` comes last (a training flag there wins over ``training``'s); ``command``: another
    command that reads these flags (``compare``, ``check``, ``plan``); ``text_column``: the files' text column
    (``None``: the recipe's own role name)."""
    args = [command, "rotten-tomatoes-minilm", "--model_name_or_path", tiny_bert, "--train_file", files["train"]]
    if files.get("validation") is not None:
        args += ["--validation_file", files["validation"]]
    if text_column is not None:
        args += ["--set", f"data.columns.text={text_column}"]
    if out is not None:
        args += ["--output_dir", out]
    return [*args, *training, *extra]


@pytest.fixture
def run_cli(capsys):
    """Run ``hf-transfer ARGS`` in this process; returns (exit code, stdout, stderr)."""
    from hf_transfer.cli import main

    def invoke(*args: str) -> tuple[int, str, str]:
        code = 0
        try:
            main(argv=[str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


@pytest.fixture(scope="session")
def tiny_smollm2(tmp_path_factory) -> Path:
    """A tiny Llama shaped like SmolLM2-135M-Instruct, with its kind of tokenizer and chat template (tiny_models.py)."""
    return tiny_models.build("smollm2", tmp_path_factory.mktemp("tiny-smollm2"))


@pytest.fixture(scope="session")
def finished_run(tiny_bert, tiny_t5, tiny_smollm2, tmp_path_factory):
    """``finished_run(task, method)``: the folder of a finished tiny run from the task x method matrix
    (tests/helpers.py), made on first use and shared by every test of the session."""
    from hf_transfer.cli import main

    import helpers

    root = tmp_path_factory.mktemp("matrix")
    data = helpers.write_data(root / "data")
    done: dict[tuple[str, str], Path] = {}
    models = {"tiny_bert": tiny_bert, "tiny_t5": tiny_t5, "tiny_smollm2": tiny_smollm2}

    def get(task: str, method: str) -> Path:
        if (task, method) not in done:
            model = models[helpers.CASES[task][1]]
            out = root / task / method
            main(argv=helpers.run_args(task, method, model, data[task], out))
            done[(task, method)] = out
        return done[(task, method)]

    return get

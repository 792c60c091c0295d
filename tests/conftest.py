"""Shared fixtures: a tiny BERT with its own tokenizer, and small labelled data files.

Everything is built here, offline: a WordPiece tokenizer trained with ``tokenizers`` and a 2-layer,
hidden-32 BERT (with its pooler, like real BERT checkpoints) saved as a local checkpoint.
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

POSITIVE = ["good", "great", "superb", "lovely", "brilliant", "moving", "charming", "fresh"]
NEGATIVE = ["bad", "awful", "dull", "boring", "terrible", "clumsy", "tedious", "stale"]
PEOPLE = ["anna", "boris", "chen", "dara", "emil", "farah"]
CITIES = ["paris", "lima", "oslo", "cairo", "delhi", "quito"]
JOBS = ["baker", "pilot", "nurse", "judge"]
FILLER = ["the", "film", "movie", "story", "was", "a", "really", "plot", "acting", "and", "very", "quite"]


def sentence(rng: random.Random, words: list[str]) -> str:
    picked = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))] + [rng.choice(words) for _ in range(2)]
    rng.shuffle(picked)
    return " ".join(picked)


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
    """A local checkpoint folder: tiny BertModel (with pooler) + fast WordPiece tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("tiny-bert")
    rng = random.Random(1)
    corpus = [sentence(rng, POSITIVE + NEGATIVE) for _ in range(400)] + [" ".join(POSITIVE + NEGATIVE + FILLER)]
    corpus += ["emotion joy anger fear surprise first second pair text one two three"]
    corpus += [" ".join(PEOPLE + CITIES + JOBS) + " visited met in lives works as where does what is the job of"] * 3
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=200, special_tokens=special))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    fast.save_pretrained(folder)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.token_to_id("[PAD]"),
    )
    torch.manual_seed(0)
    BertModel(config, add_pooling_layer=True).save_pretrained(folder)
    return folder


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


def _tokenizer_copy(tiny_bert: Path, folder: Path, **changes):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    for key, value in changes.items():
        setattr(tokenizer, key, value)
    tokenizer.save_pretrained(folder)
    return tokenizer


@pytest.fixture(scope="session")
def tiny_t5(tiny_bert, tmp_path_factory) -> Path:
    """A tiny T5 (2+2 layers, d_model 32) sharing the test tokenizer; [SEP] ends sequences."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("tiny-t5")
    tokenizer = _tokenizer_copy(tiny_bert, folder, eos_token="[SEP]")
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=32,
        d_ff=64,
        d_kv=16,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("[SEP]"),
        decoder_start_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}> {{ m['content'] }} [SEP] {% endfor %}"
    "{% if add_generation_prompt %}<assistant> {% endif %}"
)


@pytest.fixture(scope="session")
def tiny_llama(tiny_bert, tmp_path_factory) -> Path:
    """A tiny Llama (2 layers, hidden 32) sharing the test tokenizer, without a chat template."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = _tokenizer_copy(tiny_bert, folder, eos_token="[SEP]")
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.convert_tokens_to_ids("[SEP]"),
        bos_token_id=tokenizer.convert_tokens_to_ids("[CLS]"),
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


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
    import tiny_models

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

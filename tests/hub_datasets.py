"""Small stand-ins for the Hub datasets the packaged recipes read, served by ``hub_server.FakeHub``.

Each copies its real dataset's shape: repository id, configs, split names, column names and
feature types (ClassLabel names in id order, sequences, nested structs), the license in the card,
and the repository layout that ``datasets`` meets today:

- parquet on ``main`` with the card's ``configs:`` block, as the converted repositories have it;
- a ``main`` branch that holds only a README and a loading script (which datasets 4 and later
  refuse), plus the Hub's automatic export on ``refs/convert/parquet`` as ``<config>/<split>/0000.parquet``,
  for the repositories that were never converted.

Where each shape comes from is cited per dataset (the dataset cards, their ``dataset_info`` YAML and
the repositories' file listings on the Hub, read in November 2026). The rows are made up.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field

import yaml

PARQUET_EXPORT = "refs/convert/parquet"

WORDS = [
    "the",
    "film",
    "was",
    "good",
    "and",
    "the",
    "acting",
    "great",
    "but",
    "the",
    "plot",
    "slow",
    "a",
    "story",
    "of",
    "people",
    "in",
    "the",
    "city",
    "who",
    "met",
    "at",
    "the",
    "station",
    "on",
    "monday",
    "to",
    "talk",
    "about",
    "money",
    "music",
    "and",
    "the",
    "news",
]
NAMES = ["Anna", "Boris", "Chen", "Dara", "Emil", "Farah"]
CITIES = ["Paris", "Lima", "Oslo", "Cairo", "Delhi", "Quito"]


def _sentence(rng: random.Random, n: int = 8) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


@dataclass
class HubDataset:
    repo_id: str
    features: dict
    """Column -> datasets feature (built lazily: ``datasets`` is imported by the builder)."""
    splits: dict[str, int]
    rows: object
    """``rows(rng, split, n) -> dict of columns``."""
    license: str
    config: str | None = None
    """The config the recipe uses (a folder of the repository, and of the parquet export)."""
    script: str | None = None
    """The loading script's file name when ``main`` still holds one (the data is then only in the export)."""
    source: str = ""
    data_files: dict[str, str] = field(default_factory=dict)
    """split -> path on ``main`` (converted repositories)."""
    card_configs: bool = True
    """Whether the card lists the configs' files (``configs:`` YAML); without it datasets finds them by name."""


def _parquet(columns: dict, features) -> bytes:
    import pyarrow.parquet as pq
    from datasets import Dataset

    buffer = io.BytesIO()  # the table's schema carries the features (ClassLabel names ...), as the Hub's files do
    pq.write_table(Dataset.from_dict(columns, features=features).data.table, buffer)
    return buffer.getvalue()


def revisions(specs: list[HubDataset], seed: int = 0) -> tuple[dict[str, dict[str, bytes]], dict]:
    """One repository (the configs of one repo id) as {revision: {path: bytes}}, and its card metadata."""
    from datasets import Features

    rng = random.Random(seed)
    first = specs[0]
    card = {"license": first.license, "pretty_name": first.repo_id.split("/")[-1]}
    main = {".gitattributes": b"*.parquet filter=lfs\n"}
    if first.script:  # never converted: README + script on main, the data only in the parquet export
        readme = f"---\n{yaml.safe_dump(card)}---\n# {first.repo_id}\n\nLoaded by {first.script}.\n"
        main.update(
            {"README.md": readme.encode(), first.script: b"import datasets  # a loading script (never run here)\n"}
        )
        export = {".gitattributes": main[".gitattributes"]}
        for spec in specs:
            features = Features(spec.features)
            for split, n in spec.splits.items():
                export[f"{spec.config or 'default'}/{split}/0000.parquet"] = _parquet(
                    spec.rows(rng, split, n), features
                )
        return {"main": main, PARQUET_EXPORT: export}, card
    configs = []
    for spec in specs:
        features = Features(spec.features)
        for split, n in spec.splits.items():
            main[spec.data_files[split]] = _parquet(spec.rows(rng, split, n), features)
        configs.append(
            {
                "config_name": spec.config or "default",  # globs, as the converted cards write them
                "data_files": [
                    {"split": split, "path": spec.data_files[split].split("-0")[0] + "-*"} for split in spec.splits
                ],
            }
        )
    if len(configs) == 1:
        configs[0]["default"] = True
    meta = dict(card, configs=configs) if first.card_configs else card
    readme = f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n# {first.repo_id}\n"
    main["README.md"] = readme.encode()
    return {"main": main}, card


def serve_all(hub) -> None:
    """Serve every dataset of ``specs()`` on a FakeHub."""
    by_repo: dict[str, list[HubDataset]] = {}
    for spec in specs().values():
        by_repo.setdefault(spec.repo_id, []).append(spec)
    for repo_id, group in by_repo.items():
        branches, card = revisions(group)
        hub.serve("dataset", repo_id, branches, card_data=card)


def _files(prefix: str, splits) -> dict[str, str]:
    return {split: f"{prefix}{split}-00000-of-00001.parquet" for split in splits}


# ---- the datasets ---------------------------------------------------------------------------


def _label_rows(n_labels: int, text_columns=("sentence",), extra=None):
    def rows(rng, split, n):
        out = {c: [_sentence(rng) for _ in range(n)] for c in text_columns}
        out["label"] = [i % n_labels for i in range(n)]
        for name, make in (extra or {}).items():
            out[name] = [make(rng, i) for i in range(n)]
        return out

    return rows


def _glue(config: str, text_columns, label) -> HubDataset:
    from datasets import Value

    columns = {c: Value("string") for c in text_columns}
    return HubDataset(
        "nyu-mll/glue",
        {**columns, "label": label, "idx": Value("int32")},
        {"train": 24, "validation": 8, "test": 8},
        (
            lambda rng, split, n: {
                **{c: [_sentence(rng) for _ in range(n)] for c in text_columns},
                "label": [round(rng.uniform(0, 5), 2) if not hasattr(label, "names") else i % 2 for i in range(n)],
                "idx": list(range(n)),
            }
        ),
        "other",
        config=config,
        data_files=_files(f"{config}/", ("train", "validation", "test")),
        source=(
            "huggingface.co/datasets/nyu-mll/glue: README dataset_info (sst2 / mrpc / stsb), tree a3f3ab7 (one "
            "folder per config)"
        ),
    )


def _ner_rows(names: list[str], as_int: bool = False):
    kinds = sorted({n[2:] for n in names if n != "O"})

    def rows(rng, split, n):
        tokens, tags = [], []
        for _ in range(n):
            words, labels = [], []
            for _ in range(rng.randint(3, 7)):
                if rng.random() < 0.3:
                    kind = rng.choice(kinds)
                    words += [rng.choice(NAMES), rng.choice(CITIES)]
                    labels += [names.index(f"B-{kind}"), names.index(f"I-{kind}") if f"I-{kind}" in names else 0]
                else:
                    words.append(rng.choice(WORDS))
                    labels.append(0)
            tokens.append(words)
            tags.append(labels)
        if as_int:
            return {"tokens": tokens, "tags": tags}
        return {"id": [str(i) for i in range(n)], "tokens": tokens, "ner_tags": tags}

    return rows


CONLL2003_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
WNUT17_TAGS = [
    "O",
    "B-corporation",
    "I-corporation",
    "B-creative-work",
    "I-creative-work",
    "B-group",
    "I-group",
    "B-location",
    "I-location",
    "B-person",
    "I-person",
    "B-product",
    "I-product",
]
ONTONOTES5_TAGS = [  # tner/ontonotes5 README "Label ID" (dataset/label.json), in id order
    "O",
    "B-CARDINAL",
    "B-DATE",
    "I-DATE",
    "B-PERSON",
    "I-PERSON",
    "B-NORP",
    "B-GPE",
    "I-GPE",
    "B-LAW",
    "I-LAW",
    "B-ORG",
    "I-ORG",
    "B-PERCENT",
    "I-PERCENT",
    "B-ORDINAL",
    "B-MONEY",
    "I-MONEY",
    "B-WORK_OF_ART",
    "I-WORK_OF_ART",
    "B-FAC",
    "B-TIME",
    "I-CARDINAL",
    "B-LOC",
    "B-QUANTITY",
    "I-QUANTITY",
    "I-NORP",
    "I-LOC",
    "B-PRODUCT",
    "I-TIME",
    "B-EVENT",
    "I-EVENT",
    "I-FAC",
    "B-LANGUAGE",
    "I-PRODUCT",
    "I-ORDINAL",
    "I-LANGUAGE",
]


def _qa_rows(unanswerable: bool):
    def rows(rng, split, n):
        out = {"id": [], "title": [], "context": [], "question": [], "answers": []}
        for i in range(n):
            person, city = rng.choice(NAMES), rng.choice(CITIES)
            context = f"{_sentence(rng)} {person} lives in {city} and works at the station. {_sentence(rng)}"
            out["id"].append(f"{split}-{i}")
            out["title"].append("Stand-in")
            out["context"].append(context)
            out["question"].append(f"Where does {person} live?")
            if unanswerable and i % 3 == 2:
                out["answers"].append({"text": [], "answer_start": []})
            else:
                out["answers"].append({"text": [city], "answer_start": [context.index(f"in {city}") + 3]})
        return out

    return rows


def _pair_text_rows(source: str, target: str, extra_id: bool = True):
    def rows(rng, split, n):
        out = {
            source: [" ".join(_sentence(rng) for _ in range(3)) for _ in range(n)],
            target: [_sentence(rng, 6) for _ in range(n)],
        }
        if extra_id:
            out["id"] = [f"{split}-{i}" for i in range(n)]
        return out

    return rows


def _alpaca_rows(rng, split, n):
    out = {"instruction": [], "input": [], "output": [], "text": []}
    for i in range(n):
        person, city = rng.choice(NAMES), rng.choice(CITIES)
        output = "" if i % 7 == 3 else f"{person} lives in {city}."  # the real data has 28 empty outputs
        out["instruction"].append(f"Where does {person} live?")
        out["input"].append("" if i % 2 else _sentence(rng))
        out["output"].append(output)
        out["text"].append(
            f"Below is an instruction that describes a task.\n\n### Instruction:\nWhere does {person} live?\n\n"
            f"### Response:\n{output}"
        )
    return out


def specs() -> dict[str, HubDataset]:
    """Every Hub dataset a packaged recipe reads, by (repo id, config)."""
    from datasets import ClassLabel, List, Sequence, Translation, Value

    string = Value("string")
    out = [
        _glue("sst2", ("sentence",), ClassLabel(names=["negative", "positive"])),
        _glue("mrpc", ("sentence1", "sentence2"), ClassLabel(names=["not_equivalent", "equivalent"])),
        _glue("stsb", ("sentence1", "sentence2"), Value("float32")),
        HubDataset(
            "fancyzhx/ag_news",
            {"text": string, "label": ClassLabel(names=["World", "Sports", "Business", "Sci/Tech"])},
            {"train": 32, "test": 8},
            _label_rows(4, ("text",)),
            "unknown",
            data_files=_files("data/", ("train", "test")),
            source=("huggingface.co/datasets/fancyzhx/ag_news README at 9067824 (configs: data/train-*, data/test-*)"),
        ),
        HubDataset(
            "stanfordnlp/imdb",
            {"text": string, "label": ClassLabel(names=["neg", "pos"])},
            {"train": 32, "test": 8, "unsupervised": 4},
            lambda rng, split, n: {
                "text": [" ".join(_sentence(rng) for _ in range(4)) for _ in range(n)],
                "label": [-1 if split == "unsupervised" else i % 2 for i in range(n)],
            },
            "other",
            config="plain_text",
            data_files=_files("plain_text/", ("train", "test", "unsupervised")),
            source=(
                "huggingface.co/datasets/stanfordnlp/imdb tree main/plain_text (parquet since 'Convert dataset to "
                "Parquet #5')"
            ),
        ),
        HubDataset(
            "google-research-datasets/go_emotions",
            {
                "text": string,
                "labels": List(
                    ClassLabel(
                        names=[
                            "admiration",
                            "amusement",
                            "anger",
                            "annoyance",
                            "approval",
                            "caring",
                            "confusion",
                            "curiosity",
                            "desire",
                            "disappointment",
                            "disapproval",
                            "disgust",
                            "embarrassment",
                            "excitement",
                            "fear",
                            "gratitude",
                            "grief",
                            "joy",
                            "love",
                            "nervousness",
                            "optimism",
                            "pride",
                            "realization",
                            "relief",
                            "remorse",
                            "sadness",
                            "surprise",
                            "neutral",
                        ]
                    )
                ),
                "id": string,
            },
            {"train": 28, "validation": 8, "test": 8},
            lambda rng, split, n: {
                "text": [_sentence(rng) for _ in range(n)],
                "labels": [sorted({i % 28, rng.randrange(28)}) for i in range(n)],
                "id": [f"e{i}" for i in range(n)],
            },
            "apache-2.0",
            config="simplified",
            data_files=_files("simplified/", ("train", "validation", "test")),
            source=(
                "huggingface.co/datasets/google-research-datasets/go_emotions tree 93e006e and its README "
                "dataset_info (simplified)"
            ),
        ),
        HubDataset(
            "eriktks/conll2003",
            {"id": string, "tokens": List(string), "ner_tags": List(ClassLabel(names=CONLL2003_TAGS))},
            {"train": 24, "validation": 8, "test": 8},
            _ner_rows(CONLL2003_TAGS),
            "other",
            config="conll2003",
            script="conll2003.py",
            source=(
                "huggingface.co/datasets/eriktks/conll2003 tree 3f1cce9 (README, conll2003.py only) and "
                "conll2003.py's features"
            ),
        ),
        HubDataset(
            "leondz/wnut_17",
            {"id": string, "tokens": List(string), "ner_tags": List(ClassLabel(names=WNUT17_TAGS))},
            {"train": 24, "validation": 8, "test": 8},
            _ner_rows(WNUT17_TAGS),
            "cc-by-4.0",
            config="wnut_17",
            script="wnut_17.py",
            source=(
                "huggingface.co/datasets/leondz/wnut_17 tree main (README, wnut_17.py) and its README dataset_info"
            ),
        ),
        HubDataset(
            "tner/ontonotes5",
            {"tokens": List(string), "tags": List(Value("int32"))},
            {"train": 24, "validation": 8, "test": 8},
            _ner_rows(ONTONOTES5_TAGS, as_int=True),
            "other",
            config="ontonotes5",
            script="ontonotes5.py",
            source=(
                "huggingface.co/datasets/tner/ontonotes5: ontonotes5.py (tags: Sequence(int32), commit cb73f48), "
                "README label2id"
            ),
        ),
        HubDataset(
            "rajpurkar/squad",
            {
                "id": string,
                "title": string,
                "context": string,
                "question": string,
                "answers": Sequence({"text": string, "answer_start": Value("int32")}),
            },  # a dict of lists, as loaded
            {"train": 24, "validation": 8},
            _qa_rows(False),
            "cc-by-sa-4.0",
            config="plain_text",
            data_files=_files("plain_text/", ("train", "validation")),
            source=("huggingface.co/datasets/rajpurkar/squad README (configs plain_text, dataset_info)"),
        ),
        HubDataset(
            "rajpurkar/squad_v2",
            {
                "id": string,
                "title": string,
                "context": string,
                "question": string,
                "answers": Sequence({"text": string, "answer_start": Value("int32")}),
            },  # a dict of lists, as loaded
            {"train": 24, "validation": 9},
            _qa_rows(True),
            "cc-by-sa-4.0",
            config="squad_v2",
            data_files=_files("squad_v2/", ("train", "validation")),
            source=("huggingface.co/datasets/rajpurkar/squad_v2 README at d7df8e6 (configs squad_v2, dataset_info)"),
        ),
        HubDataset(
            "abisee/cnn_dailymail",
            {"article": string, "highlights": string, "id": string},
            {"train": 16, "validation": 6, "test": 6},
            _pair_text_rows("article", "highlights"),
            "apache-2.0",
            config="3.0.0",
            data_files=_files("3.0.0/", ("train", "validation", "test")),
            source=(
                "huggingface.co/datasets/abisee/cnn_dailymail tree 96df5e6 (folders 1.0.0/2.0.0/3.0.0) and its README"
            ),
        ),
        HubDataset(
            "EdinburghNLP/xsum",
            {"document": string, "summary": string, "id": string},
            {"train": 16, "validation": 6, "test": 6},
            _pair_text_rows("document", "summary"),
            "unknown",
            script="xsum.py",
            source=(
                "huggingface.co/datasets/EdinburghNLP/xsum: main holds xsum.py; export at "
                "refs/convert/parquet/default/<split>/"
            ),
        ),
        HubDataset(
            "wmt/wmt16",
            {"translation": Translation(languages=["ro", "en"])},
            {"train": 16, "validation": 6, "test": 6},
            lambda rng, split, n: {
                "translation": [{"ro": _sentence(rng, 6), "en": _sentence(rng, 6)} for _ in range(n)]
            },
            "unknown",
            config="ro-en",
            data_files=_files("ro-en/", ("train", "validation", "test")),
            source=(
                "huggingface.co/datasets/wmt/wmt16 tree 3923157/ro-en and its README dataset_info (translation: ro, en)"
            ),
        ),
        HubDataset(
            "allenai/swag",
            {
                "video-id": string,
                "fold-ind": string,
                "startphrase": string,
                "sent1": string,
                "sent2": string,
                "gold-source": string,
                **{f"ending{i}": string for i in range(4)},
                "label": ClassLabel(names=["0", "1", "2", "3"]),
            },
            {"train": 24, "validation": 8, "test": 8},
            lambda rng, split, n: {
                "video-id": [f"v{i}" for i in range(n)],
                "fold-ind": [str(i) for i in range(n)],
                "startphrase": [_sentence(rng) for _ in range(n)],
                "sent1": [_sentence(rng) for _ in range(n)],
                "sent2": [rng.choice(NAMES) for _ in range(n)],
                "gold-source": ["gold"] * n,
                **{f"ending{j}": [_sentence(rng, 5) for _ in range(n)] for j in range(4)},
                "label": [-1 if split == "test" else i % 4 for i in range(n)],
            },
            "unknown",
            config="regular",
            data_files=_files("regular/", ("train", "validation", "test")),
            source=(
                "huggingface.co/datasets/allenai/swag commit dc48148 (regular/*.parquet) and its README dataset_info"
            ),
        ),
        HubDataset(
            "tatsu-lab/alpaca",
            {"instruction": string, "input": string, "output": string, "text": string},
            {"train": 40},
            _alpaca_rows,
            "cc-by-nc-4.0",
            data_files={"train": "data/train-00000-of-00001-a09b74b3ef9c3b56.parquet"},
            card_configs=False,
            source=(
                "huggingface.co/datasets/tatsu-lab/alpaca README (license cc-by-nc-4.0, fields) and data/ file name"
            ),
        ),
    ]
    return {(spec.repo_id, spec.config): spec for spec in out}

"""The NER baseline: a plain Trainer script written like transformers' examples/pytorch/token-classification/run_ner.py,
with that script's best flags for the hardware: dynamic padding (DataCollatorForTokenClassification, no
pad_to_max_length), the label on each word's first sub-token only (label_all_tokens off), length-grouped batches,
and --bf16 where the device computes bf16 natively. seqeval scores the entities, as run_ner does. Train
(with --eval_each_epoch, evaluated after every epoch, each evaluation timed from the process's start), evaluate once,
save. Prints its phases as JSON.

    python benchmarks/baselines/token_classification.py --model_name_or_path M --train_file train.txt \\
        --validation_file valid.txt --output_dir out [--bf16] [--learning_rate ...] [...]

The files are CoNLL columns (token first, tag last, a blank line between sentences), read here in a few lines.
"""

from __future__ import annotations

import time
from pathlib import Path

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from datasets import Dataset, DatasetDict  # noqa: E402
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    set_seed,
)

from _common import EVALUATIONS, Phases, arguments, report, train_evaluate_save, training_arguments  # noqa: E402

IMPORTS = time.perf_counter() - T0


def read_conll(path: str) -> Dataset:
    sentences, tokens, tags = [], [], []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if tokens:
                sentences.append((tokens, tags))
            tokens, tags = [], []
            continue
        tokens.append(parts[0])
        tags.append(parts[-1])
    if tokens:
        sentences.append((tokens, tags))
    return Dataset.from_dict({"tokens": [s[0] for s in sentences], "tags": [s[1] for s in sentences]})


def main() -> None:
    args = arguments(max_seq_length=256).parse_args()
    phases = Phases(imports=IMPORTS)

    with phases("data_and_tokenization"):
        raw = DatasetDict(train=read_conll(args.train_file), validation=read_conll(args.validation_file))
        labels = sorted({tag for row in raw["train"]["tags"] for tag in row})
        label_to_id = {name: i for i, name in enumerate(labels)}
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

        def preprocess(batch):
            out = tokenizer(batch["tokens"], truncation=True, max_length=args.max_seq_length, is_split_into_words=True)
            out["labels"] = []
            for i, tags in enumerate(batch["tags"]):
                previous, row = None, []
                for word in out.word_ids(batch_index=i):
                    row.append(-100 if word is None or word == previous else label_to_id[tags[word]])
                    previous = word
                out["labels"].append(row)
            return out

        data = raw.map(preprocess, batched=True, remove_columns=["tokens", "tags"])

    def compute_metrics(p):
        predictions = np.argmax(p.predictions, axis=-1)
        true_tags, predicted_tags = [], []
        for prediction, label in zip(predictions, p.label_ids, strict=True):
            kept = [(labels[pr], labels[la]) for pr, la in zip(prediction, label, strict=True) if la != -100]
            predicted_tags.append([pr for pr, _ in kept])
            true_tags.append([la for _, la in kept])
        return {
            "overall_precision": precision_score(true_tags, predicted_tags),
            "overall_recall": recall_score(true_tags, predicted_tags),
            "overall_f1": f1_score(true_tags, predicted_tags),
            "overall_accuracy": accuracy_score(true_tags, predicted_tags),
        }

    with phases("model"):
        set_seed(args.seed)
        model = AutoModelForTokenClassification.from_pretrained(
            args.model_name_or_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_to_id
        )
        trainer = Trainer(
            model=model,
            args=training_arguments(args),
            train_dataset=data["train"],
            eval_dataset=data["validation"],
            data_collator=DataCollatorForTokenClassification(tokenizer),
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            callbacks=[EVALUATIONS.callback()],
        )
    metrics = train_evaluate_save(trainer, phases, args.output_dir)
    report(phases, metric=metrics["eval_overall_f1"])


if __name__ == "__main__":
    main()

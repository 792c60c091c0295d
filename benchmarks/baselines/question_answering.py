"""The QA baseline: a plain Trainer script written like transformers' examples/pytorch/question-answering/run_qa.py,
with that script's best flags for the hardware: windows of max_seq_length with doc_stride overlap, dynamic padding
(--pad_to_max_length False), length-grouped batches, --bf16 where the device computes bf16 natively, and run_qa's
post-processing (the best of the n_best start/end logits per question, answers at most max_answer_length tokens),
scored with SQuAD v1.1's exact match and F1 (its normalisation, written out below). Train (with --eval_each_epoch,
evaluated after every epoch, each evaluation timed from the process's start; the last one is then the final
evaluation), evaluate once, save. Prints its phases as JSON.

    python benchmarks/baselines/question_answering.py --model_name_or_path M --train_file train.json \\
        --validation_file valid.json --output_dir out [--bf16] [--learning_rate ...] [...]

The files are SQuAD JSON ({"data": [{"paragraphs": [{"context", "qas"}]}]}).
"""

from __future__ import annotations

import collections
import json
import re
import string
import time
from pathlib import Path

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed  # noqa: E402

from _common import EVALUATIONS, Phases, arguments, report, train_evaluate_save, training_arguments  # noqa: E402

IMPORTS = time.perf_counter() - T0


def read_squad(path: str) -> Dataset:
    rows = collections.defaultdict(list)
    for article in json.loads(Path(path).read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                rows["id"].append(qa["id"])
                rows["question"].append(qa["question"])
                rows["context"].append(paragraph["context"])
                rows["answers"].append(
                    {
                        "text": [a["text"] for a in qa["answers"]],
                        "answer_start": [a["answer_start"] for a in qa["answers"]],
                    }
                )
    return Dataset.from_dict(dict(rows))


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def f1(prediction: str, truth: str) -> float:
    predicted, true = normalize(prediction).split(), normalize(truth).split()
    common = sum((collections.Counter(predicted) & collections.Counter(true)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(true)
    return 2 * precision * recall / (precision + recall)


def main() -> None:
    parser = arguments(max_seq_length=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--n_best_size", type=int, default=20)
    parser.add_argument("--max_answer_length", type=int, default=30)
    args = parser.parse_args()
    phases = Phases(imports=IMPORTS)

    t = time.perf_counter()
    train_examples, eval_examples = read_squad(args.train_file), read_squad(args.validation_file)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

    def windows(batch):
        return tokenizer(
            [q.lstrip() for q in batch["question"]],
            batch["context"],
            truncation="only_second",
            max_length=args.max_seq_length,
            stride=args.doc_stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )

    def train_features(batch):
        out = windows(batch)
        mapping = out.pop("overflow_to_sample_mapping")
        out["start_positions"], out["end_positions"] = [], []
        for i, offsets in enumerate(out.pop("offset_mapping")):
            cls = out["input_ids"][i].index(tokenizer.cls_token_id)
            sequence = out.sequence_ids(i)
            answers = batch["answers"][mapping[i]]
            start_char = answers["answer_start"][0]
            end_char = start_char + len(answers["text"][0])
            first = sequence.index(1)
            last = len(sequence) - 1 - sequence[::-1].index(1)
            if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
                out["start_positions"].append(cls)
                out["end_positions"].append(cls)
                continue
            start = first
            while start <= last and offsets[start][0] <= start_char:
                start += 1
            end = last
            while end >= first and offsets[end][1] >= end_char:
                end -= 1
            out["start_positions"].append(start - 1)
            out["end_positions"].append(end + 1)
        return out

    def eval_features(batch):
        out = windows(batch)
        mapping = out.pop("overflow_to_sample_mapping")
        out["example_id"] = []
        for i in range(len(out["input_ids"])):
            sequence = out.sequence_ids(i)
            out["example_id"].append(batch["id"][mapping[i]])
            out["offset_mapping"][i] = [o if sequence[k] == 1 else None for k, o in enumerate(out["offset_mapping"][i])]
        return out

    train = train_examples.map(train_features, batched=True, remove_columns=train_examples.column_names)
    evaluation = eval_examples.map(eval_features, batched=True, remove_columns=eval_examples.column_names)
    phases["data_and_tokenization"] = time.perf_counter() - t

    t = time.perf_counter()
    set_seed(args.seed)
    model = AutoModelForQuestionAnswering.from_pretrained(args.model_name_or_path)
    trainer = Trainer(
        model=model,
        args=training_arguments(args, trainer_evaluates=False),
        train_dataset=train,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
    )
    phases["model"] = time.perf_counter() - t

    def evaluate() -> dict:
        """run_qa's post-processing: per question, the best span of the n-best starts and ends over its windows."""
        features = evaluation.remove_columns(["example_id", "offset_mapping"])
        start_logits, end_logits = trainer.predict(features).predictions
        by_example = collections.defaultdict(list)
        for i, example_id in enumerate(evaluation["example_id"]):
            by_example[example_id].append(i)
        offsets_of = evaluation["offset_mapping"]
        exact = f1_total = 0.0
        for example in eval_examples:
            best, best_score = "", -np.inf
            for i in by_example[example["id"]]:
                offsets = offsets_of[i]
                starts = np.argsort(start_logits[i])[-1 : -args.n_best_size - 1 : -1]
                ends = np.argsort(end_logits[i])[-1 : -args.n_best_size - 1 : -1]
                for s in starts:
                    for e in ends:
                        if s >= len(offsets) or e >= len(offsets) or offsets[s] is None or offsets[e] is None:
                            continue
                        if e < s or e - s + 1 > args.max_answer_length:
                            continue
                        score = start_logits[i][s] + end_logits[i][e]
                        if score > best_score:
                            best_score, best = score, example["context"][offsets[s][0] : offsets[e][1]]
            truths = example["answers"]["text"]
            exact += max(float(normalize(best) == normalize(a)) for a in truths)
            f1_total += max(f1(best, a) for a in truths)
        n = len(eval_examples)
        return {"f1": 100 * f1_total / n, "exact_match": 100 * exact / n}

    final = evaluate
    if args.eval_each_epoch:
        trainer.add_callback(EVALUATIONS.epoch_callback(evaluate))

        def final() -> dict:  # the last epoch's evaluation is of the final model: not run twice
            return {k.removeprefix("eval_"): v for k, v in EVALUATIONS[-1].items() if k.startswith("eval_")}

    scores = train_evaluate_save(trainer, phases, args.output_dir, final)
    report(phases, metric=scores["f1"], exact_match=scores["exact_match"])


if __name__ == "__main__":
    main()

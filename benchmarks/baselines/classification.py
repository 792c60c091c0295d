"""The baseline: a plain Trainer script written like transformers' examples/pytorch/text-classification/run_glue.py,
with that script's best flags for the hardware: dynamic padding (no pad_to_max_length), length-grouped batches,
and --bf16 where the device computes bf16 natively. Train, evaluate once, save. Prints its phases as JSON.

    python benchmarks/baselines/classification.py --model_name_or_path M --train_file train.csv \\
        --validation_file valid.csv --output_dir out [--bf16] [--learning_rate ...] [...]
"""

from __future__ import annotations

import argparse
import json
import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from datasets import load_dataset  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    set_seed,
)

IMPORTS = time.perf_counter() - T0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", required=True)
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--validation_file", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=float, default=1)
    parser.add_argument("--per_device_train_batch_size", type=int, default=32)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=128)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    phases = {"imports": IMPORTS}

    t = time.perf_counter()
    raw = load_dataset("csv", data_files={"train": args.train_file, "validation": args.validation_file})
    labels = sorted(set(raw["train"]["label"]))
    label_to_id = {name: i for i, name in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

    def preprocess(batch):
        out = dict(tokenizer(batch["text"], truncation=True, max_length=args.max_seq_length))
        out["labels"] = [label_to_id[x] for x in batch["label"]]
        return out

    data = raw.map(preprocess, batched=True, remove_columns=["text", "label"])
    phases["data_and_tokenization"] = time.perf_counter() - t

    t = time.perf_counter()
    set_seed(args.seed)  # before the model, as run_glue does: the new head's initial weights are seeded
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model_name_or_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_to_id
    )
    training_args = TrainingArguments(
        output_dir=args.output_dir,
        learning_rate=args.learning_rate,
        num_train_epochs=args.num_train_epochs,
        per_device_train_batch_size=args.per_device_train_batch_size,
        per_device_eval_batch_size=args.per_device_eval_batch_size,
        train_sampling_strategy="group_by_length",
        eval_strategy="no",
        save_strategy="no",
        report_to="none",
        bf16=args.bf16,
        use_cpu=True,
        dataloader_pin_memory=False,
        seed=args.seed,
        logging_steps=10,
    )

    def compute_metrics(p):
        return {"accuracy": float((np.argmax(p.predictions, axis=-1) == p.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=data["train"],
        eval_dataset=data["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    phases["model"] = time.perf_counter() - t
    t = time.perf_counter()
    trainer.train()
    phases["train"] = time.perf_counter() - t
    t = time.perf_counter()
    metrics = trainer.evaluate()
    phases["evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    trainer.save_model(args.output_dir)
    phases["save"] = time.perf_counter() - t
    print("BASELINE " + json.dumps({"phases": phases, "metric": metrics["eval_accuracy"]}))


if __name__ == "__main__":
    main()

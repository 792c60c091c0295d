"""The baseline: a plain Trainer script written like transformers' examples/pytorch/text-classification/run_glue.py,
with that script's best flags for the hardware: dynamic padding (no pad_to_max_length), length-grouped batches,
and --bf16 where the device computes bf16 natively. Train, evaluate once, save. Prints its phases as JSON.

    python benchmarks/baselines/classification.py --model_name_or_path M --train_file train.csv \\
        --validation_file valid.csv --output_dir out [--bf16] [--learning_rate ...] [...]
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from datasets import load_dataset  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, set_seed  # noqa: E402

from _common import EVALUATIONS, Phases, arguments, report, train_evaluate_save, training_arguments  # noqa: E402

IMPORTS = time.perf_counter() - T0


def main() -> None:
    parser = arguments(max_seq_length=128)
    parser.add_argument("--text_column", default="text", help="the text column (SST-2's files name it `sentence`)")
    args = parser.parse_args()
    phases = Phases(imports=IMPORTS)

    with phases("data_and_tokenization"):
        files = {"train": args.train_file, "validation": args.validation_file}
        tsv = {"delimiter": "\t"} if args.train_file.endswith(".tsv") else {}  # GLUE's own files are TSV
        raw = load_dataset("csv", data_files=files, **tsv)
        labels = sorted(set(raw["train"]["label"]))
        label_to_id = {name: i for i, name in enumerate(labels)}
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

        def preprocess(batch):
            out = dict(tokenizer(batch[args.text_column], truncation=True, max_length=args.max_seq_length))
            out["labels"] = [label_to_id[x] for x in batch["label"]]
            return out

        data = raw.map(preprocess, batched=True, remove_columns=raw["train"].column_names)

    def compute_metrics(p):
        return {"accuracy": float((np.argmax(p.predictions, axis=-1) == p.label_ids).mean())}

    with phases("model"):
        set_seed(args.seed)  # before the model, as run_glue does: the new head's initial weights are seeded
        model = AutoModelForSequenceClassification.from_pretrained(
            args.model_name_or_path, num_labels=len(labels), id2label=dict(enumerate(labels)), label2id=label_to_id
        )
        trainer = Trainer(
            model=model,
            args=training_arguments(args),
            train_dataset=data["train"],
            eval_dataset=data["validation"],
            data_collator=DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
            callbacks=[EVALUATIONS.callback()],
        )
    metrics = train_evaluate_save(trainer, phases, args.output_dir)
    report(phases, metric=metrics["eval_accuracy"])


if __name__ == "__main__":
    main()

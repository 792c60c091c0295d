"""The seq2seq baseline: a plain Seq2SeqTrainer script written like transformers'
examples/pytorch/summarization/run_summarization.py, with that script's best flags for the hardware: the
source prefix, truncation to --max_source_length / --max_target_length, dynamic padding (DataCollatorForSeq2Seq,
labels padded with -100), length-grouped batches, --predict_with_generate with the given beams and new tokens,
ROUGE from rouge_score with stemming (F-measure averaged over examples, as evaluate's rouge reports it), and
--bf16 where the device computes bf16 natively. Train, evaluate once, save. Prints its phases as JSON.

    python benchmarks/baselines/summarization.py --model_name_or_path M --train_file train.jsonl \\
        --validation_file valid.jsonl --output_dir out [--bf16] [--num_beams 2] [...]
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import numpy as np  # noqa: E402
from datasets import load_dataset  # noqa: E402
from rouge_score import rouge_scorer  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSeq2SeqLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Seq2SeqTrainer,
    Seq2SeqTrainingArguments,
    set_seed,
)

from _common import Phases, arguments, report, train_evaluate_save, training_arguments  # noqa: E402

IMPORTS = time.perf_counter() - T0
KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum")


def main() -> None:
    parser = arguments(max_seq_length=256, train_batch=16, eval_batch=32)
    parser.add_argument("--source_prefix", default="summarize: ")
    parser.add_argument("--max_target_length", type=int, default=64)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    parser.add_argument("--num_beams", type=int, default=2)
    args = parser.parse_args()
    phases = Phases(imports=IMPORTS)

    with phases("data_and_tokenization"):
        raw = load_dataset("json", data_files={"train": args.train_file, "validation": args.validation_file})
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)

        def preprocess(batch):
            sources = [args.source_prefix + doc for doc in batch["document"]]
            out = tokenizer(sources, max_length=args.max_seq_length, truncation=True)
            out["labels"] = tokenizer(text_target=batch["summary"], max_length=args.max_target_length, truncation=True)[
                "input_ids"
            ]
            return out

        data = raw.map(preprocess, batched=True, remove_columns=raw["train"].column_names)

    scorer = rouge_scorer.RougeScorer(list(KEYS), use_stemmer=True)

    def compute_metrics(p):
        predictions = np.where(p.predictions != -100, p.predictions, tokenizer.pad_token_id)
        labels = np.where(p.label_ids != -100, p.label_ids, tokenizer.pad_token_id)
        decoded = [t.strip() for t in tokenizer.batch_decode(predictions, skip_special_tokens=True)]
        references = [t.strip() for t in tokenizer.batch_decode(labels, skip_special_tokens=True)]
        scores = [scorer.score(r, d) for r, d in zip(references, decoded, strict=True)]
        return {k: float(np.mean([s[k].fmeasure for s in scores])) for k in KEYS}

    with phases("model"):
        set_seed(args.seed)
        model = AutoModelForSeq2SeqLM.from_pretrained(args.model_name_or_path)
        trainer = Seq2SeqTrainer(
            model=model,
            args=training_arguments(
                args,
                Seq2SeqTrainingArguments,
                predict_with_generate=True,
                generation_max_length=args.max_new_tokens,
                generation_num_beams=args.num_beams,
            ),
            train_dataset=data["train"],
            eval_dataset=data["validation"],
            data_collator=DataCollatorForSeq2Seq(tokenizer, model=model, label_pad_token_id=-100),
            processing_class=tokenizer,
            compute_metrics=compute_metrics,
        )
    metrics = train_evaluate_save(trainer, phases, args.output_dir)
    report(phases, metric=metrics["eval_rougeL"], rouge1=metrics["eval_rouge1"])


if __name__ == "__main__":
    main()

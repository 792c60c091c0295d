"""The SFT baseline: a plain Trainer script for LoRA instruction tuning, written the way the transformers and peft
docs show it: each example rendered with the tokenizer's chat template (user: instruction, plus the input after a
blank line; assistant: output), the loss on the response tokens only (prompt positions -100), dynamic padding
(DataCollatorForSeq2Seq), length-grouped batches, peft's default LoRA targets for the architecture, --bf16 where
the device computes bf16 natively. Train, evaluate once (the loss over all response tokens, in a plain loop),
save the adapter. Prints its phases as JSON.

    python benchmarks/baselines/instruction_tuning.py --model_name_or_path DIR --gguf_file F.gguf \\
        --train_file train.json --validation_file valid.json --output_dir out [--bf16] [...]

A GGUF checkpoint is dequantized by transformers; like any script that trains one, this one clears the
"quantized" mark transformers leaves on the (float) model.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

T0 = time.perf_counter()

from datasets import Dataset  # noqa: E402
from peft import get_peft_model  # noqa: E402
from transformers import AutoTokenizer, DataCollatorForSeq2Seq, Trainer, set_seed  # noqa: E402

from _common import (  # noqa: E402
    Phases,
    add_causal_lm_flags,
    arguments,
    causal_lm,
    gguf_kwargs,
    lora_config,
    report,
    train_evaluate_save,
    training_arguments,
)

IMPORTS = time.perf_counter() - T0


def response_token_loss(model, dataset, collator, batch_size: int, bf16: bool) -> dict:
    """The eval loss as a plain SFT evaluation loop computes it: summed over every response token of the eval
    set, divided by their number (the Trainer's own eval_loss averages per-batch means, so it changes with the
    batch size and order)."""
    import torch
    import torch.nn.functional as F

    model.eval()
    total = tokens = 0.0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(dataset), batch_size):
            batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
            labels = batch["labels"][:, 1:]
            total += F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), reduction="sum").item()
            tokens += int((labels != -100).sum())
    return {"eval_loss": total / tokens}


def main() -> None:
    parser = arguments(max_seq_length=512, train_batch=8, eval_batch=8)
    add_causal_lm_flags(parser)
    args = parser.parse_args()
    phases = Phases(imports=IMPORTS)

    with phases("data_and_tokenization"):
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, **gguf_kwargs(args))
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token

        def encode(example):
            user = example["instruction"] + (f"\n\n{example['input']}" if example.get("input") else "")
            messages = [{"role": "user", "content": user}, {"role": "assistant", "content": example["output"]}]
            prompt = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
            full = tokenizer.apply_chat_template(messages, tokenize=False)
            prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
            response_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
            ids = (prompt_ids + response_ids)[: args.max_seq_length]
            labels = ([-100] * len(prompt_ids) + response_ids)[: args.max_seq_length]
            return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

        def load(path: str) -> Dataset:
            rows = [r for r in json.loads(Path(path).read_text(encoding="utf-8")) if r["output"].strip()]
            return Dataset.from_list(rows).map(encode, remove_columns=["instruction", "input", "output"])

        train, evaluation = load(args.train_file), load(args.validation_file)

    with phases("model"):
        set_seed(args.seed)
        model = causal_lm(args)
        lora = lora_config(args)
        trainer = Trainer(
            model=get_peft_model(model, lora),
            args=training_arguments(args),
            train_dataset=train,
            eval_dataset=evaluation,
            data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
            processing_class=tokenizer,
        )

    def evaluate() -> dict:
        return response_token_loss(
            trainer.model, evaluation, trainer.data_collator, args.per_device_eval_batch_size, args.bf16
        )

    loss = train_evaluate_save(trainer, phases, args.output_dir, evaluate)["eval_loss"]
    report(phases, metric=loss, perplexity=math.exp(loss))


if __name__ == "__main__":
    main()

"""The SFT baseline: a plain Trainer script for LoRA instruction tuning, written the way the transformers and peft
docs show it: each example rendered with the tokenizer's chat template (user: instruction, plus the input after a
blank line; assistant: output), the loss on the response tokens only (prompt positions -100), dynamic padding
(DataCollatorForSeq2Seq), length-grouped batches, peft's default LoRA targets for the architecture, --bf16 where
the device computes bf16 natively. Train, evaluate once (the loss), save the adapter. Prints its phases as JSON.

    python benchmarks/baselines/instruction_tuning.py --model_name_or_path DIR --gguf_file F.gguf \\
        --train_file train.json --validation_file valid.json --output_dir out [--bf16] [...]

A GGUF checkpoint is dequantized by transformers; like any script that trains one, this one clears the
"quantized" mark transformers leaves on the (float) model.
"""

from __future__ import annotations

import argparse
import json
import math
import time

T0 = time.perf_counter()

from datasets import Dataset  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    AutoTokenizer,
    DataCollatorForSeq2Seq,
    Trainer,
    TrainingArguments,
    set_seed,
)

IMPORTS = time.perf_counter() - T0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_name_or_path", required=True)
    parser.add_argument("--gguf_file")
    parser.add_argument("--train_file", required=True)
    parser.add_argument("--validation_file", required=True)
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--max_seq_length", type=int, default=512)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--num_train_epochs", type=float, default=1)
    parser.add_argument("--per_device_train_batch_size", type=int, default=8)
    parser.add_argument("--per_device_eval_batch_size", type=int, default=8)
    parser.add_argument("--lora_r", type=int, default=16)
    parser.add_argument("--lora_alpha", type=int, default=32)
    parser.add_argument("--lora_dropout", type=float, default=0.05)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    phases = {"imports": IMPORTS}

    t = time.perf_counter()
    extra = {"gguf_file": args.gguf_file} if args.gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, **extra)
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
        rows = [r for r in json.load(open(path, encoding="utf-8")) if r["output"].strip()]
        return Dataset.from_list(rows).map(encode, remove_columns=["instruction", "input", "output"])

    train, evaluation = load(args.train_file), load(args.validation_file)
    phases["data_and_tokenization"] = time.perf_counter() - t

    t = time.perf_counter()
    set_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, **extra)
    if args.gguf_file:  # dequantized to float weights, but still marked as quantized: the Trainer would refuse it
        model.is_quantized, model.hf_quantizer = False, None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    model = get_peft_model(
        model,
        LoraConfig(task_type="CAUSAL_LM", r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout),
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
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100),
        processing_class=tokenizer,
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
    loss = metrics["eval_loss"]
    print("BASELINE " + json.dumps({"phases": phases, "metric": loss, "perplexity": math.exp(loss)}))


if __name__ == "__main__":
    main()

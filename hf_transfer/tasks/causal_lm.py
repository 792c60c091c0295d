"""Causal-LM instruction tuning (SFT): the loss only on response tokens, packed batches (on by default).

Examples are Alpaca-style (``instruction``, optional ``input``, ``output``) or chat ``messages``.
They are formatted with the tokenizer's chat template when it has one, else with ``PROMPT_TEMPLATE``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import GENERATED_NOT_EXPORTED, IGNORE_INDEX, PAD_MULTIPLE, Task, register
from hf_transfer.tasks._response_loss import response_loss_trainer
from hf_transfer.tasks._shared import CheckedRow, MissingInput, head_names_present

GENERATION_BATCH = 8
"""Prompts generated together (sorted by length, padded on the left). Measured on the packaged SmolLM2-135M, 24 Alpaca
prompts of 36-75 tokens, 48 new tokens, fp32, 2 threads: batches of 8 took 31 s against 114 s one at a time (3.7x),
with the same 24 responses (benchmarks/results/generation.md)."""

PROMPT_TEMPLATE = "### Instruction:\n{instruction}\n\n### Response:\n"
"""The prompt for tokenizers without a chat template (Alpaca-style; an ``input`` follows the
instruction after a blank line, a system prompt precedes it); the response and EOS come after it."""


def join_prompt_and_response(prompt_ids: list[int], response_ids: list[int]) -> tuple[list[int], list[int]]:
    """(input ids, labels): the labels are -100 on every prompt position and the ids on the response."""
    return prompt_ids + response_ids, [IGNORE_INDEX] * len(prompt_ids) + list(response_ids)


@register
@dataclass
class InstructionTuning(Task):
    kind = "causal-lm"
    export_outputs = ()
    export_refusal = GENERATED_NOT_EXPORTED + "; for llama.cpp and Ollama, export it with --format gguf"
    gguf_export = True
    roles = {"instruction": False, "input": False, "output": False, "messages": False}
    peft_task_type = "CAUSAL_LM"
    metric_choices = ("rouge", "exact_match")
    auto_model = "AutoModelForCausalLM"
    peft_auto_model = "AutoPeftModelForCausalLM"
    example_input = '[{"role": "user", "content": "Give three tips for staying healthy."}]'
    new_head = False
    epochs_at_most = 3  # TRL's SFTConfig default; a few hundred rows of 512 tokens are minutes a pass on a CPU

    max_length: int | None = None
    """The most tokens of a prompt and its response. None: from the data, the length that keeps 99% of the training
    examples whole, and the longest prompt with 16 tokens of its response (a prompt that does not fit is refused)."""
    use_chat_template: bool | None = None
    """``None``: use the tokenizer's chat template when it has one; ``True`` requires one."""
    system_prompt: str | None = None
    packing: bool = True
    """Concatenate each batch's examples into one row without padding; position ids restart at each example, so
    attention stays within it (transformers' DataCollatorWithFlattening), and the batches are drawn in random order.
    On by default (issue 34, docs/defaults.md): length-grouped batches, the alternative that keeps padding low, cost
    0.2 of eval loss on chatterbot (1.30 against 1.11, 3 seeds) and 0.013 on Alpaca, where packing cost +22% and
    +1% time; random order with padding costs +52%. ``false``: padded, length-grouped batches."""
    num_samples: int = 3
    """Eval examples whose generated responses are written to samples.jsonl after training."""
    max_new_tokens: int = 128
    generation_samples: int = 32
    """With metrics named (``metrics: [rouge, exact_match]``): how many evaluation examples (a seeded sample) get a
    response generated (greedy, up to ``max_new_tokens``) and scored against their reference after training."""
    generation_batch_size: int = GENERATION_BATCH
    """Prompts generated together, sorted by length and padded on the left (1: one at a time)."""
    drop_empty_responses: bool = False
    """Drop examples whose response is empty (instead of refusing them), and report how many were dropped
    (console, metrics.json, card). The original Alpaca data has such records."""

    def problems(self) -> list[str]:
        out = []
        if self.max_length is not None and self.max_length <= 8:
            out.append("task.max_length must be larger than 8")
        if self.num_samples < 0 or self.max_new_tokens <= 0:
            out.append("task.num_samples must be >= 0 and task.max_new_tokens positive")
        if self.generation_samples < 1 or self.generation_batch_size < 1:
            out.append("task.generation_samples and task.generation_batch_size must be 1 or more")
        return out

    def default_metrics(self) -> list[str]:
        return []

    def main_metric(self) -> str:
        return "loss"

    def greater_is_better(self) -> bool:
        return False

    def report_keys(self, metric_names: list[str]) -> list[str]:
        keys = ["loss", "perplexity"]
        if "rouge" in metric_names:
            keys += ["rouge1", "rouge2", "rougeL"]
        if "exact_match" in metric_names:
            keys.append("exact_match")
        return keys

    def pipeline_tag(self) -> str:
        return "text-generation"

    def finish_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        if "eval_loss" in metrics:
            metrics["eval_perplexity"] = math.exp(min(metrics["eval_loss"], 50.0))
        return metrics

    def trainer_classes(self):
        from transformers import TrainingArguments

        return TrainingArguments, response_loss_trainer()

    def training_defaults(self) -> dict[str, Any]:
        # Evaluation needs the loss only: without prediction_loss_only the Trainer keeps every batch's
        # logits (rows x length x vocabulary); and small eval batches bound the logits the loss needs.
        out: dict[str, Any] = {"prediction_loss_only": True, "per_device_eval_batch_size": 8}
        if self.packing:
            # Packed rows have no fixed lengths to group by; and transformers builds the per-example
            # (block-diagonal) masks from position ids only when no KV cache is in use.
            out.update({"train_sampling_strategy": "random", "use_cache": False})
        return out

    # ---- data -----------------------------------------------------------------------------

    def drop_rows(self, splits):
        if not self.drop_empty_responses:
            return splits, {}

        def has_response(example) -> bool:
            messages = example.get("messages")
            if messages:
                last = messages[-1] if isinstance(messages, list) else None
                return isinstance(last, dict) and isinstance(last.get("content"), str) and bool(last["content"].strip())
            return isinstance(example.get("output"), str) and bool(example["output"].strip())

        out, dropped = {}, 0
        for split, ds in splits.items():
            kept = ds.filter(has_response, desc=f"Dropping empty responses ({split})")
            dropped += len(ds) - len(kept)
            out[split] = kept
        return type(splits)(out), ({"empty_responses": dropped} if dropped else {})

    def prepare(self, splits):
        for split, ds in splits.items():
            columns = set(ds.column_names)
            if "messages" not in columns and not {"instruction", "output"} <= columns:
                raise UserError(
                    f"Instruction tuning needs 'instruction' and 'output' columns (optionally 'input'), or 'messages'; "
                    f"the {split} split has: {', '.join(sorted(columns))}. Map yours with --set "
                    "data.columns.output=response."
                )
            for row, example in enumerate(ds):
                self._conversation(example, f"row {row} of the {split} split")
        return splits, {}

    cut_word = "(its response) cut by"

    def check_row(self, row: dict) -> CheckedRow:
        """Prompt and response together (one prompt may have several good responses: no label to conflict)."""
        return CheckedRow("\n".join(m["content"] for m in self._conversation(row, "a row")))

    def _conversation(self, example: dict, where: str) -> list[dict]:
        """The example as chat messages, ending with the assistant's response."""
        if example.get("messages") is not None:
            messages = example["messages"]
            if (
                not isinstance(messages, list)
                or not messages
                or not all(
                    isinstance(m, dict) and isinstance(m.get("content"), str) and m.get("role") for m in messages
                )
            ):
                raise UserError(f"The messages in {where} must be a list of {{role, content}}.")
            if messages[-1]["role"] != "assistant" or not messages[-1]["content"].strip():
                raise UserError(f"The messages in {where} must end with a non-empty assistant message.")
            return [{"role": m["role"], "content": m["content"]} for m in messages]
        instruction, response = example.get("instruction"), example.get("output")
        if not isinstance(instruction, str) or not instruction.strip():
            raise UserError(f"The instruction in {where} is missing or empty.")
        if not isinstance(response, str) or not response.strip():
            raise UserError(
                f"The response (output) in {where} is missing or empty. To drop such rows (and report how many), "
                "--set task.drop_empty_responses=true."
            )
        user = instruction if not example.get("input") else f"{instruction}\n\n{example['input']}"
        system = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        return system + [{"role": "user", "content": user}, {"role": "assistant", "content": response}]

    def _uses_template(self, tokenizer) -> bool:
        has = bool(getattr(tokenizer, "chat_template", None))
        if self.use_chat_template and not has:
            raise UserError(
                "task.use_chat_template is true, but this tokenizer has no chat template; set it to false "
                "to use the built-in prompt template."
            )
        return has if self.use_chat_template is None else self.use_chat_template

    def _texts(self, tokenizer, messages: list[dict], use_template: bool) -> tuple[str, str]:
        """(prompt, prompt + response) as text."""
        if use_template:
            prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
            full = tokenizer.apply_chat_template(messages, tokenize=False)
            return prompt, full
        user = next(m["content"] for m in reversed(messages[:-1]) if m["role"] == "user")
        system = "".join(m["content"] + "\n\n" for m in messages if m["role"] == "system")
        prompt = system + PROMPT_TEMPLATE.format(instruction=user)
        return prompt, prompt + messages[-1]["content"] + (tokenizer.eos_token or "")

    def tokenize_function(self, tokenizer):
        use_template = self._uses_template(tokenizer)
        add_special = not use_template  # a chat template writes its own special tokens

        if tokenizer.pad_token is None:  # most causal LMs have none; padding positions are masked anyway
            tokenizer.pad_token = tokenizer.eos_token

        def tokenize(batch):
            rows = [dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)]
            out = {"input_ids": [], "attention_mask": [], "labels": []}
            for example in rows:
                messages = self._conversation(example, "an example")
                prompt, full = self._texts(tokenizer, messages, use_template)
                if not full.startswith(prompt):
                    raise UserError("The chat template renders the prompt differently inside the full conversation.")
                prompt_ids = tokenizer(prompt, add_special_tokens=add_special)["input_ids"]
                response_ids = tokenizer(full[len(prompt) :], add_special_tokens=False)["input_ids"]
                if self.max_length is not None and len(prompt_ids) >= self.max_length:  # None: not resolved, uncut
                    start = messages[-2]["content"][:60]
                    raise UserError(
                        f"The prompt of the example starting {start!r} takes {len(prompt_ids)} tokens, leaving no "
                        "room for the "
                        f"response within task.max_length={self.max_length}; raise max_length or shorten the prompt."
                    )
                full_ids, labels = join_prompt_and_response(prompt_ids, response_ids)
                full_ids, labels = full_ids[: self.max_length], labels[: self.max_length]
                out["input_ids"].append(full_ids)
                out["attention_mask"].append([1] * len(full_ids))
                out["labels"].append(labels)
            return out

        return tokenize

    def kept_tokens(self, encoded: dict) -> list[int]:
        return [next((i for i, x in enumerate(labels) if x != IGNORE_INDEX), len(labels)) for labels in
                encoded["labels"]]  # fmt: skip

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening

        if self.packing:
            return DataCollatorWithFlattening()
        return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE_INDEX, pad_to_multiple_of=pad_to_multiple_of)

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, ("lm_head",))

    def metrics_function(self, metric_names, examples=None, features=None, tokenizer=None):
        return None  # eval loss (and perplexity, in finish_metrics); generated text: generation_metrics

    def generation_metrics(self, model, tokenizer, examples, metric_names: list[str]) -> dict[str, float]:
        """The named metrics on responses generated for a seeded sample of ``generation_samples`` evaluation
        examples (the same sample every time: seed 42), scored against their references."""
        if not metric_names or examples is None or not len(examples):
            return {}
        import random

        from hf_transfer.metrics import load_metric

        picked = sorted(random.Random(42).sample(range(len(examples)), min(self.generation_samples, len(examples))))
        use_template = self._uses_template(tokenizer)
        conversations = [self._conversation(examples[i], f"row {i} of the evaluation split") for i in picked]
        prompts = [self._texts(tokenizer, c, use_template)[0] for c in conversations]
        generated = self._generate(model, tokenizer, prompts, use_template, self.generation_batch_size)
        references = [c[-1]["content"] for c in conversations]
        scores = self.score([load_metric(name) for name in metric_names], generated, references)
        out = {f"eval_{key}": value for key, value in scores.items()}
        out["eval_generated_examples"] = float(len(picked))
        return out

    def generated_after_training(self, eval_examples: int, metric_names: list[str]) -> list[int]:
        samples, scored = min(self.num_samples, eval_examples), min(self.generation_samples, eval_examples)
        return [n for n in (samples, scored if metric_names else 0) if n]

    def generation_note(self, evaluated: dict[str, float]) -> str:
        count = evaluated.get("eval_generated_examples")
        if not count:
            return ""
        return (
            f"The text metrics score greedy responses (up to {self.max_new_tokens} new tokens) "
            f"generated for a seeded sample of {int(count)} evaluation examples, against their references."
        )

    def context_tokens(self) -> int:
        return self.max_length + self.max_new_tokens

    # ---- generation -----------------------------------------------------------------------

    def _generate(self, model, tokenizer, prompts: list[str], use_template: bool, batch_size: int = 1) -> list[str]:
        """Greedy responses to ``prompts`` (in their order): ``batch_size`` prompts at a time, sorted by length so a
        batch pads little, padded on the left (the position ids follow the attention mask)."""
        import torch

        model.eval()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        encoded = [tokenizer(p, add_special_tokens=not use_template)["input_ids"] for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        results: dict[int, str] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = torch.tensor([[pad] * (width - len(encoded[i])) + encoded[i] for i in chunk], device=model.device)
            mask = torch.tensor([[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in chunk],
                                device=model.device)  # fmt: skip
            with torch.no_grad():
                output = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=self.max_new_tokens,
                                        do_sample=False, pad_token_id=pad)  # fmt: skip
            for row, i in enumerate(chunk):
                results[i] = tokenizer.decode(output[row, width:], skip_special_tokens=True).strip()
        return [results[i] for i in range(len(prompts))]

    def after_training(self, model, tokenizer, splits, run_dir) -> None:
        """A few eval prompts with their reference and generated responses, in samples.jsonl."""
        use_template = self._uses_template(tokenizer)
        examples = [splits["validation"][i] for i in range(min(self.num_samples, len(splits["validation"])))]
        conversations = [self._conversation(e, "a sample") for e in examples]
        prompts = [self._texts(tokenizer, c, use_template)[0] for c in conversations]
        generated = self._generate(model, tokenizer, prompts, use_template, self.generation_batch_size)
        with (Path(run_dir) / "samples.jsonl").open("w") as f:
            for conversation, output in zip(conversations, generated, strict=True):
                f.write(
                    json.dumps(
                        {
                            "prompt": conversation[-2]["content"],
                            "reference": conversation[-1]["content"],
                            "generated": output,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                )

    def predict_text(self, row: dict) -> str:
        instruction = row.get("instruction")
        if not isinstance(instruction, str) or not instruction.strip():
            raise MissingInput("instruction", instruction)
        extra = row.get("input")
        return f"{instruction}\n\n{extra}" if isinstance(extra, str) and extra.strip() else instruction

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        if not all(isinstance(i, str) and i.strip() for i in inputs):
            raise UserError(
                'Instruction tuning predicts from instructions: hf-transfer predict RUN_DIR "Write a haiku."'
            )
        use_template = self._uses_template(tokenizer)
        prompts = []
        for instruction in inputs:
            messages = self._conversation({"instruction": instruction, "output": "-"}, "the input")
            prompts.append(self._texts(tokenizer, messages, use_template)[0])
        return self._generate(model, tokenizer, prompts, use_template, self.generation_batch_size)

    def format_prediction(self, text: Any, prediction: Any) -> str:
        return f"{text}\n  -> {prediction}"

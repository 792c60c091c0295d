"""The SFT baseline against TRL (issue 34): LoRA instruction tuning with TRL's ``SFTTrainer`` as TRL's docs show it.
Each Alpaca record becomes a conversational prompt-completion pair (user: the instruction, plus the input after a
blank line; assistant: the output), so TRL renders it with the tokenizer's chat template and puts the loss on the
completion only (its ``completion_only_loss`` default for that format); peft's default LoRA targets for the
architecture (as hf_transfer's); length-grouped batches, --bf16 where the device computes bf16 natively.
``--packing`` (TRL's BFD packing, which turns on padding-free batches) and ``--padding_free`` are TRL's flags for
fewer padded positions, off unless asked (``bench_quality.py --task sft`` records which it ran with).

With --eval_each_epoch, TRL evaluates after every epoch (timed from the process's start) and saves the adapter of
that epoch (``checkpoint-STEP``, model only): each evaluation's line names its checkpoint, so the benchmark can score
every epoch's adapter with hf_transfer's own evaluation (one loss definition for both sides). The final adapter is
saved in the output folder. Prints its phases as JSON.

    python benchmarks/baselines/sft_trl.py --model_name_or_path DIR --gguf_file F.gguf \\
        --train_file train.json --validation_file valid.json --output_dir out [--bf16] [--eval_each_epoch] [...]

A GGUF checkpoint is dequantized by transformers, and its "quantized" mark cleared, as in instruction_tuning.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

T0 = time.perf_counter()

from datasets import Dataset  # noqa: E402
from transformers import AutoTokenizer, set_seed  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

from _common import (  # noqa: E402
    EVALUATIONS,
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


def prompt_completion(path: str) -> Dataset:
    """Alpaca records (empty outputs dropped, as the recipe does) as conversational prompt-completion rows."""
    rows = []
    for r in json.loads(Path(path).read_text(encoding="utf-8")):
        if not r["output"].strip():
            continue
        user = r["instruction"] + (f"\n\n{r['input']}" if r.get("input") else "")
        rows.append(
            {
                "prompt": [{"role": "user", "content": user}],
                "completion": [{"role": "assistant", "content": r["output"]}],
            }
        )
    return Dataset.from_list(rows)


def main() -> None:
    parser = arguments(max_seq_length=512, train_batch=8, eval_batch=8)
    add_causal_lm_flags(parser)
    parser.add_argument("--packing", action="store_true", help="TRL's BFD packing (padding-free batches)")
    parser.add_argument("--padding_free", action="store_true", help="TRL's padding-free batches, without packing")
    args = parser.parse_args()
    phases = Phases(imports=IMPORTS)

    with phases("data_and_tokenization"):
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path, **gguf_kwargs(args))
        train, evaluation = prompt_completion(args.train_file), prompt_completion(args.validation_file)

    with phases("model"):
        set_seed(args.seed)
        model = causal_lm(args)
        config = training_arguments(
            args,
            kind=SFTConfig,
            max_length=args.max_seq_length,
            packing=args.packing,
            padding_free=args.padding_free,
            # packed rows have no per-example lengths to group by
            train_sampling_strategy="random" if args.packing else "group_by_length",
            save_strategy="epoch" if args.eval_each_epoch else "no",
            save_only_model=True,
        )
        lora = lora_config(args)
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=train,
            eval_dataset=evaluation,
            processing_class=tokenizer,
            peft_config=lora,
            callbacks=[EVALUATIONS.callback()],
        )

    def final() -> dict:  # with --eval_each_epoch the last epoch's evaluation is of the final model
        return dict(EVALUATIONS[-1]) if args.eval_each_epoch else trainer.evaluate()

    loss = train_evaluate_save(trainer, phases, args.output_dir, final)["eval_loss"]
    checkpoints = sorted(Path(args.output_dir).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    for evaluation_record, checkpoint in zip(EVALUATIONS, checkpoints, strict=False):  # one per epoch, in order
        evaluation_record["checkpoint"] = str(checkpoint)
    report(
        phases,
        metric=loss,
        trl_loss="TRL's own eval_loss",
        packing=args.packing,
        padding_free=args.padding_free or args.packing,
    )


if __name__ == "__main__":
    main()

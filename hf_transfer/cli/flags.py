"""The flags every command that trains shares (run, compare): how transformers' examples spell them."""

from __future__ import annotations

import argparse

TRAINING_FLAGS_HELP = """\
Any transformers TrainingArguments flag is accepted too, spelled as in the transformers examples
(--learning_rate 3e-5 --num_train_epochs 2 --bf16 false). The common ones, with hf_transfer's defaults
(a recipe's `training` may set others):

{common}

`hf-transfer show RECIPE --training` prints every TrainingArguments value a run of RECIPE would use here.
"""


def training_epilog() -> str:
    from ..arguments import common_flags_help

    return TRAINING_FLAGS_HELP.format(common=common_flags_help())


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    from ..methods import names as method_names

    parser.add_argument("--method", choices=method_names(), help="fine-tuning method (default: the recipe's)")
    parser.add_argument("--model_name_or_path", help="checkpoint to start from instead of the recipe's")
    parser.add_argument("--train_file", help="local csv/tsv/json/jsonl/parquet training data (csv/json may be .gz)")
    parser.add_argument(
        "--validation_file", help="local evaluation data (default: a seeded split of the training data)"
    )
    parser.add_argument(
        "--test_file", help="rows to predict once trained (run_glue's --do_predict): RUN_DIR/predictions-<name>.jsonl"
    )
    parser.add_argument("--max_train_samples", type=int)
    parser.add_argument("--max_eval_samples", type=int)
    parser.add_argument("--output_dir", help="run folder (default: runs/<recipe>-<method>)")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace a finished run in --output_dir")
    parser.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a recipe field, e.g. --set lora.r=16"
    )
    parser.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="run code shipped with the checkpoint (off by default; a recipe file cannot switch it on)",
    )
    parser.add_argument(
        "--allow_pickle_weights", action="store_true", help="load checkpoints that have only pickle (.bin) weights"
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue an interrupted run from its newest complete checkpoint"
    )
    parser.add_argument(
        "--early_stopping_patience",
        type=int,
        metavar="N",
        help="stop after N evaluations without a better main metric; the best model is kept",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="show everything the libraries print (train.log keeps it anyway)"
    )
    parser.add_argument(
        "--time_budget",
        metavar="DURATION",
        help="the whole run in at most this long (45s, 10m, 1h): the steps that fit are planned from a few probe "
        "steps, and training stops in time to evaluate, save and check the model",
    )
    parser.add_argument(
        "--merge_adapter",
        action="store_true",
        help="after an adapter run (lora, dora, ia3, qlora), also write the merged model to <output_dir>-merged",
    )


def add_trust_flag(parser: argparse.ArgumentParser) -> None:
    """For commands that load a finished run: its model may need code of its own."""
    parser.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="allow a run whose model needs its own Python code (trained with --trust_remote_code) to load",
    )

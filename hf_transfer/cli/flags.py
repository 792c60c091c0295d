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
    from hf_transfer.run.arguments import common_flags_help

    return TRAINING_FLAGS_HELP.format(common=common_flags_help())


LENGTH_FLAG_OPTIONS = {
    "type": int, "metavar": "N", "dest": "max_seq_length",
    "help": "the task's length limit in tokens (task.max_length; seq2seq: task.max_source_length); default: the "
    "recipe's, else from the data: the length that keeps 99%% of the training rows whole, at most the model's",
}  # fmt: skip
"""``--max_seq_length`` (and its other spellings, ``data.lengths.LENGTH_FLAGS``): run, plan, compare, tune, check."""


RUN_ONLY_FLAGS = ("output_dir", "overwrite_output_dir", "resume", "merge_adapter")
"""Flags about a run's folder and the merge that follows its training: a command that trains nothing (plan) leaves
them out (it forecasts a --test_file's predictions)."""


def add_run_flags(parser: argparse.ArgumentParser, leave_out: tuple[str, ...] = ()) -> None:
    """The flags of ``hf-transfer run``; ``leave_out``: the ones a command does not read (its --help lists only what
    it reads)."""
    from hf_transfer.methods import names as method_names

    def add(*names, **kwargs) -> None:
        if names[0].lstrip("-") not in leave_out:
            parser.add_argument(*names, **kwargs)

    _add_run_flags(add, method_names)


def _add_run_flags(add, method_names) -> None:
    from hf_transfer.data.lengths import LENGTH_FLAGS
    from hf_transfer.methods import mergeable_names

    add("--method", choices=method_names(), help="fine-tuning method (default: the recipe's)")
    add("--model_name_or_path", help="checkpoint to start from instead of the recipe's")
    add("--train_file", help="local csv/tsv/json/jsonl/parquet training data (csv/json may be .gz)")
    add(
        "--validation_file", help="local evaluation data (default: a seeded split of the training data)"
    )
    add(
        "--test_file", help="rows to predict once trained (run_glue's --do_predict): RUN_DIR/predictions-<name>.jsonl"
    )
    add("--max_train_samples", type=int)
    add(*LENGTH_FLAGS, **LENGTH_FLAG_OPTIONS)
    add("--max_eval_samples", type=int)
    add("--output_dir", help="run folder (default: runs/<recipe>-<method>)")
    add("--overwrite_output_dir", action="store_true", help="replace a finished run in --output_dir")
    add(
        "--set", action="append", metavar="KEY=VALUE", help="override a recipe field, e.g. --set lora.r=16"
    )
    add(
        "--trust_remote_code",
        action="store_true",
        help="run code shipped with the checkpoint (off by default; a recipe file cannot switch it on)",
    )
    add(
        "--allow_pickle_weights", action="store_true", help="load checkpoints that have only pickle (.bin) weights"
    )
    add(
        "--resume", action="store_true", help="continue an interrupted run from its newest complete checkpoint"
    )
    add(
        "--early_stopping_patience",
        type=int,
        metavar="N",
        help="stop after N evaluations without a better main metric; the best model is kept",
    )
    add(
        "--verbose", action="store_true", help="show everything the libraries print (train.log keeps it anyway)"
    )
    add(
        "--time_budget",
        metavar="DURATION",
        help="the whole run in at most this long (45s, 10m, 1h): the steps that fit are planned from a few probe "
        "steps, and training stops in time to evaluate, save and check the model",
    )
    add(
        "--merge_adapter",
        action="store_true",
        help=f"after an adapter run ({', '.join(mergeable_names())}), also write the merged model to "
        "<output_dir>-merged",
    )


def methods_help(what: str) -> str:
    """``--methods``' help: what the command does with them, and the methods the registry holds."""
    from hf_transfer.methods import names

    return f"{what}; comma-separated, from: {', '.join(names())}"


def add_trust_flag(parser: argparse.ArgumentParser) -> None:
    """For commands that load a finished run: its model may need code of its own."""
    parser.add_argument(
        "--trust_remote_code",
        action="store_true",
        help="allow a run whose model needs its own Python code (trained with --trust_remote_code) to load",
    )

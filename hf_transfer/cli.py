"""The ``hf-transfer`` command: list | show | copy | run | compare | eval | predict | merge | push.

Imports are lazy: ``hf-transfer list`` and ``show`` never import torch. Bad input ends with one
short message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from .console import Console, format_table, is_timing, quiet, results_table  # noqa: F401  (results_table: demo, tests)
from .errors import UserError

PROG = "hf-transfer"


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def cmd_list(args) -> None:
    from .registry import packaged_recipes

    rows = [
        [name, recipe.task.kind + _problem(recipe), recipe.checkpoint, recipe.data.describe(), recipe.method]
        for name, (recipe, _) in packaged_recipes().items()
    ]
    print(format_table(["name", "task", "checkpoint", "dataset", "method"], rows))


def _problem(recipe) -> str:
    problem = getattr(recipe.task, "problem_type", None)
    return f" ({problem.replace('_', '-')})" if problem and problem != "single_label" else ""


def cmd_show(args) -> None:
    from .registry import find_recipe

    recipe, _ = find_recipe(args.recipe)
    recipe = recipe.with_overrides(args.set or []).validate()
    if args.training:
        import yaml

        from .arguments import training_arguments

        print(f"# TrainingArguments of `{PROG} run {recipe.name}` ({recipe.method}) on this machine:")
        print("# hf_transfer's defaults, then the recipe's `training`, then --set; flags on the run command win.")
        print(yaml.safe_dump(training_arguments(recipe), sort_keys=True), end="")
        return
    print(recipe.to_yaml(), end="")


def cmd_copy(args) -> None:
    from .registry import find_recipe

    recipe, source = find_recipe(args.recipe)
    dest = Path(args.dest) if args.dest else Path(source.name if source else f"{recipe.name.replace('-', '_')}.py")
    if dest.is_dir():
        dest = dest / (source.name if source else f"{recipe.name.replace('-', '_')}.py")
    if dest.exists():
        raise UserError(f"{dest} already exists; choose another destination.")
    if not dest.parent.is_dir():
        raise UserError(f"The folder {dest.parent} does not exist; create it first, or copy to an existing folder.")
    name = args.name or dest.stem.lower().replace("_", "-")
    if name == recipe.name:  # a copy with the template's name would share its run folders and card title
        name = f"my-{recipe.name}"
    # the template's description names its data and checkpoint, which a copy is made to change: the card's
    # first line stays true until the user writes their own (--description, or in the file)
    description = args.description or f"Adapted from the hf_transfer recipe {recipe.name}."
    copied = dataclasses.replace(recipe, name=name, description=description, expected={})
    copied.validate()  # a bad --name is refused before anything is written
    if source is not None and source.suffix == ".py":
        dest.write_text(renamed_source(source.read_text(encoding="utf-8-sig"), recipe, copied), encoding="utf-8")
    else:
        dest = dest.with_suffix(".yaml")
        if dest.exists():
            raise UserError(f"{dest} already exists; choose another destination.")
        dest.write_text(copied.to_yaml(), encoding="utf-8")
    print(
        f"Copied recipe {recipe.name!r} to {dest} as {name!r} (its runs go to runs/{name}-<method>; the template's "
        f"expected results were left out: they were measured on its data). Run it with: {PROG} run {dest}"
    )


def renamed_source(text: str, original, copied) -> str:
    """A recipe module's source with the copy's name and description, and without the template's
    ``expected`` results; everything else (comments, layout) as written."""
    import ast

    def literal(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    tree = ast.parse(text)
    values = {"name": literal(copied.name), "description": literal(copied.description), "expected": "{}"}
    edits = []  # (start line, start column, end line, end column) in UTF-8 bytes, as ast counts them -> new text
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Recipe":
            for keyword in node.keywords:
                if keyword.arg in values:
                    v = keyword.value
                    edits.append(((v.lineno, v.col_offset, v.end_lineno, v.end_col_offset), values.pop(keyword.arg)))
            if "description" in values and "name" not in values:  # none in the template: one after the name
                name = next(k.value for k in node.keywords if k.arg == "name")
                where = (name.end_lineno, name.end_col_offset, name.end_lineno, name.end_col_offset)
                edits.append((where, ", description=" + values.pop("description")))
            break
    if "name" in values:
        raise UserError(f"No Recipe(name=...) call was found in the recipe module of {original.name!r} to rename.")
    data = text.encode()
    offsets = [0]
    for line in data.splitlines(keepends=True):  # \n, \r and \r\n only, as Python's line numbers
        offsets.append(offsets[-1] + len(line))
    for (line, column, end_line, end_column), replacement in sorted(edits, reverse=True):
        start, end = offsets[line - 1] + column, offsets[end_line - 1] + end_column
        data = data[:start] + replacement.encode() + data[end:]
    result = data.decode()
    ast.parse(result)  # a copy that would not load is never written
    return result


def parse_training_flags(tokens: list[str]) -> dict[str, Any]:
    """``--learning_rate 3e-5 --bf16 --eval_strategy=steps`` -> {"learning_rate": 3e-05, ...}."""
    from .recipe import parse_value

    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise UserError(f"Unexpected argument {token!r}: training flags look like --learning_rate 3e-5.")
        name, eq, value = token[2:].partition("=")
        name = name.replace("-", "_")
        if eq:
            out[name] = parse_value(value)
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[name] = parse_value(tokens[i + 1])
            i += 1
        else:
            out[name] = True
        i += 1
    return out


def build_run_recipe(recipe, args, extra: list[str]):
    """Apply the run flags to a recipe: the resolved recipe is what recipe.yaml records."""
    from .recipe import FileData

    template = recipe
    recipe = recipe.with_overrides(args.set or [])
    changes: dict[str, Any] = {}
    if args.method:
        changes["method"] = args.method
    if args.trust_remote_code:
        changes["trust_remote_code"] = True
    if args.allow_pickle_weights:
        changes["allow_pickle_weights"] = True
    if args.early_stopping_patience is not None:
        changes["early_stopping_patience"] = args.early_stopping_patience
    if args.model_name_or_path:
        path = Path(args.model_name_or_path).expanduser()
        changes["checkpoint"] = str(path.resolve()) if path.is_dir() else args.model_name_or_path
    data = recipe.data
    if args.train_file or args.validation_file:
        if not args.train_file:
            raise UserError("--validation_file needs --train_file as well.")
        shared = {
            f.name: getattr(data, f.name)
            for f in dataclasses.fields(data)
            if f.name in ("columns", "eval_fraction", "split_seed", "max_train_samples", "max_eval_samples")
        }
        data = FileData(
            train_file=str(Path(args.train_file).expanduser().resolve()),
            validation_file=str(Path(args.validation_file).expanduser().resolve()) if args.validation_file else None,
            **shared,
        )
    if args.max_train_samples is not None:
        data = dataclasses.replace(data, max_train_samples=args.max_train_samples)
    if args.max_eval_samples is not None:
        data = dataclasses.replace(data, max_eval_samples=args.max_eval_samples)
    changes["data"] = data
    flags = parse_training_flags(extra)
    if "hub_token" in flags:
        raise UserError(
            "--hub_token is not accepted (it would end up in shell history and logs): set HF_TOKEN or run `hf auth "
            "login`."
        )
    for key in PUSH_FLAGS:  # hf_transfer pushes the finished run folder itself, not the Trainer
        setattr(args, key, flags.pop(key, None))
    check_run_glue_steps({key: flags.pop(key) for key in RUN_GLUE_STEPS if key in flags}, args)
    if "resume_from_checkpoint" in flags:  # the transformers spelling of --resume
        value = flags.pop("resume_from_checkpoint")
        if value not in (True, "auto"):
            raise UserError(
                "--resume_from_checkpoint takes 'auto' (the newest complete checkpoint of this output folder); or "
                "use --resume."
            )
        args.resume = True
    if "learning_rate" in flags:  # an explicit rate wins over the recipe's per-method rates
        changes["lora"] = dataclasses.replace(recipe.lora, learning_rate=None)
        changes["freeze"] = dataclasses.replace(recipe.freeze, learning_rate=None)
    changes["training"] = {**recipe.training, **flags}
    resolved = dataclasses.replace(recipe, **changes)
    differences = adapted(template, resolved)
    if differences and resolved.description == template.description:  # the card must not claim the template's
        resolved = dataclasses.replace(
            resolved,
            description=f"Adapted from the hf_transfer recipe {template.name}: " + "; ".join(differences) + ".",
        )
    return resolved.validate()


def adapted(template, recipe) -> list[str]:
    """How a run's checkpoint and data differ from its recipe's (an adapted recipe says so in its card)."""
    out = []
    if recipe.checkpoint != template.checkpoint:
        out.append(f"checkpoint {recipe.checkpoint} instead of {template.checkpoint}")
    if type(recipe.data) is not type(template.data) or recipe.data.describe() != template.data.describe():
        out.append(f"data {recipe.data.describe()} instead of {template.data.describe()}")
    return out


def default_output_dir(template, recipe) -> Path:
    """runs/<recipe>-<method>; an adapted run adds what it was adapted to (its data file, its checkpoint), so it
    does not land in the folder of the recipe as written."""
    import re

    parts = [recipe.name]
    if adapted(template, recipe):
        if isinstance(getattr(recipe.data, "train_file", None), str):
            parts.append(Path(recipe.data.train_file).stem)
        elif recipe.data.describe() != template.data.describe():  # another Hub dataset or config
            parts.append(re.sub(r"[^a-z0-9]+", "-", recipe.data.describe().lower()).strip("-")[:40])
        if recipe.checkpoint != template.checkpoint:
            parts.append(Path(recipe.checkpoint.rstrip("/")).name)
    parts.append(recipe.method)
    return Path("runs") / "-".join(parts)


def runs_as_written(original, resolved) -> bool:
    """Whether a run trains its recipe at full size (its own data, sample limits, epochs and steps), so
    that the recipe's ``expected`` results apply to it."""
    keys = ("num_train_epochs", "max_steps")
    return (
        not adapted(original, resolved)  # its own checkpoint and data
        and (original.data.max_train_samples, original.data.max_eval_samples)
        == (resolved.data.max_train_samples, resolved.data.max_eval_samples)
        and all(original.training.get(k) == resolved.training.get(k) for k in keys)
    )


RUN_GLUE_STEPS = ("do_train", "do_eval", "do_predict")
"""run_glue's switches: a run always trains and evaluates; --do_predict goes with --test_file."""


def check_run_glue_steps(steps: dict[str, Any], args) -> None:
    """Honour run_glue's --do_train / --do_eval / --do_predict where hf-transfer run does that, and name the
    hf_transfer way where it does not (they would otherwise be accepted by TrainingArguments and ignored)."""
    from .recipe import as_bool

    steps = {k: as_bool(v) for k, v in steps.items()}
    if steps.get("do_train") is False or (steps.get("do_eval") and not steps.get("do_train", False)):
        raise UserError(
            "hf-transfer run always trains, then evaluates (--do_eval alone would still train). To evaluate a "
            "finished run without training: hf-transfer eval RUN_DIR [--validation_file F]."
        )
    if steps.get("do_predict") and not getattr(args, "test_file", None):
        raise UserError(
            "--do_predict needs --test_file F: the rows to predict after training (written to "
            "RUN_DIR/predictions-<F>.jsonl). A finished run predicts with: hf-transfer predict RUN_DIR --input_file F."
        )


def check_test_file(recipe, test_file: str) -> Path:
    """--test_file is read before training: a file that cannot be predicted stops the run before it starts."""
    from .predict import read_rows

    path = Path(test_file).expanduser().resolve()
    rows = read_rows(path, recipe.data.columns)
    try:
        recipe.task.predict_text(rows[0])
    except (ValueError, KeyError, UserError) as exc:
        raise UserError(f"--test_file {path}: its first row cannot be predicted: {exc}") from None
    return path


PUSH_FLAGS = ("push_to_hub", "hub_model_id", "hub_private_repo")
"""TrainingArguments names for pushing; hf-transfer run handles them after the run folder is complete."""


def cmd_run(args, extra: list[str], recipe=None, argv: list[str] | None = None) -> None:
    from .registry import find_recipe

    if recipe is None:
        recipe, _ = find_recipe(args.recipe)
    original = recipe
    recipe = build_run_recipe(recipe, args, extra)
    output_dir = args.output_dir or str(default_output_dir(original, recipe))
    test_file = check_test_file(recipe, args.test_file) if getattr(args, "test_file", None) else None
    if args.push_to_hub:
        from .hub import _check_repo_id

        args.hub_model_id = args.hub_model_id or Path(output_dir).name
        _check_repo_id(args.hub_model_id)  # before any training
        from huggingface_hub import get_token

        if not get_token():
            raise UserError(
                "--push_to_hub needs a Hugging Face token, and none is set: set HF_TOKEN or run `hf auth login` "
                "before training (nothing was trained)."
            )

    from .hardware import is_main_process, silent

    with Console(log=print if is_main_process() else silent, verbose=args.verbose) as console:
        _run_and_report(args, recipe, original, output_dir, argv, console.say, test_file)


def _run_and_report(args, recipe, original, output_dir: str, argv, say, test_file: Path | None) -> None:
    from .hardware import is_main_process
    from .train import run

    command = f"{PROG} " + shlex.join(argv if argv is not None else sys.argv[1:])
    metrics = run(
        recipe,
        output_dir,
        overwrite=args.overwrite_output_dir,
        command=command,
        resume=args.resume,
        full_size=runs_as_written(original, recipe),
        verbose=args.verbose,
    )
    if not is_main_process():  # several processes (accelerate launch / torchrun): rank 0 reports
        return
    if test_file is not None:
        from .predict import predict_file

        summary = predict_file(Path(metrics["output_dir"]), test_file, None, log=say)
        say(f"Predictions for {test_file.name} ({summary['predicted']:,} rows): {summary['output_file']}")
    if args.merge_adapter:
        from .methods import get as method

        if not method(recipe.method).mergeable:
            raise UserError(
                f"--merge_adapter applies to adapter methods (lora, dora, ia3, qlora), not {recipe.method}."
            )
        from .models import merge_run

        say(f"Merged model: {merge_run(Path(metrics['output_dir']))}")
    if args.push_to_hub:
        from .hub import push

        say(f"Pushed: {push(Path(metrics['output_dir']), args.hub_model_id, private=bool(args.hub_private_repo))}")


def cmd_push(args) -> None:
    from .hub import push

    print(f"Pushed: {push(Path(args.run_dir), args.hub_model_id, private=args.private, merge=args.merge)}")


def cmd_compare(args, extra: list[str], argv: list[str]) -> None:
    from .compare import compare, parse_methods, report_table
    from .registry import find_recipe

    if args.method or args.merge_adapter or args.test_file:
        raise UserError(
            "compare runs the methods listed by --methods (e.g. --methods scratch,lora,full); --method and "
            "--merge_adapter / --test_file apply to run."
        )
    methods = parse_methods(args.methods)
    recipe, _ = find_recipe(args.recipe)
    recipe = build_run_recipe(recipe, args, extra)
    if args.push_to_hub:
        raise UserError("compare does not push; push a method's run folder with hf-transfer push.")
    output_dir = Path(args.output_dir or Path("runs") / f"{recipe.name}-compare")
    report = compare(
        recipe,
        methods,
        output_dir,
        command=f"{PROG} " + shlex.join(argv),
        overwrite=args.overwrite_output_dir,
        verbose=args.verbose,
    )
    header, rows = report_table(report)
    print()
    print(format_table(header, rows))
    print(f"\nReport: {output_dir / 'report.md'} (also report.json, metric_by_method.png, learning_curves.png)")


def cmd_merge(args) -> None:
    from .models import merge_run

    output_dir = Path(args.output_dir) if args.output_dir else None
    print(f"Merged model: {merge_run(Path(args.run_dir), output_dir, overwrite=args.overwrite_output_dir)}")


def cmd_eval(args) -> None:
    from .data import load_splits
    from .runs import RunFolder, write_atomically
    from .train import evaluate_model, load_run, tokenize_splits

    folder = RunFolder(args.run_dir)
    folder.recipe()  # "not a hf_transfer run folder" first
    folder.require_finished("finish it first.")
    with quiet():
        recipe, model, tokenizer = load_run(folder.path)
        data = recipe.data
        if args.validation_file:
            from .recipe import FileData

            path = str(Path(args.validation_file).expanduser().resolve())
            data = FileData(train_file=path, validation_file=path, columns=data.columns)
        if args.max_eval_samples:
            data = dataclasses.replace(data, max_eval_samples=args.max_eval_samples)
        splits, task = load_splits(data, recipe.task)
        tokenized = tokenize_splits(splits, task, tokenizer)
        metrics = evaluate_model(
            model, tokenizer, recipe, splits["validation"], tokenized["validation"], args.per_device_eval_batch_size
        )
        baselines = task.baselines(tokenized["train"], tokenized["validation"])
    name = Path(args.validation_file).stem if args.validation_file else "validation"
    out = Path(args.output_file) if args.output_file else folder.path / f"eval-{name}.json"
    # a new file's own majority class: what always answering it would score (not the training data's)
    source = "this file's own labels" if args.validation_file else "from the training data"
    evaluated_on = data.describe_evaluation()
    record = {
        "data": data.describe(),
        "evaluated_on": evaluated_on,
        "samples": len(splits["validation"]),
        "unit": task.unit,
        "metrics": metrics,
        "baselines": baselines,
        "baselines_from": source,
    }
    write_atomically(out, json.dumps(record, indent=2) + "\n")
    print(f"Evaluated {folder.path.name} on {len(splits['validation']):,} {task.unit}: {evaluated_on}\n")
    print(eval_table(metrics, baselines, recipe.task.report_keys(recipe.metric_names), source))
    print(f"\nMetrics: {out}")


def eval_table(metrics: dict, baselines: dict, main_keys: list[str], source: str = "") -> str:
    """The evaluation's metrics (the recipe's first), then the trivial baselines to read them against."""
    names = [k for k in main_keys if f"eval_{k}" in metrics]
    names += [
        k.removeprefix("eval_")
        for k, v in metrics.items()
        if isinstance(v, (int, float)) and k.removeprefix("eval_") not in names and not is_timing(k)
    ]
    rows = [[name.replace("_", " "), f"{metrics[f'eval_{name}']:.4f}"] for name in names]
    rows += [
        [f"{k.replace('_', ' ')} (baseline{', ' + source if source else ''})", f"{v:.4f}"] for k, v in baselines.items()
    ]
    return format_table(["metric", "value"], rows)


def cmd_doctor(args) -> None:
    from .doctor import main as doctor

    doctor(as_json=args.json)


def cmd_cache(args) -> None:
    from .cache import (
        clear,
        clear_dequantized,
        dequantized_dir,
        dequantized_entries,
        entries,
        human,
        leftovers,
        tokenization_cache_dir,
        total_bytes,
    )

    folder = tokenization_cache_dir(create=False)
    if args.action == "clear":
        removed, freed, spared = clear(args.older_than, folder)
        kept = len(entries(folder))
        print(f"Removed {removed} files ({human(freed)}) from {folder}; {kept} cached splits kept.")
        if spared:
            print(
                f"A run is tokenizing into this cache right now: {spared} files it may be writing or reading (used in "
                "the last hour) were left alone."
            )
        removed, freed = clear_dequantized(args.older_than)
        kept = len(dequantized_entries())
        if removed or kept:
            print(f"Removed {removed} dequantized checkpoints ({human(freed)}) from {dequantized_dir()}; {kept} kept.")
        return
    found = entries(folder)
    print(f"Tokenization cache: {folder} ({human(total_bytes(folder))}, {len(found)} tokenized splits)")
    if found:
        import datetime

        rows = [
            [
                human(e.bytes),
                datetime.datetime.fromtimestamp(e.modified).strftime("%Y-%m-%d %H:%M"),
                e.about.get("rows", "?"),
                e.label,
            ]
            for e in found
        ]
        print(format_table(["size", "last used", "rows", "what"], rows))
    stale = leftovers(folder)
    if stale:
        print(f"{len(stale)} unfinished writes (interrupted runs; never loaded): hf-transfer cache clear removes them.")
    converted = dequantized_entries()
    if converted:
        print(
            f"Dequantized GGUF checkpoints: {dequantized_dir()} ({human(total_bytes(dequantized_dir()))}, "
            f"{len(converted)}: {', '.join(p.name for p in converted)}); runs convert them again after a clear."
        )


def _predict_file(args) -> None:
    from .predict import predict_file
    from .recipe import parse_value
    from .runs import RunFolder

    folder = RunFolder(args.run_dir)
    folder.recipe()  # "not a hf_transfer run folder" first
    folder.require_finished("finish it first.")
    columns = {}
    for assignment in args.column or []:
        role, sep, column = assignment.partition("=")
        if not sep or not role or not column:
            raise UserError(f"--column {assignment!r}: expected role=column, e.g. --column text=review")
        columns[role.strip()] = str(parse_value(column))
    summary = predict_file(folder.path, Path(args.input_file), Path(args.output_file) if args.output_file else None,
                           batch_size=args.batch_size, columns=columns)  # fmt: skip
    print(
        f"Predicted {summary['predicted']:,} of {summary['rows']:,} rows in {summary['seconds']:.1f} s "
        f"({summary['rows_per_second']:.0f} rows/s)"
        + (f"; {summary['failed']} rows failed" if summary["failed"] else "")
        + f". Predictions: {summary['output_file']}"
    )


def cmd_predict(args) -> None:
    from .runs import RunFolder
    from .tasks import PAIR_SEPARATOR
    from .train import load_run

    texts = list(args.texts)
    if args.question is not None or args.context is not None:  # a spelling of "question ||| context"
        texts.append(f"{args.question or ''}{PAIR_SEPARATOR}{args.context or ''}")
    if args.input_file:
        if texts:
            raise UserError("Give texts on the command line or --input_file, not both.")
        with quiet():  # the base model's loading report (a LoRA run's head is loaded next) is not the user's concern
            _predict_file(args)
        return
    if args.output_file:
        raise UserError("--output_file goes with --input_file (texts on the command line are printed).")
    if not texts:
        raise UserError('Give at least one text to predict, e.g. hf-transfer predict RUN_DIR "a fine film".')
    folder = RunFolder(args.run_dir)
    recipe = folder.recipe()  # "not a hf_transfer run folder" when there is no recipe.yaml
    folder.require_finished(
        "an unfinished run is not predicted with. Finish it with --resume, or use the finished run's folder."
    )
    inputs = [recipe.task.parse_predict_input(t) for t in texts]
    with quiet():  # the base model's loading report (a LoRA run's head is loaded next) is not the user's concern
        recipe, model, tokenizer = load_run(folder.path)
        predictions = recipe.task.predict(model, tokenizer, inputs)
    for item, prediction in zip(inputs, predictions):
        print(recipe.task.format_prediction(item, prediction))


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    from .methods import names as method_names

    parser.add_argument("--method", choices=method_names(), help="fine-tuning method (default: the recipe's)")
    parser.add_argument("--model_name_or_path", help="checkpoint to start from instead of the recipe's")
    parser.add_argument("--train_file", help="local csv/tsv/json/jsonl/parquet training data")
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
        "--trust_remote_code", action="store_true", help="run code shipped with the checkpoint (off by default)"
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
        "--merge_adapter",
        action="store_true",
        help="after an adapter run (lora, dora, ia3, qlora), also write the merged model to <output_dir>-merged",
    )


TRAINING_FLAGS_HELP = """\
Any transformers TrainingArguments flag is accepted too, spelled as in the transformers examples
(--learning_rate 3e-5 --num_train_epochs 2 --bf16 false). The common ones, with hf_transfer's defaults
(a recipe's `training` may set others):

{common}

`hf-transfer show RECIPE --training` prints every TrainingArguments value a run of RECIPE would use here.
"""


def build_parser() -> argparse.ArgumentParser:
    from .arguments import common_flags_help
    from .assets import installed_version

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Transfer learning for NLP on the Hugging Face stack.",
        epilog="Something odd about this machine or install? `hf-transfer doctor` tells what it sees.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {installed_version('hf-transfer-toolkit', '(not installed)')}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="the packaged recipes")
    show = sub.add_parser("show", help="a recipe, fully resolved, as YAML")
    show.add_argument("recipe")
    show.add_argument("--set", action="append", metavar="KEY=VALUE")
    show.add_argument(
        "--training", action="store_true", help="the TrainingArguments a run would use on this machine, as YAML"
    )
    copy = sub.add_parser("copy", help="copy a recipe module to adapt it, under a name of its own")
    copy.add_argument("recipe")
    copy.add_argument("dest", nargs="?")
    copy.add_argument("--name", help="the copy's recipe name (default: from the file name, e.g. my_sentiment.py)")
    copy.add_argument("--description", help="the copy's description, the first line of its model card")
    run = sub.add_parser(
        "run",
        help="fine-tune a recipe",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=TRAINING_FLAGS_HELP.format(common=common_flags_help()),
    )
    run.add_argument("recipe", help="packaged recipe name, or path to a recipe .py / .yaml")
    add_run_flags(run)
    cmp = sub.add_parser(
        "compare", help="run a recipe once per method (scratch, freeze, lora, full) and report side by side"
    )
    cmp.add_argument("recipe")
    cmp.add_argument("--methods", default="scratch,freeze,lora,full")
    add_run_flags(cmp)
    ev = sub.add_parser("eval", help="re-evaluate a finished run")
    ev.add_argument("run_dir")
    ev.add_argument("--validation_file")
    ev.add_argument("--max_eval_samples", type=int)
    ev.add_argument("--per_device_eval_batch_size", type=int, default=128)
    ev.add_argument("--output_file", help="where the metrics JSON goes (default: RUN_DIR/eval-<file name>.json)")
    merge = sub.add_parser("merge", help="merge a LoRA run's adapter into its base model")
    merge.add_argument("run_dir")
    merge.add_argument("--output_dir", help="default: <run_dir>-merged")
    merge.add_argument(
        "--overwrite_output_dir",
        action="store_true",
        help="replace an earlier merge (only once the new one is written)",
    )
    ps = sub.add_parser(
        "push", help="upload a finished run to the Hugging Face Hub (token: HF_TOKEN or `hf auth login`)"
    )
    ps.add_argument("run_dir")
    ps.add_argument("--hub_model_id", required=True, help="name or namespace/name")
    ps.add_argument("--private", action="store_true")
    ps.add_argument("--merge", action="store_true", help="LoRA runs: push the merged model instead of the adapter")
    doc = sub.add_parser("doctor", help="what this machine offers and what hf_transfer will do with it")
    doc.add_argument("--json", action="store_true", help="machine-readable, for bug reports")
    cache = sub.add_parser("cache", help="the tokenization cache: size and entries, or clear it")
    cache.add_argument("action", nargs="?", choices=["list", "clear"], default="list")
    cache.add_argument(
        "--older-than",
        "--older_than",
        dest="older_than",
        type=float,
        metavar="DAYS",
        help="with clear: only entries not used for this many days",
    )
    pr = sub.add_parser("predict", help="predict with a finished run")
    pr.add_argument("run_dir")
    pr.add_argument("texts", nargs="*", help="texts to classify or tag; a pair is written 'first ||| second'")
    pr.add_argument("--question", help="question answering: the question")
    pr.add_argument("--context", help="question answering: the text that holds the answer")
    pr.add_argument(
        "--input_file", help="predict every row of a csv/tsv/json/jsonl/parquet file (.txt: one text a line)"
    )
    pr.add_argument("--output_file", help="where --input_file's predictions go (.jsonl or .csv; default: in RUN_DIR)")
    pr.add_argument("--batch_size", type=int, default=32, help="rows per batch with --input_file (default 32)")
    pr.add_argument("--column", action="append", metavar="ROLE=COLUMN", help="map a role to the file's column name")
    return parser


def main(recipe=None, argv: list[str] | None = None) -> None:
    """Entry point of ``hf-transfer``; a recipe module calls ``main(RECIPE)`` to run itself."""
    argv = list(sys.argv[1:] if argv is None else argv)
    from .doctor import name_clash

    clash = name_clash()
    if clash:
        print(f"{PROG}: warning: {clash}", file=sys.stderr)
    try:
        if recipe is not None:
            parser = argparse.ArgumentParser(
                prog=f"python {Path(sys.argv[0]).name}", description=f"Run the {recipe.name} recipe."
            )
            add_run_flags(parser)
            args, extra = parser.parse_known_args(argv)
            cmd_run(args, extra, recipe=recipe, argv=["run", recipe.name] + argv)
            return
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if args.command == "copy" and args.dest is None and len(extra) == 1 and not extra[0].startswith("-"):
            args.dest = extra.pop()  # `copy RECIPE --name N DEST`: argparse gives an optional positional up early
        if args.command not in ("run", "compare") and extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if args.command == "run":
            cmd_run(args, extra, argv=argv)
        elif args.command == "compare":
            cmd_compare(args, extra, argv)
        else:
            {
                "list": cmd_list,
                "show": cmd_show,
                "copy": cmd_copy,
                "eval": cmd_eval,
                "predict": cmd_predict,
                "merge": cmd_merge,
                "push": cmd_push,
                "doctor": cmd_doctor,
                "cache": cmd_cache,
            }[args.command](args)
    except UserError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()

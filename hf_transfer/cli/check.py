"""``hf-transfer check RECIPE [--train_file F] [--validation_file F] [--strict]``: what the recipe's data holds before
a run spends compute on it (leakage, duplicates, label conflicts, labels, token lengths, rows that are not text)."""

from __future__ import annotations

ACCEPTS_EXTRA = False


def add_parser(sub) -> None:
    from hf_transfer.cli.flags import LENGTH_FLAG_OPTIONS
    from hf_transfer.data.lengths import LENGTH_FLAGS

    check = sub.add_parser(
        "check",
        help="check a recipe's data: train/eval leakage, duplicates, label conflicts, lengths, rows that are not text",
        description="Check a recipe's data before training: evaluation rows found in the training data (exact after "
        "normalisation, near-duplicate by MinHash, contained in a longer text), training texts repeated or labelled "
        "two ways, label counts, token lengths with the recipe's tokenizer, rows that are not text. Writes "
        "data_check.json; --strict exits 1 on leakage or label conflicts (for CI).",
    )
    check.add_argument("recipe")
    check.add_argument("--train_file", help="local training data instead of the recipe's")
    check.add_argument("--validation_file", help="local evaluation data (default: the recipe's, or a seeded split)")
    check.add_argument("--test_file", help="local test data, checked for leakage like the evaluation data")
    check.add_argument("--model_name_or_path", help="the tokenizer to measure lengths with (default: the recipe's)")
    check.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe field")
    check.add_argument(*LENGTH_FLAGS, **LENGTH_FLAG_OPTIONS)
    check.add_argument(
        "--near_duplicate_threshold", type=float, default=0.8, metavar="J",
        help="Jaccard similarity of word 3-gram shingles above which two texts are near-duplicates (default 0.8)",
    )  # fmt: skip
    check.add_argument("--strict", action="store_true", help="exit 1 when leakage or label conflicts are found")
    check.add_argument(
        "--label_issues", action="store_true",
        help="also list likely label errors in the training data (classification, NER): out-of-fold probabilities of "
        "a cheap method (--label_issue_method), ranked by cleanlab (the [check] extra)",
    )  # fmt: skip
    check.add_argument("--label_issue_folds", type=int, default=5, metavar="K", help="folds for --label_issues")
    check.add_argument(
        "--label_issue_method", choices=("freeze", "lora"), default="freeze",
        help="freeze: a linear head on the frozen checkpoint's features (seconds); lora: a short LoRA run per fold "
        "with the recipe's LoRA settings (slower, sees more) (default: %(default)s)",
    )  # fmt: skip
    check.add_argument("--label_issue_epochs", type=int, default=1, metavar="N",
                       help="passes over the other folds of each LoRA run (--label_issue_method lora; default 1)")
    check.add_argument("--output_file", default="data_check.json", help="where the report goes (default: %(default)s)")
    check.add_argument("--json", action="store_true", help="print the report as JSON instead of text")


def run(args, extra, argv) -> None:
    import json
    from pathlib import Path

    from hf_transfer.base.errors import UserError
    from hf_transfer.base.files import check_output_file, write_atomically
    from hf_transfer.datacheck import check_threshold, strict_failures
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import resolve_run

    check_threshold(args.near_duplicate_threshold)
    if args.label_issues:
        from hf_transfer.sources.assets import installed_version

        if not installed_version("cleanlab"):
            raise UserError("--label_issues needs cleanlab: pip install 'hf-transfer-toolkit[check]'.")
    inputs = [Path(f) for f in (args.train_file, args.validation_file, args.test_file) if f]
    check_output_file(Path(args.output_file), *inputs)
    recipe, source = find_recipe(args.recipe)
    flags = {k: getattr(args, k) for k in ("train_file", "validation_file", "test_file", "model_name_or_path", "set",
                                           "max_seq_length")}  # fmt: skip
    recipe, _ = resolve_run(recipe, flags, [], source)
    folds = args.label_issue_folds if args.label_issues else None
    if args.label_issue_epochs < 1:
        raise UserError(f"--label_issue_epochs must be 1 or more (got {args.label_issue_epochs}).")
    lora_epochs = args.label_issue_epochs if args.label_issue_method == "lora" else None
    report = check_recipe(recipe, args.near_duplicate_threshold, args.test_file, folds, lora_epochs)
    write_atomically(Path(args.output_file), json.dumps(report, indent=2, default=str) + "\n")
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        from hf_transfer.datacheck.report import full_report

        print(full_report(report, recipe.name, recipe.data.describe()))
        print(f"\nThe whole report: {args.output_file}")
    failures = strict_failures(report)
    if args.strict and failures:
        import sys

        print(f"hf-transfer: check --strict: {'; '.join(failures)}", file=sys.stderr)
        raise SystemExit(1)


def check_recipe(recipe, threshold: float, test_file: str | None = None, label_issue_folds: int | None = None,
                 lora_epochs: int | None = None) -> dict:  # fmt: skip
    """The data check of a resolved recipe: its data loaded as a run loads it (rows without text kept, to report),
    ``test_file`` as its test split, and lengths measured with its tokenizer where one loads; with
    ``label_issue_folds``, likely label errors too (``datacheck.label_issues``; short LoRA runs of ``lora_epochs``
    when given, else frozen features)."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.data.prepare import load_evaluation_file, load_splits
    from hf_transfer.datacheck import check_splits

    splits, task = load_splits(recipe.data, recipe.task, require_text=False)
    if test_file:
        splits["test"] = load_evaluation_file(test_file, recipe.data, task)[0]["validation"]
    tokenizer, skipped, checkpoint = None, None, None
    try:
        from hf_transfer.artifacts.gguf_checkpoint import plain_checkpoint
        from hf_transfer.artifacts.models import length_cap, load_tokenizer, model_positions
        from hf_transfer.sources.assets import resolve_checkpoint

        checkpoint = plain_checkpoint(resolve_checkpoint(recipe.checkpoint))
        tokenizer = load_tokenizer(checkpoint, recipe.with_task(task))
        cap = length_cap(model_positions(recipe, checkpoint), tokenizer)
    except (UserError, OSError, ValueError) as exc:
        if label_issue_folds:
            raise
        skipped, cap = f"no tokenizer loaded from {recipe.checkpoint} ({str(exc).splitlines()[0]})", None
    report = check_splits(splits, task, tokenizer, threshold, cap=cap)
    if skipped:
        report["lengths_skipped"] = skipped
    if task.length_limit() is None and "lengths" in report:  # the limit a run would take from this data
        task = task.with_learned({task.length_setting: report["lengths"]["limit"]})
    if label_issue_folds:
        from hf_transfer.artifacts.models import load_base_model
        from hf_transfer.datacheck.label_issues import label_issues

        resolved = recipe.with_task(task)
        lora = None
        if lora_epochs:
            from hf_transfer.datacheck.lora_folds import LoraFolds

            lora = LoraFolds(resolved, tokenizer, lambda: load_base_model(resolved, checkpoint), lora_epochs)
        model = None if lora else load_base_model(resolved, checkpoint).eval()
        report["label_issues"] = label_issues(splits, task, model, tokenizer, label_issue_folds, lora=lora)
    return {"recipe": recipe.name, "data": recipe.data.describe(), **report}

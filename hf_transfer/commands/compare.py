"""``hf-transfer compare``: one recipe, several methods, the same data, seed and budget, one report.

Each method gets a normal run folder (usable by eval, predict, push) inside the report folder;
the report (Markdown, JSON, PNG plots) is built from those runs' own metrics.json and trainer
state. Methods whose run folder is already finished are not run again.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from hf_transfer.artifacts.runs import RunFolder, is_finished_run
from hf_transfer.artifacts.staging import check_collection_dir, make_dir
from hf_transfer.base.errors import UserError
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.options import RunOptions

EVALS_PER_RUN = 5
"""Evaluations spread over each run, so the learning curves have points to draw."""


def fraction_text(fraction: float) -> str:
    return f"{fraction:g}"


def seed_settings(recipe: Recipe, k: int) -> dict[str, int]:
    """The training settings of the recipe's k-th seed (k = 0: the recipe's own): data order and head initialisation
    change, the split stays fixed (``split_seed``), so every seed reports on the same rows."""
    base_seed = int(recipe.training.get("seed", 42))
    return {"seed": base_seed + k, "data_seed": base_seed + k}


def with_seed(recipe: Recipe, k: int) -> Recipe:
    return dataclasses.replace(recipe, training={**recipe.training, **seed_settings(recipe, k)})


def planned_runs(recipe: Recipe, methods: list[str], seeds: int, fractions: list[float] | None, schedule: dict):
    """(folder name, method, fraction, seed, recipe) for every run of the comparison. One seed and no fractions:
    one folder per method, as before; otherwise ``<method>-frac<fraction>-seed<seed>``."""
    out = []
    for method in methods:
        for fraction in fractions or [1.0]:
            for k in range(seeds):
                training = {**recipe.training, **schedule}
                if seeds > 1:
                    training.update(seed_settings(recipe, k))
                data = recipe.data if fraction >= 1 else dataclasses.replace(recipe.data, train_fraction=fraction)
                # "full-frac0.5-seed1": the share of the data and the seed, never read as a metric ("-f1")
                name = method if seeds == 1 and not fractions else f"{method}-frac{fraction_text(fraction)}-seed{k}"
                variant = dataclasses.replace(recipe, method=method, training=training, data=data)
                out.append((name, method, fraction, k, variant))
    return out


def check_fractions(fractions: list[float] | None, recipe: Recipe, train_rows: int) -> list[str]:
    """Fractions that leave fewer training examples than classes, said plainly (they are not run)."""
    classes = len(recipe.task.class_names())
    notes = []
    for fraction in fractions or []:
        n = max(1, round(fraction * train_rows))
        if classes and n < classes:
            notes.append(f"fraction {fraction:g} leaves {n} training examples for {classes} classes: not run")
    return notes


def parse_fractions(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        values = sorted({float(v) for v in text.split(",") if v.strip()})
    except ValueError:
        raise UserError(f"--fractions {text!r}: give shares of the training data, e.g. 0.1,0.25,0.5,1.") from None
    bad = [v for v in values if not 0 < v <= 1]
    if bad or not values:
        raise UserError(f"--fractions takes shares in (0, 1]; {bad or text!r} is not.")
    return values


def compare(recipe: Recipe, methods: list[str], options: RunOptions, console=None, seeds: int = 1,
            fractions: list[float] | None = None) -> dict:  # fmt: skip
    """Run ``recipe`` once per method (per seed, per data fraction) into ``options.output_dir`` and write the report.
    A finished run with the same settings is reused; one with other settings (another budget, data or checkpoint)
    stops the comparison before anything trains, unless ``options.overwrite`` (then every run is made again).
    ``options.budget``: the whole comparison's time, shared out run by run."""
    from hf_transfer.base.console import Console
    from hf_transfer.commands.comparison import build_report, write_report
    from hf_transfer.data.prepare import load_splits
    from hf_transfer.run import train

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"--seeds must be a whole number, 1 or more (got {seeds!r}).")
    if console is None:
        with Console(verbose=options.verbose) as own:
            return compare(recipe, methods, options, own, seeds, fractions)
    overwrite, budget, trust_remote_code = options.overwrite, options.budget, options.trust_remote_code
    log = console.say
    output_dir = Path(options.output_dir).expanduser().resolve()
    check_collection_dir(output_dir, "run --seeds" if len(methods) == 1 and seeds > 1 and not fractions else "compare")
    splits, learned = load_splits(recipe.data, recipe.task)
    notes = check_fractions(fractions, recipe.with_task(learned), len(splits["train"]))
    skipped = {float(n.split()[1]) for n in notes}
    if fractions:  # the fractions share the rows the run would train on (after --max_train_samples)
        sizes = sorted({max(1, round(f * len(splits["train"]))) for f in fractions if f not in skipped})
        if not sizes:
            raise UserError(f"Every fraction is too small to run: {'; '.join(notes)}. Give larger --fractions.")
        if len(sizes) < 2:
            raise UserError(
                f"--fractions {','.join(map(fraction_text, fractions))} of the {len(splits['train']):,} training rows "
                f"give one training size ({sizes[0]:,} rows): a learning curve needs at least two. Give more or "
                "larger fractions, or more training rows."
            )
    every = _eval_every(recipe, len(splits["train"]))
    schedule = {"eval_strategy": "steps", "save_strategy": "steps", "eval_steps": every, "save_steps": every,
                "logging_steps": max(1, every // 2)}  # fmt: skip
    planned = [p for p in planned_runs(recipe, methods, seeds, fractions, schedule) if p[2] not in skipped]
    reuse = set()
    for name, method, _, _, requested in planned:
        folder = output_dir / name
        if overwrite or not is_finished_run(folder):
            continue
        if RunFolder(folder).requested_recipe() != requested:
            raise UserError(
                f"{folder} holds a finished {method} run with other settings than this comparison (budget, data, "
                "checkpoint or training arguments). Pass --overwrite_output_dir to run every method again, or "
                "choose another --output_dir."
            )
        reuse.add(name)
    make_dir(output_dir)
    for note in notes:
        log(f"[hf-transfer] {note}")
    results = {}
    for position, (name, method, fraction, seed, requested) in enumerate(planned):
        folder = output_dir / name
        if name in reuse:
            log(f"[hf-transfer] {name}: finished run with the same settings found in {folder}, not run again")
        else:
            log(f"\n=== {recipe.name}: {name} -> {folder}")
            share = None if budget is None else budget.share(sum(1 for p in planned[position:] if p[0] not in reuse))
            one = RunOptions(output_dir=folder, overwrite=folder.exists(), command=options.command,
                             trust_remote_code=trust_remote_code, budget=share)  # fmt: skip
            train.run(requested, one, console)
        results[name] = (method, fraction, seed, RunFolder(folder).metrics())
    report = build_report(recipe, results, output_dir, seeds, fractions, notes, trust_remote_code)
    write_report(report, output_dir)
    return report


def _eval_every(recipe: Recipe, train_rows: int) -> int:
    """Steps between evaluations: the run's optimizer steps spread over EVALS_PER_RUN points."""
    from hf_transfer.run.arguments import RUN_DEFAULTS

    training = {**RUN_DEFAULTS, **recipe.training}
    batch = int(training["per_device_train_batch_size"]) * int(training.get("gradient_accumulation_steps", 1))
    steps = int(training.get("max_steps", -1))
    if steps <= 0:
        steps = math.ceil(train_rows / batch) * math.ceil(float(training["num_train_epochs"]))
    return max(1, steps // EVALS_PER_RUN)


DEMO_RECIPE = "rotten-tomatoes-minilm"
"""The offline demo (``hf-transfer demo``, ``make demo``): the packaged MiniLM on the packaged Rotten Tomatoes
snippets."""


def run_demo(methods: list[str], output_dir: Path) -> list[dict]:
    """Run the demo recipe once per method into ``output_dir/<method>``; prints the results table."""
    import time

    from hf_transfer.base.console import Console
    from hf_transfer.base.tables import results_table
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run import train

    recipe, _ = find_recipe(DEMO_RECIPE)
    started = time.perf_counter()
    results = []
    with Console() as console:
        for method in methods:
            out = Path(output_dir) / method
            console.say(f"\n=== {DEMO_RECIPE}: {method} -> {out}")
            command = f"python -m hf_transfer.demo --methods {method}"
            options = RunOptions(output_dir=out, overwrite=True, command=command)
            results.append(train.run(dataclasses.replace(recipe, method=method), options, console))
    total = time.perf_counter() - started
    print(
        f"\nResults ({recipe.checkpoint} on {recipe.data.describe()}, "
        f"{results[0]['samples']['train']} train / {results[0]['samples']['eval']} eval examples):\n"
    )
    print(results_table(results, recipe.task.report_keys(recipe.metric_names)))
    print(f"\nRun folders: {', '.join(r['output_dir'] for r in results)}")
    print(f"Total wall time: {total:.0f} s")
    return results

"""``hf-transfer compare``: one recipe, several methods, the same data, seed and budget, one report.

Each method gets a normal run folder (usable by eval, predict, push) inside the report folder;
the report (Markdown, JSON, PNG plots) is built from those runs' own metrics.json and trainer
state. Methods whose run folder is already finished are not run again.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

from .errors import UserError
from .methods import names as method_names
from .plots import during_training
from .recipe import Recipe
from .runs import RunFolder, is_finished_run

DEFAULT_METHODS = ("scratch", "freeze", "lora", "full")
EVALS_PER_RUN = 5
"""Evaluations spread over each run, so the learning curves have points to draw."""


def parse_methods(text: str) -> list[str]:
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in method_names()]
    if unknown or not methods:
        raise UserError(f"--methods: unknown method(s) {unknown or text!r}; choose from {', '.join(method_names())}.")
    if len(set(methods)) != len(methods):
        raise UserError("--methods lists a method twice.")
    return methods


def _eval_every(recipe: Recipe) -> int:
    """Steps between evaluations: the run's optimizer steps spread over EVALS_PER_RUN points."""
    from .data import load_splits

    splits, _ = load_splits(recipe.data, recipe.task)
    training = recipe.training
    batch = int(training.get("per_device_train_batch_size", 32)) * int(training.get("gradient_accumulation_steps", 1))
    steps = int(training.get("max_steps", -1))
    if steps <= 0:
        steps = math.ceil(len(splits["train"]) / batch) * math.ceil(float(training.get("num_train_epochs", 3)))
    return max(1, steps // EVALS_PER_RUN)


def compare(
    recipe: Recipe,
    methods: list[str],
    output_dir: Path,
    command: str | None = None,
    log=print,
    overwrite: bool = False,
    verbose: bool = False,
    trust_remote_code: bool = False,
    console=None,
) -> dict:
    """Run ``recipe`` once per method into ``output_dir/<method>`` and write the report. A finished run
    with the same settings is reused; one with other settings (another budget, data or checkpoint) stops
    the comparison before anything trains, unless ``overwrite`` (then every method runs again)."""
    from .console import Console
    from .train import run

    if console is None:
        with Console(log=log, verbose=verbose) as own:
            return compare(recipe, methods, output_dir, command, log, overwrite, verbose, trust_remote_code, own)
    log = console.say
    output_dir = Path(output_dir).expanduser().resolve()
    every = _eval_every(recipe)
    schedule = {
        "eval_strategy": "steps",
        "save_strategy": "steps",
        "eval_steps": every,
        "save_steps": every,
        "logging_steps": max(1, every // 2),
    }
    planned = {m: dataclasses.replace(recipe, method=m, training={**recipe.training, **schedule}) for m in methods}
    reuse = set()
    for method, requested in planned.items():
        folder = output_dir / method
        if overwrite or not is_finished_run(folder):
            continue
        if RunFolder(folder).requested_recipe() != requested:
            raise UserError(
                f"{folder} holds a finished {method} run with other settings than this comparison (budget, data, "
                "checkpoint or training arguments). Pass --overwrite_output_dir to run every method again, or "
                "choose another --output_dir."
            )
        reuse.add(method)
    output_dir.mkdir(parents=True, exist_ok=True)
    results = {}
    for method, requested in planned.items():
        folder = output_dir / method
        if method in reuse:
            log(f"[hf-transfer] {method}: finished run with the same settings found in {folder}, not run again")
        else:
            log(f"\n=== {recipe.name}: {method} -> {folder}")
            run(requested, folder, overwrite=folder.exists(), command=command, trust_remote_code=trust_remote_code,
                console=console)  # fmt: skip
        results[method] = RunFolder(folder).metrics()
    report = build_report(recipe, results, output_dir)
    (output_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (output_dir / "report.md").write_text(report_markdown(report))
    plot_report(report, output_dir)
    return report


def build_report(recipe: Recipe, results: dict[str, dict], output_dir: Path) -> dict:
    keys = recipe.task.report_keys(recipe.metric_names)
    main = f"eval_{recipe.task.main_metric()}"
    rows = []
    for method, m in results.items():
        state = RunFolder(output_dir / method).trainer_state()
        rows.append(
            {
                "method": method,
                "metrics": {k: m["eval"].get(f"eval_{k}") for k in keys},
                "trainable_parameters": m["parameters"]["trainable"],
                "total_parameters": m["parameters"]["total"],
                "trainable_share": m["parameters"]["trainable_share"],
                "train_seconds": m["train"]["wall_seconds"],
                "train_samples_per_second": m["train"]["train_samples_per_second"],
                "peak_rss_bytes": m.get("resources", {}).get("peak_rss_bytes"),
                "saved_bytes": m.get("resources", {}).get("saved_bytes"),
                "learning_curve": [(h["step"], h[main]) for h in during_training(state["log_history"]) if main in h],
                "run_dir": str(output_dir / method),
            }
        )
    first = next(iter(results.values()))
    return {
        "recipe": recipe.name,
        "checkpoint": recipe.checkpoint,
        "dataset": recipe.data.describe(),
        "samples": first["samples"],
        "metric_keys": keys,
        "main_metric": main.removeprefix("eval_"),
        "baselines": first.get("baselines", {}),
        "rows": rows,
    }


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def report_table(report: dict) -> tuple[list[str], list[list[str]]]:
    header = (
        ["method"]
        + report["metric_keys"]
        + ["trainable params", "share", "train time", "samples/s", "peak RSS", "saved"]
    )
    rows = []
    for r in report["rows"]:
        rows.append(
            [r["method"]]
            + [f"{v:.4f}" if v is not None else "n/a" for v in r["metrics"].values()]
            + [
                f"{r['trainable_parameters']:,}",
                f"{100 * r['trainable_share']:.2f}%",
                f"{r['train_seconds']:.1f} s",
                f"{r['train_samples_per_second']:.1f}",
                _size(r["peak_rss_bytes"]),
                _size(r["saved_bytes"]),
            ]
        )
    return header, rows


def report_markdown(report: dict) -> str:
    header, rows = report_table(report)
    lines = [
        f"# {report['recipe']}: methods compared",
        "",
        f"`{report['checkpoint']}` on {report['dataset']}: {report['samples']['train']:,} training and "
        f"{report['samples']['eval']:,} evaluation examples; same data, seed and budget for every method.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if report["baselines"]:
        lines += [
            "",
            "Baselines: " + ", ".join(f"{k.replace('_', ' ')} {v:.4f}" for k, v in report["baselines"].items()) + ".",
        ]
    lines += ["", "![metric per method](metric_by_method.png)", "", "![learning curves](learning_curves.png)", ""]
    return "\n".join(lines)


def plot_report(report: dict, output_dir: Path) -> None:
    from .plots import pyplot

    plt = pyplot()
    main = report["main_metric"]
    methods = [r["method"] for r in report["rows"]]
    values = [r["metrics"].get(main) or 0.0 for r in report["rows"]]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(methods, values, color="tab:blue")
    for bar, value in zip(bars, values, strict=True):
        ax.text(bar.get_x() + bar.get_width() / 2, value, f"{value:.3f}", ha="center", va="bottom")
    for name, value in report["baselines"].items():
        ax.axhline(value, color="tab:gray", linestyle="--", label=name.replace("_", " "))
        ax.legend(loc="lower right")
    ax.set_ylabel(main)
    ax.set_title(f"{report['recipe']}: {main} by method")
    fig.tight_layout()
    fig.savefig(output_dir / "metric_by_method.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in report["rows"]:
        if r["learning_curve"]:
            ax.plot(*zip(*r["learning_curve"], strict=True), marker="o", label=r["method"])
    ax.set_xlabel("training step")
    ax.set_ylabel(main)
    ax.set_title("Learning curves")
    ax.legend()
    fig.tight_layout()
    fig.savefig(output_dir / "learning_curves.png", dpi=100)
    plt.close(fig)


DEMO_RECIPE = "rotten-tomatoes-minilm"
"""The offline demo (``hf-transfer demo``, ``make demo``): the packaged MiniLM on the packaged Rotten Tomatoes
snippets."""


def run_demo(methods: list[str], output_dir: Path) -> list[dict]:
    """Run the demo recipe once per method into ``output_dir/<method>``; prints the results table."""
    import time

    from .console import Console
    from .registry import find_recipe
    from .tables import results_table
    from .train import run

    recipe, _ = find_recipe(DEMO_RECIPE)
    started = time.perf_counter()
    results = []
    with Console() as console:
        for method in methods:
            out = Path(output_dir) / method
            console.say(f"\n=== {DEMO_RECIPE}: {method} -> {out}")
            command = f"python -m hf_transfer.demo --methods {method}"
            results.append(run(dataclasses.replace(recipe, method=method), out, overwrite=True, command=command,
                               console=console))  # fmt: skip
    total = time.perf_counter() - started
    print(
        f"\nResults ({recipe.checkpoint} on {recipe.data.describe()}, "
        f"{results[0]['samples']['train']} train / {results[0]['samples']['eval']} eval examples):\n"
    )
    print(results_table(results, recipe.task.report_keys(recipe.metric_names)))
    print(f"\nRun folders: {', '.join(r['output_dir'] for r in results)}")
    print(f"Total wall time: {total:.0f} s")
    return results

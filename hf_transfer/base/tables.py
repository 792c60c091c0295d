"""Tables for the console and reports: plain aligned columns, a run's results, an evaluation's metrics; durations
as the console writes them."""

from __future__ import annotations

from typing import Any


def format_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def duration_text(seconds: float) -> str:
    """A duration as the console writes it, in the form ``--time_budget`` reads: ``45s``, ``2m05s``, ``1h05m``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _millions(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 10_000 else f"{n:,}"


def results_table(runs: list[dict], metric_names: list[str]) -> str:
    """One row per run: method | each eval metric | baselines | trainable params | train time."""
    baseline_keys = list(runs[0].get("baselines", {}))
    header = (
        ["method"] + metric_names + [k.replace("_", " ") for k in baseline_keys] + ["trainable params", "train time"]
    )
    rows = []
    for metrics in runs:
        params = metrics["parameters"]
        row = [metrics["method"]]
        row += [f"{metrics['eval'].get('eval_' + m, float('nan')):.4f}" for m in metric_names]
        row += [f"{metrics['baselines'].get(k, float('nan')):.4f}" for k in baseline_keys]
        row += [
            f"{_millions(params['trainable'])} of {_millions(params['total'])} "
            f"({100 * params['trainable_share']:.1f}%)",
            f"{metrics['train']['wall_seconds']:.1f} s",
        ]
        rows.append(row)
    return format_table(header, rows)


def report_lines(metrics: dict, report_keys: list[str], unit: str) -> list[str]:
    """What a finished run says: its results table (with the baselines), a classifier's per-class report and
    confusion matrix, the test split, the reload check, the warnings, and where the run folder is."""
    from hf_transfer.base.class_report import console_table

    lines = ["", results_table([metrics], report_keys)]
    classes, note = console_table(metrics.get("classes") or {})
    lines += (["", format_table(*classes)] if classes else []) + ([note] if note else [])
    if "test" in metrics:
        shown = ", ".join(
            f"{k} {metrics['test'][f'test_{k}']:.4f}" for k in report_keys if f"test_{k}" in metrics["test"]
        )
        lines.append(
            f"\nTest split ({metrics['samples']['test']:,} {unit}, evaluated once with the selected model): {shown}"
        )
    lines.append(f"\n{reload_check_text(metrics['reload_check'])}")
    lines += [f"Warning: {warning}" for warning in metrics.get("warnings", [])]
    lines.append(f"Run folder: {metrics['output_dir']} (everything the run printed: train.log)")
    return lines


def reload_check_text(check: dict) -> str:
    """What the reload check found, in one sentence (the console and the card)."""
    if "max_difference" not in check:  # a run folder written before the check compared outputs
        return f"Reloaded from disk: {check['metric']} {check.get('reloaded_from_disk')} (matches: {check['match']})."
    changed = check["changed_predictions"]
    return (
        f"Reloaded from disk: the saved model gives the trained model's outputs on {check['rows']} seeded "
        f"evaluation rows to within {check['max_difference']:.2g} ({check['precision']}, tolerance "
        f"{check['tolerance']:g} of their scale), "
        + ("with no prediction changed" if changed == 0 else f"{changed} prediction(s) changed")
        + f" (matches: {check['match']})."
    )


def is_timing(key: str) -> bool:
    """Whether a metric key (``eval_runtime``, ``eval_samples_per_second``, ``epoch``, ...) is not a result: the
    console, the ``eval`` table and the card leave these out."""
    return key.endswith(TIMINGS)


TIMINGS = ("runtime", "per_second", "preparation_time", "epoch")
"""Ends of the Trainer's metric keys that are timings or bookkeeping, not results."""


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

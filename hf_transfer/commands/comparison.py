"""The report of ``hf-transfer compare``, built from the runs' own metrics.json: a row per method, a 95%
interval on its main metric (over seeds, or a bootstrap over evaluation examples with one seed), each
method's paired difference from the best one, learning curves over data fractions with a fitted power law
and its extrapolation; Markdown, JSON and plots, and the same numbers in each run's card."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from hf_transfer.artifacts.plots import during_training
from hf_transfer.artifacts.runs import RunFolder
from hf_transfer.base.stats import (
    Interval,
    bootstrap_interval,
    difference_text,
    fit_power_law,
    paired_bootstrap,
    paired_t,
    t_interval,
)


def _curve(folder: Path, main: str) -> list[tuple[int, float]]:
    """(step, main metric on the selection split) of each evaluation during a run's training."""
    state = RunFolder(folder).trainer_state()
    return [(h["step"], h[main]) for h in during_training(state["log_history"]) if main in h]


def mean_curve(curves: list[list[tuple[int, float]]]) -> list[tuple[int, float, float, float, int]]:
    """Per step: (step, mean, lowest, highest, seeds evaluated there) over several seeds' curves. Seeds that
    stopped early are missing from later steps; the count says so."""
    by_step: dict[int, list[float]] = {}
    for curve in curves:
        for step, value in curve:
            by_step.setdefault(step, []).append(value)
    return [(s, statistics.mean(v), min(v), max(v), len(v)) for s, v in sorted(by_step.items())]


def _row(method: str, m: dict, folder: Path, keys: list[str], main: str) -> dict:
    return {
        "method": method,
        "metrics": {k: m["eval"].get(f"eval_{k}") for k in keys},
        "trainable_parameters": m["parameters"]["trainable"],
        "total_parameters": m["parameters"]["total"],
        "trainable_share": m["parameters"]["trainable_share"],
        "train_seconds": m["train"]["wall_seconds"],
        "train_samples_per_second": m["train"]["train_samples_per_second"],
        "peak_rss_bytes": m.get("resources", {}).get("peak_rss_bytes"),
        "saved_bytes": m.get("resources", {}).get("saved_bytes"),
        "learning_curve": _curve(folder, main),
        "run_dir": str(folder),
    }


def build_report(recipe, results: dict, output_dir: Path, seeds: int, fractions, notes: list[str],
                 trust_remote_code: bool = False) -> dict:  # fmt: skip
    """``results``: run folder name -> (method, fraction, seed, metrics.json)."""
    task = recipe.task
    keys = task.report_keys(recipe.metric_names)
    main = f"eval_{task.main_metric()}"
    top = max(f for _, f, _, _ in results.values())
    by_method: dict[str, list[tuple[str, dict]]] = {}
    for name, (method, fraction, _, metrics) in results.items():
        if fraction == top:
            by_method.setdefault(method, []).append((name, metrics))
    rows = []
    for method, runs in by_method.items():
        name, first = runs[0]
        row = _row(method, first, output_dir / name, keys, main)
        if len(runs) > 1:  # the mean over seeds, of every number the table shows; each seed's value kept beside it
            row["metrics"] = {k: statistics.mean(m["eval"].get(f"eval_{k}") for _, m in runs) for k in keys}
            row["seed_values"] = [m["eval"].get(main) for _, m in runs]
            for field, read in (("train_seconds", lambda m: m["train"]["wall_seconds"]),
                                ("train_samples_per_second", lambda m: m["train"]["train_samples_per_second"]),
                                ("peak_rss_bytes", lambda m: (m.get("resources") or {}).get("peak_rss_bytes"))):
                seen = [read(m) for _, m in runs if read(m) is not None]
                row[field] = statistics.mean(seen) if seen else None  # fmt: skip
            curve = mean_curve([_curve(output_dir / n, main) for n, _ in runs])  # the plot shows what the table does
            row["learning_curve"] = [(step, mean) for step, mean, *_ in curve]
            row["learning_curve_spread"] = [(step, low, high, n) for step, _, low, high, n in curve]
        row["seeds"] = len(runs)
        rows.append(row)
    values = {method: [m["eval"][main] for _, m in runs] for method, runs in by_method.items()}
    scale = 100.0 / recipe.task.metric_range(main)  # points: 100 per unit of a 0-1 metric, 1 of a 0-100 one
    first = next(iter(results.values()))[3]
    report = {
        "recipe": recipe.name,
        "checkpoint": recipe.checkpoint,
        "dataset": recipe.data.describe(),
        "samples": first["samples"],
        "metric_keys": keys,
        "main_metric": main.removeprefix("eval_"),
        "baselines": first.get("baselines", {}),
        "rows": rows,
        "seeds": seeds,
        "notes": list(notes),
        "scale": scale,
    }
    report.update(intervals_and_differences(task, by_method, values, output_dir, seeds, scale, trust_remote_code))
    if fractions:
        report["curves"] = curves(results, main, scale, task.greater_is_better())
    return report


def intervals_and_differences(task, by_method, values, output_dir, seeds, scale, trust_remote_code) -> dict:
    greater = task.greater_is_better()
    records = {}
    if seeds == 1 and task.scores_examples():  # one seed: the interval comes from the evaluation examples
        from hf_transfer.run.evaluation import example_records

        for method, runs in by_method.items():
            records[method] = example_records(output_dir / runs[0][0], trust_remote_code=trust_remote_code)["records"]
    intervals: dict[str, Interval] = {}
    for method, vs in values.items():
        if seeds >= 2:
            intervals[method] = t_interval(vs)
        elif method in records:
            intervals[method] = bootstrap_interval(records[method], task.aggregate)
    means = {m: statistics.mean(vs) for m, vs in values.items()}
    best = (max if greater else min)(means, key=means.get)
    metric = task.main_metric().replace("_", " ")
    lines = [f"{m}: {metric} {i.mean * scale:.1f} ± {i.half * scale:.1f} points ({i.how})"
             for m, i in intervals.items()]  # fmt: skip
    differences = {}
    for method in values:
        if method == best:
            continue
        if seeds >= 2:
            diff = paired_t(values[method], values[best])
        elif method in records:
            diff = paired_bootstrap(records[method], records[best], task.aggregate)
        else:
            continue
        differences[method] = diff.as_dict()
        lines.append(difference_text(method, best, diff, scale))
    if seeds == 1:
        lines.append(
            "These conclusions rest on one seed: the intervals are over evaluation examples, and say nothing of how "
            "another seed would train. Use --seeds 3 (or more) for intervals over seeds."
        )
    return {
        "best": best,
        "intervals": {m: i.as_dict() for m, i in intervals.items()},
        "differences": differences,
        "conclusions": lines,
    }


def curves(results: dict, main: str, scale: float, greater: bool) -> dict:
    """Per method: the metric (mean over seeds) against training examples, a power law through it, what doubling
    the data would add, and how well the first three points predict the fourth."""
    top = 1.0 if scale == 100.0 else 100.0
    out = {}
    points: dict[str, dict[int, list[float]]] = {}
    for method, _, _, metrics in results.values():
        points.setdefault(method, {}).setdefault(metrics["samples"]["train"], []).append(metrics["eval"][main])
    for method, by_n in points.items():
        ns = sorted(by_n)
        means = [statistics.mean(by_n[n]) for n in ns]
        curve = {"examples": ns, "metric": means}
        fit = fit_power_law(ns, means, top) if greater else None
        if fit is None:
            curve["fit"] = "no fit: fewer than two data sizes, a perfect score, or a metric where lower is better"
        else:
            gain, half = fit.gain_from_doubling(ns[-1], scale)
            curve["fit"] = {"name": fit.name, "a": fit.a, "b": fit.b}
            curve["doubling"] = (
                f"doubling the labelled data ({ns[-1]:,} -> {2 * ns[-1]:,} examples) would add about {gain:.1f} points"
                + (f" (95% interval of the gain ± {half:.1f})" if half is not None
                   else " (too few points for an interval)")
                + ("; the curve is near saturation" if fit.near_saturation(ns[-1], scale) else "")
            )  # fmt: skip
            curve["doubling_gain"], curve["doubling_half"] = gain, half
        if len(ns) >= 4:
            early = fit_power_law(ns[:3], means[:3], top)
            if early is not None:
                predicted = top - early.error(ns[3])
                curve["check"] = {
                    "predicted": predicted,
                    "measured": means[3],
                    "error_points": (predicted - means[3]) * scale,
                    "text": f"fitted on the first three sizes, the curve predicts {predicted * scale:.1f} at {ns[3]:,} "
                    f"examples; measured {means[3] * scale:.1f} ({(predicted - means[3]) * scale:+.1f} points)",
                }
        out[method] = curve
    return out


# ---- what is written


def _size(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def baseline_row(report: dict) -> list[str] | None:
    """The trivial baselines under the metric they are a baseline of (``majority_class_f1`` under f1)."""
    baselines = report.get("baselines") or {}
    cells = []
    for key in report["metric_keys"]:
        found = [v for name, v in baselines.items() if name == key or name.endswith(f"_{key}")]
        cells.append(f"{found[0]:.4f}" if found else "")
    if not any(cells):
        return None
    return ["trivial baseline", *cells, *[""] * 7]


def report_table(report: dict) -> tuple[list[str], list[list[str]]]:
    seeds = report.get("seeds", 1)
    over = f" (mean of {seeds} seeds)" if seeds > 1 else ""
    header = (
        ["method"]
        + [f"{k}{over}" for k in report["metric_keys"]]
        + ["trainable params", "share", f"train time{over}", f"samples/s{over}", f"peak RSS{over}", "saved",
           "95% interval"]  # fmt: skip
    )
    scale = report.get("scale", 100.0)
    rows = []
    for r in report["rows"]:
        interval = report.get("intervals", {}).get(r["method"])
        shown = f"± {interval['half'] * scale:.1f} points ({interval['how']})" if interval else "n/a"
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
                shown,
            ]
        )
    baseline = baseline_row(report)
    if baseline:
        rows.append(baseline)
    return header, rows


def summary_lines(report: dict) -> list[str]:
    """The conclusions, notes and learning-curve sentences (the report, the console and each run's card)."""
    lines = list(report.get("conclusions", [])) + list(report.get("notes", []))
    for method, curve in report.get("curves", {}).items():
        if "doubling" in curve:
            lines.append(f"{method}: {curve['doubling']} ({curve['fit']['name']}).")
        else:
            lines.append(f"{method}: {curve['fit']}.")
        if "check" in curve:
            lines.append(f"{method}: {curve['check']['text']}.")
    return lines


def report_markdown(report: dict) -> str:
    header, rows = report_table(report)
    lines = [
        f"# {report['recipe']}: methods compared",
        "",
        f"`{report['checkpoint']}` on {report['dataset']}: {report['samples']['train']:,} training and "
        f"{report['samples']['eval']:,} evaluation examples; same data, seed and budget for every method"
        + (f", {report['seeds']} seeds each" if report.get("seeds", 1) > 1 else "")
        + ".",
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
    summary = summary_lines(report)
    if summary:
        lines += ["", *(f"- {line}" for line in summary)]
    lines += ["", "![metric per method](metric_by_method.png)", "", "![learning curves](learning_curves.png)", ""]
    if report.get("curves"):
        lines += ["![metric by training examples](data_curves.png)", ""]
    return "\n".join(lines)


def write_report(report: dict, output_dir: Path) -> None:
    """report.json, report.md, the plots, and the comparison in each compared run's card."""
    from hf_transfer.artifacts.card import write_card
    from hf_transfer.base.files import write_atomically

    write_atomically(output_dir / "report.json", json.dumps(report, indent=2) + "\n")
    write_atomically(output_dir / "report.md", report_markdown(report))
    from hf_transfer.commands.comparison_plots import plot_report

    plot_report(report, output_dir)
    lines = summary_lines(report)
    for row in report["rows"]:
        folder = RunFolder(row["run_dir"])
        interval = report.get("intervals", {}).get(row["method"])
        value = row["metrics"].get(report["main_metric"], 0)
        shown = f" ± {interval['half'] * report['scale']:.1f} points ({interval['how']})" if interval else ""
        own = [f"{row['method']}: {report['main_metric']} {value:.4f}{shown}"]
        folder.write_comparison({"report": str(output_dir / "report.md"), "lines": own + lines})
        write_card(folder.path)

"""A comparison's figures: the main metric by method with its intervals, the learning curves (means over seeds
with their band), and the data curves with their fits. They show what the report's table shows."""

from __future__ import annotations

from pathlib import Path


def plot_report(report: dict, output_dir: Path) -> None:
    from hf_transfer.artifacts.plots import pyplot

    plt = pyplot()
    main = report["main_metric"]
    methods = [r["method"] for r in report["rows"]]
    values = [r["metrics"].get(main) or 0.0 for r in report["rows"]]
    intervals = [report.get("intervals", {}).get(m) for m in methods]
    below = [max(0.0, v - i["low"]) if i else 0.0 for v, i in zip(values, intervals, strict=True)]
    errors = [max(0.0, i["high"] - v) if i else 0.0 for v, i in zip(values, intervals, strict=True)]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    bars = ax.bar(methods, values, yerr=[below, errors], capsize=4, color="tab:blue")  # the interval's own ends
    for bar, value, error in zip(bars, values, errors, strict=True):  # the label above the error bar, not on it
        ax.text(bar.get_x() + bar.get_width() / 2, value + error, f"{value:.3f}", ha="center", va="bottom")
    for name, value in report["baselines"].items():
        ax.axhline(value, color="tab:gray", linestyle="--", label=name.replace("_", " "))
    if report["baselines"]:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize="small", frameon=False)
    ax.margins(y=0.15)
    ax.set_ylabel(main)
    seeds = report.get("seeds", 1)
    ax.set_title(f"{main} by method" + (f" (mean of {seeds} seeds, 95% intervals)" if seeds > 1 else
                                        " (95% intervals)"), fontsize="medium")  # fmt: skip
    fig.tight_layout()
    fig.savefig(output_dir / "metric_by_method.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for r in report["rows"]:
        if r["learning_curve"]:
            line = ax.plot(*zip(*r["learning_curve"], strict=True), marker="o", label=r["method"])[0]
            if r.get("learning_curve_spread"):  # the seeds' lowest and highest value at each step
                steps, lows, highs, _ = zip(*r["learning_curve_spread"], strict=True)
                ax.fill_between(steps, lows, highs, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"{main} (selection split)")
    ax.set_title("Learning curves" + (f" (mean of {seeds} seeds, band: lowest to highest)" if seeds > 1 else ""),
                 fontsize="medium")  # fmt: skip
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(output_dir / "learning_curves.png", dpi=100)
    plt.close(fig)

    if report.get("curves"):
        fig, ax = plt.subplots(figsize=(6, 3.5))
        top = 1.0 if report["scale"] == 100.0 else 100.0
        for method, curve in report["curves"].items():
            line = ax.plot(curve["examples"], curve["metric"], marker="o", label=method)[0]
            if isinstance(curve.get("fit"), dict):
                ns = [curve["examples"][0] * (2 * curve["examples"][-1] / curve["examples"][0]) ** (i / 40)
                      for i in range(41)]  # fmt: skip
                a, b = curve["fit"]["a"], curve["fit"]["b"]
                ax.plot(ns, [top - a * n ** (-b) for n in ns], linestyle="--", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("training examples")
        ax.set_ylabel(main)
        ax.set_title("By training examples (dashed: power-law fit to 2x)", fontsize="medium")
        ax.legend(loc="best", fontsize="small")
        fig.tight_layout()
        fig.savefig(output_dir / "data_curves.png", dpi=100)
        plt.close(fig)

"""Figures for run folders and notebooks: training curves and a confusion matrix (matplotlib)."""

from __future__ import annotations

from pathlib import Path


def pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def during_training(log_history: list[dict]) -> list[dict]:
    """The log entries written while training ran: the evaluations after it (of the best model,
    or of a reloaded one) are not part of the learning curve."""
    end = next((i for i, entry in enumerate(log_history) if "train_runtime" in entry), len(log_history))
    return log_history[:end]


def training_curves(log_history: list[dict], metric_key: str):
    """Training loss against step, and ``metric_key`` (e.g. ``eval_accuracy``) on a second axis."""
    plt = pyplot()
    log_history = during_training(log_history)
    losses = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals = [(h["step"], h[metric_key]) for h in log_history if metric_key in h]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if losses:
        ax.plot(*zip(*losses, strict=True), label="training loss", color="tab:blue")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    if evals:
        other = ax.twinx()
        other.plot(*zip(*evals, strict=True), marker="o", label=metric_key, color="tab:orange")
        other.set_ylabel(metric_key)
    ax.set_title("Training curves")
    fig.tight_layout()
    return fig


def run_curves(run_dir: Path):
    """The training curves of a finished run folder."""
    from hf_transfer.artifacts.runs import RunFolder

    folder = RunFolder(run_dir)
    return training_curves(folder.trainer_state()["log_history"], folder.metrics()["reload_check"]["metric"])


def save_training_curves(log_history: list[dict], metric_key: str, path: Path) -> None:
    figure = training_curves(log_history, metric_key)
    figure.savefig(path, dpi=100)
    pyplot().close(figure)


def confusion_matrix(references: list[str], predictions: list[str], labels: list[str]):
    """Counts of (true label, predicted label), as a heat map with the numbers written in."""
    plt = pyplot()
    index = {label: i for i, label in enumerate(labels)}
    counts = [[0] * len(labels) for _ in labels]
    for truth, guess in zip(references, predictions, strict=True):
        counts[index[truth]][index[guess]] += 1
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.2 * len(labels) + 1.5))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, n in enumerate(row):
            ax.text(j, i, str(n), ha="center", va="center", color="white" if n > top / 2 else "black")
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    return fig

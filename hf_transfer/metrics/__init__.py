"""Metrics as evaluate modules kept inside the package, loaded from their local path, never from the Hub."""

from __future__ import annotations

from functools import cache
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


@cache
def available_metrics() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file()))


def load_metric(name: str, config_name: str | None = None):
    """Load a local evaluate module by name (``accuracy``, ``f1``, ...).

    One instance per name and config in a process (a run asks for its metrics when it builds the Trainer and again
    for the saved model's evaluation; ``compute`` keeps nothing between calls), imported as a module of this package
    rather than through ``evaluate.load``, which copies the script into a cache folder and hashes it first: the same
    class, made the same way, ~0.1 s sooner per run."""
    from hf_transfer.base.errors import UserError

    if name not in available_metrics():
        raise UserError(f"Unknown metric {name!r}; the package has: {', '.join(available_metrics())}.")
    return _loaded(name, config_name)


@cache
def _loaded(name: str, config_name: str | None):
    import hashlib

    from evaluate.loading import import_main_class

    script = METRICS_DIR / name / f"{name}.py"
    module = import_main_class(f"{__name__}.{name}.{name}")  # evaluate's rule: the script's first module class
    metric = module(config_name=config_name, hash=hashlib.sha256(script.read_bytes()).hexdigest())
    metric.download_and_prepare()
    return metric

"""Metrics as evaluate modules kept inside the package, loaded from their local path, never from the Hub."""

from __future__ import annotations

from functools import cache
from pathlib import Path

METRICS_DIR = Path(__file__).resolve().parent


@cache
def available_metrics() -> tuple[str, ...]:
    return tuple(sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file()))


def load_metric(name: str, config_name: str | None = None):
    """Load a local evaluate module by name (``accuracy``, ``f1``, ...)."""
    import evaluate

    from hf_transfer.base.errors import UserError

    if name not in available_metrics():
        raise UserError(f"Unknown metric {name!r}; the package has: {', '.join(available_metrics())}.")
    return evaluate.load(str(METRICS_DIR / name / f"{name}.py"), config_name)

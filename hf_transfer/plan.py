"""``hf-transfer plan``: before anything trains, per method, what a run of the recipe would take here: trainable
parameters, wall time, peak memory, the size of its folder, the precision and device (``forecast.py``)."""

from __future__ import annotations


def plan(recipe, method_names: list[str], console, trust_remote_code: bool = False, startup_seconds: float = 0.0,
         command: str | None = None) -> list:  # fmt: skip
    """``hf-transfer plan``: one forecast per method, each from its own probe, nothing written but the
    tokenization cache (which the real runs then read). ``startup_seconds``: what a fresh process pays before
    a run starts (the CLI measures its own; a notebook's runs pay nothing more). ``command``: the command line
    (the data line says where a sample limit comes from)."""
    import dataclasses
    import tempfile
    import time
    from pathlib import Path

    from . import methods
    from .errors import UserError
    from .forecast import forecast_run
    from .train import Run

    startup = startup_seconds
    out = []
    with tempfile.TemporaryDirectory(prefix="hf-transfer-plan-") as scratch, console.once():
        imports = None
        for name in method_names:
            variant = dataclasses.replace(recipe, method=name).validate()
            if variant.trust_remote_code and not trust_remote_code:
                raise UserError("The recipe asks to run its checkpoint's own code: pass --trust_remote_code.")
            methods.check_available(name)
            run = Run(variant, Path(scratch) / name, console, command=command)
            before = time.perf_counter()
            run.check()
            checked = time.perf_counter() - before
            imports = checked if imports is None else imports  # the first pays the imports a fresh run pays
            run.load()  # the first method tokenizes into the cache; the run will read it from there
            before = time.perf_counter()
            run.load()
            data = time.perf_counter() - before
            console.say(f"[hf-transfer] {run.loaded.data_line(command)}")
            before = time.perf_counter()
            model = run.build_model()
            model_seconds = time.perf_counter() - before
            console.say(f"[hf-transfer] probing {name} ...")
            forecast = forecast_run(run, model, startup + imports + data, model_seconds)
            out.append(forecast)
            del model, run
    return out


def plan_table(forecasts: list) -> tuple[list[str], list[list[str]]]:
    from .budget import duration_text

    header = ["method", "trainable params", "steps", "evaluations", "wall time", "peak RSS", "saved", "precision",
              "probe"]  # fmt: skip
    rows = []
    for f in forecasts:
        probe = f"{f.probe['train_batches']} steps + {f.probe['eval_batches']} eval batches, {f.probe['seconds']:.1f} s"
        rows.append(
            [
                f.method,
                f"{f.trainable:,} ({f.trainable / f.total:.1%})",
                f"{f.steps:,}",
                str(f.evaluations),
                duration_text(f.total_seconds),
                f"{f.peak_rss_bytes / 2**30:.2f} GiB",
                f"{f.saved_bytes / 2**20:.1f} MiB",
                f.precision,
                probe,
            ]
        )
    return header, rows

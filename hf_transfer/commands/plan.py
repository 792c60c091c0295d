"""``hf-transfer plan``: before anything trains, per method, what a run of the recipe would take here: trainable
parameters, wall time, peak memory, the size of its folder, the precision and device (``forecast.py``)."""

from __future__ import annotations


def plan(recipe, method_names: list[str], console, trust_remote_code: bool = False, startup_seconds: float = 0.0,
         command: str | None = None, options=None) -> list:  # fmt: skip
    """``hf-transfer plan``: one forecast per method, each from its own probe, nothing written but the
    tokenization cache (which the real runs then read). ``startup_seconds``: what a fresh process pays before
    a run starts (the CLI measures its own; a notebook's runs pay nothing more). ``command``: the command line
    (the data line says where a sample limit comes from). ``options``: the run's ``RunOptions``, whose follow-ups
    (``--test_file``'s predictions, ``--push_to_hub``) the forecast includes."""
    import dataclasses
    import tempfile
    import time
    from pathlib import Path

    from hf_transfer import methods
    from hf_transfer.run.forecast import forecast_run
    from hf_transfer.run.loading import length_statistics, statistics_line
    from hf_transfer.run.options import RunOptions, refuse_untrusted
    from hf_transfer.run.train import Run

    follow_ups = {}
    if options is not None:
        follow_ups = {key: getattr(options, key) for key in ("test_file", "push_to_hub", "hub_model_id")}
        if options.test_file is not None:  # what the run checks before it trains
            from hf_transfer.commands.predict import check_predictable

            check_predictable(recipe, options.test_file)
    startup = startup_seconds
    out = []
    with tempfile.TemporaryDirectory(prefix="hf-transfer-plan-") as scratch, console.once():
        imports = None
        for name in method_names:
            variant = dataclasses.replace(recipe, method=name).validate()
            refuse_untrusted(variant, trust_remote_code)
            methods.check_available(name)
            run = Run(variant, RunOptions(output_dir=Path(scratch) / name, command=command, **follow_ups), console)
            before = time.perf_counter()
            run.check()
            checked = time.perf_counter() - before
            imports = checked if imports is None else imports  # the first pays the imports a fresh run pays
            run.load()  # the first method tokenizes into the cache; the run will read it from there
            before = time.perf_counter()
            run.load()
            data = time.perf_counter() - before
            console.say(f"[hf-transfer] {run.loaded.data_line(command)}")
            lengths = length_statistics(run.loaded, variant)  # the profile the run's limit was read from (cached)
            console.say(f"[hf-transfer] {statistics_line(lengths, run.loaded.recipe.task)}")
            before = time.perf_counter()
            model = run.build_model()
            model_seconds = time.perf_counter() - before
            console.say(f"[hf-transfer] probing {name} ...")
            forecast = forecast_run(run, model, startup + imports + data, model_seconds)
            forecast.lengths = lengths  # the forecast's data: tokenized with this limit
            out.append(forecast)
            del model, run
    return out


def plan_table(forecasts: list) -> tuple[list[str], list[list[str]]]:
    from hf_transfer.base.tables import duration_text

    header = ["method", "trainable params", "steps", "evaluations", "wall time", "peak RSS", "saved", "precision",
              "probe"]  # fmt: skip
    # the wall time with the probe steps' scatter around their fit, carried over the training time
    rows = []
    for f in forecasts:
        probe = f"{f.probe['train_batches']} steps + {f.probe['eval_batches']} eval batches, {f.probe['seconds']:.1f} s"
        rows.append(
            [
                f.method,
                f"{f.trainable:,} ({f.trainable / f.total:.1%})",
                f"{f.steps:,}",
                str(f.evaluations),
                duration_text(f.total_seconds)
                + (f" ± {duration_text(f.probe['step_spread'] * f.seconds['train'])}"
                   if f.probe.get("step_spread") else ""),  # fmt: skip
                f"{f.peak_rss_bytes / 2**30:.2f} GiB ({PEAK_PHASES[f.peak_phase]})",
                f"{f.saved_bytes / 2**20:.1f} MiB",
                f.precision,
                probe,
            ]
        )
    return header, rows


MAX_RUNS = 10_000
"""The most runs one comparison makes (methods x fractions x seeds): more is refused before anything is built."""


def check_run_count(recipe, methods: list[str], seeds: int, fractions, trust_remote_code: bool = False,
                    verbose: bool = False) -> None:  # fmt: skip
    """Before ``compare`` or ``run --seeds`` builds anything: more than MAX_RUNS runs are refused, saying how long
    they would take here (one run forecast)."""
    from hf_transfer.base.console import Console
    from hf_transfer.base.errors import UserError

    runs = len(methods) * len(fractions or [1]) * seeds
    if runs <= MAX_RUNS:
        return
    asked = f"{len(methods)} method(s) x {len(fractions or [1])} fraction(s) x {seeds:,} seed(s) = {runs:,} runs"
    how_long = ""
    try:
        with Console(verbose=verbose) as console:
            console.say(f"[hf-transfer] {asked}: forecasting one run to say how long that would take")
            seconds = plan(recipe, [methods[0]], console, trust_remote_code)[0].total_seconds
        how_long = f" One {methods[0]} run takes about {seconds:.3g} s here, so all would take {_span(runs * seconds)}."
    except UserError:
        pass
    raise UserError(f"This asks for {asked}; at most {MAX_RUNS:,} are run.{how_long} Ask for fewer seeds "
                    "(10 already give an interval over seeds).")  # fmt: skip


def _span(seconds: float) -> str:
    from hf_transfer.base.tables import duration_text

    if seconds >= 2 * 365.25 * 86400:
        return f"{seconds / (365.25 * 86400):,.0f} years"
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:,.0f} days"
    return duration_text(seconds)


def refit_reserve(recipe, method: str, budget, trials: int, console, trust_remote_code: bool) -> float:
    """``tune --refit`` under a time budget: the seconds kept out of the trials' time for the refit (its share, and
    at least the least run it can be, forecast from a probe now). A budget too small for one trial and the refit is
    refused before any trial spends it."""
    import math

    from hf_transfer.base.errors import UserError
    from hf_transfer.base.tables import duration_text
    from hf_transfer.run.budget import MARGIN

    console.say("[hf-transfer] forecasting the refit, to keep its time out of the trials' budget")
    forecast = plan(recipe, [method], console, trust_remote_code)[0]
    seconds = forecast.seconds
    least = seconds["setup_and_data"] + seconds["model"] + forecast.probe["seconds"] + forecast.step_seconds
    least = (least + forecast.final_seconds) * (1 + 2 * MARGIN)
    if budget.left() < 2 * least:
        raise UserError(
            f"--time_budget {duration_text(budget.seconds)} is too small for tune --refit here: a trial and the refit "
            f"each need at least {math.ceil(least)} s (loading, a probe, one training step, then saving, reloading "
            f"and evaluating), {math.ceil(budget.seconds - budget.left())} s are spent already. Give at least "
            f"{math.ceil(budget.seconds - budget.left() + 2 * least)} s, or leave --refit out."
        )
    return max(least, budget.left() / (trials + 1))


PHASES = {"setup_and_data": "setup and data", "model": "model", "train": "training", "evaluations": "evaluations",
          "checkpoints": "checkpoints", "test_split": "test split",
          "save_and_check": "save, reload check and evaluation", "generation": "generation",
          "test_file": "--test_file predictions"}  # fmt: skip
PEAK_PHASES = {"training": "training", "end": "end of run"}
"""Where a forecast's peak memory falls, as the table says it."""


def phase_lines(forecasts: list) -> list[str]:
    """Where each method's time goes, phase by phase, and what its run does that the forecast leaves out."""
    from hf_transfer.base.tables import duration_text

    lines = []
    for f in forecasts:
        lines.append(f"{f.method}: " + ", ".join(f"{label} {duration_text(f.seconds[key])}"
                                                 for key, label in PHASES.items() if f.seconds.get(key)))  # fmt: skip
        lines += [f"{f.method}: not in the forecast: {what}" for what in f.not_forecast]
    return lines


def budget_choice(forecasts: list, seconds: float) -> str:
    """Which of the forecast methods a run under a ``seconds`` budget would best be, and why: the first asked for
    that fits whole; else the one that would train the largest share of its steps."""
    from hf_transfer.base.tables import duration_text
    from hf_transfer.run.budget import MARGIN

    room = seconds * (1 - MARGIN)
    fits = [f for f in forecasts if f.total_seconds <= room]
    if fits:
        chosen = fits[0]
        others = [f.method for f in fits[1:]]
        return (f"For a {duration_text(seconds)} budget: {chosen.method}, the first method asked for that fits whole "
                f"(forecast {duration_text(chosen.total_seconds)})"
                + (f"; {', '.join(others)} would fit too." if others else ".")
                + "".join(f" {f.method} would not fit ({duration_text(f.total_seconds)})." for f in forecasts
                          if f not in fits))  # fmt: skip

    def share(f) -> float:
        rest = f.total_seconds - f.seconds["train"] - f.seconds.get("evaluations", 0)
        return max(0.0, min(1.0, (room - rest) / max(f.seconds["train"], 1e-9)))

    best = max(forecasts, key=share)
    shares = ", ".join(f"{f.method} {share(f):.0%}" for f in forecasts)
    return (f"For a {duration_text(seconds)} budget no method fits whole; the share of its training steps each "
            f"would run: {shares}. {best.method} trains the largest share.")

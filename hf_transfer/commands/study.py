"""The Optuna study under ``hf-transfer tune``: its storage opened (and checked to be this search's), trials a killed
process left marked failed, each evaluation reported to the pruner, a study that fails alike told apart, and the
trials written out as a table and plots."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from pathlib import Path

from hf_transfer.base.errors import UserError, first_line, without_password
from hf_transfer.recipe.recipe import Recipe


def fingerprint(recipe: Recipe, methods: list[str], spaces: dict, seeds: int = 1) -> str:
    """What a resumed study must share with the one it continues (a mean over 3 seeds is not one seed's value)."""
    what = {"recipe": recipe.to_dict(), "methods": methods, "spaces": spaces}
    if seeds > 1:
        what["seeds"] = seeds
    text = json.dumps(what, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reporter(trial, metric: str):
    """A TrainerCallback that reports each evaluation to the trial and stops training when the pruner says so."""
    import optuna
    from transformers import TrainerCallback

    class Report(TrainerCallback):
        pruned = False
        last = None

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            if metrics and metric in metrics:
                self.last = float(metrics[metric])
                trial.report(self.last, state.global_step)
                if trial.should_prune():  # stopped here: a pruned trial is not saved, checked or evaluated
                    self.pruned = True
                    raise optuna.TrialPruned(f"pruned at step {state.global_step} ({metric} {self.last:.4g})")
            return control

    return Report()


def open_study(storage_url: str, name: str, direction: str, print_of: str, seed: int):
    import random
    import warnings

    import optuna
    from optuna.storages import RDBStorage

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    for attempt in range(8):  # two processes creating the same new database at once: one of them retries
        try:
            with warnings.catch_warnings():  # Optuna marks heartbeats experimental: not the user's business
                warnings.simplefilter("ignore")
                storage = RDBStorage(
                    storage_url, heartbeat_interval=30, grace_period=90, engine_kwargs={"connect_args": {"timeout": 60}}
                    if storage_url.startswith("sqlite") else {},
                )  # fmt: skip
            study = optuna.create_study(storage=storage, study_name=name, direction=direction, sampler=sampler,
                                        pruner=pruner, load_if_exists=True)  # fmt: skip
            break
        except Exception as exc:  # sqlalchemy's IntegrityError / OperationalError while the other creates it
            if attempt == 7 or "sqlalche" not in type(exc).__module__ + str(exc):
                raise UserError(without_password(
                    storage_url, f"The study storage {storage_url} could not be opened: {first_line(exc)}")) from None
            time.sleep(0.5 + random.random())
    # the sampler's stream starts where the study stands: a resumed study, or a second process on a shared storage,
    # draws new points instead of repeating the first ones (a fixed seed alone would)
    study.sampler = optuna.samplers.TPESampler(seed=seed + len(study.get_trials(deepcopy=False)))
    made_for = study.user_attrs.get("fingerprint")
    if made_for is None:
        study.set_user_attr("fingerprint", print_of)
    elif made_for != print_of:
        raise UserError(
            f"The study {name!r} in {without_password(storage_url)} was made for another recipe, methods or search "
            "space; tune with the same ones to continue it, or give another --output_dir (or --storage)."
        )
    return study, storage


def fail_orphans(study, storage) -> int:
    """Trials this machine started in a process that no longer lives (a kill -9): failed now, so the study goes on
    (trials of other machines are failed by Optuna's heartbeat once they stop beating)."""
    from optuna.trial import TrialState

    host = socket.gethostname()
    failed = 0
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = frozen.user_attrs
        if attrs.get("host") != host or not attrs.get("pid"):
            continue
        try:
            os.kill(int(attrs["pid"]), 0)
            continue  # still running
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study._study_id, frozen.number)
        storage.set_trial_state_values(trial_id, state=TrialState.FAIL)
        failed += 1
    return failed


def same_failure(trials) -> bool:
    """Whether the study's first two trials both failed with the same message (numbers aside) and none finished:
    the cause is the study's data or settings, not the values a trial drew, and every further trial would fail too."""
    from optuna.trial import TrialState

    if any(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials):
        return False
    errors = [numberless(t.user_attrs["error"]) for t in trials if t.user_attrs.get("error")]
    return len(errors) >= 2 and errors[0] == errors[1]


def numberless(message: str) -> str:
    import re

    return re.sub(r"[\d.]+", "#", message)


def short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def write_table(rows: list[dict], output_dir: Path, metric: str) -> None:
    import csv
    import io

    from hf_transfer.base.files import write_atomically

    names = sorted({k for r in rows for k in r["params"]})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["trial", "state", metric, "seconds", *names])
    for r in rows:
        writer.writerow([r["trial"], r["state"], r["value"], r["seconds"], *(r["params"].get(n) for n in names)])
    write_atomically(output_dir / "trials.csv", buffer.getvalue())
    lines = [
        "| trial | state | " + metric + " | seconds | " + " | ".join(names) + " |",
        "|" + "---|" * (4 + len(names)),
    ]
    for r in rows:
        cells = [r["trial"], r["state"], short(r["value"]) if r["value"] is not None else "", r["seconds"] or ""]
        lines.append("| " + " | ".join(str(c) for c in cells + [short(r["params"].get(n, "")) for n in names]) + " |")
    write_atomically(output_dir / "trials.md", "\n".join(lines) + "\n")


IMPORTANCE_TRIALS = 8
"""Finished trials below which the parameter importances (a random forest over the trials) are not drawn."""


def write_plots(study, output_dir: Path) -> dict[str, str]:
    """The optimisation history and the parameter importances (when there are enough finished trials)."""
    import warnings

    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as plots

    from hf_transfer.artifacts.plots import pyplot

    plt = pyplot()
    written = {}
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    for name, draw in (("optimization_history", plots.plot_optimization_history),
                       ("param_importances", plots.plot_param_importances)):  # fmt: skip
        if name == "param_importances" and finished < IMPORTANCE_TRIALS:
            written[name] = (f"not drawn: {finished} finished trial(s); the importances are estimated from "
                             f"{IMPORTANCE_TRIALS} or more")  # fmt: skip
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
                axes = draw(study)
            figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
            figure.tight_layout()
            figure.savefig(output_dir / f"{name}.png", dpi=100)
            plt.close(figure)
            written[name] = str(output_dir / f"{name}.png")
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as exc:  # too few trials for importances
            written[name] = f"not drawn: {exc}"
    return written

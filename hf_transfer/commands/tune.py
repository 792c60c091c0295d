"""``hf-transfer tune``: a hyperparameter search with Optuna (TPE sampler, median pruner on the evaluations
during training), every trial a normal run folder, selection on a split carved from the training data.

The study lives in SQLite inside the output folder unless ``--storage`` names another database (any URL
Optuna's RDB storage takes): rerunning the same command continues it, and several ``tune`` processes on one
storage share its trials. The winner is written as a recipe ``hf-transfer run`` takes as it is, and, with
``refit``, trained again on all the training data and evaluated once on the evaluation data. With ``seeds`` > 1
each trial trains its settings once per seed (its value: the mean on the selection split), and the winner is set
against the runner-up with a paired interval over the seeds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from hf_transfer.artifacts.staging import check_collection_dir, make_dir
from hf_transfer.base.errors import UserError, first_line
from hf_transfer.commands.search_space import (
    check_space,
    read_space,
    suggest,
    trial_params,
    with_params,
    without_given,
)
from hf_transfer.commands.study import (
    fail_orphans,
    fingerprint,
    numberless,
    open_study,
    reporter,
    same_failure,
    short,
    write_plots,
    write_table,
)
from hf_transfer.recipe.recipe import Recipe

SELECTION_FRACTION = 0.1
"""The share of the training rows carved out (seeded) for selection when ``--selection_fraction`` is not given."""


def tune(recipe: Recipe, method_names: list[str], output_dir: Path, trials: int, console, storage: str | None = None,
         space_file: Path | None = None, selection_fraction: float = SELECTION_FRACTION, refit: bool = False,
         keep: str = "all", budget=None, trust_remote_code: bool = False, seed: int = 42,
         train_run=None, given: dict | None = None, seeds: int = 1) -> dict:  # fmt: skip
    """Run the search (see the module's docstring); returns the report written to ``output_dir/report.json``.
    ``train_run``: what trains a trial (``train.run``; a test gives a stand-in with a known optimum). ``given``: the
    settings the command line gave (fixed in every trial, taken out of the search)."""
    try:
        import optuna
    except ImportError:
        raise UserError("hf-transfer tune searches with Optuna: pip install 'hf-transfer-toolkit[tune]'.") from None
    from optuna.trial import TrialState

    from hf_transfer.commands.compare import with_seed
    from hf_transfer.run import train
    from hf_transfer.run.options import RunOptions

    run = train_run or train.run

    if trials < 1:
        raise UserError(f"--trials must be 1 or more, got {trials}.")
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"--seeds must be a whole number, 1 or more (got {seeds!r}).")
    if not 0 < selection_fraction < 1:
        raise UserError(
            f"--selection_fraction must be between 0 and 1 (got {selection_fraction}): tune selects on rows carved "
            "from the training data, never on the evaluation data"
            + (", and --refit needs that split." if refit else ".")
        )
    if keep not in ("all", "best"):
        raise UserError(f"--keep takes all or best, got {keep!r}.")
    output_dir = Path(output_dir).expanduser().resolve()
    selecting = dataclasses.replace(
        recipe, data=dataclasses.replace(recipe.data, selection_fraction=selection_fraction)
    )
    from hf_transfer.methods import space as method_space

    spaces = {m: read_space(space_file) if space_file else method_space(m) for m in method_names}
    for method, space in spaces.items():
        check_space(space, dataclasses.replace(selecting, method=method))
    searched = {name for space in spaces.values() for name in space}
    spaces = without_given(spaces, given or {}, from_file=space_file is not None)
    fixed = sorted(searched - {name for space in spaces.values() for name in space})
    task = recipe.task
    metric = f"eval_{task.main_metric()}"
    direction = "maximize" if task.greater_is_better() else "minimize"
    check_collection_dir(output_dir, "tune")
    make_dir(output_dir)
    url = storage or f"sqlite:///{output_dir / 'study.db'}"
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # a refused trial is said in one line, not Optuna's traceback
    print_of = fingerprint(selecting, method_names, spaces, seeds)
    study, rdb = open_study(url, recipe.name, direction, print_of, seed)
    if fixed:
        console.say(f"[hf-transfer] fixed by the command line, not searched: {', '.join(fixed)}")
    failed = fail_orphans(study, rdb)
    if failed:
        console.say(f"[hf-transfer] {failed} trial(s) of an interrupted tune were marked failed; the study goes on")
    durations: list[float] = []
    trials_budget = budget

    def objective(trial):
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("host", socket.gethostname())
        method = trial.suggest_categorical("method", method_names) if len(method_names) > 1 else method_names[0]
        params = suggest(trial, spaces[method], method if len(method_names) > 1 else None)
        trial_recipe = with_params(selecting, method, params)
        folder = output_dir / "trials" / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(folder))
        report = reporter(trial, metric)
        console.say(f"\n=== trial {trial.number}: {method} " + ", ".join(f"{k}={short(v)}" for k, v in params.items()))
        started = time.monotonic()
        share = None
        if trials_budget is not None:  # an equal share of what is left for each trial still to run
            finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
            share = trials_budget.share(max(1, trials - finished))
        folders = [folder] + [folder.with_name(f"{folder.name}-seed{k}") for k in range(1, seeds)]
        trial.set_user_attr("seed_dirs", [str(f) for f in folders[1:]])
        values, evaluations = [], []
        try:
            for k, seed_folder in enumerate(folders):  # the pruner reads the first seed's evaluations
                part = share.share(seeds - k) if share is not None else None
                options = RunOptions(output_dir=seed_folder, overwrite=True, budget=part,
                                     command=f"hf-transfer tune (trial {trial.number}" + (f", seed {k})" if k else ")"),
                                     trust_remote_code=trust_remote_code)  # fmt: skip
                metrics = run(with_seed(trial_recipe, k) if k else trial_recipe, options, console=console,
                              callbacks=[report] if k == 0 else [])  # fmt: skip
                values.append((metrics.get("selection") or {}).get("value"))  # the selection split ranks trials
                evaluations.append(metrics["eval"].get(metric))
        except optuna.TrialPruned:
            shutil.rmtree(folder.with_name(folder.name + ".partial"), ignore_errors=True)
            trial.set_user_attr("pruned_value", report.last)
            trial.set_user_attr("seconds", round(time.monotonic() - started, 2))
            console.say(f"[hf-transfer] trial {trial.number} pruned: its {metric} {report.last:.4g} is below the "
                        "median of earlier trials at the same step; not saved")  # fmt: skip
            raise
        except Exception as exc:  # this trial cannot run (a divergence, a budget spent, anything): recorded, go on
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500] if not isinstance(exc, UserError)
                                else str(exc)[:500])  # fmt: skip
            console.say(f"[hf-transfer] trial {trial.number} failed: {first_line(exc) or type(exc).__name__}")
            raise
        durations.append(time.monotonic() - started)
        trial.set_user_attr("seconds", round(durations[-1], 2))
        if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
            raise UserError(f"trial {trial.number}: the run reported no {metric}.")
        if seeds > 1:
            trial.set_user_attr("seed_values", values)
        known = [e for e in evaluations if e is not None]
        trial.set_user_attr("evaluation_value", sum(known) / len(known) if known else None)
        return sum(values) / len(values)  # the mean over seeds; never the evaluation split

    def out_of_time(study, trial) -> None:
        if trials_budget is not None and durations and trials_budget.left() < 0.5 * min(durations):
            study.stop()
        if same_failure(study.get_trials(deepcopy=False)):  # not these settings, the study itself: said now
            study.stop()

    stop = optuna.study.MaxTrialsCallback(trials, states=(TrialState.COMPLETE, TrialState.PRUNED))
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
    if done < trials and refit and budget is not None:  # the refit's time is not the trials' to spend
        from hf_transfer.commands.plan import refit_reserve
        from hf_transfer.run.budget import Budget

        reserve = refit_reserve(recipe, method_names[0], budget, trials, console, trust_remote_code)
        trials_budget = Budget(budget.seconds - reserve, budget.deadline - reserve)
    if done < trials:
        timeout = max(trials_budget.left(), 0.0) if trials_budget is not None else None
        study.optimize(objective, n_trials=trials - done, timeout=timeout, callbacks=[stop, out_of_time],
                       catch=(Exception,))  # fmt: skip
    return finish(study, recipe, selecting, method_names, output_dir, metric, refit, keep, console, budget,
                  trust_remote_code, selection_fraction, seeds)  # fmt: skip


def finish(study, recipe, selecting, method_names, output_dir: Path, metric: str, refit: bool, keep: str, console,
           budget, trust_remote_code: bool, selection_fraction: float = SELECTION_FRACTION,
           seeds: int = 1) -> dict:  # fmt: skip
    """The table of trials, the plots, the winner as a recipe file, the refit; ``report.json`` last."""
    from optuna.trial import TrialState

    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.base.files import write_atomically
    from hf_transfer.base.tables import format_table

    trials = study.get_trials(deepcopy=False)
    finished = [t for t in trials if t.state == TrialState.COMPLETE]
    rows = []
    for t in trials:
        value = t.value if t.state == TrialState.COMPLETE else t.user_attrs.get("pruned_value")
        rows.append({"trial": t.number, "state": t.state.name.lower(), "value": value,
                     "evaluation_value": t.user_attrs.get("evaluation_value"),
                     "seconds": t.user_attrs.get("seconds"), "params": t.params,
                     "run_dir": t.user_attrs.get("run_dir"), "error": t.user_attrs.get("error"),
                     **({"seed_values": t.user_attrs["seed_values"]} if "seed_values" in t.user_attrs else {})})
    write_table(rows, output_dir, metric)
    plots = write_plots(study, output_dir)
    report: dict[str, Any] = {
        "recipe": recipe.name,
        "metric": metric,
        "direction": study.direction.name.lower(),
        "selected_on": selecting.data.describe_selection(selection_fraction),
        "seeds": seeds,
        "reported_on": selecting.data.describe_evaluation(),
        "trials": rows,
        "plots": plots,
    }
    if not finished:
        write_atomically(output_dir / "report.json", json.dumps(report, indent=2, default=str) + "\n")
        errors = list({numberless(t.user_attrs["error"]): t.user_attrs["error"] for t in reversed(trials)
                       if t.user_attrs.get("error")}.values())[::-1]  # fmt: skip one of each kind, the first
        why = f" Every trial failed with: {errors[0]}" if len(errors) == 1 else (
            f" The trials failed with: {' | '.join(errors[:3])}" if errors else "")  # fmt: skip
        raise UserError(f"No trial of the study finished (see {output_dir / 'trials.md'}); nothing to choose from."
                        + (" The first trials failed alike, so the study stopped." if same_failure(trials) else "")
                        + why)  # fmt: skip
    best = study.best_trial
    params = trial_params(best.params)
    method = best.params.get("method", method_names[0])
    winner = dataclasses.replace(with_params(selecting, method, params), description=(
        recipe.description + f" Tuned with hf-transfer tune: trial {best.number} of {len(trials)}, {metric} "
        f"{best.value:.4f} on the selection split.").strip())  # fmt: skip
    write_atomically(output_dir / "best_recipe.yaml", winner.to_yaml())
    against = against_runner_up(best, finished, seeds, study.direction.name == "MAXIMIZE")
    report["best"] = {"trial": best.number, "method": method, "params": params, "value": best.value,
                      "recipe": str(output_dir / "best_recipe.yaml"), **against}  # fmt: skip
    if keep == "best":
        for t in trials:
            for folder in [Path(t.user_attrs.get("run_dir") or ""), *map(Path, t.user_attrs.get("seed_dirs", []))]:
                if t.number == best.number or not folder.is_dir() or folder == Path():
                    continue
                kept = folder / "metrics.json"
                metrics = kept.read_text() if kept.is_file() else None
                shutil.rmtree(folder)
                if metrics:
                    folder.mkdir(parents=True)
                    (folder / "metrics.json").write_text(metrics)
    for t in trials:  # a killed trial's unfinished folders: nothing in them can be used
        for folder in [str(t.user_attrs.get("run_dir", "")), *t.user_attrs.get("seed_dirs", [])]:
            partial = Path(folder + ".partial")
            if t.state == TrialState.FAIL and folder and partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
    if refit:
        from hf_transfer.run import train
        from hf_transfer.run.options import RunOptions

        console.say(f"\n=== refit: trial {best.number}'s settings on all the training data -> {output_dir / 'refit'}")
        # every training row, the last model kept: nothing is left to choose on, and the evaluation split never does
        everything = dataclasses.replace(winner, data=dataclasses.replace(winner.data, selection_fraction=0))
        options = RunOptions(output_dir=output_dir / "refit", overwrite=True, command="hf-transfer tune --refit",
                             budget=budget, trust_remote_code=trust_remote_code)  # fmt: skip
        metrics = train.run(everything, options, console)
        report["refit"] = {"run_dir": str(output_dir / "refit"), "eval": metrics["eval"],
                           "evaluated_on": metrics.get("evaluated_on")}  # fmt: skip
    elif RunFolder(best.user_attrs.get("run_dir", "")).is_finished:
        report["best"]["run_dir"] = best.user_attrs["run_dir"]
    console.say("")
    console.say(format_table(["trial", "state", metric, "seconds", "params"],
                             [[r["trial"], r["state"], short(r["value"]) if r["value"] is not None else "",
                               r["seconds"] or "", ", ".join(f"{k}={short(v)}" for k, v in r["params"].items())]
                              for r in rows]))  # fmt: skip
    write_atomically(output_dir / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    return report


def against_runner_up(best, finished: list, seeds: int, greater: bool) -> dict:
    """The winner against the runner-up, seed by seed: the paired t-interval of their differences on the selection
    split (best - runner-up), when every trial trained on the same seeds; nothing with one seed or one trial."""
    from hf_transfer.base.stats import paired_t

    others = [t for t in finished if t.number != best.number and len(t.user_attrs.get("seed_values", [])) == seeds]
    if seeds < 2 or not others or len(best.user_attrs.get("seed_values", [])) != seeds:
        return {}
    runner = max(others, key=lambda t: t.value) if greater else min(others, key=lambda t: t.value)
    interval = paired_t(best.user_attrs["seed_values"], runner.user_attrs["seed_values"])
    return {"against_runner_up": {"trial": runner.number, "value": runner.value, **interval.as_dict(),
                                  "within_noise": interval.covers_zero()}}  # fmt: skip

"""plan, --time_budget and tune (issue 26): forecasts from probe steps, a hard time budget, Optuna search."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest

from conftest import tiny_run_args


def tiny_recipe(tiny_bert, files, *extra):
    from hf_transfer.cli import build_parser
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import resolve_run

    args, rest = build_parser().parse_known_args([str(a) for a in tiny_run_args(tiny_bert, files, "unused", *extra)])
    recipe, _ = resolve_run(find_recipe("rotten-tomatoes-minilm")[0], vars(args), rest)
    return recipe


# ---- durations


@pytest.mark.parametrize(("text", "seconds"), [("45s", 45), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("90", 90)])
def test_durations_read_as_people_write_them(text, seconds):
    from hf_transfer.run.budget import parse_duration

    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["abc", "0", "-5", "10x", ""])
def test_bad_durations_are_refused(text):
    from hf_transfer import UserError
    from hf_transfer.run.budget import parse_duration

    with pytest.raises(UserError, match="--time_budget"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(45, "45s"), (125, "2m05s"), (3599.6, "1h00m"), (3900, "1h05m")])
def test_a_duration_is_written_one_way_and_reads_back(seconds, text):
    """Issue 36: one duration format for the whole console (the budget's lines and the progress lines), in the
    form --time_budget reads back."""
    from hf_transfer.base import progress
    from hf_transfer.base.tables import duration_text
    from hf_transfer.run import budget
    from hf_transfer.run.budget import parse_duration

    assert duration_text(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=60 if seconds >= 3600 else 0.5)
    assert budget.duration_text is progress.duration_text is duration_text


# ---- plan


def test_plan_forecasts_the_run_it_probes(tiny_bert, sentiment_files, tmp_path, run_cli):
    """The forecast's steps, evaluations and folder size are the run's; its time and memory are close to it."""
    from hf_transfer.base.console import Console
    from hf_transfer.commands.plan import plan

    recipe = tiny_recipe(tiny_bert, sentiment_files, "--num_train_epochs", "2", "--per_device_train_batch_size", "8")
    with Console() as console:
        [forecast] = plan(recipe, ["full"], console)
    code, out, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--num_train_epochs", "2",
                                            "--per_device_train_batch_size", "8"))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    # two epochs choose on 16 of the 160 training rows: 144 rows in batches of 8, twice
    assert forecast.steps == state["global_step"] == 36 and metrics["samples"]["selection"] == 16
    evaluations = [h for h in state["log_history"] if "eval_accuracy" in h and h.get("step", 0) <= 36]
    assert forecast.evaluations == len(evaluations) == 2, "one per epoch"
    assert forecast.saved_bytes == pytest.approx(metrics["resources"]["saved_bytes"], rel=0.05)
    assert forecast.peak_rss_bytes > 0  # its accuracy on real data: benchmarks/bench_forecast.py
    assert 0 < forecast.seconds["train"] < 10 * metrics["phases"]["train"]
    assert forecast.probe["train_batches"] == 4 and forecast.probe["eval_batches"] >= 1


def plan_args(tiny_bert, files) -> list:
    """The tiny run's flags as plan takes them: plan writes no run folder, so it has no --output_dir."""
    args = [str(a) for a in tiny_run_args(tiny_bert, files, "unused")[1:]]
    at = args.index("--output_dir")
    return args[:at] + args[at + 2 :]


def test_plan_prints_a_table_per_method(tiny_bert, sentiment_files, run_cli):
    code, out, err = run_cli("plan", *plan_args(tiny_bert, sentiment_files), "--methods", "full,lora",
                             "--time_budget", "10m")  # fmt: skip
    assert code == 0, err
    rows = [line.split()[0] for line in out.splitlines() if line.startswith(("full ", "lora "))]
    assert rows == ["full", "lora"] and "peak RSS" in out and "probe" in out
    assert " ± " in out, "the forecast's uncertainty, from the probe steps' scatter"
    assert "Where the time goes:" in out and "full: setup and data" in out and "training" in out
    assert "For a 10m00s budget: full, the first method asked for that fits whole" in out, out[-1500:]
    code, _, err = run_cli("plan", *plan_args(tiny_bert, sentiment_files), "--output_dir", "x")
    assert code == 2 and "output_dir" in err, "plan writes no run folder: it does not take --output_dir"
    code, text, _ = run_cli("plan", "--help")
    assert "--output_dir" not in text and "--resume" not in text and "--time_budget" in text


def test_plan_counts_a_process_start_up_only_for_a_fresh_process(tiny_bert, sentiment_files, run_cli, monkeypatch):
    """A plan called from Python in a process that has run an hour (a notebook, the tests) forecast the hour as
    start-up ("setup and data 9m55s" in the suite); a fresh ``hf-transfer`` process counts its own start-up."""
    import time

    import psutil

    from hf_transfer import cli
    from hf_transfer.run.forecast import process_seconds

    started = time.time() - 3600
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: started)
    monkeypatch.setattr(cli, "ENTERED", None)
    code, out, err = run_cli("plan", *plan_args(tiny_bert, sentiment_files), "--time_budget", "10m")
    assert code == 0, err
    assert "For a 10m00s budget: full, the first method asked for that fits whole" in out, out[-1500:]
    assert process_seconds(started + 2.5) == pytest.approx(2.5)  # hf-transfer started 2.5 s before its main()


def test_the_budget_choice_says_what_fits_and_why():
    from types import SimpleNamespace

    from hf_transfer.commands.plan import budget_choice

    def forecast(method, train, total):
        return SimpleNamespace(method=method, total_seconds=total, seconds={"train": train, "evaluations": 0})

    full, lora = forecast("full", 80, 100), forecast("lora", 40, 60)
    assert budget_choice([full, lora], 70).startswith("For a 1m10s budget: lora, the first method asked for that fits")
    text = budget_choice([full, lora], 40)
    assert "no method fits whole" in text and "lora trains the largest share" in text


# ---- --time_budget

LONG = ["--max_steps", "4000", "--per_device_train_batch_size", "4", "--eval_strategy", "steps", "--eval_steps", "500",
        "--save_strategy", "steps", "--save_steps", "500"]  # fmt: skip


def test_a_budget_that_cannot_hold_the_run_plans_fewer_steps_and_finishes_a_valid_run(
    tiny_bert, sentiment_files, tmp_path, run_cli
):
    out = tmp_path / "run"
    # 4,000 steps take a minute or more here: 15 s cannot hold them, and leave room for a loaded machine's start-up
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, *LONG), "--time_budget", "15s")
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    budget = metrics["budget"]
    assert budget["stopped_by_budget"] and budget["planned_steps"] == 4000
    assert 0 < budget["stopped_at_step"] <= budget["steps"] < 4000
    assert metrics["reload_check"]["match"]
    card = (out / "README.md").read_text()
    assert f"stopped by the time budget (15s) at step {budget['stopped_at_step']:,} of 4,000" in card
    state = json.loads((out / "trainer_state.json").read_text())
    rates = [h["learning_rate"] for h in state["log_history"] if "learning_rate" in h]
    assert state["max_steps"] == budget["steps"], "the schedule is set for the steps that fit"
    last = [h for h in state["log_history"] if "learning_rate" in h][-1]
    by_steps = 5e-3 * (1 - (last["step"] - 1) / state["max_steps"])
    # the schedule follows the clock when steps run slower than forecast: it has decayed by the time the budget stops
    # the run (at or below where the steps alone would put it), not cut off part-way down
    assert rates[-1] <= by_steps * 1.0001 and rates[-1] <= 0.3 * 5e-3
    assert "the time budget stopped training at step" in stdout or budget["stopped_at_step"] == budget["steps"]


def test_a_budget_too_small_for_one_step_is_refused(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out), "--time_budget", "0.01")
    assert code == 2 and "is too small for this run here" in err and "need at least" in err
    assert not out.exists() and not (tmp_path / "run.partial").exists()


def test_the_stop_callback_stops_at_the_next_step_past_the_deadline():
    import time
    from types import SimpleNamespace

    from hf_transfer.run.budget import Budget, stop_callback

    budget = Budget(10.0, time.monotonic() + 0.0)
    callback = stop_callback(budget, reserve=0.0, evaluate_at_stop=True)
    control = SimpleNamespace(should_training_stop=False, should_evaluate=False, should_save=False)
    callback.on_step_end(None, SimpleNamespace(global_step=7, max_steps=10), control)
    assert control.should_training_stop and control.should_evaluate and callback.stopped_at == 7
    later = Budget(10.0, time.monotonic() + 60)
    quiet = SimpleNamespace(should_training_stop=False, should_evaluate=False, should_save=False)
    stop_callback(later, 0.0, True).on_step_end(None, SimpleNamespace(global_step=3, max_steps=10), quiet)
    assert not quiet.should_training_stop


# ---- tune


def fake_run(optimum: float):
    """A stand-in for train.run whose metric peaks at learning_rate = ``optimum`` (in log space), reporting three
    evaluations on the way, as a run's Trainer would."""
    from types import SimpleNamespace

    def run(recipe, folder, callbacks=(), **kwargs):
        rate = recipe.training["learning_rate"]
        value = math.exp(-((math.log10(rate) - math.log10(optimum)) ** 2))
        control = SimpleNamespace(should_training_stop=False)
        for step in (1, 2, 3):
            for callback in callbacks:
                callback.on_evaluate(
                    None, SimpleNamespace(global_step=step), control, metrics={"eval_accuracy": value * step / 3}
                )
            if control.should_training_stop:
                break
        return {"eval": {"eval_accuracy": value / 2}, "selection": {"value": value}}

    return run


def test_tune_seeds_rank_on_the_mean_and_set_the_winner_against_the_runner_up(tmp_path, tiny_bert, sentiment_files):
    """--seeds 3: each trial trains its settings on three seeds (other folders, other training seeds, the same
    split), its value is the mean, and the winner gets a paired interval over the seeds against the runner-up."""
    from types import SimpleNamespace

    from hf_transfer import UserError
    from hf_transfer.base.console import Console
    from hf_transfer.base.stats import paired_t
    from hf_transfer.commands.tune import tune

    calls = []

    def noisy_run(recipe, options, console=None, callbacks=()):
        rate, seed = recipe.training["learning_rate"], recipe.training.get("seed", 42)
        calls.append((rate, seed, recipe.training.get("data_seed"), options.output_dir.name, len(callbacks)))
        value = math.exp(-((math.log10(rate) + 3) ** 2)) + 0.01 * (seed - 43)
        control = SimpleNamespace(should_training_stop=False)
        for callback in callbacks:
            callback.on_evaluate(None, SimpleNamespace(global_step=1), control, metrics={"eval_accuracy": value})
        return {"eval": {"eval_accuracy": value / 2}, "selection": {"value": value}}

    recipe = tiny_recipe(tiny_bert, sentiment_files)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 1e-5, high: 1e-1, log: true}\n")
    with Console() as console:
        report = tune(recipe, ["full"], tmp_path / "tune", 4, console, space_file=space, train_run=noisy_run, seeds=3)
    trials = [t for t in report["trials"] if t["state"] == "complete"]
    assert len(trials) >= 2
    for trial in trials:
        runs = [c for c in calls if c[0] == trial["params"]["learning_rate"]]
        assert [c[1] for c in runs] == [42, 43, 44] and [c[2] for c in runs] == [None, 43, 44]
        assert [c[3] for c in runs] == [f"trial-{trial['trial']:04d}", f"trial-{trial['trial']:04d}-seed1",
                                        f"trial-{trial['trial']:04d}-seed2"]  # fmt: skip
        assert [c[4] for c in runs] == [1, 0, 0], "the pruner reads the first seed only"
        assert trial["value"] == pytest.approx(sum(trial["seed_values"]) / 3)
    best = report["best"]
    runner = sorted(trials, key=lambda t: t["value"])[-2]
    against = best["against_runner_up"]
    winner = next(t for t in trials if t["trial"] == best["trial"])
    expected = paired_t(winner["seed_values"], runner["seed_values"])
    assert against["trial"] == runner["trial"] and against["how"] == "paired t-interval over 3 seeds"
    assert (against["mean"], against["low"], against["high"]) == pytest.approx((expected.mean, expected.low,
                                                                                 expected.high))  # fmt: skip
    assert against["within_noise"] == (expected.low <= 0 <= expected.high)
    assert report["seeds"] == 3
    with Console() as console, pytest.raises(UserError):  # a mean over 3 seeds cannot continue as one seed's value
        tune(recipe, ["full"], tmp_path / "tune", 5, console, space_file=space, train_run=noisy_run, seeds=1)


def test_tune_finds_the_learning_rate_the_objective_prefers_and_prunes(tmp_path, tiny_bert, sentiment_files):
    from hf_transfer.base.console import Console
    from hf_transfer.commands.tune import tune

    recipe = tiny_recipe(tiny_bert, sentiment_files)
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 1e-6, high: 1e-1, log: true}\n")
    with Console() as console:
        report = tune(recipe, ["full"], tmp_path / "tune", 30, console, space_file=space, train_run=fake_run(1e-3))
    best = report["best"]
    assert 10**-3.5 < best["params"]["learning_rate"] < 10**-2.5
    states = [t["state"] for t in report["trials"]]
    assert states.count("complete") + states.count("pruned") == 30 and states.count("pruned") > 0
    winner = (tmp_path / "tune" / "best_recipe.yaml").read_text()
    # the winner as a recipe selects on the same carved rows as its trial did; the trials were ranked on them
    assert str(best["params"]["learning_rate"]) in winner and "selection_fraction: 0.1" in winner
    assert "carved out before training" in report["selected_on"]
    assert best["value"] == max(t["value"] for t in report["trials"] if t["state"] == "complete")
    assert (tmp_path / "tune" / "trials.csv").read_text().count("\n") == 31
    assert (tmp_path / "tune" / "optimization_history.png").is_file()


def test_tune_real_trials_refit_and_keep_best(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "tune"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1")
    code, stdout, err = run_cli("tune", *args[1:], "--trials", "2", "--methods", "lora,full", "--refit",
                                "--keep", "best")  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    best = report["best"]["trial"]
    folders = sorted((out / "trials").iterdir())
    assert len(folders) == 2
    for folder in folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        # one-epoch trials: 16 of the 160 training rows carved out rank them; the evaluation file reports
        assert metrics["samples"]["selection"] == 16 and metrics["evaluated_on"].startswith("the file ")
        assert (folder / "recipe.yaml").is_file() == folder.name.endswith(f"{best:04d}"), "--keep best"
    refit = json.loads((out / "refit" / "metrics.json").read_text())
    assert refit["evaluated_on"].startswith("the file ") and refit["samples"]["train"] == 160, "all the training data"
    assert refit["selection"]["rows"] == 0
    # best_recipe.yaml reproduces its trial: the same rows train, the same carved rows select, the same number
    code, _, err = run_cli("run", out / "best_recipe.yaml", "--output_dir", tmp_path / "again")
    assert code == 0, err
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["samples"] == {"train": 144, "selection": 16, "eval": 40}
    assert again["selection"]["value"] == pytest.approx(report["best"]["value"], abs=1e-9)
    code, stdout, err = run_cli("tune", *args[1:], "--trials", "2", "--methods", "lora,full")
    assert code == 0 and "=== trial" not in stdout, "a finished study is not run again"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "0"], "--trials must be 1 or more"),
        (["--trials", "1", "--space", "{space_unknown}"], "is neither a TrainingArguments field nor a recipe field"),
        (["--trials", "1", "--space", "{space_inverted}"], "has low 0.1 above high 0.001"),
        (["--trials", "1", "--selection_fraction", "0", "--refit"], "--refit needs that split"),
    ],
)
def test_bad_tune_input(extra, message, tiny_bert, sentiment_files, tmp_path, run_cli):
    (tmp_path / "unknown.yaml").write_text("learning_rte: {low: 1e-5, high: 1e-3}\n")
    (tmp_path / "inverted.yaml").write_text("learning_rate: {low: 0.1, high: 0.001, log: true}\n")
    files = {"space_unknown": tmp_path / "unknown.yaml", "space_inverted": tmp_path / "inverted.yaml"}
    extra = [e.format(**files) for e in extra]
    out = tmp_path / "tune"
    code, _, err = run_cli("tune", *tiny_run_args(tiny_bert, sentiment_files, out)[1:], *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (out / "report.json").exists()


def test_a_study_made_for_another_recipe_is_refused(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "tune"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1")[1:]
    code, _, err = run_cli("tune", *args, "--trials", "1")
    assert code == 0, err
    code, _, err = run_cli("tune", *args, "--trials", "1", "--set", "task.max_length=64")
    assert code == 2 and "was made for another recipe" in err


KILL_DURING_TRIAL = textwrap.dedent("""
    import os, signal, sys
    from hf_transfer.run import trainer
    from hf_transfer.cli import main
    from transformers import TrainerCallback

    original = trainer.build_trainer
    marker = sys.argv.pop(1)

    def killing(*args, **kwargs):
        built = original(*args, **kwargs)
        if not os.path.exists(marker) and "trial-0001" in str(built.args.output_dir):

            class Kill(TrainerCallback):
                def on_step_end(self, args, state, control, **kw):
                    if state.global_step == 2:
                        open(marker, "w").close()
                        os.kill(os.getpid(), signal.SIGKILL)

            built.add_callback(Kill())
        return built

    trainer.build_trainer = killing
    main(argv=sys.argv[1:])
""")


def test_a_killed_tune_continues_and_two_processes_share_one_study(tiny_bert, sentiment_files, tmp_path):
    out = tmp_path / "tune"
    args = [str(a) for a in tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1")[1:]]
    command = [sys.executable, "-c", KILL_DURING_TRIAL, str(tmp_path / "killed"), "tune", *args, "--trials", "3"]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == -9, first.stderr[-2000:]
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "marked failed" in again.stdout
    states = [t["state"] for t in json.loads((out / "report.json").read_text())["trials"]]
    assert states.count("complete") + states.count("pruned") == 3 and states.count("fail") == 1
    # a second machine's share of a study: two processes on one storage, each running some of its trials
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    both = [
        subprocess.Popen(
            [sys.executable, "-m", "hf_transfer", "tune", *args, "--trials", "4", "--storage", shared],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in both]
    assert all(p.returncode == 0 for p in both), [o[1][-2000:] for o in outputs]
    import optuna

    study = optuna.load_study(study_name="rotten-tomatoes-minilm", storage=shared)
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 4 and len({t.user_attrs["pid"] for t in finished}) == 2


def test_the_schedule_follows_the_clock_when_steps_run_slower_than_forecast():
    """Forecast 10 steps, time for 10, but the clock says 80% of the training time is gone at step 3: the schedule
    jumps to step 8 of 10, so a run the budget stops early has decayed its learning rate (not cut off at its peak)."""
    import time
    from types import SimpleNamespace

    import torch
    from transformers import get_linear_schedule_with_warmup

    from hf_transfer.run.budget import Budget, stop_callback

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, 10)
    now = time.monotonic()
    callback = stop_callback(Budget(10.0, now + 2.0), reserve=0.0, evaluate_at_stop=False)
    callback.started = now - 8.0  # training started 8 s ago; 2 s are left of its 10
    control = SimpleNamespace(should_training_stop=False)
    for _ in range(3):
        optimizer.step()
        scheduler.step()
    callback.on_step_begin(None, SimpleNamespace(global_step=3, max_steps=10), control, lr_scheduler=scheduler)
    assert scheduler.last_epoch == 8 and scheduler.get_last_lr()[0] == pytest.approx(0.2)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.2)
    on_time = get_linear_schedule_with_warmup(optimizer, 0, 10)
    fresh = stop_callback(Budget(100.0, time.monotonic() + 100.0), reserve=0.0, evaluate_at_stop=False)
    for step in range(3):
        fresh.on_step_begin(None, SimpleNamespace(global_step=step, max_steps=10), control, lr_scheduler=on_time)
        optimizer.step()
        on_time.step()
    assert on_time.last_epoch == 3, "a run on time keeps its schedule"


def test_a_resumed_study_draws_new_points_and_methods_keep_their_own_parameters(tmp_path, tiny_bert, sentiment_files):
    """A second process (or a resumed one) on the same study must not repeat the first one's draws; two methods'
    learning rates are two parameters of the study, never one range the sampler mixes."""
    from hf_transfer.base.console import Console
    from hf_transfer.commands.tune import tune

    recipe = tiny_recipe(tiny_bert, sentiment_files)
    with Console() as console:
        first = tune(recipe, ["full"], tmp_path / "t", 1, console, train_run=fake_run(1e-3))
        again = tune(recipe, ["full"], tmp_path / "t", 2, console, train_run=fake_run(1e-3))
    drawn = [t["params"]["learning_rate"] for t in again["trials"]]
    assert len(drawn) == 2 and drawn[0] == first["trials"][0]["params"]["learning_rate"] and drawn[1] != drawn[0]
    with Console() as console:
        both = tune(recipe, ["full", "lora"], tmp_path / "two", 4, console, train_run=fake_run(1e-3))
    names = {name for t in both["trials"] for name in t["params"]}
    assert {"full/learning_rate", "lora/learning_rate"} & names and "learning_rate" not in names
    assert "learning_rate" in both["best"]["params"], "the winner's recipe takes the space's own names"
    complete = sum(t["state"] == "complete" for t in both["trials"])  # some may be pruned
    assert both["plots"]["param_importances"].startswith(f"not drawn: {complete} finished trial(s)")


def test_a_failing_trial_is_recorded_and_the_study_goes_on(tmp_path, tiny_bert, sentiment_files):
    from hf_transfer.base.console import Console
    from hf_transfer.commands.tune import tune

    calls = []
    good = fake_run(1e-3)

    def flaky(recipe, folder, **kwargs):
        calls.append(folder)
        if len(calls) == 1:
            raise RuntimeError("CUDA out of memory (a stand-in)")
        return good(recipe, folder, **kwargs)

    recipe = tiny_recipe(tiny_bert, sentiment_files)
    with Console() as console:
        report = tune(recipe, ["full"], tmp_path / "t", 2, console, train_run=flaky)
    states = [t["state"] for t in report["trials"]]
    assert states[0] == "fail" and "RuntimeError: CUDA out of memory" in report["trials"][0]["error"]
    assert states[1] in ("complete", "pruned") and "best" in report, "the next trial ran"


def test_a_pruned_trial_stops_where_it_is_pruned():
    """The pruner's verdict stops the run at that evaluation (no save, reload check or final evaluation follow)."""
    from types import SimpleNamespace

    import optuna

    from hf_transfer.commands.tune import reporter

    reported = []
    trial = SimpleNamespace(report=lambda value, step: reported.append((value, step)), should_prune=lambda: True)
    callback = reporter(trial, "eval_accuracy")
    with pytest.raises(optuna.TrialPruned, match="pruned at step 7"):
        callback.on_evaluate(None, SimpleNamespace(global_step=7), SimpleNamespace(), metrics={"eval_accuracy": 0.5})
    assert reported == [(0.5, 7)] and callback.pruned and callback.last == 0.5


def test_plan_forecasts_a_token_classification_run(tiny_bert, tmp_path, run_cli):
    """NER evaluation rows carry word ids for the metrics: the forecast pads only what a batch holds (it raised)."""
    from conftest import ner_sentences, write_conll

    train = write_conll(tmp_path / "train.txt", ner_sentences(40, seed=1))
    valid = write_conll(tmp_path / "valid.txt", ner_sentences(10, seed=2))
    code, out, err = run_cli("plan", "conll2003-bert", "--model_name_or_path", str(tiny_bert), "--train_file",
                             str(train), "--validation_file", str(valid), "--set", "task.max_length=128", "--max_steps",
                             "2", "--json")  # fmt: skip
    assert code == 0, err
    [forecast] = json.loads(out)
    assert forecast["steps"] == 2 and forecast["seconds"]["evaluations"] >= 0


def test_step_time_follows_the_probe_where_it_grows_faster_than_tokens():
    """QA's probe on this CPU (tokens, seconds): steps of long windows took four times as long as steps of half the
    tokens. A straight line through them, its intercept cut at zero, forecast a 2,816-token step at 2.1 s (it took
    0.88 s) and the whole QA run at twice its time; the forecast goes through the measured batches instead."""
    from hf_transfer.run.probe import Fit

    measured = [(5760, 2.955), (4096, 1.389), (2944, 0.705), (2432, 0.551)]
    fit = Fit.of(measured)
    for tokens, seconds in measured:
        assert fit(tokens) == pytest.approx(seconds)
    assert fit(2816) == pytest.approx(0.667, abs=0.01) and 0.705 < fit(3584) < 1.389
    assert fit(640) == pytest.approx(0.551 * 640 / 2432), "below the probe: in proportion to its smallest batch"
    assert fit(6000) == pytest.approx(2.955 * 6000 / 5760)
    assert Fit.of([(100, 1.0), (100, 3.0)])(100) == pytest.approx(2.0), "equal batches averaged"
    assert 0 < fit.spread < 0.5 and Fit.of([(1, 1.0), (2, 2.0), (3, 3.0)]).spread == pytest.approx(0.0)

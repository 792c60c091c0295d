"""Hardening, round 4 (issue 32, first half): a user's file lost, a password printed, results silently wrong, memory
grown without bound, tracebacks instead of a message. Each case failed on 8fca0d3."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from conftest import sentiment_rows, tiny_run_args, write_jsonl


def own_data_run(finished_run, tmp_path, name="run", data=None):
    """A copy of the tiny classifier's run whose recipe reads training data of its own (JSON lines in ``tmp_path``):
    a test may then aim an output at that data without touching the shared run's files."""
    from hf_transfer.artifacts.runs import RunFolder

    data = data or write_jsonl(tmp_path / "t.jsonl", sentiment_rows(160, seed=1))
    run = tmp_path / name
    shutil.copytree(finished_run("text-classification", "full"), run)
    recipe = RunFolder(run).requested_recipe()
    own = dataclasses.replace(recipe.data, train_file=str(data))
    RunFolder(run).write_recipe(dataclasses.replace(recipe, data=own))
    return run, data


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---- a user's file lost


def test_eval_never_writes_its_metrics_over_the_runs_training_data(finished_run, run_cli, tmp_path):
    run, data = own_data_run(finished_run, tmp_path, data=tmp_path / "t.json")
    data.write_text("\n".join(json.dumps(r) for r in sentiment_rows(160, seed=1)) + "\n")
    before = data.read_bytes()
    code, _, err = run_cli("eval", run, "--output_file", data)
    assert code == 2 and "is the input file" in err and "Traceback" not in err, err
    assert data.read_bytes() == before
    metrics = (run / "metrics.json").read_bytes()
    code, _, err = run_cli("eval", run, "--output_file", run / "metrics.json")  # nor over the run's own files
    assert code == 2 and "is a file of the run" in err and (run / "metrics.json").read_bytes() == metrics


def test_diff_never_writes_its_examples_over_the_runs_training_data(finished_run, run_cli, tmp_path):
    a, data = own_data_run(finished_run, tmp_path, "a")
    b, _ = own_data_run(finished_run, tmp_path, "b", data=data)
    before = data.read_bytes()
    code, _, err = run_cli("diff", a, b, "--output_file", data)
    assert code == 2 and "is the input file" in err and "Traceback" not in err, err
    assert data.read_bytes() == before and len(before.splitlines()) == 160
    texts = write_jsonl(tmp_path / "in.jsonl", [{"sentence": "a fine film"}])
    code, _, err = run_cli("predict", a, "--input_file", texts, "--output_file", data)  # nor predict
    assert code == 2 and "is the input file" in err and data.read_bytes() == before
    code, _, err = run_cli("diff", a, b, "--output_file", a / "samples.jsonl")
    assert code == 2 and "is a file of the run" in err


def test_export_never_replaces_a_training_run(finished_run, run_cli, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(finished_run("text-classification", "lora"), other)
    before = tree(other)
    code, _, err = run_cli("export", finished_run("text-classification", "full"), "--output_dir", other,
                           "--overwrite_output_dir")  # fmt: skip
    assert code == 2 and "holds a training run, not an earlier export" in err and "Traceback" not in err, err
    assert tree(other) == before
    assert not other.with_name("other.partial").exists()


def test_merge_never_replaces_a_training_run_or_an_export(finished_run, exported, run_cli, tmp_path):
    """The same for merge, whose flag says "replace an earlier merge"."""
    for name, source in (("other", finished_run("text-classification", "full")), ("export", exported)):
        other = tmp_path / name
        shutil.copytree(source, other)
        before = tree(other)
        code, _, err = run_cli("merge", finished_run("text-classification", "lora"), "--output_dir", other,
                               "--overwrite_output_dir")  # fmt: skip
        assert code == 2 and "not an earlier merge" in err and "Traceback" not in err, err
        assert tree(other) == before
    merged = tmp_path / "merged"
    for _ in range(2):  # an earlier merge is replaced
        code, _, err = run_cli("merge", finished_run("text-classification", "lora"), "--output_dir", merged,
                               "--overwrite_output_dir")  # fmt: skip
        assert code == 0, err


@pytest.mark.parametrize("command", ["tune", "seeds", "compare"])
def test_many_runs_are_never_written_into_a_run_folder(command, finished_run, tiny_bert, sentiment_files, tmp_path,
                                                       run_cli):  # fmt: skip
    run = tmp_path / "run"
    shutil.copytree(finished_run("text-classification", "full"), run)
    before = tree(run)
    for target in (run, run / "inside"):
        args = tiny_run_args(tiny_bert, sentiment_files, target, "--max_steps", "2")
        if command == "tune":
            args = ["tune", *args[1:], "--trials", "1"]
        elif command == "seeds":
            args += ["--seeds", "2"]
        else:
            args = ["compare", *args[1:], "--methods", "lora,full"]
        code, _, err = run_cli(*args)
        assert code == 2 and f"{run} is a run folder" in err and "Traceback" not in err, err
        assert tree(run) == before


def test_an_export_of_a_run_replaced_meanwhile_is_refused(finished_run, run_cli, tmp_path, monkeypatch):
    """A new run published into the folder while the export reads it: the export would mix the two runs' files."""
    from hf_transfer.artifacts import staging
    from hf_transfer.export import onnx as export

    run = tmp_path / "run"
    shutil.copytree(finished_run("text-classification", "full"), run)
    newer = tmp_path / "newer.partial"
    shutil.copytree(finished_run("text-classification", "lora"), newer)
    real = export.export_graph

    def replaced_meanwhile(*args, **kwargs):
        staging.publish(newer, run)  # what `run ... --output_dir run --overwrite_output_dir` does at its end
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "export_graph", replaced_meanwhile)
    code, _, err = run_cli("export", run, "--output_dir", tmp_path / "out")
    assert code == 2 and "was replaced by another run while it was exported" in err, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


@pytest.fixture(scope="module")
def exported(finished_run, tmp_path_factory):
    from hf_transfer.cli import main

    out = tmp_path_factory.mktemp("export") / "cls-onnx"
    main(argv=["export", str(finished_run("text-classification", "full")), "--output_dir", str(out)])
    return out


@pytest.mark.parametrize("damage", ["null entry", "entry without checksum", "path entry", "renamed outputs",
                                    "unknown predict_with", "no files"])  # fmt: skip
def test_an_export_record_with_damaged_entries_is_named(damage, exported, run_cli, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(exported, folder)
    record = json.loads((folder / "export.json").read_text())
    if damage == "null entry":
        record["files"]["model.onnx"] = None
    elif damage == "entry without checksum":
        record["files"]["model.onnx"] = {"bytes": 1}
    elif damage == "path entry":
        record["files"] = {"../../etc/hostname": {"bytes": 1, "sha256": "0"}, **record["files"]}
    elif damage == "renamed outputs":
        record["outputs"] = ["scores"]
    elif damage == "unknown predict_with":
        record["predict_with"] = "model_fp16.onnx"
    else:
        record["files"] = {}
    (folder / "export.json").write_text(json.dumps(record))
    for command in (["predict", folder, "a fine film"], ["eval", folder]):
        code, _, err = run_cli(*command)
        assert code == 2 and "export.json is damaged" in err and "Traceback" not in err, err


def test_an_export_whose_graph_lacks_the_recorded_outputs_is_named(exported, run_cli, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(exported, folder)
    record = json.loads((folder / "export.json").read_text())
    record["outputs"] = ["start_logits", "end_logits"]  # a known output name, but not this graph's
    (folder / "export.json").write_text(json.dumps(record))
    code, _, err = run_cli("predict", folder, "a fine film")
    assert code == 2 and "The export is damaged" in err and "Traceback" not in err, err


# ---- secrets


@pytest.mark.parametrize("url", ["postgresql://user:Pa55word-XYZ@127.0.0.1:9/db", "mysql://u:Pa55word-XYZ@[::1:9/db",
                                 "postgresql://user:Pa55word%2DXYZ@127.0.0.1:9/db"])  # fmt: skip
def test_a_storage_password_is_never_printed(url, tiny_bert, sentiment_files, tmp_path, run_cli):
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "study", "--max_steps", "2")
    code, out, err = run_cli("tune", *args[1:], "--trials", "1", "--storage", url)
    assert code == 2 and "could not be opened" in err and "Traceback" not in err, err
    assert "Pa55word" not in out + err and "***" in err


# ---- silently wrong


def test_a_run_without_its_tokenizer_files_is_refused(finished_run, exported, run_cli, tmp_path):
    """Without them the libraries built a 5-token vocabulary from the config: every word [UNK], accuracy 0.42
    against 0.77, exit 0."""
    for name, source in (("run", finished_run("text-classification", "full")), ("export", exported)):
        folder = tmp_path / name
        shutil.copytree(source, folder)
        for file in ("tokenizer.json", "tokenizer_config.json"):
            (folder / file).unlink(missing_ok=True)
        commands = [["eval", folder], ["predict", folder, "a fine film"]]
        if name == "run":
            commands.append(["export", folder, "--output_dir", tmp_path / "out"])
        for command in commands:
            code, _, err = run_cli(*command)
            assert code == 2 and "tokenizer" in err and "Traceback" not in err, (command, err)
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("b_fraction", [0.104, 0.1004])
def test_diff_refuses_runs_evaluated_on_other_rows_under_one_description(b_fraction, finished_run, run_cli, tmp_path):
    """Both say "a seeded 10% of t.jsonl": 6 rows against 7 (a traceback), or 6 other rows (compared row i with
    row i)."""
    from hf_transfer.artifacts.runs import RunFolder

    data = write_jsonl(tmp_path / "t.jsonl", sentiment_rows(60, seed=3))
    runs = []
    for name, fraction in (("a", 0.1), ("b", b_fraction)):
        run, _ = own_data_run(finished_run, tmp_path, name, data=data)
        recipe = RunFolder(run).requested_recipe()
        held_out = dataclasses.replace(recipe.data, validation_file=None, eval_fraction=fraction)
        RunFolder(run).write_recipe(dataclasses.replace(recipe, data=held_out))
        runs.append(run)
    described = {RunFolder(run).recipe().data.describe_evaluation() for run in runs}
    assert len(described) == 1
    code, out, err = run_cli("diff", *runs, "--output_file", tmp_path / "d.jsonl")
    assert code == 2 and "were not evaluated on the same rows" in err and "Traceback" not in err, err
    assert not (tmp_path / "d.jsonl").exists()
    code, out, err = run_cli("diff", *runs, "--output_file", tmp_path / "d.jsonl", "--validation_file", data)
    assert code == 0, err


def test_tune_keeps_the_settings_given_on_the_command_line(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    """`tune --num_train_epochs 1 --learning_rate 3e-4` trained trials at other epochs and rates without a word."""
    from hf_transfer.run import train

    trained = []

    def fake_run(recipe, folder, **kwargs):
        trained.append((recipe.training, recipe.lora.r if recipe.method == "lora" else None))
        value = 0.5 + 0.01 * len(trained)
        return {"eval": {"eval_accuracy": value}, "selection": {"value": value}}

    monkeypatch.setattr(train, "run", fake_run)
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "study", "--num_train_epochs", "1",
                         "--learning_rate", "3e-4")[1:]  # fmt: skip
    code, out, err = run_cli("tune", *args, "--trials", "3", "--methods", "lora", "--set", "lora.r=8")
    assert code == 0, err
    assert len(trained) == 3 and all(t["learning_rate"] == 3e-4 and t["num_train_epochs"] == 1 for t, _ in trained)
    assert len({t.get("warmup_ratio") for t, _ in trained}) == 1, "--warmup_steps 0 decides the warmup"
    assert len({t["weight_decay"] for t, _ in trained}) == 3, "what was not given is searched"
    assert {r for _, r in trained} == {8}
    assert "fixed by the command line, not searched: learning_rate, lora.r, num_train_epochs, warmup_ratio" in out
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {low: 1e-5, high: 1e-3, log: true}\nweight_decay: {low: 0, high: 0.1}\n")
    code, _, err = run_cli("tune", *args, "--trials", "1", "--space", space, "--output_dir", tmp_path / "other")
    assert code == 2 and "--space searches learning_rate (given as learning_rate=0.0003)" in err, err


def test_a_budget_the_run_fits_in_trains_the_same_model(tiny_bert, sentiment_files, tmp_path, run_cli):
    """The probe that forecasts what fits consumed random numbers: same seed, another model."""
    from safetensors.torch import load_file

    weights = []
    for name, extra in (("plain", []), ("budget", ["--time_budget", "1h"])):
        out = tmp_path / name
        code, text, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--max_steps", "6", *extra))
        assert code == 0, err
        weights.append(load_file(str(out / "model.safetensors")))
    assert "the whole run fits" in text
    assert weights[0].keys() == weights[1].keys()
    assert all(bool((weights[0][k] == weights[1][k]).all()) for k in weights[0])


def test_plan_json_is_pure_json_on_stdout(tiny_bert, sentiment_files, tmp_path, run_cli):
    args = [str(a) for a in tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--max_steps", "4")]
    at = args.index("--output_dir")  # plan writes no run folder
    code, out, err = run_cli("plan", *args[1:at], *args[at + 2 :], "--json")
    assert code == 0, err
    forecasts = json.loads(out)
    assert forecasts[0]["method"] == "full" and "probing full" in err


# ---- memory and hangs


@pytest.mark.parametrize("command", ["compare", "run"])
def test_an_absurd_number_of_seeds_is_refused_up_front(command, tiny_bert, sentiment_files, tmp_path, run_cli):
    """`compare --seeds 100000000` grew to 4 GiB listing its runs before anything trained."""
    import resource

    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "out", "--max_steps", "4")[1:]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra = ["--methods", "lora,full"] if command == "compare" else []
    code, out, err = run_cli(command, *args, "--seeds", "100000000", *extra)
    assert code == 2 and "at most 10,000 are run" in err and "all would take" in err and "Traceback" not in err, err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB
    assert not (tmp_path / "out").exists()


# ---- tracebacks instead of a message


def test_tune_into_a_folder_it_cannot_make_says_so(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    locked = tmp_path / "locked"
    locked.mkdir()
    real = Path.mkdir

    def refuse(self, *args, **kwargs):  # root writes into a read-only folder anyway: fail as one would
        if locked in self.parents:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    for target, message in ((a_file / "study", "is a file, not a folder"), (locked / "study", "cannot be written")):
        args = tiny_run_args(tiny_bert, sentiment_files, target, "--max_steps", "2")[1:]
        for command in (["tune", *args, "--trials", "1"], ["compare", *args, "--methods", "full"]):
            code, _, err = run_cli(*command)
            assert code == 2 and message in err and "Traceback" not in err, err
    assert a_file.read_text() == "x" and list(locked.iterdir()) == []


def test_compare_with_every_fraction_too_small_says_so(tiny_bert, sentiment_files, tmp_path, run_cli):
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "cmp", "--max_steps", "2")[1:]
    code, _, err = run_cli("compare", *args, "--methods", "full", "--fractions", "0.001,0.002")
    assert code == 2 and "Every fraction is too small to run" in err and "Traceback" not in err, err
    assert not (tmp_path / "cmp").exists()


def test_tune_trials_refused_alike_stop_the_study_with_the_reason(tiny_bert, sentiment_files, tmp_path, run_cli,
                                                                   monkeypatch):  # fmt: skip
    """Every trial refused (a budget too small for them, a selection split that cannot train): Optuna printed each
    one's traceback, and the study ran them all before saying only "no trial finished"."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.run import train

    calls = []

    def refused(recipe, folder, **kwargs):
        calls.append(folder)
        raise UserError(f"--time_budget 2 s is too small for this run here: need at least {len(calls) + 20} s.")

    monkeypatch.setattr(train, "run", refused)
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "study", "--max_steps", "2")[1:]
    code, out, err = run_cli("tune", *args, "--trials", "6")
    assert code == 2 and "Traceback" not in out + err, err
    assert len(calls) == 2, "the study stops once its first two trials fail alike"
    assert "Every trial failed with: --time_budget 2 s is too small" in err


def test_tune_refit_under_a_budget_too_small_is_refused_before_any_trial(tiny_bert, sentiment_files, tmp_path,
                                                                          run_cli):  # fmt: skip
    out = tmp_path / "study"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--max_steps", "2")[1:]
    # half a second is gone before the refit is forecast, on any machine: refused before any trial
    code, text, err = run_cli("tune", *args, "--trials", "2", "--refit", "--time_budget", "0.5s")
    assert code == 2 and "too small for tune --refit here" in err and "Traceback" not in err, err
    assert "=== trial" not in text and not (out / "trials").exists()


def test_run_seeds_by_default_writes_beside_the_single_run_not_into_it(tiny_bert, sentiment_files, tmp_path, run_cli,
                                                                      monkeypatch):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    args = tiny_run_args(tiny_bert, sentiment_files, "unused", "--max_steps", "2")
    at = args.index("--output_dir")
    args = args[:at] + args[at + 2:]
    code, out, err = run_cli(*args)
    assert code == 0, err
    (single,) = (tmp_path / "runs").iterdir()
    before = tree(single)
    code, out, err = run_cli(*args, "--seeds", "2")
    assert code == 0, err
    assert tree(single) == before
    assert (single.with_name(single.name + "-seeds") / "report.json").is_file()


def test_tune_seeds_say_whether_the_winner_beats_the_runner_up(tiny_bert, sentiment_files, tmp_path, run_cli,
                                                               monkeypatch):  # fmt: skip
    from hf_transfer.run import train

    def fake(recipe, options, console=None, callbacks=()):
        # the command line fixes the learning rate: weight decay is searched; the seed moves every trial alike
        value = 0.5 + recipe.training["weight_decay"] + 0.001 * recipe.training.get("seed", 42)
        return {"eval": {"eval_accuracy": value}, "selection": {"value": value}}

    monkeypatch.setattr(train, "run", fake)
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "seeded", "--max_steps", "2")[1:]
    code, out, err = run_cli("tune", *args, "--trials", "2", "--seeds", "2")
    assert code == 0, err
    assert "Against the runner-up, trial" in out and "paired t-interval over 2 seeds" in out
    report = json.loads((tmp_path / "seeded" / "report.json").read_text())
    assert report["best"]["against_runner_up"]["within_noise"] is False, "the same gap on both seeds"
    one = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "one", "--max_steps", "2")[1:]
    code, out, err = run_cli("tune", *one, "--trials", "2")
    assert code == 0, err
    assert "One seed per trial" in out
    code, _, err = run_cli("tune", *args, "--trials", "2", "--seeds", "0", "--output_dir", tmp_path / "zero")
    assert code == 2 and "--seeds must be a whole number, 1 or more" in err

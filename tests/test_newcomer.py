"""What a newcomer meets (issue 32): a recipe's sample limits and the user's own file, column errors that name
their fix, one readable console line per fact, predictions as a table, where diff writes, a per-class report."""

from __future__ import annotations

import pytest

from conftest import sentiment_rows, tiny_run_args, write_csv

ONE_EPOCH = ["--num_train_epochs", "1"]


def resolved(*argv):
    from hf_transfer.cli import build_parser
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import resolve_run

    args, rest = build_parser().parse_known_args(["run", "rotten-tomatoes-minilm", *map(str, argv)])
    return resolve_run(find_recipe(args.recipe)[0], vars(args), rest)[0]


# ---- 1. a packaged recipe's sample limits belong to its packaged data


def test_a_recipes_sample_limit_does_not_follow_the_users_file(tmp_path):
    mine = write_csv(tmp_path / "mine.csv", sentiment_rows(20))
    assert resolved().data.max_train_samples == 6000, "the demo, as written, keeps its limit"
    assert resolved("--train_file", mine).data.max_train_samples is None
    assert resolved("--train_file", mine, "--max_train_samples", "7").data.max_train_samples == 7
    assert resolved("--train_file", mine, "--set", "data.max_train_samples=9").data.max_train_samples == 9


def test_the_console_says_each_limit_that_cut_the_data_and_where_it_is_set(tiny_bert, sentiment_files, tmp_path,
                                                                          run_cli):  # fmt: skip
    import re

    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", *ONE_EPOCH, "--max_train_samples", "100")
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert "train on 100 of 160 rows (max_train_samples from --max_train_samples, a seeded sample)" in out
    at = args.index("--output_dir")
    planned = args[1:at] + args[at + 2 : -2]  # plan writes no run folder; without --max_train_samples
    code, out, err = run_cli("plan", *planned, "--set", "data.max_eval_samples=30")
    assert code == 0, err
    said = "evaluate on 30 of 40 rows (max_eval_samples from --set data.max_eval_samples, a seeded sample), once"
    assert out.count(said) == 1 and "at most 30" not in out, "said once, with the rows it kept"
    code, out, err = run_cli("plan", "rotten-tomatoes-minilm", "--model_name_or_path", tiny_bert, "--max_steps", "2")
    assert code == 0, err
    assert re.search(r"train on 6,000 of [\d,]+ rows \(max_train_samples from the recipe, a seeded sample\)", out), out


def test_copy_onto_the_users_file_leaves_the_demos_limit_and_docstring_behind(tmp_path, run_cli):
    from hf_transfer.recipe.registry import find_recipe

    mine = write_csv(tmp_path / "mine.csv", sentiment_rows(20))
    code, out, err = run_cli("copy", "rotten-tomatoes-minilm", tmp_path / "my_sentiment.py", "--train_file", mine)
    assert code == 0, err
    assert "max_train_samples=6000 left out" in out
    copied, _ = find_recipe(str(tmp_path / "my_sentiment.py"))
    assert copied.data.train_file == str(mine) and copied.data.max_train_samples is None
    text = (tmp_path / "my_sentiment.py").read_text()
    assert "offline demo" not in text and "6000" not in text
    assert text.startswith('"""Adapted from the hf_transfer recipe rotten-tomatoes-minilm.')
    code, out, err = run_cli("copy", "rotten-tomatoes-minilm", tmp_path / "demo_copy.py")  # no file: the demo's data
    assert code == 0, err
    assert find_recipe(str(tmp_path / "demo_copy.py"))[0].data.max_train_samples == 6000


# ---- 3. one readable line per fact, once


def test_plan_with_several_methods_says_each_fact_once_and_prints_no_trainer_dicts(tiny_bert, sentiment_files,
                                                                                   run_cli):  # fmt: skip
    args = [a for a in tiny_run_args(tiny_bert, sentiment_files, "unused")[1:] if a not in ("--output_dir", "unused")]
    code, out, err = run_cli("plan", *args, "--methods", "full,lora,freeze")
    assert code == 0, err
    print(out, err)
    lines = [line for line in (out + err).splitlines() if line.strip()]
    assert not [line for line in lines if "{'" in line or "'loss'" in line], "no raw Trainer dictionaries"
    repeated = {line for line in lines if lines.count(line) > 1}
    assert not repeated, repeated
    assert sum("labels (2)" in line for line in lines) == 1


LIBRARY_NOISE = ("Skipping publisher trust check", "gemm_4bit_forward", "pip install kernels")


def hf_transfer_process(*args, cwd=None):
    """``hf-transfer ARGS`` in a fresh process (its imports speak once per process), output piped."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "hf_transfer", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=300)  # fmt: skip


def test_show_training_and_a_run_keep_bitsandbytes_kernel_messages_off_the_console(tiny_bert, sentiment_files,
                                                                                   tmp_path):  # fmt: skip
    shown = hf_transfer_process("show", "rotten-tomatoes-minilm", "--training")
    assert shown.returncode == 0, shown.stderr
    assert not [n for n in LIBRARY_NOISE if n in shown.stdout + shown.stderr], shown.stderr
    ran = hf_transfer_process(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--max_steps", "2"))
    assert ran.returncode == 0, ran.stderr
    assert not [n for n in LIBRARY_NOISE if n in ran.stdout + ran.stderr], ran.stderr
    assert "Skipping publisher trust check" in (tmp_path / "run" / "train.log").read_text(), "kept in train.log"
    assert "{'" not in ran.stdout + ran.stderr and "\r" not in ran.stdout + ran.stderr, "piped: no dicts, no bars"


def test_a_budgeted_run_prints_no_trainer_dicts(tiny_bert, sentiment_files, tmp_path, run_cli):
    code, out, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", *ONE_EPOCH), "--time_budget",
                             "5m")  # fmt: skip
    assert code == 0, err
    assert "[hf-transfer] time budget" in out
    assert "{'" not in out + err, out + err


def test_tune_trials_under_a_time_budget_print_no_trainer_dicts(tiny_bert, sentiment_files, tmp_path, run_cli):
    args = tiny_run_args(tiny_bert, sentiment_files, tmp_path / "tune", *ONE_EPOCH)
    code, out, err = run_cli("tune", *args[1:], "--trials", "1", "--time_budget", "5m")
    assert code == 0, err
    assert "=== trial 0" in out and "{'" not in out + err, out + err


# ---- 2. a column error ends with the flag that fixes it


@pytest.mark.parametrize(
    ("columns", "fix"),
    [
        (["sentence", "label"], "--set data.columns.text=sentence"),
        (["review body", "stars"], "--set 'data.columns.text=review body'"),
        (["sentense", "label"], "--set data.columns.text=sentense"),
    ],
)
def test_a_missing_column_error_ends_with_the_flag_that_maps_it(columns, fix, tmp_path, run_cli):
    rows = [dict(zip(columns, (r["sentence"], r["label"]), strict=True)) for r in sentiment_rows(20)]
    mine = write_csv(tmp_path / "mine.csv", rows)
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--train_file", mine, "--output_dir", tmp_path / "run")
    assert code == 2, err
    assert "Column 'text' (text) is not in the train split" in err
    assert err.strip().endswith(fix), err
    assert not (tmp_path / "run").exists()


def test_eval_on_a_file_with_other_column_names_says_which_column_to_rename(finished_run, tmp_path, run_cli):
    rows = [{"review": r["sentence"], "label": r["label"]} for r in sentiment_rows(10)]
    code, _, err = run_cli("eval", finished_run("text-classification", "full"), "--validation_file",
                           write_csv(tmp_path / "other.csv", rows))  # fmt: skip
    assert code == 2 and "rename the file's column 'review' to that" in err, err


# ---- 5. where diff writes; what cache lists


def test_diff_writes_its_flips_beside_the_second_run_and_says_where(finished_run, tmp_path, monkeypatch, run_cli):
    import shutil

    runs = tmp_path / "runs"
    for method in ("full", "lora"):
        shutil.copytree(finished_run("text-classification", method), runs / method)
    elsewhere = tmp_path / "shell"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run_cli("diff", runs / "full", runs / "lora")
    assert code == 0, err
    written = runs / "diff-full-vs-lora.jsonl"
    assert written.is_file() and list(elsewhere.iterdir()) == [], "nothing in the folder the shell is in"
    assert f"examples that changed: {written}" in out
    assert "\r" not in err and "it/s" not in err, "no unlabelled bars of the Trainer's own"


def test_cache_lists_a_validation_file_under_its_own_name(tiny_bert, tmp_path, monkeypatch, run_cli):
    train = write_csv(tmp_path / "train.csv", sentiment_rows(40, seed=5))
    validation = write_csv(tmp_path / "validation.csv", sentiment_rows(12, seed=6))
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    files = {"train": train, "validation": validation}
    code, _, err = run_cli(*tiny_run_args(tiny_bert, files, tmp_path / "run", "--max_steps", "1"))
    assert code == 0, err
    code, out, err = run_cli("cache")
    assert code == 0, err
    assert f"{validation} [validation]" in out and f"{train} [train]" in out
    assert f"{train} [validation]" not in out


# ---- 4. predict --output_file x.csv: one column per field


def test_predict_csv_has_one_column_per_field_and_reads_in_pandas_as_is(finished_run, tmp_path, run_cli):
    import pandas as pd

    run = finished_run("text-classification", "full")
    texts = ["a good film", "awful and dull", "   "]
    plain = write_csv(tmp_path / "plain.csv", [{"sentence": t, "source": "web"} for t in texts])
    code, _, err = run_cli("predict", run, "--input_file", plain, "--output_file", tmp_path / "plain-preds.csv")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "plain-preds.csv")
    assert list(table.columns) == ["row", "sentence", "prediction", "score", "error"], "no empty id column"
    assert table["sentence"].tolist()[:2] == texts[:2] and set(table["prediction"][:2]) <= {"pos", "neg"}
    assert table["score"].dtype == float and (table["score"][:2] > 0.5).all(), "the top label's probability"
    assert table["error"].isna().tolist() == [True, True, False]
    _, single, _ = run_cli("predict", run, texts[0])
    assert f"{table['prediction'][0]} ({table['score'][0]:.3f})" in single, "the file gives what one text gives"

    with_ids = write_csv(tmp_path / "ids.csv", [{"id": f"r{i}", "sentence": t} for i, t in enumerate(texts[:2])])
    code, _, err = run_cli("predict", run, "--input_file", with_ids, "--output_file", tmp_path / "id-preds.csv")
    assert code == 0, err
    table = pd.read_csv(tmp_path / "id-preds.csv")
    assert list(table.columns) == ["row", "id", "prediction", "score"] and table["id"].tolist() == ["r0", "r1"]


def test_predict_csv_of_question_answering_gives_answer_score_and_span(finished_run, tmp_path, run_cli):
    import pandas as pd

    from conftest import write_jsonl

    qa = write_jsonl(tmp_path / "qa.jsonl", [{"id": "q1", "question": "where does farah live ?",
                                             "context": "farah lives in quito and works as a nurse ."}])  # fmt: skip
    code, _, err = run_cli("predict", finished_run("question-answering", "full"), "--input_file", qa,
                           "--output_file", tmp_path / "qa.csv")  # fmt: skip
    assert code == 0, err
    table = pd.read_csv(tmp_path / "qa.csv", keep_default_na=False)
    assert list(table.columns) == ["row", "id", "prediction", "score", "start", "end"]
    assert not str(table["prediction"][0]).startswith(("{", "["))


# ---- 6. a per-class report and a confusion matrix in every classification run


def test_a_classification_run_reports_each_class_and_its_confusion_matrix(tiny_bert, sentiment_files, tmp_path,
                                                                           run_cli):  # fmt: skip
    import json

    from hf_transfer.base.class_report import by_class

    out = tmp_path / "run"
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, *ONE_EPOCH))
    assert code == 0, err
    classes = json.loads((out / "metrics.json").read_text())["classes"]
    assert set(classes["per_class"]) == {"neg", "pos"}
    matrix = classes["confusion"]
    assert matrix["labels"] == ["neg", "pos"] and sum(map(sum, matrix["counts"])) == 40, "every evaluation row"
    support = {name: sum(row) for name, row in zip(matrix["labels"], matrix["counts"], strict=True)}
    assert support == {name: c["support"] for name, c in classes["per_class"].items()} == {"neg": 20, "pos": 20}
    correct = sum(matrix["counts"][i][i] for i in range(2))
    assert json.loads((out / "metrics.json").read_text())["eval"]["eval_accuracy"] == pytest.approx(correct / 40)
    recall = matrix["counts"][1][1] / 20
    assert classes["per_class"]["pos"]["recall"] == pytest.approx(recall)
    assert "class  precision  recall  F1     support  predicted neg  predicted pos" in stdout
    card = (out / "README.md").read_text()
    assert "| class | precision | recall | F1 | support | predicted neg | predicted pos |" in card
    row = classes["per_class"]["neg"]
    cells = [f"{row[k]:.3f}" for k in ("precision", "recall", "f1")] + ["20", str(matrix["counts"][0][0])]
    assert "| neg | " + " | ".join(cells) + " |" in card
    records = [{"by_class": {"a": {"tp": 1, "fp": 0, "fn": 1}}}, {"by_class": {"a": {"tp": 0, "fp": 1, "fn": 0}}}]
    assert by_class(records)["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})


def test_a_token_classification_run_reports_each_entity_type(finished_run):
    import json

    run = finished_run("token-classification", "full")
    classes = json.loads((run / "metrics.json").read_text())["classes"]
    assert set(classes["per_class"]) >= {"PER", "LOC"} and classes["confusion"] is None
    assert "| class | precision | recall | F1 | support |\n" in (run / "README.md").read_text(), "no matrix columns"


# ---- 7. the README: tables name their CPU; every Hub example has an offline twin


def readme_section(title: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_export_tables_name_the_cpu_they_were_measured_on():
    export = readme_section("Export to ONNX")
    assert "this machine" not in export and "this CPU" not in export
    assert "x86_64 CPU with AVX2" in export


def test_every_using_it_example_that_needs_the_hub_has_an_offline_twin():
    from hf_transfer.recipe.registry import packaged_recipes
    from hf_transfer.sources import PackagedData

    blocks = readme_section("Using it").split("```bash\n")[1:3]
    hub, offline = ([" ".join(line.split()) for line in block.split("```")[0].replace("\\\n", " ").split("\n")]
                    for block in blocks)  # fmt: skip
    shipped = ("$M", "HuggingFaceTB/SmolLM2-135M-Instruct")  # checkpoints that installed packages ship
    recipes = packaged_recipes()
    packaged = {n for n, (r, _) in recipes.items() if isinstance(r.data, PackagedData)}

    def runs(lines):
        return [line.split()[2] for line in lines if line.startswith("hf-transfer run ")]

    for line in offline:
        if line.startswith("hf-transfer run "):
            name = line.split()[2]
            assert name in packaged or name.endswith(".py") or (
                any(f"--model_name_or_path {m} " in line for m in shipped) and "--train_file $D/" in line), line
    hub_runs = [n for n in runs(hub) if n in recipes and n not in packaged]
    assert hub_runs, "the Hub examples are found"
    twins = set(runs(offline))
    assert all(n in twins or n in ("mrpc-bert", "xsum-t5-small") for n in hub_runs), hub_runs

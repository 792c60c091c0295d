"""What a user adapting a recipe meets (issue 18): an adapted run says so, the card says exactly what was
evaluated, run_glue's --do_* switches, compare with another budget, eval's table, quiet predict."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import sentiment_rows, tiny_run_args, write_csv


def test_an_adapted_run_says_so_instead_of_the_templates_description(finished_run):
    run = finished_run("text-classification", "full")
    card = (run / "README.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "Adapted from the hf_transfer recipe rotten-tomatoes-minilm: checkpoint " in card
    assert "instead of sentence-transformers/all-MiniLM-L6-v2" in card and "train.csv instead of" in card
    assert "Short movie-review snippets" not in card.split("## How to use")[0]
    # and exactly what was evaluated: the validation file, its row count
    assert metrics["evaluated_on"].startswith("the file ") and metrics["evaluated_on"].endswith("valid.csv")
    assert f"Evaluated on {metrics['samples']['eval']} examples: the file " in card
    assert "held out" not in card


def test_an_adapted_run_gets_a_folder_of_its_own(monkeypatch, tmp_path, tiny_bert, sentiment_files):
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import resolve_run

    template, _ = find_recipe("rotten-tomatoes-minilm")
    _, options = resolve_run(template, {"train_file": str(sentiment_files["train"])})
    assert options.output_dir.name == "rotten-tomatoes-minilm-train-full"
    _, options = resolve_run(template, {})
    assert options.output_dir.name == "rotten-tomatoes-minilm-full"


def test_qa_cards_count_questions_not_windows(finished_run):
    run = finished_run("question-answering", "full")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["unit"] == "questions" and metrics["samples"]["eval"] == 30  # helpers.write_data: 30 questions
    card = (run / "README.md").read_text()
    assert f"Evaluated on {metrics['samples']['eval']} questions" in card
    if "features" in metrics:  # long contexts: more windows than questions, and both are said
        assert metrics["features"]["eval"] > metrics["samples"]["eval"]
        assert f"({metrics['features']['eval']} windows)" in card


def test_do_eval_alone_and_do_predict_without_a_file_name_the_hf_transfer_way(run_cli, tmp_path):
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--do_eval", "--output_dir", tmp_path / "a")
    assert code == 2 and "hf-transfer eval RUN_DIR" in err
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--do_train", "false", "--output_dir", tmp_path / "a")
    assert code == 2 and "always trains" in err
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--do_predict", "--output_dir", tmp_path / "a")
    assert code == 2 and "--do_predict needs --test_file" in err
    code, _, err = run_cli("run", "rotten-tomatoes-minilm", "--test_file", tmp_path / "none.csv")
    assert code == 2 and "none.csv does not exist" in err
    assert not any(tmp_path.iterdir())


def test_do_train_do_eval_do_predict_with_a_test_file_writes_predictions(run_cli, tiny_bert, sentiment_files, tmp_path):
    test_file = write_csv(tmp_path / "unlabelled.csv", [{"sentence": r["sentence"]} for r in sentiment_rows(25, 7)])
    out = tmp_path / "run"
    code, stdout, err = run_cli(
        *tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1"),
        "--do_train", "--do_eval", "--do_predict", "--test_file", test_file,
    )  # fmt: skip
    assert code == 0, err
    predictions = [json.loads(line) for line in (out / "predictions-unlabelled.jsonl").read_text().splitlines()]
    assert [p["row"] for p in predictions] == list(range(25))
    assert all(p["prediction"][0][0] in ("neg", "pos") for p in predictions)  # (label, score) pairs, best first
    assert "Predictions for unlabelled.csv (25 rows)" in stdout


def test_compare_with_another_budget_does_not_reuse_old_runs(run_cli, tiny_bert, sentiment_files, tmp_path):
    out = tmp_path / "cmp"

    def compare(samples: str, *extra: str):
        args = tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", "1", "--max_train_samples", samples)
        return run_cli("compare", *args[1:], "--methods", "lora", *extra)

    def used(folder) -> int:  # compare's runs choose on rows carved from the capped training rows
        samples = json.loads((folder / "metrics.json").read_text())["samples"]
        return samples["train"] + samples.get("selection", 0)

    code, _, err = compare("64")
    assert code == 0, err
    assert used(out / "lora") == 64
    code, stdout, err = compare("64")
    assert code == 0 and "same settings found" in stdout
    code, _, err = compare("48")
    assert code == 2 and "other settings" in err and "--overwrite_output_dir" in err
    assert used(out / "lora") == 64
    code, _, err = compare("48", "--overwrite_output_dir")
    assert code == 0, err
    assert used(out / "lora") == 48
    report = json.loads((out / "report.json").read_text())["samples"]
    assert report["train"] + report.get("selection", 0) == 48


@pytest.mark.parametrize("command", ["eval", "predict"])
def test_eval_and_predict_of_a_lora_run_print_no_loading_report(finished_run, run_cli, command):
    run = finished_run("text-classification", "lora")
    code, stdout, err = run_cli(command, run, *(["a fine film"] if command == "predict" else []))
    assert code == 0, err
    assert "MISSING" not in stdout + err and "LOAD REPORT" not in stdout + err
    if command == "eval":
        assert "majority class accuracy (baseline, from the training data)" in stdout


def test_copy_renames_a_recipe_module_whatever_its_text(tmp_path):
    """Non-ASCII text, line separators Python does not count as lines, no description, an emoji: the copy
    loads, with its new name and description, and the rest of the file as written."""
    from hf_transfer.recipe.registry import find_recipe, renamed_source

    source = tmp_path / "src.py"
    source.write_text(
        '"""Café \u2028 recipe."""\n\nfrom hf_transfer import PackagedData, Recipe, TextClassification\n\n'
        "# naïve \u2028 comment\nRECIPE = Recipe(\n    name='cafe-x',\n    checkpoint=\"x\",\n"
        '    data=PackagedData("rotten-tomatoes-snippets"),\n    task=TextClassification(),\n'
        '    expected={"accuracy": 0.9},\n)\n',
        encoding="utf-8",
    )
    template, _ = find_recipe(str(source))
    copied = dataclasses.replace(template, name="mine", description="Émoji 😀 reviews", expected={})
    out = tmp_path / "out.py"
    out.write_text(renamed_source(source.read_text(encoding="utf-8"), template, copied), encoding="utf-8")
    loaded, _ = find_recipe(str(out))
    assert (loaded.name, loaded.description, loaded.expected) == ("mine", "Émoji 😀 reviews", {})
    assert "# naïve \u2028 comment" in out.read_text(encoding="utf-8")
    assert loaded.checkpoint == "x" and loaded.task == template.task


def test_push_leaves_out_what_names_local_paths_or_holds_the_users_data():
    from hf_transfer.commands.hub import local_only

    assert local_only("train.log") and local_only("predictions-new.jsonl") and local_only("eval-dev.json")
    assert not any(local_only(n) for n in ("model.safetensors", "metrics.json", "recipe.yaml", "evaluation.md"))

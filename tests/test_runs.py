"""End-to-end runs through the CLI on the tiny BERT: full, freeze, lora; eval; predict; reload checks."""

from __future__ import annotations

import json

import pytest
import yaml

from conftest import tiny_run_args, write_jsonl


def run_args(tiny_bert, files, out, method, *extra):
    return tiny_run_args(tiny_bert, files, out, "--method", method, *extra)


@pytest.fixture(scope="module")
def finished_runs(finished_run):
    """One finished run per method, from the task x method matrix (tests/helpers.py)."""
    return {method: finished_run("text-classification", method) for method in ("full", "freeze", "lora")}


@pytest.mark.parametrize("method", ["full", "freeze", "lora"])
def test_run_folder_is_complete(finished_runs, method):
    out = finished_runs[method]
    names = {p.name for p in out.iterdir()}
    assert {"recipe.yaml", "metrics.json", "trainer_state.json", "training_curves.png", "tokenizer.json"} <= names
    if method == "lora":
        assert {"adapter_config.json", "adapter_model.safetensors"} <= names
    else:
        assert {"config.json", "model.safetensors"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names), "weights must be safetensors"
    assert not (out / "checkpoints").exists()
    assert not out.with_name(out.name + ".partial").exists()

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method
    check = metrics["reload_check"]
    assert check["match"] is True and check["rows"] == 8 and check["changed_predictions"] == 0
    assert check["max_difference"] <= check["tolerance"] * max(1, check["scale"])
    for key in ("train_runtime", "train_samples_per_second", "wall_seconds"):
        assert metrics["train"][key] > 0
    card = (out / "README.md").read_text()
    if method == "freeze":  # 6 steps, under one epoch: one evaluation, nothing to choose, nothing carved
        assert metrics["samples"] == {"train": 160, "eval": 40} and metrics["selection"]["rows"] == 0
        assert "kept" not in metrics and "Nothing was chosen on held-out rows" in card
    else:  # three epochs choose their kept checkpoint on 10% carved from the 160 training rows; the 40 evaluation
        # rows are scored once, by the kept model
        assert metrics["samples"] == {"train": 144, "selection": 16, "eval": 40}
        selection = metrics["selection"]
        assert selection["rows"] == 16 and selection["value"] == metrics["kept"]["value"]
        assert "16 rows chose the model" in card and "40 evaluation rows reported its result" in card
    assert 0 < metrics["parameters"]["trainable"] <= metrics["parameters"]["total"]
    assert metrics["baselines"]["majority_class_accuracy"] == pytest.approx(0.5)

    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["method"] == method
    # recipe.yaml keeps what was asked for; what the run learned from its data is recorded beside it
    # (--train_file: the length limit, which the recipe sized for its own data, is measured on these rows)
    assert recipe["task"]["label_names"] is None and recipe["task"]["max_length"] is None
    learned = json.loads((out / "learned.json").read_text())
    assert learned == {"label_names": ["neg", "pos"], "max_length": learned["max_length"]}
    assert 16 <= learned["max_length"] <= 128 and learned["max_length"] % 8 == 0
    assert recipe["data"]["type"] == "files"
    assert recipe["training"]["learning_rate"] == pytest.approx(5e-3)


def test_methods_train_what_they_should(finished_runs):
    share = {m: json.loads((finished_runs[m] / "metrics.json").read_text())["parameters"] for m in finished_runs}
    assert share["full"]["trainable"] == share["full"]["total"]
    # freeze trains the classifier and the pooler only: 32*32+32 + 32*2+2
    assert share["freeze"]["trainable"] == 32 * 32 + 32 + 32 * 2 + 2
    assert share["freeze"]["trainable"] < share["lora"]["trainable"] < share["full"]["trainable"]


def test_full_run_learns_the_task(finished_runs):
    metrics = json.loads((finished_runs["full"] / "metrics.json").read_text())
    assert metrics["eval"]["eval_accuracy"] >= 0.9 > metrics["baselines"]["majority_class_accuracy"]


@pytest.mark.parametrize("method", ["full", "lora"])
def test_eval_command_reproduces_metrics(finished_runs, method, run_cli):
    code, out, err = run_cli("eval", finished_runs[method])
    assert code == 0, err
    reported = json.loads((finished_runs[method] / "eval-validation.json").read_text())["metrics"]
    assert f"accuracy {reported['eval_accuracy']:.4f}" in " ".join(out.split())
    saved = json.loads((finished_runs[method] / "metrics.json").read_text())
    assert reported["eval_accuracy"] == pytest.approx(saved["eval"]["eval_accuracy"], abs=1e-6)


def test_eval_on_another_file(finished_runs, run_cli, tmp_path):
    from conftest import sentiment_rows, write_csv

    rows = sentiment_rows(30, seed=11)
    other = write_csv(tmp_path / "other.csv", rows)
    code, out, err = run_cli("eval", finished_runs["full"], "--validation_file", other)
    assert code == 0, err
    reported = json.loads((finished_runs["full"] / "eval-other.json").read_text())["metrics"]
    assert reported["eval_samples_per_second"] > 0
    assert 0.8 <= reported["eval_accuracy"] <= 1.0
    flipped = write_csv(
        tmp_path / "flipped.csv", [dict(r, label="neg" if r["label"] == "pos" else "pos") for r in rows]
    )
    code, out, err = run_cli("eval", finished_runs["full"], "--validation_file", flipped)
    assert code == 0, err
    flipped_accuracy = json.loads((finished_runs["full"] / "eval-flipped.json").read_text())["metrics"]["eval_accuracy"]
    assert flipped_accuracy == pytest.approx(1 - reported["eval_accuracy"], abs=1e-6)


@pytest.mark.parametrize("method", ["full", "lora"])
def test_predict_prints_labels_with_scores(finished_runs, method, run_cli):
    code, out, err = run_cli("predict", finished_runs[method], "a great and lovely film", "a dull and boring plot")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == "a great and lovely film" and lines[2] == "a dull and boring plot"
    for line in (lines[1], lines[3]):
        shown = dict(part.rstrip(")").split(" (") for part in line.strip().removeprefix("-> ").split(", "))
        assert set(shown) == {"pos", "neg"}
        assert sum(float(v) for v in shown.values()) == pytest.approx(1.0, abs=2e-3)
    if method == "full":  # the only method that learns this task from a random tiny encoder
        assert lines[1].strip().startswith("-> pos (") and lines[3].strip().startswith("-> neg (")


def test_lora_reload_gives_identical_logits(finished_runs, tiny_bert):
    import torch

    from hf_transfer.artifacts.models import load_run

    _, first, tokenizer = load_run(finished_runs["lora"])
    _, second, _ = load_run(finished_runs["lora"])
    batch = tokenizer(["a great film", "a dull story"], return_tensors="pt", padding=True)
    with torch.no_grad():
        a, b = first(**batch).logits, second(**batch).logits
    assert torch.equal(a, b)
    # and the adapter really changed the head: the untrained base gives other logits
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2).eval()
    with torch.no_grad():
        assert not torch.allclose(base(**batch).logits, a)


def test_finished_run_is_not_overwritten(finished_runs, tiny_bert, sentiment_files, run_cli):
    out = finished_runs["full"]
    before = (out / "metrics.json").read_text()
    code, _, err = run_cli(*run_args(tiny_bert, sentiment_files, out, "full"))
    assert code == 2
    assert "already holds a finished run" in err and "--overwrite_output_dir" in err
    assert "Traceback" not in err
    assert (out / "metrics.json").read_text() == before


def test_overwrite_replaces_only_after_success(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli(*run_args(tiny_bert, sentiment_files, out, "freeze", "--num_train_epochs", "1"))
    assert code == 0, err
    first = json.loads((out / "metrics.json").read_text())
    # a failing replacement (bad column) keeps the earlier run as it was
    code, _, err = run_cli(
        *run_args(
            tiny_bert, sentiment_files, out, "freeze", "--overwrite_output_dir", "--set", "data.columns.text=sentense"
        )
    )
    assert code == 2 and "sentense" in err
    assert json.loads((out / "metrics.json").read_text()) == first
    code, _, err = run_cli(
        *run_args(tiny_bert, sentiment_files, out, "freeze", "--overwrite_output_dir", "--num_train_epochs", "2")
    )
    assert code == 0, err
    second = json.loads((out / "metrics.json").read_text())
    assert second["train"]["epoch"] == 2 and first["train"]["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_multi_label_run(tiny_bert, tmp_path, run_cli):
    import random

    rng = random.Random(3)
    words = {"joy": "great lovely", "anger": "awful terrible", "fear": "dull tedious"}
    rows = []
    for _ in range(120):
        labels = sorted(rng.sample(list(words), rng.randint(1, 2)))
        rows.append({"text": " ".join(words[label] for label in labels) + " the film", "labels": labels})
    train, valid = write_jsonl(tmp_path / "train.jsonl", rows[:90]), write_jsonl(tmp_path / "valid.jsonl", rows[90:])
    out = tmp_path / "ml"
    code, stdout, err = run_cli(*tiny_run_args(
        tiny_bert, {"train": train, "validation": valid}, out, "--set", "task.problem_type=multi_label", "--set",
        "data.columns.label=labels", "--set", "metrics=[f1, accuracy]", "--num_train_epochs", "10", text_column=None,
    ))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_f1" and metrics["reload_check"]["match"]
    assert metrics["eval"]["eval_f1"] > 0.6, "the labels are spelled out by their words: well above chance"
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert sorted(config["id2label"].values()) == ["anger", "fear", "joy"]
    code, stdout, err = run_cli("predict", out, "great lovely the film")
    assert code == 0 and "joy" in stdout


def test_regression_run_with_pairs(tiny_bert, tmp_path, run_cli):
    import random

    rng = random.Random(4)
    rows = []
    for _ in range(100):
        score = rng.randint(0, 5)
        rows.append({"s1": "great " * score + "film", "s2": "the story", "score": float(score)})
    train, valid = write_jsonl(tmp_path / "train.jsonl", rows[:80]), write_jsonl(tmp_path / "valid.jsonl", rows[80:])
    out = tmp_path / "reg"
    code, stdout, err = run_cli(*tiny_run_args(
        tiny_bert, {"train": train, "validation": valid}, out, "--set", "task.problem_type=regression", "--set",
        "data.columns={text: s1, text_pair: s2, label: score}", "--set", "metrics=[pearsonr, spearmanr]",
        "--num_train_epochs", "10", text_column=None,
    ))  # fmt: skip
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["metric"] == "eval_pearsonr" and metrics["reload_check"]["match"]
    assert metrics["eval"]["eval_pearsonr"] > 0.5
    code, stdout, err = run_cli("predict", out, "great great great film ||| the story")
    assert code == 0 and "value (" in stdout


def test_class_weights_balanced_run(tiny_bert, tmp_path, run_cli):
    from conftest import sentiment_rows, write_csv

    rows = [r for r in sentiment_rows(200, seed=5) if r["label"] == "pos"][:90] + [
        r for r in sentiment_rows(40, seed=6) if r["label"] == "neg"
    ][:10]
    train = write_csv(tmp_path / "train.csv", rows)
    out = tmp_path / "cw"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, {"train": train}, out, "--set", "task.class_weights=balanced",
                                          "--num_train_epochs", "1"))  # fmt: skip
    assert code == 0, err
    assert yaml.safe_load((out / "recipe.yaml").read_text())["task"]["class_weights"] == "balanced"


def test_tokenization_is_cached_on_disk(tiny_bert, sentiment_files, monkeypatch):
    import dataclasses

    from transformers import AutoTokenizer

    from hf_transfer import FileData, TextClassification
    from hf_transfer.data.prepare import load_splits, tokenize_splits

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    source = FileData(train_file=str(sentiment_files["train"]), columns={"text": "sentence"})
    splits, task = load_splits(source, TextClassification(max_length=17))
    calls = []
    original = type(task).tokenize_function

    def counting(self, tok):
        function = original(self, tok)

        def wrapped(batch):
            calls.append(len(batch["text"]))
            return function(batch)

        return wrapped

    monkeypatch.setattr(type(task), "tokenize_function", counting)
    first = tokenize_splits(splits, task, tokenizer)
    assert sum(calls) == len(splits["train"]) + len(splits["validation"])
    calls.clear()
    again = tokenize_splits(splits, task, tokenizer)
    assert calls == [], "the second pass is a cache hit"
    assert again["train"]["input_ids"] == first["train"]["input_ids"]
    # other settings are another cache entry
    tokenize_splits(splits, dataclasses.replace(task, max_length=9), tokenizer)
    assert sum(calls) == len(splits["train"]) + len(splits["validation"])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_every_file_of_a_run_has_the_same_permissions(finished_runs, method):
    """safetensors writes 0600; the run folder's files are all readable alike (issue 18)."""
    modes = {p.name: p.stat().st_mode & 0o777 for p in finished_runs[method].iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1, modes
    weights = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    assert modes[weights] & 0o044, "the weights are readable by others, as the rest"


def test_push_to_hub_without_a_token_stops_before_training(tiny_bert, sentiment_files, run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-login" / "token"))
    out = tmp_path / "run"
    code, _, err = run_cli(
        *run_args(tiny_bert, sentiment_files, out, "full"), "--push_to_hub", "--hub_model_id", "me/x"
    )
    assert code == 2 and "needs a Hugging Face token" in err and "nothing was trained" in err
    assert not out.exists() and not out.with_name("run.partial").exists()


@pytest.mark.parametrize("epochs", ["1", "3"])
def test_reload_check_refuses_a_saved_model_that_answers_differently(tiny_bert, sentiment_files, tmp_path, monkeypatch,
                                                                     epochs):  # fmt: skip
    """Every run (one evaluation or several) compares the trained and the reloaded model's outputs on a seeded sample
    of evaluation rows: a save that changes them is caught, and nothing is published."""
    import torch

    from hf_transfer import cli
    from hf_transfer.artifacts import models

    real = models.load_run

    def changed(run_dir, *args, **kwargs):
        recipe, model, tokenizer = real(run_dir, *args, **kwargs)
        with torch.no_grad():
            model.classifier.bias[0] += 1.0  # the head as a wrong save would leave it: one class's logit moves by 1
        return recipe, model, tokenizer

    monkeypatch.setattr(models, "load_run", changed)
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="does not reproduce the trained model"):
        cli.main(argv=[str(a) for a in tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs", epochs)])
    assert not out.exists()

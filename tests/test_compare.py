"""hf-transfer compare: one report over methods, built from the runs' own metrics; resumable."""

from __future__ import annotations

import json

import pytest

from conftest import tiny_run_args


@pytest.fixture(scope="module")
def comparison(tiny_bert, sentiment_files, tmp_path_factory):
    from hf_transfer.cli import main

    out = tmp_path_factory.mktemp("compare") / "report"
    args = [str(a) for a in tiny_run_args(tiny_bert, sentiment_files, out, command="compare")]
    main(argv=args)
    return out, args


def test_report_files_and_run_folders(comparison):
    out, _ = comparison
    assert {"report.md", "report.json", "metric_by_method.png", "learning_curves.png"} <= {
        p.name for p in out.iterdir()
    }
    for method in ("scratch", "freeze", "lora", "full"):
        assert (out / method / "metrics.json").is_file() and (out / method / "README.md").is_file()


def test_report_numbers_come_from_the_runs(comparison):
    out, _ = comparison
    report = json.loads((out / "report.json").read_text())
    assert [r["method"] for r in report["rows"]] == ["scratch", "freeze", "lora", "full"]
    for row in report["rows"]:
        metrics = json.loads((out / row["method"] / "metrics.json").read_text())
        assert row["metrics"]["accuracy"] == metrics["eval"]["eval_accuracy"]
        assert row["trainable_parameters"] == metrics["parameters"]["trainable"]
        assert row["train_seconds"] == metrics["train"]["wall_seconds"]
        assert row["peak_rss_bytes"] == metrics["resources"]["peak_rss_bytes"] > 0
        assert row["saved_bytes"] == sum(p.stat().st_size for p in (out / row["method"]).glob("*.safetensors"))
        assert len(row["learning_curve"]) >= 3, "several evaluations per run"
        steps = [step for step, _ in row["learning_curve"]]
        assert steps == sorted(set(steps)), "one point per evaluation during training"
    rows = {r["method"]: r for r in report["rows"]}
    assert rows["lora"]["saved_bytes"] < rows["full"]["saved_bytes"]
    assert (
        rows["freeze"]["trainable_parameters"]
        < rows["lora"]["trainable_parameters"]
        < rows["full"]["trainable_parameters"]
    )
    assert rows["scratch"]["trainable_parameters"] == rows["full"]["trainable_parameters"]
    markdown = (out / "report.md").read_text()
    for row in report["rows"]:
        assert f"| {row['method']} | {row['metrics']['accuracy']:.4f} |" in markdown


def test_scratch_really_starts_from_random_weights(comparison, tiny_bert):
    from safetensors.torch import load_file

    out, _ = comparison
    pretrained = load_file(str(tiny_bert / "model.safetensors"))
    import yaml

    assert yaml.safe_load((out / "scratch" / "recipe.yaml").read_text())["method"] == "scratch"
    trained_scratch = load_file(str(out / "scratch" / "model.safetensors"))
    trained_full = load_file(str(out / "full" / "model.safetensors"))
    key = "bert.embeddings.word_embeddings.weight"
    base_key = "embeddings.word_embeddings.weight"
    # full fine-tuning moves the pretrained weights a little; scratch ends somewhere unrelated
    full_gap = (trained_full[key] - pretrained[base_key]).abs().mean()
    scratch_gap = (trained_scratch[key] - pretrained[base_key]).abs().mean()
    assert scratch_gap > 5 * full_gap


def test_finished_methods_are_not_run_again(comparison, run_cli):
    out, args = comparison
    before = {m: (out / m / "metrics.json").stat().st_mtime_ns for m in ("scratch", "freeze", "lora", "full")}
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert stdout.count("not run again") == 4
    assert "it/s" not in stdout + err, "no unlabelled progress bars when the output is piped"
    assert before == {m: (out / m / "metrics.json").stat().st_mtime_ns for m in before}


def test_bad_methods(run_cli, tmp_path):
    code, _, err = run_cli(
        "compare", "rotten-tomatoes-minilm", "--methods", "full,prompt", "--output_dir", tmp_path / "x"
    )
    assert code == 2 and "unknown method(s) ['prompt']" in err
    code, _, err = run_cli("compare", "rotten-tomatoes-minilm", "--method", "lora", "--output_dir", tmp_path / "x")
    assert code == 2 and "--methods" in err

"""The benchmark harness runs: a baseline script under benchmarks/_measure.py, as bench_e2e.py starts it, on the
tiny BERT (the real benchmarks need ../shared/data and minutes; this catches a harness that cannot start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import sentiment_rows, write_csv

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_a_baseline_runs_under_the_measuring_harness(tiny_bert, tmp_path):
    rows = [{"text": r["sentence"], "label": r["label"]} for r in sentiment_rows(48)]
    train, valid = write_csv(tmp_path / "train.csv", rows[:32]), write_csv(tmp_path / "valid.csv", rows[32:])
    command = [
        sys.executable,
        str(BENCHMARKS / "_measure.py"),
        str(tmp_path / "measured.json"),
        "--",
        str(BENCHMARKS / "baselines" / "classification.py"),
        "--model_name_or_path",
        str(tiny_bert),
        "--train_file",
        str(train),
        "--validation_file",
        str(valid),
        "--output_dir",
        str(tmp_path / "out"),
        "--per_device_train_batch_size",
        "8",
        "--num_train_epochs",
        "2",
        "--eval_each_epoch",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = json.loads((tmp_path / "measured.json").read_text())
    assert measured["exit"] == 0 and measured["wall_seconds"] > 0 and measured["peak_rss_bytes"] > 10 * 2**20
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("BASELINE ")]
    report = json.loads(line.removeprefix("BASELINE "))
    assert {"imports", "data_and_tokenization", "model", "train", "evaluate", "save"} <= set(report["phases"])
    assert 0 <= report["metric"] <= 1 and (tmp_path / "out" / "model.safetensors").is_file()
    times = [e["seconds"] for e in report["evaluations"]]  # what bench_quality.py's time to quality reads
    assert [e["epoch"] for e in report["evaluations"]] == [1.0, 2.0] and 0 < times[0] < times[1]
    assert times[1] <= measured["wall_seconds"] + 1, "timed from the process's start"


def test_the_gpu_check_says_so_and_exits_0_without_cuda(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, whatever this machine has
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "out")], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "has no CUDA GPU" in done.stdout
    assert "did not run" in (tmp_path / "out" / "gpu_check.md").read_text()


def _baseline(tmp_path, script: str, model: Path, train: Path, valid: Path, *extra: str) -> tuple[dict, dict]:
    """A baseline script run under _measure.py as bench_quality.py runs it; (the measure, the BASELINE line)."""
    command = [sys.executable, str(BENCHMARKS / "_measure.py"), str(tmp_path / "measured.json"), "--",
               str(BENCHMARKS / "baselines" / script), "--model_name_or_path", str(model), "--train_file", str(train),
               "--validation_file", str(valid), "--output_dir", str(tmp_path / "out"), *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent)}
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    [line] = [line for line in proc.stdout.splitlines() if line.startswith("BASELINE ")]
    return json.loads((tmp_path / "measured.json").read_text()), json.loads(line.removeprefix("BASELINE "))


def _timed(measured: dict, report: dict, key: str) -> list[float]:
    """Every epoch evaluated once, in order, timed from the process's start; the values of ``key``."""
    evaluations = report["evaluations"]
    times = [e["seconds"] for e in evaluations]
    assert [e["epoch"] for e in evaluations] == [1.0, 2.0] and 0 < times[0] < times[1]
    assert times[1] <= measured["wall_seconds"] + 1, "timed from the process's start"
    return [e[key] for e in evaluations]


def test_the_ner_baseline_evaluates_every_epoch_timed(tiny_bert, tmp_path):
    words = [("John", "B-PER"), ("lives", "O"), ("in", "O"), ("Paris", "B-LOC"), (".", "O")]
    sentence = "\n".join(f"{w} {t}" for w, t in words) + "\n\n"
    train, valid = tmp_path / "train.txt", tmp_path / "valid.txt"
    train.write_text(sentence * 16)
    valid.write_text(sentence * 4)
    flags = ["--per_device_train_batch_size", "8", "--num_train_epochs", "2", "--eval_each_epoch"]
    measured, report = _baseline(tmp_path, "token_classification.py", tiny_bert, train, valid, *flags)
    scores = _timed(measured, report, "eval_overall_f1")
    assert all(0 <= f <= 1 for f in scores) and report["metric"] == report["metric"]  # not NaN


def test_the_qa_baseline_evaluates_every_epoch_with_its_own_post_processing(tiny_bert, tmp_path):
    context = "John lives in Paris and works in Berlin ."
    qas = [{"id": f"q{i}", "question": "where does john live ?",
            "answers": [{"text": "Paris", "answer_start": context.index("Paris")}]} for i in range(12)]  # fmt: skip
    data = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    train, valid = tmp_path / "train.json", tmp_path / "valid.json"
    train.write_text(json.dumps(data))
    data["data"][0]["paragraphs"][0]["qas"] = qas[:4]
    valid.write_text(json.dumps(data))
    measured, report = _baseline(tmp_path, "question_answering.py", tiny_bert, train, valid,
                                 "--per_device_train_batch_size", "4", "--num_train_epochs", "2", "--eval_each_epoch",
                                 "--max_seq_length", "64", "--doc_stride", "16")  # fmt: skip
    scores = _timed(measured, report, "eval_f1")
    assert all(0 <= f <= 100 for f in scores)
    assert report["metric"] == scores[-1], "the last epoch's evaluation is the final one, not run twice"
    assert report["exact_match"] == report["evaluations"][-1]["eval_exact_match"]


def test_the_trl_baseline_saves_each_epoch_and_its_adapters_score_through_our_evaluation(tiny_smollm2, tmp_path):
    import math

    import pytest

    pytest.importorskip("trl")
    from conftest import instruction_rows

    rows = instruction_rows(20)
    train, valid = tmp_path / "train.json", tmp_path / "valid.json"
    train.write_text(json.dumps(rows[:16]))
    valid.write_text(json.dumps(rows[16:]))
    flags = ["--per_device_train_batch_size", "16", "--num_train_epochs", "2", "--eval_each_epoch"]
    measured, report = _baseline(tmp_path, "sft_trl.py", tiny_smollm2, train, valid, *flags)
    _timed(measured, report, "eval_loss")
    checkpoints = [e["checkpoint"] for e in report["evaluations"]]
    assert [Path(c).name for c in checkpoints] == ["checkpoint-1", "checkpoint-2"]
    assert all((Path(c) / "adapter_model.safetensors").is_file() for c in checkpoints)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(BENCHMARKS.parent),
           "HF_TRANSFER_CACHE": str(tmp_path / "cache")}  # fmt: skip
    scorer = [sys.executable, str(BENCHMARKS / "_quality_sft.py"), str(valid), *checkpoints, "--checkpoint"]
    proc = subprocess.run([*scorer, str(tiny_smollm2)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    scores = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(scores) == set(checkpoints) and all(math.isfinite(v) and v > 0 for v in scores.values())
    assert scores[checkpoints[0]] != scores[checkpoints[1]], "each epoch's own adapter is scored"
    # one loss definition: TRL's own eval_loss of the same adapter, on the same rows, is the response-token mean too
    assert scores[checkpoints[-1]] == pytest.approx(report["evaluations"][-1]["eval_loss"], rel=0.02)


def test_the_quality_benchmarks_classification_files_hold_exactly_the_recipes_split(tmp_path, monkeypatch):
    """bench_quality's classification family compares against the recipe's own run: its CSV files must hold the rows
    the recipe trains and evaluates on (6,000 / 1,281), not the whole training split (11,527 rows once did)."""
    import csv

    from hf_transfer import load_recipe
    from hf_transfer.data.prepare import load_splits

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _quality_tasks import FAMILIES

    family = FAMILIES["classification"]
    train, valid, _ = family.prepare(tmp_path, family.train_samples, None)
    recipe = load_recipe("rotten-tomatoes-minilm")
    splits, task = load_splits(recipe.data, recipe.task)
    for path, split in ((train, splits["train"]), (valid, splits["validation"])):
        with path.open(encoding="utf-8", newline="") as f:
            written = [(row["text"], row["label"]) for row in csv.DictReader(f)]
        assert written == [(row["text"], task.label_names[row["labels"]]) for row in split], path.name
    assert (len(splits["train"]), len(splits["validation"])) == (recipe.data.max_train_samples, 1281)


def test_the_chatterbot_family_runs_the_recipe_on_its_own_data_and_only_as_a_lever(tmp_path, monkeypatch):
    """Instruction tuning's confirming data (docs/defaults.md) is the chatterbot recipe as a user runs it: our command
    names no files, and bench_quality, which needs a baseline script, refuses the family in words."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_quality

    family = bench_quality.FAMILIES["sft-chatterbot"]
    files = family.prepare(tmp_path, family.train_samples, None)
    commands = []

    def fake_measured(command, out, env):
        commands.append(command)
        out.mkdir(parents=True)
        (out / "metrics.json").write_text(json.dumps({"eval": {"eval_loss": 1.25}, "phases": {"train": 3.0}}))
        return {"wall_seconds": 4.0, "peak_rss_bytes": 1}

    monkeypatch.setattr(bench_quality, "measured", fake_measured)
    result = bench_quality.run_ours(family, files, tmp_path, "lora", 42, True, {})
    assert result["metric"] == 1.25 and commands[0][:4] == ["hf-transfer", "run", "chatterbot-smollm2", "--method"]
    assert "--train_file" not in commands[0] and "--validation_file" not in commands[0]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for script, args, words in (
        ("bench_quality.py", ["--task", "sft", "--data", "chatterbot"], "has no baseline script"),
        ("bench_lever.py", ["--task", "ner", "--data", "chatterbot", "--lever", "x=--seed 1"],
         "--data chatterbot is for --task sft"),
    ):  # fmt: skip
        proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                              env=env, timeout=120)  # fmt: skip
        assert proc.returncode == 2 and words in proc.stderr, proc.stderr[-1500:]


def test_bench_e2e_repeats_alternate_the_sides_and_report_means_and_each_ratio(tmp_path, monkeypatch):
    """--repeats N runs each side N times, the order swapped every repeat (a machine that slows down favours
    neither side), and reports each side's mean wall with its spread and every repeat's own ratio."""
    from types import SimpleNamespace

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_e2e

    order, walls = [], {"baseline": iter([10.0, 12.0, 11.0]), "ours": iter([8.0, 12.0, 10.0])}

    def fake_measured(command, out, env):
        side = "ours" if command[0] == "hf-transfer" else "baseline"
        order.append(side)
        if side == "ours":
            out.mkdir(parents=True, exist_ok=True)
            (out / "metrics.json").write_text(json.dumps({"phases": {"train": 5.0}, "eval": {"eval_accuracy": 0.5}}))
            return {"wall_seconds": next(walls[side]), "peak_rss_bytes": 2}
        return {"wall_seconds": next(walls[side]), "peak_rss_bytes": 1, "metric": 0.5, "phases": {"train": 6.0}}

    monkeypatch.setattr(bench_e2e, "measured", fake_measured)
    args = SimpleNamespace(task="classification", repeats=3, variants={})
    row = bench_e2e.run_pair("fp32", (tmp_path / "t.csv", tmp_path / "v.csv", tmp_path), tmp_path, args)
    assert order == ["baseline", "ours", "ours", "baseline", "baseline", "ours"]
    assert row["baseline"]["wall_seconds"] == 11.0 and row["ours"]["wall_seconds"] == 10.0
    assert row["speedup"] == 1.1 and row["speedup_per_repeat"] == [1.25, 1.0, 1.1]
    assert row["ours"]["walls"] == [8.0, 12.0, 10.0] and row["ours"]["wall_sd"] == 2.0
    assert "**1.10x** (runs: 1.00-1.25x)" in bench_e2e.table([row], {"cpu": "x", "cores": 2, "instruction_sets": [],
                                                                     "gpu": None})  # fmt: skip


def test_more_seeds_start_where_the_first_three_ended_and_write_their_own_file(monkeypatch):
    """--first_seed 45 --seeds 5 runs seeds 45-49 and names its results so the 3-seed file (42-44) stays as it is."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import bench_quality

    parser = bench_quality.family_parser("test")
    for argv, seeds, suffix in (([], [42, 43, 44], ""), (["--first_seed", "45", "--seeds", "5"], [45, 46, 47, 48, 49],
                                                         "-seeds45-49")):  # fmt: skip
        args = parser.parse_args(["--task", "classification", *argv])
        assert bench_quality.family_setup(parser, args)[4] == seeds
        assert bench_quality.seed_suffix(seeds) == suffix

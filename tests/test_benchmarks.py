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

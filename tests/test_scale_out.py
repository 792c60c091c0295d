"""Several processes: `accelerate launch` and `torchrun` with 2 CPU processes (gloo); rank 0 writes once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY_TRAINING

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs" / "accelerate").glob("*.yaml"))


def test_accelerate_configs_parse_and_say_what_they_are():
    from accelerate.commands.config.config_args import ClusterConfig

    kinds = {}
    for path in CONFIGS:
        config = ClusterConfig.from_yaml_file(str(path))
        kinds[path.stem] = str(config.distributed_type).rsplit(".", 1)[-1]
        assert config.num_machines >= 1 and config.num_processes >= 2
        assert f"--config_file configs/accelerate/{path.name}" in path.read_text(), "each file says how to use it"
    assert kinds == {
        "ddp": "MULTI_GPU",
        "fsdp": "FSDP",
        "deepspeed_zero2": "DEEPSPEED",
        "deepspeed_zero3": "DEEPSPEED",
        "multi_process_cpu": "MULTI_GPU",
    }
    zero = {
        p.stem: yaml.safe_load(p.read_text())["deepspeed_config"]["zero_stage"]
        for p in CONFIGS
        if p.stem.startswith("deepspeed")
    }
    assert zero == {"deepspeed_zero2": 2, "deepspeed_zero3": 3}


LAUNCHERS = {
    "accelerate": [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(REPO / "configs/accelerate/multi_process_cpu.yaml"),
    ],
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_cpu_processes(launcher, tiny_bert, sentiment_files, tmp_path):
    out = tmp_path / "run"
    command = LAUNCHERS[launcher] + [
        "-m",
        "hf_transfer.cli",
        "run",
        "rotten-tomatoes-minilm",
        "--model_name_or_path",
        str(tiny_bert),
        "--train_file",
        str(sentiment_files["train"]),
        "--validation_file",
        str(sentiment_files["validation"]),
        "--set",
        "data.columns.text=sentence",
        "--output_dir",
        str(out),
        *TINY_TRAINING,
        "--num_train_epochs",
        "1",
        "--per_device_train_batch_size",
        "8",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_TOKEN="hf_scaleout_secret_123")
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2, "both ranks trained"
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 160 // (8 * 2), "each step took a batch from each of the two ranks"
    assert metrics["reload_check"]["match"]
    assert result.stdout.count("Run folder:") == 1 and result.stdout.count("Reloaded from disk") == 1, (
        "rank 0 reports, once"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run")) == ["run"], (
        "no partial or duplicate folders"
    )
    assert (out / "README.md").read_text().count("## Results") == 1
    everything = (
        result.stdout
        + result.stderr
        + "".join(p.read_text(errors="ignore") for p in out.rglob("*") if p.suffix in (".json", ".yaml", ".md"))
    )
    assert "hf_scaleout_secret_123" not in everything

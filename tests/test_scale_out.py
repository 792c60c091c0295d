"""Several processes: `accelerate launch` and `torchrun` with 2 CPU processes (gloo); rank 0 writes once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import tiny_run_args

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
    command = LAUNCHERS[launcher] + tiny_command(tiny_bert, sentiment_files, out)
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


def tiny_command(tiny_bert, sentiment_files, out) -> list[str]:
    return ["-m", "hf_transfer.cli", *map(str, tiny_run_args(tiny_bert, sentiment_files, out, "--num_train_epochs",
                                                             "1", "--per_device_train_batch_size", "8"))]  # fmt: skip


@pytest.mark.slow
def test_a_launch_that_is_not_really_distributed_is_refused(tiny_bert, sentiment_files, tmp_path):
    """accelerate's FSDP on CPU processes starts N processes that each train alone (issue 28): refused at once."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "2", "--use_fsdp",
               "--fsdp_version", "2", *tiny_command(tiny_bert, sentiment_files, out)]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert result.returncode != 0
    assert "accelerate launch --use_fsdp, but accelerate runs these processes as MULTI_CPU, not FSDP" in result.stderr
    assert "NotImplementedError" not in result.stderr, "refused before the lazily loaded weights are used"
    assert not out.exists() and not (tmp_path / "run.partial").exists()


@pytest.mark.slow
def test_two_machine_ranks_on_one_host(tiny_bert, sentiment_files, tmp_path):
    """--num_machines 2 --machine_rank 0|1 --main_process_ip 127.0.0.1: rank 0 alone writes the run folder, and the
    result is the two-process run's."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("ACCELERATE_USE_CPU", None)  # accelerate would read it as --cpu
    ranks = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accelerate.commands.launch",
                "--multi_gpu",  # on CPUs: MULTI_CPU over gloo (--cpu would start unconnected processes)
                "--num_machines",
                "2",
                "--machine_rank",
                str(rank),
                "--num_processes",
                "2",
                "--main_process_ip",
                "127.0.0.1",
                "--main_process_port",
                str(port),
                *tiny_command(tiny_bert, sentiment_files, out),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    outputs = [p.communicate(timeout=900) for p in ranks]
    assert [p.returncode for p in ranks] == [0, 0], [o[1][-2000:] for o in outputs]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["reload_check"]["match"]
    assert outputs[0][0].count("Run folder:") == 1 and "Run folder:" not in outputs[1][0], "machine 0 reports"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("run")) == ["run"]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 160 // (8 * 2)


@pytest.mark.slow
def test_cpu_machines_launched_apart_are_refused(tiny_bert, sentiment_files, tmp_path):
    """``accelerate launch --cpu --num_machines 2``: one plain process per machine, no process group (issue 28)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_machines", "2", "--machine_rank",
               "0", "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
               *tiny_command(tiny_bert, sentiment_files, out)]  # fmt: skip
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1")
    )
    assert (
        result.returncode != 0
        and "starts one plain process per machine" in result.stderr
        and "--multi_gpu" in result.stderr
    )
    assert not out.exists() and not (tmp_path / "run.partial").exists()


DEEPSPEED_CHECK = """
import sys, yaml
from pathlib import Path
from accelerate.utils import DeepSpeedPlugin
from deepspeed.runtime.config import DeepSpeedConfig

def resolved(path):
    plugin = DeepSpeedPlugin(**yaml.safe_load(Path(path).read_text())["deepspeed_config"])
    config = dict(plugin.deepspeed_config)
    config.update(train_batch_size=16, train_micro_batch_size_per_gpu=8, gradient_accumulation_steps=2)
    return config

for path in sys.argv[1:]:
    print(Path(path).stem, DeepSpeedConfig(resolved(path)).zero_optimization_stage)
wrong = resolved(sys.argv[1])
wrong["zero_optimization"] = {**wrong["zero_optimization"], "stage": "two"}
try:
    DeepSpeedConfig(wrong)
    print("wrong accepted")
except Exception as exc:
    print("wrong refused:", type(exc).__name__, "stage" in str(exc))
"""


def test_deepspeed_configs_pass_deepspeeds_own_schema():
    """The ZeRO-2 / ZeRO-3 configs, as accelerate turns them into a DeepSpeed config (with the Trainer's values for its
    "auto" entries), are accepted by DeepSpeed's own config classes; a wrong one is not (no GPU needed). DeepSpeed
    lives in a folder of its own (the Makefile), put on the path of this check only."""
    schema = Path(sys.prefix) / "deepspeed-schema"
    if not (schema / "deepspeed").is_dir():
        pytest.skip(f"DeepSpeed is not in {schema} (make install-dev puts it there)")
    configs = [str(p) for p in CONFIGS if p.stem.startswith("deepspeed")]
    env = dict(os.environ, PYTHONPATH=str(schema))
    done = subprocess.run([sys.executable, "-c", DEEPSPEED_CHECK, *configs], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert "deepspeed_zero2 2" in lines and "deepspeed_zero3 3" in lines
    assert "wrong refused: ValidationError True" in lines


def test_a_time_budget_is_refused_under_several_processes(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    """Each rank would plan and stop on its own clock, and the others would wait in the all-reduce forever: refused
    by name before anything loads."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out), "--time_budget", "10m")
    assert code == 2 and "--time_budget plans and stops one process's training" in err and "WORLD_SIZE=2" in err
    assert not out.exists() and not (tmp_path / "run.partial").exists()

"""Every packaged Hub recipe, run by name against a stand-in Hub that serves its dataset and a tiny model of
its architecture, through the real ``load_dataset`` / ``from_pretrained`` paths (issue 12).

The server (hub_server.FakeHub) speaks the API that the installed datasets / huggingface_hub call; the
datasets copy their real counterparts' features and repository layout (hub_datasets.py), and the models
their architecture family, module names and tokenizer kind (tiny_models.py). HF_HUB_OFFLINE is unset
and HF_ENDPOINT points at the server, as it would at huggingface.co.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hf_transfer.recipe.registry import packaged_recipes
from hf_transfer.sources import HubData

import hub_datasets
import tiny_models
from hub_server import FakeHub

HUB_RECIPES = sorted(name for name, (recipe, _) in packaged_recipes().items() if isinstance(recipe.data, HubData))
MODEL_LICENSES = {"FacebookAI/roberta-base": "mit"}
"""From the models' cards: roberta-base is MIT, the other base checkpoints apache-2.0."""
TOKEN = "hf_standin_token_0123456789"


def serve_models(hub: FakeHub, root: Path) -> None:
    for repo_id, family in tiny_models.CHECKPOINT_FAMILY.items():
        if "/" not in repo_id:  # the legacy short names, which the Hub redirects
            continue
        folder = tiny_models.build(family, root / repo_id.replace("/", "--"))
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
        license_id = MODEL_LICENSES.get(repo_id, "apache-2.0")
        files["README.md"] = f"---\nlicense: {license_id}\n---\n# {repo_id} (tiny stand-in)\n".encode()
        hub.serve("model", repo_id, {"main": files}, card_data={"license": license_id})


def point_libraries_at(monkeypatch, url: str | None) -> None:
    """What HF_ENDPOINT / HF_HUB_OFFLINE do at import time, done for this process (the libraries are
    imported already)."""
    import datasets
    from huggingface_hub import constants

    from hf_transfer.sources import assets

    if url is None:
        return
    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_ENDPOINT", url)
    monkeypatch.setattr(datasets.config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", False)
    assets.hub_reachable.cache_clear()


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    """A FakeHub serving every recipe's dataset and model; this process talks to it as to the Hub."""
    from hf_transfer.sources import assets

    mp = pytest.MonkeyPatch()
    with FakeHub(TOKEN) as hub:
        hub_datasets.serve_all(hub)
        serve_models(hub, tmp_path_factory.mktemp("standin-models"))
        point_libraries_at(mp, hub.url)
        try:
            yield hub
        finally:
            mp.undo()
            assets.hub_reachable.cache_clear()


def run_recipe(run_cli, name: str, method: str, out: Path, *extra):
    return run_cli(
        "run",
        name,
        "--method",
        method,
        "--max_steps",
        "2",
        "--per_device_train_batch_size",
        "4",
        "--per_device_eval_batch_size",
        "8",
        "--output_dir",
        out,
        *extra,
    )


@pytest.mark.parametrize("method", ["full", "lora"])
@pytest.mark.parametrize("name", HUB_RECIPES)
def test_every_hub_recipe_runs_by_name(standin, run_cli, tmp_path, name, method):
    recipe, _ = packaged_recipes()[name]
    out = tmp_path / "run"
    code, stdout, err = run_recipe(run_cli, name, method, out)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["match"] is True
    keys = recipe.task.report_keys(recipe.metric_names)
    assert any(f"eval_{k}" in metrics["eval"] for k in keys), metrics["eval"]
    assert metrics["training_arguments"]["max_steps"] == 2
    card = (out / "README.md").read_text()
    data = recipe.data
    expected_data_license = {spec.repo_id: spec.license for spec in hub_datasets.specs().values()}[data.path]
    assert metrics["licenses"] == {
        "base_model": MODEL_LICENSES.get(recipe.checkpoint, "apache-2.0"),
        "data": expected_data_license,
    }
    assert f"| base model `{recipe.checkpoint}` | {metrics['licenses']['base_model']} |" in card
    assert f"| training data {data.describe()} | {expected_data_license} |" in card
    if expected_data_license in ("unknown", "other") or "nc" in expected_data_license:
        assert any("licens" in w for w in metrics["warnings"]), metrics["warnings"]
        assert "## Warnings" in card
    if data.test_split:
        assert metrics["samples"]["test"] > 0 and any(k.startswith("test_") for k in metrics["test"])
        assert "Test split" in card
    if getattr(recipe.task, "drop_empty_responses", False):
        assert metrics["dropped"]["empty_responses"] > 0
        assert "rows were dropped (empty responses)" in card
    saved = yaml.safe_load((out / "recipe.yaml").read_text())
    assert saved["checkpoint"] == recipe.checkpoint and saved["data"]["path"] == data.path


def test_the_qlora_recipe_on_a_cpu_refuses_layers_too_narrow_for_4_bit(standin, run_cli, tmp_path):
    """QLoRA runs on a CPU (issue 28); the stand-in Qwen is 32 wide, narrower than one 4-bit block there: refused
    before any weight is loaded, naming the layer and what works instead."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    pytest.importorskip("bitsandbytes")
    code, out, err = run_cli("run", "alpaca-qwen-qlora", "--max_steps", "2", "--output_dir", tmp_path / "run")
    assert code == 2
    assert "blocks of 64 input features" in err and "--method qlora8" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


@pytest.fixture
def fresh_datasets_cache(monkeypatch, tmp_path):
    """datasets falls back to a cached copy when the Hub refuses; these tests ask the Hub itself."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")


def test_a_script_only_revision_fails_with_a_message_that_names_the_fix(
    standin, fresh_datasets_cache, run_cli, tmp_path
):
    """What the recipes did before issue 12: eriktks/conll2003 main holds only conll2003.py."""
    code, out, err = run_recipe(run_cli, "conll2003-bert", "full", tmp_path / "run", "--set", "data.revision=main")
    assert code == 2
    assert "loading script" in err and "refs/convert/parquet" in err and "'eriktks/conll2003'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--set", "data.path=nobody/no-such-dataset"], "not found on the Hub"),
        (["--set", "data.revision=no-such-branch"], "revision does not exist"),
        (["--set", "data.name=cola"], "no such config"),
        (["--set", "data.eval_split=dev"], "has no split 'dev'"),
        (["--set", "data.path=gated/corpus"], "gated"),
    ],
)
def test_hub_data_problems_are_one_message(standin, fresh_datasets_cache, run_cli, tmp_path, change, message):
    standin.serve("dataset", "gated/corpus", {"main": {"data/train.csv": b"sentence,label\na,0\n"}}, gated="denied")
    code, out, err = run_recipe(run_cli, "sst2-distilbert", "full", tmp_path / "run", *change)
    assert code == 2, err
    assert message in err, err
    assert "Traceback" not in err
    assert "nyu-mll/glue" in err or "nobody/no-such-dataset" in err or "gated/corpus" in err
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()


def test_unreachable_hub_is_one_message(run_cli, tmp_path, monkeypatch):
    point_libraries_at(monkeypatch, "http://127.0.0.1:9")  # nothing listens on the discard port
    try:
        code, out, err = run_recipe(
            run_cli, "sst2-distilbert", "full", tmp_path / "run", "--model_name_or_path", str(tmp_path)
        )
    finally:
        from hf_transfer.sources import assets

        assets.hub_reachable.cache_clear()
    assert code == 2
    assert "cannot be reached" in err and "nyu-mll/glue" in err
    assert "Traceback" not in err


def test_a_recipe_runs_in_a_fresh_process_with_only_the_environment(standin, tmp_path):
    """No monkeypatching: HF_ENDPOINT alone points datasets / transformers / huggingface_hub at the server."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env.update(HF_ENDPOINT=standin.url, HF_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    out = tmp_path / "run"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hf_transfer",
            "run",
            "stsb-bert",
            "--method",
            "lora",
            "--max_steps",
            "2",
            "--per_device_train_batch_size",
            "4",
            "--output_dir",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["licenses"] == {"base_model": "apache-2.0", "data": "other"}
    assert ("GET", "/api/datasets/nyu-mll/glue/revision/main") in standin.requests or any(
        path.startswith("/datasets/nyu-mll/glue/resolve/") for _, path in standin.requests
    )

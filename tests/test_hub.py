"""Pushing runs to a stand-in Hub on 127.0.0.1 (huggingface_hub honours the endpoint), and the card."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml

from conftest import tiny_run_args
from hub_server import FakeHub, check_metadata

TOKEN = "hf_fake_test_token_1234567890"


@pytest.fixture
def hub(monkeypatch):
    """A running FakeHub that huggingface_hub talks to, with HF_TOKEN set to its token."""
    from huggingface_hub import constants

    with FakeHub(TOKEN) as server:
        monkeypatch.setattr(constants, "ENDPOINT", server.url)
        monkeypatch.setattr(
            constants, "HUGGINGFACE_CO_URL_TEMPLATE", server.url + "/{repo_id}/resolve/{revision}/{filename}"
        )
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield server


@pytest.fixture(scope="module")
def runs(finished_run):
    """Finished full and LoRA runs from the task x method matrix (tests/helpers.py)."""
    return {method: finished_run("text-classification", method) for method in ("full", "lora")}


def folder_digest(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def card_metadata(text: str) -> dict:
    return yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1))


# ---- the card -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["full", "lora"])
def test_every_run_writes_a_complete_card(runs, method):
    text = (runs[method] / "README.md").read_text()
    meta = card_metadata(text)
    metrics = json.loads((runs[method] / "metrics.json").read_text())
    assert check_metadata(meta) == []
    assert meta["library_name"] == ("peft" if method == "lora" else "transformers")
    assert meta["pipeline_tag"] == "text-classification"
    assert set(meta["tags"]) >= {"text-classification", method, "hf-transfer"}
    assert meta["language"] == ["en"]
    results = meta["model-index"][0]["results"]
    values = {m["type"]: m["value"] for r in results for m in r["metrics"]}
    assert values["accuracy"] == pytest.approx(metrics["eval"]["eval_accuracy"], abs=1e-4)
    assert values["f1"] == pytest.approx(metrics["eval"]["eval_f1"], abs=1e-4)
    body = text.split("\n---\n", 1)[1]
    assert "preparation_time" not in text and "per_second" not in text  # timings are not results
    for pattern in (
        r"^# " + runs[method].name + "$",  # a local card names its own folder
        r"^## How to use$",
        r"PeftModelForSequenceClassification\.from_pretrained"
        if method == "lora"
        else r'pipeline\("text-classification"',
        r"^## Training data$",
        r"train\.csv: (144 examples for training, 16 examples carved from them to choose the kept model|160 examples "
        r"for training), 40 examples for evaluation \(the file valid\.csv\)",
        r"^Evaluated on 40 examples: the file valid\.csv\.",
        r"^\| trainable \| [\d,]+ \([\d.]+%\) \|$",
        r"^\| learning_rate \| 0\.005 \|$",
        r"^\| accuracy \| \d\.\d{4} \|$",
        r"^\| majority_class_accuracy \| 0\.5000 \|$",
        r"!\[Training curves\]\(training_curves\.png\)",
        r"^- transformers \d",
        r"^hf-transfer run rotten-tomatoes-minilm --method " + method,
    ):
        assert re.search(pattern, body, re.M), pattern


# ---- pushing --------------------------------------------------------------------------------


def test_push_full_run_and_download_it_back(runs, hub, run_cli, tmp_path):
    import torch
    from huggingface_hub import snapshot_download
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    before = folder_digest(runs["full"])
    code, out, err = run_cli("push", runs["full"], "--hub_model_id", "tester/tiny-full")
    assert code == 0, err
    assert "Pushed: " in out
    assert folder_digest(runs["full"]) == before, "pushing does not change the run folder"
    assert hub.validated, "the card metadata was validated by the Hub"
    files = hub.repos["tester/tiny-full"]["files"]
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "recipe.yaml",
        "metrics.json",
        "training_curves.png",
        "README.md",
    } <= set(files)
    assert (runs["full"] / "train.log").is_file() and "train.log" not in files  # local paths stay on this machine
    local = snapshot_download("tester/tiny-full", cache_dir=tmp_path / "cache")
    pushed = AutoModelForSequenceClassification.from_pretrained(local).eval()
    original = AutoModelForSequenceClassification.from_pretrained(runs["full"]).eval()
    tokenizer = AutoTokenizer.from_pretrained(local)
    batch = tokenizer(["a great film", "a dull story"], return_tensors="pt", padding=True)
    with torch.no_grad():
        assert torch.equal(pushed(**batch).logits, original(**batch).logits)
    card = (tmp_path / "cache").rglob("README.md").__next__().read_text()
    assert card_metadata(card)["model-index"][0]["name"] == "tiny-full"
    assert 'model="tester/tiny-full"' in card


def test_push_lora_adapter_and_merged(runs, hub, run_cli, tmp_path, tiny_bert):
    import torch
    from huggingface_hub import snapshot_download
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from hf_transfer.artifacts.models import load_run

    code, _, err = run_cli("push", runs["lora"], "--hub_model_id", "tiny-lora", "--private")
    assert code == 0, err
    repo = hub.repos["tester/tiny-lora"]
    assert repo["private"] is True
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(
        repo["files"]
    ) and "model.safetensors" not in repo["files"]
    local = snapshot_download("tester/tiny-lora", cache_dir=tmp_path / "cache")
    base = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    pushed = PeftModel.from_pretrained(base, local).eval()
    _, original, tokenizer = load_run(runs["lora"])
    batch = tokenizer(["a great film"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(pushed(**batch).logits, original(**batch).logits)

    code, _, err = run_cli("push", runs["lora"], "--hub_model_id", "tester/tiny-merged", "--merge")
    assert code == 0, err
    merged_files = hub.repos["tester/tiny-merged"]["files"]
    assert "model.safetensors" in merged_files and "adapter_config.json" not in merged_files
    assert card_metadata(merged_files["README.md"].decode())["library_name"] == "transformers"
    merged = AutoModelForSequenceClassification.from_pretrained(
        snapshot_download("tester/tiny-merged", cache_dir=tmp_path / "c2")
    ).eval()
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, original(**batch).logits, atol=1e-5)
    assert not any(p.name.endswith("-merged") for p in runs["lora"].parent.iterdir()), (
        "merging for a push leaves no folder behind"
    )


def test_refused_token_is_a_clear_error_and_changes_nothing(runs, hub, run_cli, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_wrong_token_abcdef")
    before = folder_digest(runs["full"])
    code, out, err = run_cli("push", runs["full"], "--hub_model_id", "tester/denied")
    assert code == 2
    assert "refused the push to tester/denied (401 unauthorized)" in err and "HF_TOKEN" in err
    assert "Traceback" not in err and "hf_wrong_token_abcdef" not in out + err
    assert folder_digest(runs["full"]) == before
    hub.failures = [403]
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    code, _, err = run_cli("push", runs["full"], "--hub_model_id", "tester/forbidden")
    assert code == 2 and "403 forbidden" in err


def test_repeated_server_errors(runs, hub, run_cli):
    hub.failures = [503] * 20
    code, out, err = run_cli("push", runs["full"], "--hub_model_id", "tester/flaky")
    assert code == 2
    assert "kept failing (503)" in err and "Traceback" not in err
    assert "tester/flaky" not in hub.repos


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hub_model_id", "bad//name"], "is not a valid repository id"),
        (["--hub_model_id", "a/b/c"], "is not a valid repository id"),
        (["--hub_model_id", "bad name"], "is not a valid repository id"),
    ],
)
def test_invalid_repo_id_is_refused_before_any_request(runs, hub, run_cli, args, message):
    code, _, err = run_cli("push", runs["full"], *args)
    assert code == 2 and message in err
    assert hub.requests == []


def test_unfinished_run_is_refused_before_any_request(runs, hub, run_cli, tmp_path):
    partial = tmp_path / "half"
    partial.mkdir()
    (partial / "recipe.yaml").write_text((runs["full"] / "recipe.yaml").read_text())
    code, _, err = run_cli("push", partial, "--hub_model_id", "tester/half")
    assert code == 2 and "not a finished run folder" in err
    assert hub.requests == []


def test_push_at_the_end_of_a_run_and_no_token_anywhere(tiny_bert, sentiment_files, hub, run_cli, tmp_path):
    out = tmp_path / "pushed-run"
    code, stdout, err = run_cli(
        *tiny_run_args(tiny_bert, {"train": sentiment_files["train"]}, out, "--num_train_epochs", "1"),
        "--push_to_hub",
        "--hub_model_id",
        "tester/from-run",
        "--hub_private_repo",
    )
    assert code == 0, err
    assert hub.repos["tester/from-run"]["private"] is True
    assert TOKEN not in stdout + err
    for path in out.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    for name, data in hub.repos["tester/from-run"]["files"].items():
        assert TOKEN.encode() not in data, name
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert "push_to_hub" not in recipe["training"] and "hub_model_id" not in recipe["training"]


def test_hub_token_flag_is_refused(tiny_bert, sentiment_files, run_cli, tmp_path):
    code, out, err = run_cli(*tiny_run_args(tiny_bert, {"train": sentiment_files["train"]}, tmp_path / "x",
                                            "--hub_token", "hf_secret_value", training=()))  # fmt: skip
    assert code == 2 and "--hub_token is not accepted" in err
    assert "hf_secret_value" not in out + err and not (tmp_path / "x").exists()

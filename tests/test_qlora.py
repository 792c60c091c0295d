"""QLoRA that really runs (issue 28): 4-bit NF4 (and 8-bit) bitsandbytes bases on the CPU, every task family
whose architecture bitsandbytes quantizes: the run folder, the reload check against the 4-bit base, merge into the
full-precision base, predict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import helpers

bitsandbytes = pytest.importorskip("bitsandbytes")


def widened(source: Path, target: Path) -> Path:
    """``source`` at width 64 (bitsandbytes packs 4-bit CPU weights in blocks of 64 input features: the test models
    of width 32 are narrower than one block), with its tokenizer."""
    import torch
    import transformers

    config = transformers.AutoConfig.from_pretrained(source)
    for name, value in {"hidden_size": 64, "intermediate_size": 128, "d_model": 64, "d_ff": 128, "d_kv": 32,
                        "head_dim": 32}.items():  # fmt: skip
        if hasattr(config, name):
            setattr(config, name, value)
    torch.manual_seed(0)
    architecture = getattr(transformers, config.architectures[0]) if config.architectures else transformers.AutoModel
    model = architecture(config)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    for file in source.iterdir():
        if "token" in file.name or file.name in ("special_tokens_map.json", "generation_config.json"):
            shutil.copy(file, target / file.name)
    return target


@pytest.fixture(scope="module")
def wide_models(tiny_bert, tiny_t5, tiny_smollm2, tmp_path_factory):
    root = tmp_path_factory.mktemp("wide")
    return {
        "tiny_bert": widened(tiny_bert, root / "bert"),
        "tiny_t5": widened(tiny_t5, root / "t5"),
        "tiny_smollm2": widened(tiny_smollm2, root / "smollm2"),
    }


@pytest.fixture(scope="module")
def wide_data(tmp_path_factory):
    return helpers.write_data(tmp_path_factory.mktemp("wide-data"))


@pytest.mark.parametrize("task", helpers.TASKS)
def test_qlora_on_the_cpu_for_every_family(task, wide_models, wide_data, tmp_path, run_cli):
    out = tmp_path / "run"
    args = helpers.run_args(task, "qlora", wide_models[helpers.CASES[task][1]], wide_data[task], out)
    code, stdout, err = run_cli(*args, "--max_steps", "4")
    assert code == 0, err[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["match"] is True
    assert (out / "adapter_model.safetensors").is_file() and not (out / "model.safetensors").exists()
    assert "onto the same 4-bit NF4 base it trained on" in (out / "README.md").read_text()
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    code, merged_out, err = run_cli("merge", out)
    assert code == 0, err[-2000:]
    merged = Path(merged_out.strip().split("Merged model: ")[-1])
    from safetensors import safe_open

    with safe_open(str(merged / "model.safetensors"), framework="pt") as weights:
        dtypes = {weights.get_slice(k).get_dtype() for k in weights.keys()}  # noqa: SIM118  (a safetensors handle)
    assert dtypes <= {"F32", "BF16", "F16"}, "merged into the full-precision base: no packed 4-bit weights"
    if task in ("text-classification", "token-classification"):
        code, predicted, err = run_cli("predict", out, "anna visited paris")
        assert code == 0 and "anna visited paris" in predicted, err


def test_the_base_really_is_4_bit_and_the_head_is_not(wide_models, tiny_bert):
    import torch

    from hf_transfer import PackagedData, Recipe, TextClassification
    from hf_transfer.artifacts.models import load_base_model
    from hf_transfer.sources.assets import ResolvedCheckpoint

    recipe = Recipe(name="q", checkpoint=str(wide_models["tiny_bert"]), data=PackagedData("rotten-tomatoes-snippets"),
                    task=TextClassification(label_names=["neg", "pos"]), method="qlora")  # fmt: skip
    model = load_base_model(recipe, ResolvedCheckpoint(str(wide_models["tiny_bert"])))
    query = model.bert.encoder.layer[0].attention.self.query
    assert type(query).__name__ == "Linear4bit" and query.weight.dtype == torch.uint8
    assert type(model.classifier).__name__ == "Linear" and model.classifier.weight.dtype == torch.float32
    assert type(model.bert.pooler.dense).__name__ == "Linear", "the head (classifier and pooler) stays full"


def test_qlora8_trains_on_an_8_bit_base(wide_models, wide_data, tmp_path, run_cli):
    out = tmp_path / "run8"
    args = helpers.run_args(
        "text-classification", "qlora8", wide_models["tiny_bert"], wide_data["text-classification"], out
    )
    code, _, err = run_cli(*args, "--max_steps", "4")
    assert code == 0, err[-2000:]
    assert json.loads((out / "metrics.json").read_text())["reload_check"]["match"]
    assert "8-bit base it trained on" in (out / "README.md").read_text()


def test_an_old_bitsandbytes_on_a_cpu_is_refused_naming_the_version(monkeypatch, tiny_bert, tmp_path, run_cli):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(bitsandbytes, "__version__", "0.45.5")
    data = helpers.write_data(tmp_path / "data")["text-classification"]
    code, _, err = run_cli(*helpers.run_args("text-classification", "qlora", tiny_bert, data, tmp_path / "q"))
    assert code == 2 and "needs bitsandbytes 0.50 or later (this machine has 0.45.5" in err
    assert not (tmp_path / "q").exists() and not (tmp_path / "q.partial").exists()

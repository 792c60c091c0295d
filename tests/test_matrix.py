"""Every task under every method, on tiny models (issue 14): the run folder is complete, the saved model
reloads to the metric training recorded, an adapter reloads to the same logits, and the model card's
metadata parses and its usage snippet runs against the saved folder."""

from __future__ import annotations

import contextlib
import io
import json
import re

import pytest
import yaml

from hf_transfer import methods

from helpers import ADAPTERS, METHODS, TASKS, usage_snippet
from hub_server import check_metadata

SAMPLE = {
    "text-classification": ("a good film", None),
    "token-classification": (["anna", "visited", "paris"], None),
    "question-answering": ("where does anna live ?", "anna lives in oslo ."),
    "seq2seq": ("anna paris good film", None),
    "causal-lm": ("where does anna live ?", None),
    "multiple-choice": ("anna lives in oslo .", None),
}


def logits_of(model, tokenizer, task: str):
    import torch

    text, pair = SAMPLE[task]
    if task == "token-classification":
        batch = tokenizer([text], is_split_into_words=True, return_tensors="pt")
    elif task == "multiple-choice":
        batch = tokenizer(
            [text] * 2, ["anna was born in oslo", "anna was born in lima"], return_tensors="pt", padding=True
        )
        batch = {k: v.unsqueeze(0) for k, v in batch.items()}
    else:
        batch = tokenizer([text], *([[pair]] if pair else []), return_tensors="pt")
    if task == "seq2seq":
        batch["decoder_input_ids"] = torch.zeros((1, 1), dtype=torch.long)
    batch.pop("token_type_ids", None) if task in ("causal-lm", "seq2seq") else None
    with torch.no_grad():
        out = model(**batch)
    return out.start_logits if task == "question-answering" else out.logits


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("task", TASKS)
def test_task_under_method(finished_run, task, method):
    from hf_transfer.artifacts.card import build_card
    from hf_transfer.artifacts.models import load_run

    out = finished_run(task, method)
    names = {p.name for p in out.iterdir()}
    entry = methods.get(method)
    assert {"recipe.yaml", "metrics.json", "README.md", "trainer_state.json", "training_curves.png"} <= names
    assert ({"adapter_config.json", "adapter_model.safetensors"} <= names) == entry.adapter
    assert ("model.safetensors" in names) != entry.adapter
    assert not (out / "checkpoints").exists() and not out.with_name(out.name + ".partial").exists()
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["method"] == method and metrics["reload_check"]["match"] is True
    check = metrics["reload_check"]  # the trained and the reloaded model compared, never a value with itself
    assert check["rows"] > 0 and check["changed_predictions"] == 0 and check["metric"] in metrics["eval"]
    assert check["max_difference"] <= check["tolerance"] * max(1.0, check["scale"])
    # whatever chose the kept model read rows carved from training; the evaluation rows reported
    assert (metrics["selection"]["rows"] > 0) == ("selection" in metrics["samples"])
    assert "kept" not in metrics or metrics["selection"]["rows"] > 0, "a kept checkpoint was chosen on carved rows"
    assert yaml.safe_load((out / "recipe.yaml").read_text())["method"] == method

    card = (out / "README.md").read_text()
    meta = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", card, re.S).group(1))
    assert check_metadata(meta) == []
    assert meta["library_name"] == ("peft" if entry.adapter else "transformers") and method in meta["tags"]
    assert entry.card.split(":")[0] in card, "the method registry's sentence"

    # the usage snippet, pointed at this folder, runs; for adapters it loads the same logits as load_run
    snippet = usage_snippet(str(build_card(out, repo_id=str(out))))
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(snippet, f"<card usage snippet {task}/{method}>", "exec"), namespace)  # noqa: S102  (our own card)
    import torch

    _, model, tokenizer = load_run(out)
    if "model" in namespace:  # the snippet loads the model itself: the same logits as load_run
        namespace["model"].eval()
        assert torch.allclose(
            logits_of(namespace["model"], tokenizer, task), logits_of(model, tokenizer, task), atol=1e-5
        )
    if entry.adapter:
        again = load_run(out)[1]
        assert torch.equal(logits_of(again, tokenizer, task), logits_of(model, tokenizer, task)), (
            "reload is deterministic"
        )
    if "print(" in snippet:
        assert printed.getvalue(), "the snippet printed a prediction"


def test_the_matrix_covers_every_registered_task_and_method():
    from hf_transfer.tasks import TASKS as REGISTERED

    assert set(TASKS) == set(REGISTERED)
    assert set(METHODS) | {"qlora", "qlora8"} == set(methods.names()), "quantized methods: tests/test_qlora.py"
    assert set(ADAPTERS) == {m.name for m in methods.METHODS.values() if m.adapter and not m.quantized}

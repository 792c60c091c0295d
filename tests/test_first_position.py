"""The last layer computed for the first position only (tasks/_first_position.py): the same outputs and gradients as
the whole layer, the forward restored afterwards, nothing changed where the head reads more than that position."""

from __future__ import annotations

import pytest

from hf_transfer.tasks import _first_position
from hf_transfer.tasks._first_position import first_position_only, last_layer


def classifier(tiny_bert, **kwargs):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=3, **kwargs)


def padded_batch(tiny_bert):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["the film was good", "anna smith visited paris . the film was good and long", "bad"]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    assert (batch["attention_mask"] == 0).any(), "the batch has padding, so the mask matters"
    return batch


def logits_and_grads(model, batch, labels):
    """The logits and every weight's gradient of one forward and backward pass."""
    model.zero_grad()
    out = model(**batch, labels=labels)
    out.loss.backward()
    return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def assert_same(first, whole):
    """The first-position pass gives the whole layer's logits, and a gradient for every weight, each equal."""
    import torch

    (logits, grads), (whole_logits, whole_grads) = first, whole
    torch.testing.assert_close(logits, whole_logits, rtol=1e-5, atol=1e-6)
    assert grads.keys() == whole_grads.keys(), "every weight still gets its gradient"
    for name, grad in whole_grads.items():
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_the_first_position_gives_the_same_logits_and_gradients(tiny_bert, attention):
    import torch

    model = classifier(tiny_bert, attn_implementation=attention).eval()  # no dropout: both ways compare exactly
    batch, labels = padded_batch(tiny_bert), torch.tensor([0, 2, 1])
    whole = logits_and_grads(model, batch, labels)
    layer = last_layer(model)
    with first_position_only(model) as applies:
        assert applies
        assert layer(model.bert.embeddings(batch["input_ids"])).shape[1] == 1, "the layer makes one position"
        first = logits_and_grads(model, batch, labels)
    assert_same(first, whole)
    assert "forward" not in vars(layer), "the layer's own forward is back"
    hidden = model.bert(**batch).last_hidden_state
    assert hidden.shape[1] == batch["input_ids"].shape[1], "every position again after the context"


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("model_type", sorted(_first_position.FIRST_POSITION_MODELS))
def test_every_architecture_on_the_list_gives_the_same_logits_and_gradients(model_type, attention):
    """Each architecture the list claims, built small from its own config (RoBERTa's position offsets, ELECTRA's
    embedding projection and head), equal with and without the first-position layer on a padded batch."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(0)
    extra = {"embedding_size": 16} if model_type == "electra" else {}
    config = AutoConfig.for_model(
        model_type, vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=64, num_labels=3, **extra,
    )  # fmt: skip
    model = AutoModelForSequenceClassification.from_config(config, attn_implementation=attention).eval()
    ids = torch.randint(5, 100, (3, 12))
    mask = torch.ones_like(ids)
    mask[0, 8:], mask[2, 3:] = 0, 0  # two rows padded, at different lengths
    batch, labels = {"input_ids": ids, "attention_mask": mask}, torch.tensor([0, 2, 1])
    whole = logits_and_grads(model, batch, labels)
    with first_position_only(model) as applies:
        assert applies, f"{model_type} is on the list, so its last layer is found"
        first = logits_and_grads(model, batch, labels)
    assert_same(first, whole)


def test_models_whose_head_reads_more_than_the_first_position_are_left_as_they_are(tiny_bert):
    from transformers import AutoModelForTokenClassification

    tagger = AutoModelForTokenClassification.from_pretrained(tiny_bert, num_labels=3)
    assert last_layer(tagger) is None
    with first_position_only(tagger) as applies:
        assert not applies
    assert not any("forward" in vars(m) for m in tagger.modules())


def test_a_lora_classifier_is_found_inside_its_wrapper(tiny_bert):
    import torch
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(classifier(tiny_bert), LoraConfig(task_type="SEQ_CLS", target_modules="all-linear"))
    model.eval()
    batch = padded_batch(tiny_bert)
    with torch.no_grad():
        whole = model(**batch).logits
        with first_position_only(model) as applies:
            first = model(**batch).logits
    assert applies
    torch.testing.assert_close(first, whole, rtol=1e-5, atol=1e-6)


def test_a_run_trains_through_the_first_position_unless_told_not_to(
    tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch
):
    """On by default, for training only (the saved model is evaluated, and reload-checked, as it is);
    ``--set task.first_position_only=false`` gives every position back."""
    import json

    from conftest import tiny_run_args

    calls = {"training": 0, "evaluating": 0}
    original = _first_position.first_position_forward

    def counting(layer, *args, **kwargs):
        calls["training" if layer.training else "evaluating"] += 1
        return original(layer, *args, **kwargs)

    monkeypatch.setattr(_first_position, "first_position_forward", counting)
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out))
    assert code == 0, err
    assert calls["training"] > 0, "the training steps went through the first position"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["reload_check"]["match"], "the saved model, as it is, gives the trained outputs"
    seen = dict(calls)
    plain = tmp_path / "plain"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, plain, "--set", "task.first_position_only=false"))
    assert code == 0, err
    assert calls == seen, "every position when told so"

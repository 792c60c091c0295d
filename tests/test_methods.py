"""Methods on the tiny BERT: what each one trains, and what LoRA saves."""

from __future__ import annotations

import dataclasses

import pytest

from hf_transfer import FreezeSettings, LoraSettings, PackagedData, Recipe, TextClassification, UserError, methods


def recipe(method: str, **changes) -> Recipe:
    base = Recipe(
        name="t",
        checkpoint="x",
        data=PackagedData("rotten-tomatoes-snippets"),
        task=TextClassification(label_names=["a", "b"]),
        method=method,
    )
    return dataclasses.replace(base, **changes)


def load(tiny_bert):
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)


def trainable_names(model) -> set[str]:
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_head_only(tiny_bert):
    r = recipe("freeze")
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    assert trainable_names(model) == {
        "bert.pooler.dense.weight",
        "bert.pooler.dense.bias",
        "classifier.weight",
        "classifier.bias",
    }


def test_freeze_with_top_layers(tiny_bert):
    r = recipe("freeze", freeze=FreezeSettings(train_top_layers=1))
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    names = trainable_names(model)
    assert any(n.startswith("bert.encoder.layer.1.") for n in names)
    assert not any(n.startswith("bert.encoder.layer.0.") or "embeddings" in n for n in names)
    with pytest.raises(UserError, match="the model has 2 layers"):
        r = recipe("freeze", freeze=FreezeSettings(train_top_layers=3))
        methods.prepare_model(load(tiny_bert), r, r.task)


def test_lora_targets_and_saves_head_and_pooler(tiny_bert):
    r = recipe("lora", lora=LoraSettings(r=4, alpha=8))
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    names = trainable_names(model)
    assert any("query.lora_A" in n for n in names) and any("value.lora_B" in n for n in names)
    assert not any("key.lora" in n for n in names)
    assert any("classifier.modules_to_save" in n for n in names)
    assert any("pooler.modules_to_save" in n for n in names)
    assert {"classifier", "pooler"} <= set(model.peft_config["default"].modules_to_save)


def test_lora_explicit_targets(tiny_bert):
    r = recipe("lora", lora=LoraSettings(target_modules=["key"]))
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    assert any("key.lora_A" in n for n in trainable_names(model))
    assert not any("query.lora_A" in n for n in trainable_names(model))


def test_lora_save_and_reload_give_identical_logits(tiny_bert, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoTokenizer

    r = recipe("lora")
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    with torch.no_grad():  # move the adapter and head away from their initial values
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.add_(torch.randn_like(param) * 0.05)
    model.eval()
    model.save_pretrained(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    batch = tokenizer(["great film", "dull plot here"], padding=True, return_tensors="pt")
    reloaded = PeftModel.from_pretrained(load(tiny_bert), tmp_path).eval()
    with torch.no_grad():
        assert torch.equal(model(**batch).logits, reloaded(**batch).logits)


def test_full_with_frozen_word_embeddings_trains_everything_else(tiny_bert):
    model = methods.prepare_model(load(tiny_bert), recipe("full", freeze_word_embeddings=True), TextClassification())
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"bert.embeddings.word_embeddings.weight"}
    everything = methods.prepare_model(load(tiny_bert), recipe("full"), TextClassification())
    assert all(p.requires_grad for p in everything.parameters())


def test_frozen_word_embeddings_are_refused_when_the_output_layer_shares_them(tiny_llama):
    from transformers import AutoModelForCausalLM

    from hf_transfer import InstructionTuning

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model.get_output_embeddings().weight = model.get_input_embeddings().weight  # tied, as SmolLM2's are
    with pytest.raises(UserError, match="shares its weights with the input embeddings"):
        methods.prepare_model(model, recipe("full", freeze_word_embeddings=True), InstructionTuning())


def test_count_parameters(tiny_bert):
    model = load(tiny_bert)
    trainable, total = methods.count_parameters(model)
    assert trainable == total == sum(p.numel() for p in model.parameters())


def test_qlora_without_cuda_stops_before_loading(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="needs a CUDA GPU.*--method lora"):
        methods.check_available("qlora")
    methods.check_available("lora")

"""Methods on the tiny BERT: what each one trains, and what LoRA saves."""

from __future__ import annotations

import dataclasses

import pytest

from hf_transfer import (
    FreezeSettings,
    FullSettings,
    LoraSettings,
    PackagedData,
    Recipe,
    TextClassification,
    UserError,
    methods,
)


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
    r = recipe("freeze", freeze=FreezeSettings(train_top_layers=3))
    with pytest.raises(UserError, match="the model has 2 layers"):
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
        for _name, param in model.named_parameters():
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
    kept = recipe("full", full=FullSettings(freeze_word_embeddings=True))
    model = methods.prepare_model(load(tiny_bert), kept, TextClassification())
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {"bert.embeddings.word_embeddings.weight"}
    everything = methods.prepare_model(load(tiny_bert), recipe("full"), TextClassification())
    assert all(p.requires_grad for p in everything.parameters())


def test_frozen_word_embeddings_are_refused_when_the_output_layer_shares_them(tiny_llama):
    from transformers import AutoModelForCausalLM

    from hf_transfer import InstructionTuning

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    model.get_output_embeddings().weight = model.get_input_embeddings().weight  # tied, as SmolLM2's are
    kept = recipe("full", full=FullSettings(freeze_word_embeddings=True))
    with pytest.raises(UserError, match="shares its weights with the input embeddings"):
        methods.prepare_model(model, kept, InstructionTuning())


def test_count_parameters(tiny_bert):
    model = load(tiny_bert)
    trainable, total = methods.count_parameters(model)
    assert trainable == total == sum(p.numel() for p in model.parameters())


def test_qlora_needs_bitsandbytes_and_a_cpu_capable_version(monkeypatch):
    import sys

    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)
    with pytest.raises(UserError, match="which is not installed: pip install 'hf-transfer-toolkit\\[qlora\\]'"):
        methods.check_available("qlora")
    methods.check_available("lora")


# ---- the registry: what a method entry needs, and what it then gets without other changes (issue 24 §3)


def settings_methods():
    return [m for m in methods.METHODS.values() if m.settings]


def test_every_settings_group_is_a_recipe_field_that_round_trips():
    template = recipe("full")
    fields = {f.name: f for f in dataclasses.fields(Recipe)}
    for key, settings_class in methods.SETTINGS.items():
        assert key in fields, f"Recipe has no field for the {key} settings"
        assert isinstance(getattr(template, key), settings_class)
        assert Recipe.from_yaml(template.to_yaml()) == template
        rate = template.with_overrides([f"{key}.learning_rate=0.25"])
        assert getattr(rate, key).learning_rate == 0.25, "--set reaches every group"


@pytest.mark.parametrize("method", [m.name for m in settings_methods()])
def test_each_method_validates_its_own_settings_and_names_them(method):
    entry = methods.get(method)
    bad = recipe(
        method, **{entry.settings: dataclasses.replace(getattr(recipe(method), entry.settings), learning_rate=-1.0)}
    )
    with pytest.raises(UserError, match=rf"{entry.settings}\.learning_rate must be positive"):
        bad.validate()


@pytest.mark.parametrize("method", [m.name for m in settings_methods()])
def test_an_explicit_learning_rate_wins_over_every_methods_own_rate(method):
    """--method M --set <settings>.learning_rate=0.5 --learning_rate 0.0123 trains at 0.0123, for every method
    in the registry (issue 23: ia3 trained at 0.5, its reset was listed by name)."""
    from hf_transfer.run.arguments import training_arguments
    from hf_transfer.run.options import resolve_run

    entry = methods.get(method)
    base = recipe("full", checkpoint="some/model")
    flags = {"method": method, "set": [f"{entry.settings}.learning_rate=0.5"]}
    own, _ = resolve_run(base, flags, [])
    assert training_arguments(own)["learning_rate"] == 0.5, "the method's own rate applies without the flag"
    explicit, _ = resolve_run(base, flags, ["--learning_rate", "0.0123"])
    assert training_arguments(explicit)["learning_rate"] == 0.0123


def test_every_method_has_a_card_sentence_from_its_entry():
    for entry in methods.METHODS.values():
        sentence = entry.card_sentence(recipe(entry.name), "`query`", " (the head)")
        assert sentence.endswith(".") and "{" not in sentence, entry.name
        if entry.settings == "lora":
            assert "r=8" in sentence, entry.name


def test_a_new_entry_is_found_everywhere_by_its_registration_alone():
    """What a new method needs: a prepare function, a card sentence and its settings (here: LoRA's). With only
    ``register``, the recipe validates it, the CLI offers it, the card describes it and the explicit rate rule
    covers it; a second entry of the same name is refused."""
    from hf_transfer.cli import build_parser
    from hf_transfer.run.options import resolve_run

    entry = methods.Method(
        "lora-probe",
        "LoRA probe (r={r}) on {targets}{head}.",
        lambda model, r, task: model,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
    )
    methods.register(entry)
    try:
        with pytest.raises(ValueError, match="registered already"):
            methods.register(entry)
        assert recipe("lora-probe").validate().method == "lora-probe"
        args, _ = build_parser().parse_known_args(["run", "x", "--method", "lora-probe"])
        assert args.method == "lora-probe"
        assert entry.card_sentence(recipe("lora-probe"), "`q`", "") == "LoRA probe (r=8) on `q`."
        flags = {"method": "lora-probe", "set": ["lora.learning_rate=0.5"]}
        resolved, _ = resolve_run(recipe("full", checkpoint="m"), flags, ["--learning_rate", "0.01"])
        assert resolved.lora.learning_rate is None
    finally:
        del methods.METHODS["lora-probe"]


def test_a_settings_class_cannot_be_claimed_by_two_groups():
    with pytest.raises(ValueError, match="holds LoraSettings"):
        methods.register(
            methods.Method("other", "x.", lambda m, r, t: m, settings="lora", settings_class=FreezeSettings)
        )
    assert "other" not in methods.METHODS


def test_every_shipped_method_has_its_search_space_in_its_entry():
    """tune's default space is the entry's (issue 35: qlora8 had none and fell back to a generic one)."""
    for entry in methods.METHODS.values():
        assert entry.space and "learning_rate" in entry.space, entry.name
    assert methods.space("qlora8") == methods.space("qlora") == methods.space("lora")
    assert methods.space("freeze")["freeze.train_top_layers"] == {"low": 0, "high": 3}
    assert methods.space("full")["learning_rate"] != methods.space("scratch")["learning_rate"]


def test_the_old_top_level_freeze_word_embeddings_is_read_into_fulls_settings(capsys):
    from hf_transfer.recipe import recipe as recipe_module

    recipe_module._NOTED.clear()
    template = recipe("full").to_dict()
    del template["full"]
    old = Recipe.from_dict({**template, "freeze_word_embeddings": True})
    assert old.full.freeze_word_embeddings is True and "freeze_word_embeddings" not in old.to_dict()
    assert "the recipe key freeze_word_embeddings is now full.freeze_word_embeddings" in capsys.readouterr().err
    assert recipe("full").with_overrides(["freeze_word_embeddings=true"]).full.freeze_word_embeddings is True
    new = recipe("full").with_overrides(["full.freeze_word_embeddings=true"])
    assert new.full.freeze_word_embeddings is True
    with pytest.raises(UserError, match="are both given, and differ"):
        Recipe.from_dict({**template, "freeze_word_embeddings": True, "full": {"freeze_word_embeddings": False}})


def test_fulls_card_sentence_reads_its_own_settings():
    kept = methods.get("full").card_sentence(recipe("full", full=FullSettings(freeze_word_embeddings=True)), None, "")
    assert "input word embeddings were kept as pretrained (`full.freeze_word_embeddings`)" in kept
    assert "embeddings" not in methods.get("full").card_sentence(recipe("full"), None, "")
    # an adapter's sentence names its own settings' targets when the saved adapter names none
    ia3 = recipe("ia3", lora=LoraSettings(target_modules=["lora_only"]))
    ia3 = dataclasses.replace(ia3, ia3=dataclasses.replace(ia3.ia3, target_modules=["key", "value"]))
    assert "`key`, `value`" in methods.get("ia3").card_sentence(ia3, None, "")


def test_loraplus_trains_the_b_matrices_at_the_ratio_and_is_off_by_default(tiny_bert, tmp_path):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=0.01, report_to="none")
    plain = recipe("lora")
    assert plain.lora.optimizer(methods.prepare_model(load(tiny_bert), plain, plain.task), args) is None
    r = recipe("lora", lora=LoraSettings(loraplus_lr_ratio=16))
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    optimizer = r.lora.optimizer(model, args)
    assert type(optimizer) is Trainer.get_optimizer_cls_and_kwargs(args, model)[0], "the Trainer's own class"
    rate = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert len(rate) == sum(len(g["params"]) for g in optimizer.param_groups) == len(trained), "each weight once"
    assert sorted({rate[id(p)] for n, p in trained.items() if "lora_B" in n}) == pytest.approx([1.6e-2])
    assert sorted({rate[id(p)] for n, p in trained.items() if "lora_A" in n}) == pytest.approx([1e-3])
    sentence = methods.get("lora").card_sentence(r, None, "")
    assert "LoRA+: the B matrices at 16x the learning rate" in sentence
    assert "LoRA+" not in methods.get("lora").card_sentence(plain, None, "")
    with pytest.raises(UserError, match=r"lora\.loraplus_lr_ratio must be 1 or more"):
        recipe("lora", lora=LoraSettings(loraplus_lr_ratio=0.5)).validate()


def test_a_loraplus_run_trains_with_the_grouped_optimizer(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    """--set lora.loraplus_lr_ratio reaches the Trainer: the optimizer peft builds is the one that steps."""
    import peft.optimizers

    from conftest import tiny_run_args

    made = []
    original = peft.optimizers.create_loraplus_optimizer

    def recording(*args, **kwargs):
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(peft.optimizers, "create_loraplus_optimizer", recording)
    out = tmp_path / "run"
    code, _, err = run_cli(
        *tiny_run_args(tiny_bert, sentiment_files, out, "--method", "lora", "--set", "lora.loraplus_lr_ratio=4",
                       "--num_train_epochs", "1")
    )  # fmt: skip
    assert code == 0, err
    assert len(made) == 1
    rates = sorted({g["initial_lr"] for g in made[0].param_groups if g["params"]})
    assert len(rates) == 2 and rates[1] == pytest.approx(4 * rates[0]), "the schedule keeps the ratio"
    assert made[0].state, "the grouped optimizer took the training steps"
    assert "LoRA+: the B matrices at 4x" in (out / "README.md").read_text()


def test_layer_decay_trains_each_layer_at_the_factor_of_the_one_above_and_is_off_by_default(tiny_bert, tmp_path):
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=0.01, report_to="none")
    assert recipe("full").full.optimizer(load(tiny_bert), args) is None
    r = recipe("full", full=FullSettings(layer_decay=0.5))
    model = methods.prepare_model(load(tiny_bert), r, r.task)
    optimizer = r.full.optimizer(model, args)
    assert type(optimizer) is Trainer.get_optimizer_cls_and_kwargs(args, model)[0], "the Trainer's own class"
    group = {id(p): g for g in optimizer.param_groups for p in g["params"]}
    named = dict(model.named_parameters())
    assert len(group) == sum(len(g["params"]) for g in optimizer.param_groups) == len(named), "each weight once"
    layers = model.config.num_hidden_layers
    assert layers >= 2

    def rate(name):
        return group[id(named[name])]["lr"]

    assert rate("classifier.weight") == rate("bert.pooler.dense.weight") == pytest.approx(1e-3)
    top = f"bert.encoder.layer.{layers - 1}.attention.self.query.weight"
    assert rate(top) == pytest.approx(5e-4)
    assert rate("bert.encoder.layer.0.attention.self.query.weight") == pytest.approx(1e-3 * 0.5**layers)
    assert rate("bert.embeddings.word_embeddings.weight") == pytest.approx(1e-3 * 0.5 ** (layers + 1))
    assert rate("bert.embeddings.LayerNorm.weight") == rate("bert.embeddings.word_embeddings.weight")
    # the Trainer's weight decay rule holds within each depth: none for biases and norms
    assert group[id(named[top])]["weight_decay"] == 0.01
    assert group[id(named[top.replace("weight", "bias")])]["weight_decay"] == 0.0
    assert group[id(named["bert.embeddings.LayerNorm.weight"])]["weight_decay"] == 0.0
    sentence = methods.get("full").card_sentence(r, None, "")
    assert "Each layer trained at 0.5x the learning rate of the layer above it (`full.layer_decay`)" in sentence
    assert "layer_decay" not in methods.get("full").card_sentence(recipe("full"), None, "")
    for bad in (0, 1.5, True):
        with pytest.raises(UserError, match=r"full\.layer_decay must be in \(0, 1\]"):
            recipe("full", full=FullSettings(layer_decay=bad)).validate()


def test_layer_depths_reads_the_usual_layer_stacks():
    from hf_transfer.methods.full import layer_depths

    gpt2 = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.attn.c_attn.weight",
            "transformer.h.11.mlp.c_fc.weight", "transformer.ln_f.weight", "score.weight"]  # fmt: skip
    depths, top = layer_depths(gpt2)
    assert top == 13
    assert [depths[n] for n in gpt2] == [0, 0, 1, 12, 13, 13]
    llama = ["model.embed_tokens.weight", "model.layers.1.self_attn.q_proj.weight", "model.norm.weight"]
    assert layer_depths(llama) == ({llama[0]: 0, llama[1]: 2, llama[2]: 3}, 3)
    t5 = ["shared.weight", "encoder.block.0.layer.1.DenseReluDense.wi.weight",
          "decoder.block.5.layer.0.SelfAttention.q.weight"]  # fmt: skip
    depths, top = layer_depths(t5)
    # the block number, not the sublayer inside a block, is the depth
    assert (depths[t5[0]], depths[t5[1]], depths[t5[2]], top) == (0, 1, 6, 7)
    assert layer_depths(["classifier.weight"]) == ({"classifier.weight": 1}, 1), "no stack: one depth"


def test_a_layer_decay_run_steps_with_the_grouped_optimizer(tiny_bert, sentiment_files, tmp_path, run_cli, monkeypatch):
    """--set full.layer_decay reaches the Trainer: the grouped optimizer is the one that steps."""
    from conftest import tiny_run_args

    made = []
    original = FullSettings.optimizer

    def recording(self, model, args):
        made.append(original(self, model, args))
        return made[-1]

    monkeypatch.setattr(FullSettings, "optimizer", recording)
    out = tmp_path / "run"
    code, _, err = run_cli(
        *tiny_run_args(tiny_bert, sentiment_files, out, "--set", "full.layer_decay=0.8", "--num_train_epochs", "1")
    )
    assert code == 0, err
    assert len(made) == 1 and made[0] is not None
    rates = sorted({g["initial_lr"] for g in made[0].param_groups})
    assert len(rates) >= 3 and rates[-2] == pytest.approx(0.8 * rates[-1]), "the schedule keeps the factors"
    assert made[0].state, "the grouped optimizer took the training steps"
    assert "`full.layer_decay`" in (out / "README.md").read_text()


def test_a_grouped_optimizer_is_made_in_the_trainers_own_hook_on_the_model_it_is_handed(tiny_bert, tmp_path):
    """LoRA+ and layer decay build their optimizer in ``create_optimizer``, not through ``optimizers=``: the Trainer
    hands that hook the model as it prepared it (FSDP's wrapped one; transformers refuses a ready-made optimizer
    under FSDP, and DeepSpeed calls the hook itself), so the groups are made from what trains; once made, kept."""
    import torch
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    from hf_transfer import TextClassification
    from hf_transfer.run.trainer import trainer_class

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=2)
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, report_to=[], use_cpu=True)
    trainer = trainer_class(TextClassification())(model=model, args=args)
    assert trainer.optimizer is None, "nothing made before the Trainer asks"
    handed = []

    def grouped(given, given_args):
        handed.append(given)
        return FullSettings(layer_decay=0.5).optimizer(given, given_args)

    trainer.grouped_optimizer = grouped
    wrapper = torch.nn.ModuleDict({"wrapped": model})  # what a wrapping Trainer would hand the hook
    made = trainer.create_optimizer(wrapper)
    assert handed == [wrapper] and made is trainer.optimizer
    assert len({g["lr"] for g in made.param_groups}) >= 3, "rates by group, from the model handed over"
    assert trainer.create_optimizer() is made and len(handed) == 1, "made once"
    plain = trainer_class(TextClassification())(model=model, args=args)
    assert len({g["lr"] for g in plain.create_optimizer().param_groups}) == 1, "no settings: the Trainer's own"

"""Emerging and rare entities in social-media text (WNUT-17) with DistilBERT-base-cased."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TokenClassification

RECIPE = Recipe(
    name="wnut17-distilbert",
    description="Emerging and rare entities in social-media text (WNUT-17) with DistilBERT-base-cased.",
    checkpoint="distilbert/distilbert-base-cased",
    data=HubData("leondz/wnut_17", columns={"tags": "ner_tags"}, eval_split="validation"),
    task=TokenClassification(max_length=128, scheme="IOB2"),
    metrics=["seqeval"],
    training={"learning_rate": 5e-5, "num_train_epochs": 5, "per_device_train_batch_size": 16, "warmup_steps": 100, "weight_decay": 0.01},
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    expected={"overall_f1": 0.45},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

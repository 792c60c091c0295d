"""Binary sentiment of movie-review sentences (GLUE SST-2) with DistilBERT."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TextClassification

RECIPE = Recipe(
    name="sst2-distilbert",
    description="Binary sentiment of movie-review sentences (GLUE SST-2) with DistilBERT.",
    checkpoint="distilbert/distilbert-base-uncased",
    data=HubData("nyu-mll/glue", "sst2", columns={"text": "sentence"}, eval_split="validation"),
    task=TextClassification(max_length=128),
    metrics=["accuracy", "f1"],
    training={
        "learning_rate": 2e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 32,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=8, alpha=16, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # DistilBERT paper (Sanh et al. 2019), Table 1 / the distilbert-base-uncased model card: SST-2 dev accuracy 91.3.
    expected={"accuracy": 0.913},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

"""Binary sentiment of full IMDB movie reviews with DistilBERT (long inputs, 512 tokens)."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TextClassification

RECIPE = Recipe(
    name="imdb-distilbert",
    description="Binary sentiment of full IMDB movie reviews with DistilBERT (long inputs, 512 tokens).",
    checkpoint="distilbert/distilbert-base-uncased",
    # IMDB has train, test and unlabelled data: the best epoch is chosen on a seeded 5% of train;
    # test is evaluated once.
    data=HubData("stanfordnlp/imdb", eval_fraction=0.05, test_split="test"),
    task=TextClassification(max_length=512),
    metrics=["accuracy", "f1"],
    training={
        "learning_rate": 2e-5,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=8, alpha=16, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # DistilBERT paper (Sanh et al. 2019), Table 2: IMDb test accuracy 92.82 for DistilBERT.
    expected={"accuracy": 0.928},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

"""Four-way news topic classification (AG News: World, Sports, Business, Sci/Tech) with BERT-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TextClassification

RECIPE = Recipe(
    name="ag-news-bert",
    description="Four-way news topic classification (AG News: World, Sports, Business, Sci/Tech) with BERT-base.",
    checkpoint="google-bert/bert-base-uncased",
    data=HubData("fancyzhx/ag_news", eval_split="test"),
    task=TextClassification(max_length=128),
    metrics=["accuracy", "f1"],
    training={"learning_rate": 2e-5, "num_train_epochs": 2, "per_device_train_batch_size": 32, "warmup_steps": 500, "weight_decay": 0.01},
    lora=LoraSettings(r=8, alpha=16, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    expected={"accuracy": 0.94},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

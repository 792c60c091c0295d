"""18 entity types (people, dates, money, works of art, ...) in OntoNotes 5.0 with RoBERTa-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TokenClassification

RECIPE = Recipe(
    name="ontonotes-roberta",
    description="18 entity types (people, dates, money, works of art, ...) in OntoNotes 5.0 with RoBERTa-base.",
    checkpoint="FacebookAI/roberta-base",
    data=HubData("tner/ontonotes5", eval_split="validation"),
    task=TokenClassification(max_length=256, scheme="IOB2"),
    metrics=["seqeval"],
    training={"learning_rate": 3e-5, "num_train_epochs": 3, "per_device_train_batch_size": 16, "warmup_steps": 500, "weight_decay": 0.01},
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    expected={"overall_f1": 0.89},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

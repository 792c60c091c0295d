"""Grounded commonsense inference (SWAG, regular config): pick the ending that follows a video caption,
with BERT-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, MultipleChoice, Recipe

RECIPE = Recipe(
    name="swag-bert",
    description="Grounded commonsense inference (SWAG): pick the most likely of four endings, with BERT-base.",
    checkpoint="google-bert/bert-base-uncased",
    # sent1 is the context; sent2 starts the sentence that each of ending0-3 completes; label names the right ending.
    data=HubData("allenai/swag", "regular", columns={"context": "sent1", "question": "sent2"}, eval_split="validation"),
    task=MultipleChoice(max_length=128),
    metrics=["accuracy"],
    training={
        "learning_rate": 2e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 16,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # BERT paper (Devlin et al. 2019), the SWAG table: BERT-base dev accuracy 81.6.
    expected={"accuracy": 0.816},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

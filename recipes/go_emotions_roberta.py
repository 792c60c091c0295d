"""Multi-label emotion detection in Reddit comments (GoEmotions, 28 labels) with RoBERTa-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TextClassification

RECIPE = Recipe(
    name="go-emotions-roberta",
    description="Multi-label emotion detection in Reddit comments (GoEmotions, 28 labels) with RoBERTa-base.",
    checkpoint="FacebookAI/roberta-base",
    data=HubData(
        "google-research-datasets/go_emotions", "simplified", columns={"label": "labels"}, eval_split="validation"
    ),
    task=TextClassification(problem_type="multi_label", max_length=128, threshold=0.3),
    metrics=["f1", "precision", "recall"],
    training={
        "learning_rate": 3e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 32,
        "warmup_ratio": 0.06,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # No expected result: the GoEmotions paper reports BERT-base (macro F1 0.46 on test), not roberta-base.
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

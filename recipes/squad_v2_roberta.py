"""SQuAD v2 (a third of the questions have no answer in the context) with RoBERTa-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, QuestionAnswering, Recipe

RECIPE = Recipe(
    name="squad-v2-roberta",
    description="SQuAD v2 (a third of the questions have no answer in the context) with RoBERTa-base.",
    checkpoint="FacebookAI/roberta-base",
    data=HubData("rajpurkar/squad_v2", eval_split="validation"),
    task=QuestionAnswering(max_length=384, doc_stride=128, version_2_with_negative=True),
    metrics=["squad_v2"],
    training={
        "learning_rate": 3e-5,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "warmup_ratio": 0.06,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # deepset/roberta-base-squad2 model card (the Hub's evaluation on SQuAD v2 dev): EM 79.93, F1 82.95; deepset's own
    # training setup, which differs from this recipe's.
    expected={"exact_match": 79.93, "f1": 82.95},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

"""Extractive question answering on SQuAD v1.1 with BERT-base-uncased."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, QuestionAnswering, Recipe

RECIPE = Recipe(
    name="squad-bert",
    description="Extractive question answering on SQuAD v1.1 with BERT-base-uncased.",
    checkpoint="google-bert/bert-base-uncased",
    data=HubData("rajpurkar/squad", eval_split="validation"),
    task=QuestionAnswering(max_length=384, doc_stride=128),
    metrics=["squad"],
    training={
        "learning_rate": 3e-5,
        "num_train_epochs": 2,
        "per_device_train_batch_size": 16,
        "warmup_ratio": 0.1,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # transformers examples/pytorch/question-answering/README.md, bert-base-uncased on SQuAD v1.1 dev:
    # EM 81.22, F1 88.52.
    expected={"exact_match": 81.22, "f1": 88.52},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

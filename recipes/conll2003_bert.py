"""Named entities (PER, ORG, LOC, MISC) in Reuters news, CoNLL-2003, with BERT-base-cased."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TokenClassification

RECIPE = Recipe(
    name="conll2003-bert",
    description="Named entities (PER, ORG, LOC, MISC) in Reuters news, CoNLL-2003, with BERT-base-cased.",
    checkpoint="google-bert/bert-base-cased",
    # a parquet copy: script-based datasets no longer load with current `datasets`
    data=HubData("eriktks/conll2003", columns={"tags": "ner_tags"}, eval_split="validation"),
    task=TokenClassification(max_length=256, scheme="IOB2"),
    metrics=["seqeval"],
    training={"learning_rate": 3e-5, "num_train_epochs": 3, "per_device_train_batch_size": 16, "warmup_steps": 200, "weight_decay": 0.01},
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    expected={"overall_f1": 0.95},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

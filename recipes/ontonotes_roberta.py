"""18 entity types (people, dates, money, works of art, ...) in OntoNotes 5.0 with RoBERTa-base."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TokenClassification

RECIPE = Recipe(
    name="ontonotes-roberta",
    description="18 entity types (people, dates, money, works of art, ...) in OntoNotes 5.0 with RoBERTa-base.",
    checkpoint="FacebookAI/roberta-base",
    # tner/ontonotes5 holds a loading script on main (refused by datasets >= 4); its parquet export has the same
    # sentences with `tags` as plain integers, so the tag names come from the card's label2id (dataset/label.json),
    # in id order. (ontonotes/conll2012_ontonotesv5 has named tags but whole documents and a cc-by-nc-nd license.)
    data=HubData("tner/ontonotes5", revision="refs/convert/parquet", eval_split="validation", test_split="test"),
    task=TokenClassification(
        max_length=256,
        scheme="IOB2",
        label_names=[
            "O",
            "B-CARDINAL",
            "B-DATE",
            "I-DATE",
            "B-PERSON",
            "I-PERSON",
            "B-NORP",
            "B-GPE",
            "I-GPE",
            "B-LAW",
            "I-LAW",
            "B-ORG",
            "I-ORG",
            "B-PERCENT",
            "I-PERCENT",
            "B-ORDINAL",
            "B-MONEY",
            "I-MONEY",
            "B-WORK_OF_ART",
            "I-WORK_OF_ART",
            "B-FAC",
            "B-TIME",
            "I-CARDINAL",
            "B-LOC",
            "B-QUANTITY",
            "I-QUANTITY",
            "I-NORP",
            "I-LOC",
            "B-PRODUCT",
            "I-TIME",
            "B-EVENT",
            "I-EVENT",
            "I-FAC",
            "B-LANGUAGE",
            "I-PRODUCT",
            "I-ORDINAL",
            "I-LANGUAGE",
        ],
    ),
    metrics=["seqeval"],
    training={
        "learning_rate": 3e-5,
        "num_train_epochs": 3,
        "per_device_train_batch_size": 16,
        "warmup_ratio": 0.06,
        "weight_decay": 0.01,
    },
    lora=LoraSettings(r=16, alpha=32, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # No expected result: no published roberta-base figure on this split was found (tner's cards report roberta-large).
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

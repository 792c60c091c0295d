"""Semantic similarity of sentence pairs, a 0-5 regression (GLUE STS-B), with BERT-base-cased."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, TextClassification

RECIPE = Recipe(
    name="stsb-bert",
    description="Semantic similarity of sentence pairs, a 0-5 regression (GLUE STS-B), with BERT-base-cased.",
    checkpoint="google-bert/bert-base-cased",
    data=HubData(
        "nyu-mll/glue", "stsb", columns={"text": "sentence1", "text_pair": "sentence2"}, eval_split="validation"
    ),
    task=TextClassification(problem_type="regression", max_length=128),
    metrics=["pearsonr", "spearmanr"],
    training={"learning_rate": 2e-5, "num_train_epochs": 3, "per_device_train_batch_size": 32, "warmup_ratio": 0.1},
    lora=LoraSettings(r=8, alpha=16, dropout=0.1, learning_rate=5e-4),
    freeze=FreezeSettings(learning_rate=1e-3),
    # transformers examples/pytorch/text-classification/README.md, bert-base-cased on STS-B dev:
    # Pearson 88.64, Spearman 88.48.
    expected={"pearsonr": 0.8864, "spearmanr": 0.8848},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

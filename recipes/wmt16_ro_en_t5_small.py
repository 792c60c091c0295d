"""English to Romanian translation (WMT16) with T5-small."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, Seq2SeqGeneration

RECIPE = Recipe(
    name="wmt16-ro-en-t5-small",
    description="English to Romanian translation (WMT16) with T5-small.",
    checkpoint="google-t5/t5-small",
    data=HubData(
        "wmt/wmt16", "ro-en", columns={"source": "translation.en", "target": "translation.ro"}, eval_split="validation"
    ),
    task=Seq2SeqGeneration(
        objective="translation",
        source_prefix="translate English to Romanian: ",
        max_source_length=128,
        max_target_length=128,
        max_new_tokens=128,
        num_beams=4,
    ),
    metrics=["sacrebleu"],
    training={"learning_rate": 5e-4, "num_train_epochs": 1, "per_device_train_batch_size": 32, "warmup_ratio": 0.1},
    lora=LoraSettings(r=16, alpha=32, dropout=0.05, learning_rate=1e-3),
    freeze=FreezeSettings(train_top_layers=2, learning_rate=1e-3),
    # No expected result: the T5 paper's T5-Small EnRo figure (Raffel et al. 2020, Table 14) could not be checked here.
    language=["en", "ro"],
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

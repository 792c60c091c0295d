"""Instruction tuning on Stanford Alpaca with Qwen2.5-0.5B-Instruct and QLoRA (needs a CUDA GPU)."""

from hf_transfer import HubData, InstructionTuning, LoraSettings, Recipe

RECIPE = Recipe(
    name="alpaca-qwen-qlora",
    description="Instruction tuning on Stanford Alpaca with Qwen2.5-0.5B-Instruct and QLoRA (4-bit base; needs CUDA).",
    checkpoint="Qwen/Qwen2.5-0.5B-Instruct",
    data=HubData("tatsu-lab/alpaca", eval_fraction=0.02),
    task=InstructionTuning(max_length=512),
    method="qlora",
    training={"learning_rate": 2e-5, "num_train_epochs": 1, "per_device_train_batch_size": 8, "gradient_accumulation_steps": 2, "warmup_steps": 100},
    lora=LoraSettings(r=16, alpha=32, dropout=0.05, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], learning_rate=2e-4),
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

"""Instruction tuning on Stanford Alpaca with Qwen2.5-0.5B-Instruct and QLoRA (needs a CUDA GPU)."""

from hf_transfer import HubData, InstructionTuning, LoraSettings, Recipe

RECIPE = Recipe(
    name="alpaca-qwen-qlora",
    description="Instruction tuning on Stanford Alpaca with Qwen2.5-0.5B-Instruct and QLoRA (4-bit base; needs CUDA).",
    checkpoint="Qwen/Qwen2.5-0.5B-Instruct",
    data=HubData("tatsu-lab/alpaca", eval_fraction=0.02),
    # The original Alpaca data has records with an empty output (28 of 52,002, per tatsu-lab/stanford_alpaca issue 265):
    # they are dropped, and the run reports how many. The data is CC BY-NC 4.0: the fine-tune is not for commercial use.
    task=InstructionTuning(max_length=512, drop_empty_responses=True),
    method="qlora",
    training={
        "learning_rate": 2e-5,
        "num_train_epochs": 1,
        "per_device_train_batch_size": 8,
        "gradient_accumulation_steps": 2,
        "warmup_ratio": 0.1,
    },
    lora=LoraSettings(
        r=16,
        alpha=32,
        dropout=0.05,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        learning_rate=2e-4,
    ),
)

if __name__ == "__main__":
    from hf_transfer.cli import main

    main(RECIPE)

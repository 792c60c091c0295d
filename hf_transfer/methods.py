"""How a model is prepared for each fine-tuning method: full, freeze, lora, qlora.

Methods are orthogonal to tasks: the task names its head modules, and every method keeps the head
trainable (and, for adapters, saved through ``modules_to_save``).
"""

from __future__ import annotations

from typing import Any

from .errors import UserError

# Architectures peft has no default for: attention projections by their usual names.
EXTRA_LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "mpnet": ["q", "v"], "electra": ["query", "value"]}


def check_available(method: str) -> None:
    """Fail before anything is loaded when the method cannot run here."""
    if method != "qlora":
        return
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            "--method qlora loads 4-bit weights with bitsandbytes, which needs a CUDA GPU, and this machine has none. "
            "Use --method lora (same adapters, full-precision base) instead."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError("--method qlora needs bitsandbytes: pip install 'hf-transfer-toolkit[qlora]'") from None


def load_kwargs(method: str) -> dict[str, Any]:
    """Extra ``from_pretrained`` arguments for the method."""
    if method != "qlora":
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        ),
        "device_map": {"": torch.cuda.current_device()},
    }


def lora_targets(model, requested: list[str] | None) -> list[str] | str:
    if requested:
        return requested
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    model_type = getattr(model.config, "model_type", "")
    return PEFT_DEFAULTS.get(model_type) or EXTRA_LORA_TARGETS.get(model_type) or "all-linear"


def encoder_layers(model):
    """The stack of transformer blocks: the ModuleList with one entry per hidden layer."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    for stack in stacks:
        if len(stack) == n:
            return stack
    return max(stacks, key=len) if stacks else None


def prepare_model(model, recipe, task):
    """Apply ``recipe.method`` to a freshly loaded model."""
    method = recipe.method
    head = task.head_modules(model)
    if not head and (task.new_head or method == "freeze"):
        raise UserError(f"{type(model).__name__} has no module that the {task.kind} task knows as its head.")
    if method in ("full", "scratch"):
        return model
    if method == "freeze":
        for name, param in model.named_parameters():
            param.requires_grad = any(part in head for part in name.split("."))
        top = recipe.freeze.train_top_layers
        if top:
            layers = encoder_layers(model)
            if layers is None or top > len(layers):
                raise UserError(f"freeze.train_top_layers={top}, but the model has {0 if layers is None else len(layers)} layers.")
            for layer in list(layers)[-top:]:
                for param in layer.parameters():
                    param.requires_grad = True
        return model
    from peft import LoraConfig, get_peft_model

    if method == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    config = LoraConfig(
        task_type=task.peft_task_type,
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=lora_targets(model, recipe.lora.target_modules),
        modules_to_save=head if task.new_head else None,
    )
    return get_peft_model(model, config)


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit packed weights count as their real size."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if param.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total

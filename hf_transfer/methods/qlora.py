"""QLoRA (peft + bitsandbytes): LoRA adapters on a base model loaded in 4-bit NF4."""

from __future__ import annotations

from typing import Any

from ..errors import UserError
from . import Method, register
from .lora import LoraSettings, lora


def check_quantization(name: str) -> None:
    """Fail before anything is loaded when bitsandbytes cannot quantize on this machine."""
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            f"--method {name} loads 4-bit weights with bitsandbytes, which needs a CUDA GPU, and this machine has "
            "none. "
            "Use --method lora (same adapters, full-precision base) instead."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise UserError(f"--method {name} needs bitsandbytes: pip install 'hf-transfer-toolkit[qlora]'") from None


def qlora(model, recipe, task):
    from peft import prepare_model_for_kbit_training

    return lora(prepare_model_for_kbit_training(model, use_gradient_checkpointing=True), recipe, task)


def load_kwargs() -> dict[str, Any]:
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        ),
        "device_map": {"": torch.cuda.current_device()},
    }


register(
    Method(
        "qlora",
        "QLoRA (peft + bitsandbytes): LoRA adapters (r={r}, alpha={alpha}) on a 4-bit NF4 quantized base model{head}.",
        qlora,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
        mergeable=True,
        quantized=True,
        load_kwargs=load_kwargs,
    )
)

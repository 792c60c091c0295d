"""QLoRA (peft + bitsandbytes): LoRA adapters on a base model loaded in 4-bit NF4 (``qlora``) or 8-bit LLM.int8
(``qlora8``), on a CUDA GPU or, with bitsandbytes 0.50 or later, on the CPU.

The task's head is kept in full precision (it is trained and saved in full); everything else that is a linear
layer is quantized. The compute dtype is what the device computes natively: bf16 on a GPU or CPU that has it,
else fp16 on a GPU and fp32 on a CPU."""

from __future__ import annotations

from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, register
from hf_transfer.methods.lora import LORA_SPACE, LoraSettings, lora

CPU_VERSION = (0, 50)
"""The first bitsandbytes release measured to quantize and train 4-bit and 8-bit layers on a CPU (0.50.2)."""


CPU_BLOCK = 64
"""bitsandbytes' 4-bit block size: on a CPU its packed layout needs input widths that are multiples of it."""


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def check_quantization(name: str) -> None:
    """Fail before anything is loaded when bitsandbytes cannot quantize on this machine, naming what would."""
    import torch

    try:
        import bitsandbytes
    except ImportError:
        raise UserError(
            f"--method {name} quantizes the base model with bitsandbytes, which is not installed: pip install "
            "'hf-transfer-toolkit[qlora]' (bitsandbytes 0.50 or later also runs on a CPU)."
        ) from None
    if not torch.cuda.is_available() and _version(bitsandbytes.__version__) < CPU_VERSION:
        raise UserError(
            f"--method {name} on a CPU needs bitsandbytes {'.'.join(map(str, CPU_VERSION))} or later (this machine has "
            f"{bitsandbytes.__version__}, which quantizes on CUDA GPUs only): pip install -U 'bitsandbytes>=0.50'. Or "
            "use --method lora (the same adapters on a full-precision base)."
        )


def compute_dtype(recipe):
    """The run's own precision (``--bf16 false``: fp32 on a CPU), else what the device computes natively."""
    import torch

    from hf_transfer.base.hardware import cpu_computes_bf16
    from hf_transfer.base.plain import as_bool

    asked = as_bool(recipe.training.get("bf16")) if "bf16" in recipe.training else None
    if torch.cuda.is_available():
        if asked is False:
            return torch.float16 if as_bool(recipe.training.get("fp16", False)) else torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if asked is not None:
        return torch.bfloat16 if asked else torch.float32
    return torch.bfloat16 if cpu_computes_bf16() else torch.float32


def kept_in_full(recipe, checkpoint) -> list[str]:
    """The linear layers of the task's head (and any module the task names as head), by full name: found on the
    model built on the meta device, so nothing is loaded twice."""
    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(checkpoint.path, trust_remote_code=recipe.trust_remote_code,
                                        **checkpoint.load_kwargs(), **recipe.task.model_kwargs())  # fmt: skip
    with torch.device("meta"):
        model = recipe.task.auto_model_class().from_config(config)
    heads = set(recipe.task.head_modules(model))
    if not torch.cuda.is_available() and recipe.method == "qlora":
        narrow = next((name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)
                       and not heads & set(name.split(".")) and module.in_features % CPU_BLOCK), None)  # fmt: skip
        if narrow:
            width = model.get_submodule(narrow).in_features
            raise UserError(
                f"bitsandbytes packs 4-bit weights on a CPU in blocks of {CPU_BLOCK} input features, and {narrow} has "
                f"{width}: {recipe.checkpoint} cannot be quantized to 4 bits here. Use --method qlora8 (8-bit) or "
                "--method lora."
            )
    return sorted(
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and heads & set(name.split("."))
    ) or sorted(heads)


def quantized_load_kwargs(bits: int):
    def load_kwargs(recipe, checkpoint) -> dict[str, Any]:
        import torch
        from transformers import BitsAndBytesConfig

        skip = kept_in_full(recipe, checkpoint)
        if bits == 4:
            config = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=compute_dtype(recipe), llm_int8_skip_modules=skip,
            )  # fmt: skip
        else:
            config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
        device = torch.cuda.current_device() if torch.cuda.is_available() else "cpu"
        return {"quantization_config": config, "device_map": {"": device}}

    return load_kwargs


def qlora(model, recipe, task):
    from peft import prepare_model_for_kbit_training

    return lora(prepare_model_for_kbit_training(model, use_gradient_checkpointing=True), recipe, task)


CHECKED = (
    " The reload check loads the saved adapter onto the same {bits} base it trained on; `hf-transfer merge` merges "
    "it into the full-precision base."
)

register(
    Method(
        "qlora",
        "QLoRA (peft + bitsandbytes): LoRA adapters (r={r}, alpha={alpha}{plus}) on a 4-bit NF4 quantized base "
        "model{head}."
        + CHECKED.format(bits="4-bit NF4"),
        qlora,
        space=LORA_SPACE,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
        mergeable=True,
        quantized=True,
        load_kwargs=quantized_load_kwargs(4),
        check=check_quantization,
        rate_scale=20.0,  # as lora's
        steps_scale=2.0,
        order=40,
    )
)
register(
    Method(
        "qlora8",
        "LoRA (peft) on an 8-bit quantized base model (bitsandbytes LLM.int8): adapters (r={r}, "
        "alpha={alpha}{plus}) on {targets}{head}." + CHECKED.format(bits="8-bit"),
        qlora,
        space=LORA_SPACE,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
        mergeable=True,
        quantized=True,
        load_kwargs=quantized_load_kwargs(8),
        check=check_quantization,
        rate_scale=20.0,  # as lora's
        steps_scale=2.0,
        order=40,
    )
)

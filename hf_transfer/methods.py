"""The fine-tuning methods, one registry entry each: full, freeze, lora, dora, ia3, qlora, scratch.

An entry says everything the rest of the code asks about a method: the recipe field that holds its
settings, whether it trains an adapter (and so saves one) and whether that adapter merges into the
base model, whether it needs CUDA, its extra ``from_pretrained`` arguments, how it prepares a loaded
model, and the sentence the model card says about it. ``recipe.py``, the CLI, the run and the card
read it; an unknown name is a clear error, never a fall-through.

Methods are orthogonal to tasks: the task names its head modules, and every method keeps the head
trainable (and, for adapters, saved through ``modules_to_save``).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import UserError

# Architectures peft has no default for: attention projections by their usual names.
EXTRA_LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "mpnet": ["q", "v"], "electra": ["query", "value"]}
EXTRA_IA3_TARGETS = {
    "distilbert": (["k_lin", "v_lin", "lin2"], ["lin2"]),
    "mpnet": (["k", "v", "output.dense"], ["output.dense"]),
}
"""(target modules, feed-forward modules) for IA3 where peft has no default: keys, values and the FFN output."""


@dataclass(frozen=True)
class Method:
    name: str
    card: str
    """The card's sentence; ``str.format`` fills in {r}, {alpha}, {dropout}, {targets}, {head}, {top}."""
    prepare: Callable[[Any, Any, Any], Any]
    """(model, recipe, task) -> the model to train."""
    settings: str | None = None
    """The recipe field with this method's settings (``lora``, ``freeze``, ``ia3``), whose learning_rate applies."""
    adapter: bool = False
    """Trains and saves a peft adapter (the base model's weights stay as they are)."""
    mergeable: bool = False
    pretrained: bool = True
    """False: the checkpoint's architecture with random weights (no pretrained weights reused)."""
    quantized: bool = False
    """Loads the base model in 4 bits (needs CUDA and bitsandbytes)."""
    load_kwargs: Callable[[], dict[str, Any]] = field(default=lambda: {})


METHODS: dict[str, Method] = {}


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is registered already")
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown method {name!r}.{hint} Methods: {', '.join(METHODS)}.")
    return METHODS[name]


def names() -> tuple[str, ...]:
    return tuple(METHODS)


def check_available(name: str) -> None:
    """Fail before anything is loaded when the method cannot run here."""
    if not get(name).quantized:
        return
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


def mergeable_names() -> tuple[str, ...]:
    return tuple(name for name, method in METHODS.items() if method.mergeable)


def without_method_rates(recipe):
    """``recipe`` with every method's own learning rate unset: an explicit ``--learning_rate`` wins over all of
    them (lora.learning_rate, freeze.learning_rate, ia3.learning_rate, and any method added later)."""
    import dataclasses

    changes = {}
    for key in {m.settings for m in METHODS.values() if m.settings}:
        settings = getattr(recipe, key)
        if getattr(settings, "learning_rate", None) is not None:
            changes[key] = dataclasses.replace(settings, learning_rate=None)
    return dataclasses.replace(recipe, **changes) if changes else recipe


def learning_rate(recipe) -> float | None:
    """The method's own learning rate from its settings, if the recipe gives one."""
    settings = get(recipe.method).settings
    return getattr(getattr(recipe, settings), "learning_rate", None) if settings else None


# ---- preparing a model ------------------------------------------------------------------------


def _head(model, recipe, task) -> list[str]:
    head = task.head_modules(model)
    if not head and (task.new_head or recipe.method == "freeze"):
        raise UserError(f"{type(model).__name__} has no module that the {task.kind} task knows as its head.")
    return head


def _as_is(model, recipe, task):
    _head(model, recipe, task)
    if recipe.freeze_word_embeddings:
        freeze_word_embeddings(model)
    return model


def freeze_word_embeddings(model) -> None:
    """The input word embeddings keep their pretrained values (an option of full fine-tuning: in small
    encoders they are a large share of the parameters, and their optimizer update a large share of a step)."""
    embeddings = model.get_input_embeddings()
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if output is not None and output.weight is embeddings.weight:
        raise UserError(
            "freeze_word_embeddings: this model's output layer shares its weights with the input embeddings "
            "(tied), so freezing them would freeze the output layer too; leave it off for this checkpoint."
        )
    embeddings.weight.requires_grad = False


def encoder_layers(model):
    """The stack of transformer blocks: the ModuleList with one entry per hidden layer."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    for stack in stacks:
        if len(stack) == n:
            return stack
    return max(stacks, key=len) if stacks else None


def _freeze(model, recipe, task):
    head = _head(model, recipe, task)
    for param in model.parameters():
        param.requires_grad = False
    # by module, not by parameter name: a head tied to the input embeddings (SmolLM2's lm_head) owns no
    # parameter name of its own, but its module holds the shared weight
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in head:
            for param in module.parameters():
                param.requires_grad = True
    top = recipe.freeze.train_top_layers
    if top:
        layers = encoder_layers(model)
        if layers is None or top > len(layers):
            raise UserError(
                f"freeze.train_top_layers={top}, but the model has {0 if layers is None else len(layers)} layers."
            )
        for layer in list(layers)[-top:]:
            for param in layer.parameters():
                param.requires_grad = True
    return model


def lora_targets(model, requested: list[str] | None) -> list[str] | str:
    if requested:
        return requested
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    model_type = getattr(model.config, "model_type", "")
    return PEFT_DEFAULTS.get(model_type) or EXTRA_LORA_TARGETS.get(model_type) or "all-linear"


def _module_names(model) -> set[str]:
    return {name for name, _ in model.named_modules()}


def _check_targets(model, targets, what: str) -> None:
    """Requested target modules that match nothing are named, with the module names that exist."""
    if not isinstance(targets, list):
        return
    names = _module_names(model)
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
        raise UserError(
            f"{what}.target_modules {missing} match no module of this model; its module names include: "
            f"{', '.join(leaves[:40])}."
        )


def _peft(model, recipe, task, config_class: str, **settings):
    import peft

    head = _head(model, recipe, task)
    config = getattr(peft, config_class)(
        task_type=task.peft_task_type or None, modules_to_save=head if task.new_head else None, **settings
    )
    return peft.get_peft_model(model, config)


def _lora(model, recipe, task, use_dora: bool = False):
    targets = lora_targets(model, recipe.lora.target_modules)
    _check_targets(model, targets, "lora")
    return _peft(
        model,
        recipe,
        task,
        "LoraConfig",
        r=recipe.lora.r,
        lora_alpha=recipe.lora.alpha,
        lora_dropout=recipe.lora.dropout,
        target_modules=targets,
        **({"use_dora": True} if use_dora else {}),
    )


def _dora(model, recipe, task):
    return _lora(model, recipe, task, use_dora=True)


def _qlora(model, recipe, task):
    from peft import prepare_model_for_kbit_training

    return _lora(prepare_model_for_kbit_training(model, use_gradient_checkpointing=True), recipe, task)


def ia3_targets(model, settings) -> dict[str, Any]:
    if settings.target_modules:
        return {"target_modules": settings.target_modules, "feedforward_modules": settings.feedforward_modules or []}
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING as TARGETS

    model_type = getattr(model.config, "model_type", "")
    if model_type in EXTRA_IA3_TARGETS:
        targets, feedforward = EXTRA_IA3_TARGETS[model_type]
        return {"target_modules": targets, "feedforward_modules": feedforward}
    if model_type not in TARGETS:
        raise UserError(
            f"IA3 has no default target modules for {model_type!r} models: set ia3.target_modules "
            "and ia3.feedforward_modules."
        )
    return {}  # peft's defaults for this architecture


def _ia3(model, recipe, task):
    targets = ia3_targets(model, recipe.ia3)
    _check_targets(model, targets.get("target_modules"), "ia3")
    return _peft(model, recipe, task, "IA3Config", **targets)


def _qlora_load_kwargs() -> dict[str, Any]:
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {
        "quantization_config": BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        ),
        "device_map": {"": torch.cuda.current_device()},
    }


register(Method("full", "Full fine-tuning: every parameter of the pretrained model was trained.", _as_is))
register(
    Method(
        "freeze",
        "Freeze: the pretrained body stayed fixed; only the task head{top} was trained.",
        _freeze,
        settings="freeze",
    )
)
register(
    Method(
        "lora",
        "LoRA (peft): low-rank adapters (r={r}, alpha={alpha}, dropout={dropout}) on {targets}, "
        "with the pretrained weights frozen{head}.",
        _lora,
        settings="lora",
        adapter=True,
        mergeable=True,
    )
)
register(
    Method(
        "dora",
        "DoRA (peft, LoRA with weight decomposition): low-rank adapters (r={r}, alpha={alpha}, "
        "dropout={dropout}) on {targets} plus a learned magnitude per output, with the pretrained weights "
        "frozen{head}.",
        _dora,
        settings="lora",
        adapter=True,
        mergeable=True,
    )
)
register(
    Method(
        "ia3",
        "IA3 (peft): learned scaling vectors on {targets}, with the pretrained weights frozen{head}.",
        _ia3,
        settings="ia3",
        adapter=True,
        mergeable=True,
    )
)
register(
    Method(
        "qlora",
        "QLoRA (peft + bitsandbytes): LoRA adapters (r={r}, alpha={alpha}) on a 4-bit NF4 quantized base model{head}.",
        _qlora,
        settings="lora",
        adapter=True,
        mergeable=True,
        quantized=True,
        load_kwargs=_qlora_load_kwargs,
    )
)
register(
    Method(
        "scratch",
        "From scratch: the checkpoint's architecture and tokenizer with randomly initialised weights "
        "(no pretrained weights reused), all parameters trained.",
        _as_is,
        pretrained=False,
    )
)


def prepare_model(model, recipe, task):
    """Apply ``recipe.method`` to a freshly loaded model."""
    return get(recipe.method).prepare(model, recipe, task)


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

"""LoRA and DoRA (peft): low-rank adapters on the attention projections, the pretrained weights frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, MethodSettings, head, register, search_space, trainer_optimizer

EXTRA_LORA_TARGETS = {"distilbert": ["q_lin", "v_lin"], "mpnet": ["q", "v"], "electra": ["query", "value"]}
"""Architectures peft has no default for: attention projections by their usual names."""


@dataclass
class LoraSettings(MethodSettings):
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: list[str] | str | None = None
    """``None``: peft's choice for the architecture (e.g. query/value for BERT), else all linear layers; a list of
    module names; or ``all-linear``."""
    learning_rate: float | None = None
    """Adapters usually want a higher rate than full fine-tuning; ``None``: ``training.learning_rate``."""
    loraplus_lr_ratio: float | None = None
    """LoRA+ (Hayou et al. 2024, peft's ``create_loraplus_optimizer``): the B matrices (and one-dimensional weights:
    biases, norms) learn at this multiple of the learning rate, the A matrices and the rest at the rate itself; the
    paper's ratio is 16. ``None``: one rate for every adapter weight."""

    def problems(self, key: str) -> list[str]:
        out = super().problems(key)
        if self.r <= 0 or self.alpha <= 0:
            out.append(f"{key}.r and {key}.alpha must be positive")
        if not 0.0 <= self.dropout < 1.0:
            out.append(f"{key}.dropout must be in [0, 1)")
        ratio = self.loraplus_lr_ratio
        if ratio is not None and (isinstance(ratio, bool) or not ratio >= 1):
            out.append(f"{key}.loraplus_lr_ratio must be 1 or more (the B matrices' rate over the A matrices')")
        return out

    def card_values(self) -> dict:
        ratio = self.loraplus_lr_ratio
        plus = f", LoRA+: the B matrices at {ratio:g}x the learning rate" if ratio is not None else ""
        return {**super().card_values(), "plus": plus}

    def optimizer(self, model, args):
        """LoRA+ when ``loraplus_lr_ratio`` is set: the Trainer's own optimizer class and settings (``--optim``,
        betas, epsilon, weight decay), its parameters in groups with two rates."""
        if self.loraplus_lr_ratio is None:
            return None
        from peft.optimizers import create_loraplus_optimizer

        optimizer_class, settings = trainer_optimizer(model, args)
        return create_loraplus_optimizer(
            model,
            optimizer_class,
            lr=args.learning_rate,
            loraplus_lr_ratio=float(self.loraplus_lr_ratio),
            loraplus_weight_decay=args.weight_decay,
            **settings,
        )


LORA_SPACE = search_space(
    (1e-4, 5e-3),
    **{
        "lora.r": {"choices": [4, 8, 16, 32]},
        "lora.alpha": {"choices": [8, 16, 32, 64]},
        "lora.dropout": {"low": 0.0, "high": 0.2},
        "lora.target_modules": {"choices": [None, "all-linear"]},
    },
)
"""The search space of the methods that train LoRA adapters (lora, dora, qlora, qlora8)."""


def lora_targets(model, requested: list[str] | None) -> list[str] | str:
    if requested:
        return requested
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    model_type = getattr(model.config, "model_type", "")
    return PEFT_DEFAULTS.get(model_type) or EXTRA_LORA_TARGETS.get(model_type) or "all-linear"


def check_targets(model, targets, what: str) -> None:
    """Requested target modules that match nothing are named, with the module names that exist."""
    if not isinstance(targets, list):
        return
    names = {name for name, _ in model.named_modules()}
    missing = [t for t in targets if not any(n == t or n.endswith("." + t) for n in names)]
    if missing:
        leaves = sorted({n.rsplit(".", 1)[-1] for n in names if n})
        raise UserError(
            f"{what}.target_modules {missing} match no module of this model; its module names include: "
            f"{', '.join(leaves[:40])}."
        )


def peft_model(model, recipe, task, config_class: str, **settings: Any):
    """``model`` wrapped by peft with ``config_class``; the task's new head trained and saved in full."""
    import peft

    names = head(model, recipe, task)
    config = getattr(peft, config_class)(
        task_type=task.peft_task_type or None, modules_to_save=names if task.new_head else None, **settings
    )
    return peft.get_peft_model(model, config)


def lora(model, recipe, task, use_dora: bool = False):
    targets = lora_targets(model, recipe.lora.target_modules)
    check_targets(model, targets, "lora")
    return peft_model(
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


def dora(model, recipe, task):
    return lora(model, recipe, task, use_dora=True)


register(
    Method(
        "lora",
        "LoRA (peft): low-rank adapters (r={r}, alpha={alpha}, dropout={dropout}{plus}) on {targets}, "
        "with the pretrained weights frozen{head}.",
        lora,
        space=LORA_SPACE,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
        mergeable=True,
        rate_scale=20.0,  # MiniLM-L6 2.2e-3 (Rotten Tomatoes and CoNLL: 2e-3 best of 1e-3..4e-3)
        steps_scale=2.0,  # CoNLL on MiniLM: F1 0.65 after 204 steps, 0.77 after 408
        order=20,
    )
)
register(
    Method(
        "dora",
        "DoRA (peft, LoRA with weight decomposition): low-rank adapters (r={r}, alpha={alpha}, "
        "dropout={dropout}{plus}) on {targets} plus a learned magnitude per output, with the pretrained weights "
        "frozen{head}.",
        dora,
        space=LORA_SPACE,
        settings="lora",
        settings_class=LoraSettings,
        adapter=True,
        mergeable=True,
        rate_scale=20.0,  # as lora's
        steps_scale=2.0,
        order=20,
    )
)

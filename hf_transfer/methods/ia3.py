"""IA3 (peft): learned scaling vectors on keys, values and the feed-forward output, the pretrained weights frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, MethodSettings, register, search_space
from hf_transfer.methods.lora import check_targets, peft_model

EXTRA_IA3_TARGETS = {
    "distilbert": (["k_lin", "v_lin", "lin2"], ["lin2"]),
    "mpnet": (["k", "v", "output.dense"], ["output.dense"]),
}
"""(target modules, feed-forward modules) for IA3 where peft has no default: keys, values and the FFN output."""


@dataclass
class IA3Settings(MethodSettings):
    target_modules: list[str] | None = None
    """``None``: peft's choice for the architecture (keys, values and the feed-forward output)."""
    feedforward_modules: list[str] | None = None
    """Those of ``target_modules`` that are feed-forward layers (scaled on their input)."""
    learning_rate: float | None = None
    """IA3 trains very few parameters and wants a high rate; ``None``: ``training.learning_rate``."""


def ia3_targets(model, settings: IA3Settings) -> dict[str, Any]:
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


def ia3(model, recipe, task):
    targets = ia3_targets(model, recipe.ia3)
    check_targets(model, targets.get("target_modules"), "ia3")
    return peft_model(model, recipe, task, "IA3Config", **targets)


register(
    Method(
        "ia3",
        "IA3 (peft): learned scaling vectors on {targets}, with the pretrained weights frozen{head}.",
        ia3,
        space=search_space((1e-3, 3e-2)),
        settings="ia3",
        settings_class=IA3Settings,
        adapter=True,
        mergeable=True,
        rate_scale=60.0,  # IA3's paper trained its vectors at 3e-3 (T0-3B); 3e-3 here at 110M parameters
        steps_scale=2.0,
        order=30,
    )
)

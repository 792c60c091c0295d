"""Freeze: the pretrained body fixed, the task head trained (optionally the top layers too)."""

from __future__ import annotations

from dataclasses import dataclass

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, MethodSettings, head, register, search_space


@dataclass
class FreezeSettings(MethodSettings):
    train_top_layers: int = 0
    """With ``--method freeze``: also train this many of the top encoder layers (0 = head only)."""
    learning_rate: float | None = None
    """A head trained alone usually wants a higher rate; ``None``: ``training.learning_rate``."""

    def problems(self, key: str) -> list[str]:
        out = super().problems(key)
        if isinstance(self.train_top_layers, bool) or self.train_top_layers < 0:
            out.append(f"{key}.train_top_layers must be >= 0")
        return out

    def card_values(self) -> dict:
        return {"top": f" and the top {self.train_top_layers} layers" if self.train_top_layers else ""}


def encoder_layers(model):
    """The stack of transformer blocks: the ModuleList with one entry per hidden layer."""
    import torch

    n = getattr(model.config, "num_hidden_layers", None)
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) > 0]
    for stack in stacks:
        if len(stack) == n:
            return stack
    return max(stacks, key=len) if stacks else None


def freeze(model, recipe, task):
    names = head(model, recipe, task, required=True)  # the head is all it trains
    for param in model.parameters():
        param.requires_grad = False
    # by module, not by parameter name: a head tied to the input embeddings (SmolLM2's lm_head) owns no
    # parameter name of its own, but its module holds the shared weight
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] in names:
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


register(
    Method(
        "freeze",
        "Freeze: the pretrained body stayed fixed; only the task head{top} was trained.",
        freeze,
        space=search_space((1e-4, 1e-2), **{"freeze.train_top_layers": {"low": 0, "high": 3}}),
        settings="freeze",
        settings_class=FreezeSettings,
        rate_scale=20.0,
        order=10,
    )
)

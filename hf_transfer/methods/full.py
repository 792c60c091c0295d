"""Full fine-tuning: every parameter of the pretrained model trained (the input word embeddings optionally kept)."""

from __future__ import annotations

from dataclasses import dataclass

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, MethodSettings, head, register, search_space


@dataclass
class FullSettings(MethodSettings):
    freeze_word_embeddings: bool = False
    """Full fine-tuning with the input word embeddings kept as pretrained (fewer parameters to update)."""
    learning_rate: float | None = None
    """``None``: ``training.learning_rate``."""

    def card_values(self) -> dict:
        kept = " The input word embeddings were kept as pretrained (`full.freeze_word_embeddings`)."
        return {"embeddings": kept if self.freeze_word_embeddings else ""}


def as_is(model, recipe, task):
    head(model, recipe, task)
    if recipe.full.freeze_word_embeddings:
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


register(
    Method(
        "full",
        "Full fine-tuning: every parameter of the pretrained model was trained.{embeddings}",
        as_is,
        space=search_space((1e-5, 3e-4)),
        settings="full",
        settings_class=FullSettings,
        order=0,
    )
)

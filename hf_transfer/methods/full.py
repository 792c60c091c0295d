"""Full fine-tuning: every parameter of the pretrained model trained (the input word embeddings optionally kept)."""

from __future__ import annotations

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, head, register


def as_is(model, recipe, task):
    head(model, recipe, task)
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


register(Method("full", "Full fine-tuning: every parameter of the pretrained model was trained.{embeddings}", as_is))

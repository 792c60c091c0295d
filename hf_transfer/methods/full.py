"""Full fine-tuning: every parameter of the pretrained model trained (the input word embeddings optionally kept,
the lower layers optionally at lower rates)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hf_transfer.base.errors import UserError
from hf_transfer.methods import Method, MethodSettings, head, register, search_space, trainer_optimizer


@dataclass
class FullSettings(MethodSettings):
    freeze_word_embeddings: bool = False
    """Full fine-tuning with the input word embeddings kept as pretrained (fewer parameters to update)."""
    learning_rate: float | None = None
    """``None``: ``training.learning_rate``."""
    layer_decay: float | None = None
    """Layer-wise learning-rate decay (Howard & Ruder 2018; Clark et al. 2020): the head and everything above the
    layer stack train at the rate, each layer below at this factor times the one above it, the embeddings at the
    factor times the bottom layer. ``None``: one rate for every weight."""

    def problems(self, key: str) -> list[str]:
        out = super().problems(key)
        decay = self.layer_decay
        if decay is not None and (isinstance(decay, bool) or not 0 < decay <= 1):
            out.append(f"{key}.layer_decay must be in (0, 1] (each layer's rate over the rate of the layer above)")
        return out

    def card_values(self) -> dict:
        kept = " The input word embeddings were kept as pretrained (`full.freeze_word_embeddings`)."
        decay = self.layer_decay
        decayed = (
            f" Each layer trained at {decay:g}x the learning rate of the layer above it (`full.layer_decay`)."
            if decay is not None
            else ""
        )
        return {"embeddings": kept if self.freeze_word_embeddings else "", "decay": decayed}

    def optimizer(self, model, args):
        """With ``layer_decay``: the Trainer's own optimizer class and settings (``--optim``, betas, epsilon), its
        weights in groups by depth (``layer_depths``) and by whether the Trainer would decay them."""
        if self.layer_decay is None:
            return None
        from transformers import Trainer

        optimizer_class, settings = trainer_optimizer(model, args)
        trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        depths, top = layer_depths([n for n, _ in trained])
        decayed = set(Trainer.get_decay_parameter_names(None, model))
        groups: dict[tuple[int, bool], list] = {}
        for name, weight in trained:
            groups.setdefault((depths[name], name in decayed), []).append(weight)
        return optimizer_class(
            [
                {
                    "params": weights,
                    "lr": args.learning_rate * self.layer_decay ** (top - depth),
                    "weight_decay": args.weight_decay if decays else 0.0,
                }
                for (depth, decays), weights in sorted(groups.items())
            ],
            lr=args.learning_rate,
            **settings,
        )


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


LAYER = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
"""A weight inside a numbered layer of the stack: BERT's ``encoder.layer.3.``, Llama's ``layers.3.``, GPT-2's
``h.3.``, T5's ``block.3.``."""
EMBEDDING = re.compile(r"embed|(?:^|\.)(?:wte|wpe|shared)\.")
"""An input embedding's weight: ``embeddings.word_embeddings.``, ``embed_tokens.``, GPT-2's ``wte.`` / ``wpe.``, T5's
``shared.``."""


def layer_depths(names: list[str]) -> tuple[dict[str, int], int]:
    """Each weight's depth, counted from the input: 0 the embeddings, 1 + i layer i, and the top (the number of layers
    plus one) for everything else (the head, the pooler, final norms); and that top. An encoder-decoder's two stacks
    count their layers alike."""
    index = {n: (int(m.group(1)) if (m := LAYER.search(n)) else None) for n in names}
    top = max((i for i in index.values() if i is not None), default=-1) + 2
    depths = {}
    for name, i in index.items():
        if i is not None:
            depths[name] = 1 + i
        elif EMBEDDING.search(name):
            depths[name] = 0
        else:
            depths[name] = top
    return depths, top


register(
    Method(
        "full",
        "Full fine-tuning: every parameter of the pretrained model was trained.{embeddings}{decay}",
        as_is,
        space=search_space((1e-5, 3e-4)),
        settings="full",
        settings_class=FullSettings,
        order=0,
    )
)

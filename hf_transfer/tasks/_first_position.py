"""The last encoder layer computed for the first position only, where a classification head reads nothing else.

BERT-like sequence classifiers (BERT, RoBERTa, ELECTRA and their kin) read the last layer's output at the first
token and nowhere else, yet the layer computes every position: its queries, attention, and feed-forward network.
Here the last layer attends from the first position over all of them (keys and values still come from every token)
and runs its feed-forward network on that one position. The first position's output is the same computation;
everything the head never read is not made, in the forward pass or the backward. The weights, and so the saved
model, are untouched: the layer's own ``forward`` is swapped for the run's training and restored after it.
"""

from __future__ import annotations

import contextlib
import types

FIRST_POSITION_MODELS = {"bert", "roberta", "xlm-roberta", "camembert", "electra"}
"""Architectures whose sequence-classification head reads the first position only (the pooler or ``[:, 0]``),
and whose layers are transformers' BERT layer (``attention.self`` / ``attention.output`` / ``intermediate`` /
``output``)."""


def last_layer(model):
    """The last layer of a BERT-like encoder inside ``model`` (a PEFT wrapper included), or None when ``model`` is
    not one whose classification head reads the first position only."""
    config = getattr(model, "config", None)
    if getattr(config, "model_type", None) not in FIRST_POSITION_MODELS or getattr(config, "is_decoder", False):
        return None
    if getattr(config, "_attn_implementation", "sdpa") not in ("sdpa", "eager"):
        return None
    if not type(_unwrapped(model)).__name__.endswith("ForSequenceClassification"):
        return None
    layers = [m for name, m in model.named_modules() if name.endswith("encoder.layer")]
    if len(layers) != 1 or not len(layers[0]):
        return None
    layer = layers[0][-1]
    parts = ("attention", "intermediate", "output", "feed_forward_chunk")
    if not all(hasattr(layer, p) for p in parts) or not hasattr(layer.attention, "self"):
        return None
    return layer


def _unwrapped(model):
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def first_position_forward(layer, hidden_states, attention_mask=None, *args, **kwargs):
    """``layer``'s output at the first position only, shape (batch, 1, hidden): the same attention and
    feed-forward computation as the full layer's, for that position."""
    import torch.nn.functional as F

    attention = layer.attention.self
    batch, length, _ = hidden_states.shape
    first = hidden_states[:, :1]
    size = attention.attention_head_size

    def heads(x, positions):
        return x.view(batch, positions, -1, size).transpose(1, 2)

    query = heads(attention.query(first), 1)
    key = heads(attention.key(hidden_states), length)
    value = heads(attention.value(hidden_states), length)
    mask = attention_mask
    if mask is not None and mask.dim() == 4 and mask.shape[-2] != 1:
        mask = mask[:, :, :1, :]  # the first query's row of the mask over every key
    context = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=mask,
        dropout_p=attention.dropout.p if layer.training else 0.0,
        scale=attention.scaling,
    )
    context = context.transpose(1, 2).reshape(batch, 1, -1)
    return layer.feed_forward_chunk(layer.attention.output(context, first))


@contextlib.contextmanager
def first_position_only(model):
    """While inside: the last layer of ``model`` computes the first position only (when ``last_layer`` finds one;
    else nothing changes). Yields whether it applies."""
    layer = last_layer(model)
    if layer is None:
        yield False
        return
    layer.forward = types.MethodType(first_position_forward, layer)
    try:
        yield True
    finally:
        del layer.forward  # the class's own forward again

"""From scratch: the checkpoint's architecture with random weights, the baseline transfer learning is read against."""

from __future__ import annotations

from hf_transfer.methods import Method, register, search_space
from hf_transfer.methods.full import FullSettings, as_is

register(
    Method(
        "scratch",
        "From scratch: the checkpoint's architecture and tokenizer with randomly initialised weights "
        "(no pretrained weights reused), all parameters trained.",
        as_is,
        space=search_space((1e-5, 1e-3)),
        settings="full",  # full fine-tuning's settings: the same training, from random weights
        settings_class=FullSettings,
        pretrained=False,
        order=50,
    )
)

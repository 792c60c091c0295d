"""From scratch: the checkpoint's architecture with random weights, the baseline transfer learning is read against."""

from __future__ import annotations

from hf_transfer.methods import Method, register
from hf_transfer.methods.full import as_is

register(
    Method(
        "scratch",
        "From scratch: the checkpoint's architecture and tokenizer with randomly initialised weights "
        "(no pretrained weights reused), all parameters trained.",
        as_is,
        pretrained=False,
    )
)

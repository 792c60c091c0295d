"""The learning rate and the number of epochs when neither the recipe nor the command line gives them (issue 34):
chosen from what the model, the method and the data are, each with the reason the console prints and metrics.json
keeps. A recipe's own values were chosen for its own checkpoint and data: ``run/options.py`` leaves its learning
rates out when ``--model_name_or_path`` swaps the checkpoint, and its epochs when ``--train_file`` swaps the data.

- Learning rate: full fine-tuning's falls with the model's size, ``REFERENCE_RATE`` at BERT-base's 110M parameters
  (the top of the BERT paper's 2e-5..5e-5 fine-tuning grid) times sqrt(110M / parameters), within
  ``FULL_RATES``; a method's is that times its ``rate_scale`` (LoRA 20: 2.2e-3 on MiniLM-L6's 22.7M parameters,
  1e-3 on BERT-base, 2.7e-4 on a 1.5B model), within ``METHOD_RATES``.
- Epochs: the fewest whole passes over the training rows that make ``MIN_STEPS`` optimizer steps (times the
  method's ``steps_scale``: adapters learn more slowly per step), at most ``MAX_EPOCHS`` (the task's
  ``epochs_at_most``: 3 for instruction tuning and seq2seq, whose steps are long and whose evaluation generates).

The constants were chosen on Rotten Tomatoes and the CoNLL-2003 subset with MiniLM and confirmed on SST-2
(a grid of rate x epochs x batch at seed 42, in the commit that added this module;
the 3-seed results in benchmarks/results/quality-*-bf16.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hf_transfer import methods

REFERENCE_PARAMETERS = 110e6
REFERENCE_RATE = 5e-5
FULL_RATES = (1e-5, 2e-4)
METHOD_RATES = (1e-6, 1e-2)
MIN_STEPS = 160
MAX_EPOCHS = 10


@dataclass(frozen=True)
class Chosen:
    value: float | int
    reason: str

    def record(self) -> dict:
        return {"value": self.value, "from": self.reason}


def learning_rate(parameters: int, method: str) -> Chosen:
    """The rate for ``method`` on a model of ``parameters`` (the base model's, before the method changes it)."""
    full = REFERENCE_RATE * math.sqrt(REFERENCE_PARAMETERS / max(parameters, 1))
    full = min(max(full, FULL_RATES[0]), FULL_RATES[1])
    scale = methods.get(method).rate_scale
    rate = float(f"{min(max(full * scale, METHOD_RATES[0]), METHOD_RATES[1]):.2g}")
    scaled = f" ({scale:g}x full fine-tuning's rate)" if scale != 1 else ""
    return Chosen(rate, f"for {method} on a {parameters / 1e6:,.1f}M-parameter model{scaled}")


def epochs(train_rows: int, rows_per_step: int, method: str, at_most: int = MAX_EPOCHS) -> Chosen:
    """Whole passes over ``train_rows`` for at least MIN_STEPS (times the method's ``steps_scale``) optimizer steps of
    ``rows_per_step`` rows (batch x devices x accumulation), at most ``at_most`` (the task's ``epochs_at_most``)."""
    steps_per_epoch = max(1, math.ceil(train_rows / max(rows_per_step, 1)))
    wanted = math.ceil(MIN_STEPS * methods.get(method).steps_scale)
    count = min(max(math.ceil(wanted / steps_per_epoch), 1), at_most)
    return Chosen(
        count,
        f"{count * steps_per_epoch:,} optimizer steps over {train_rows:,} training rows (at least {wanted} for "
        f"{method}, at most {at_most} passes)",
    )


def unset(recipe, keys: tuple[str, ...] = ("learning_rate", "num_train_epochs")) -> set[str]:
    """Which of ``keys`` neither the recipe nor the command line sets (a method's own rate counts as a rate; an
    explicit ``max_steps`` decides the length instead of epochs)."""
    training = recipe.training
    out = {k for k in keys if k not in training}
    if methods.learning_rate(recipe) is not None:
        out.discard("learning_rate")
    if (training.get("max_steps") or -1) > 0:
        out.discard("num_train_epochs")
    return out

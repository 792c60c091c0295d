"""The fine-tuning methods: one module here per method family, each registering its methods by name
(full and scratch, freeze, lora / dora / qlora, ia3), found by discovery like the tasks.

A ``Method`` says everything the rest of the code asks about a method: its settings class (the recipe
field of that name holds them: ``lora``, ``freeze``, ``ia3``) with their validation and learning rate,
whether it trains an adapter (and so saves one) and whether that merges into the base model, whether it
needs bitsandbytes, its extra ``from_pretrained`` arguments, how it prepares a loaded model, and the
sentence the model card says about it. ``recipe.py``, the CLI, the run and the card loop over this
registry; an unknown name is a clear error, never a fall-through.

Adding a method touches one place: a module here with its settings class (if it has settings of its
own) and a ``register(Method(...))`` call. Methods are orthogonal to tasks: the task names its head
modules, and every method keeps the head trainable (and, for adapters, saved through ``modules_to_save``).
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hf_transfer.base.errors import UserError


class MethodSettings:
    """What every method's settings class shares (a dataclass with a ``learning_rate`` field): validation, the
    values its card sentence reads."""

    def problems(self, key: str) -> list[str]:
        """Settings that cannot work, as short sentences naming ``key.field`` (empty when valid)."""
        rate = getattr(self, "learning_rate", None)
        if rate is not None and (isinstance(rate, bool) or not rate > 0):
            return [f"{key}.learning_rate must be positive"]
        return []

    def card_values(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Method:
    name: str
    card: str
    """The card's sentence; ``str.format`` fills in the settings' values ({r}, {alpha}, ...), {targets},
    {head} (the new head, trained and saved in full) and {embeddings} (frozen input embeddings, if so)."""
    prepare: Callable[[Any, Any, Any], Any]
    """(model, recipe, task) -> the model to train."""
    settings: str | None = None
    """The recipe field with this method's settings (``lora``, ``freeze``, ``ia3``), whose learning_rate applies."""
    settings_class: type | None = None
    adapter: bool = False
    """Trains and saves a peft adapter (the base model's weights stay as they are)."""
    mergeable: bool = False
    pretrained: bool = True
    """False: the checkpoint's architecture with random weights (no pretrained weights reused)."""
    quantized: bool = False
    """Loads the base model in 4 bits with bitsandbytes."""
    load_kwargs: Callable[[Any, Any], dict[str, Any]] = field(default=lambda recipe, checkpoint: {})
    """(recipe, resolved checkpoint) -> extra ``from_pretrained`` arguments (a quantization config)."""

    def settings_of(self, recipe):
        return getattr(recipe, self.settings) if self.settings else None

    def learning_rate(self, recipe) -> float | None:
        """The method's own learning rate from its settings, if the recipe gives one."""
        return getattr(self.settings_of(recipe), "learning_rate", None)

    def card_sentence(self, recipe, targets: str, head: str) -> str:
        settings = self.settings_of(recipe)
        values = settings.card_values() if settings is not None else {}
        embeddings = (
            " The input word embeddings were kept as pretrained (`freeze_word_embeddings`)."
            if recipe.freeze_word_embeddings and self.pretrained and not self.adapter
            else ""
        )
        return self.card.format(**values, targets=targets, head=head, embeddings=embeddings)


METHODS: dict[str, Method] = {}
SETTINGS: dict[str, type] = {}
"""Recipe field -> settings class, in registration order: ``Recipe`` has one field per entry."""


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is registered already")
    if method.settings:
        known = SETTINGS.setdefault(method.settings, method.settings_class)
        if method.settings_class is not known:
            raise ValueError(f"method {method.name!r}: the recipe field {method.settings!r} holds {known.__name__}")
    METHODS[method.name] = method
    return method


def get(name: str) -> Method:
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown method {name!r}.{hint} Methods: {', '.join(METHODS)}.")
    return METHODS[name]


def names() -> tuple[str, ...]:
    return tuple(METHODS)


def mergeable_names() -> tuple[str, ...]:
    return tuple(name for name, method in METHODS.items() if method.mergeable)


def settings_problems(recipe) -> list[str]:
    """Every method's settings checked (a recipe holds them all; any may be switched to with --method)."""
    return [p for key in SETTINGS for p in getattr(recipe, key).problems(key)]


def without_method_rates(recipe):
    """``recipe`` with every method's own learning rate unset: an explicit ``--learning_rate`` wins over all of
    them (lora.learning_rate, freeze.learning_rate, ia3.learning_rate, and any method added later)."""
    changes = {}
    for key in SETTINGS:
        settings = getattr(recipe, key)
        if getattr(settings, "learning_rate", None) is not None:
            changes[key] = dataclasses.replace(settings, learning_rate=None)
    return dataclasses.replace(recipe, **changes) if changes else recipe


def learning_rate(recipe) -> float | None:
    return get(recipe.method).learning_rate(recipe)


def check_available(name: str) -> None:
    """Fail before anything is loaded when the method cannot run here."""
    if get(name).quantized:
        from hf_transfer.methods.qlora import check_quantization

        check_quantization(name)


def prepare_model(model, recipe, task):
    """Apply ``recipe.method`` to a freshly loaded model."""
    return get(recipe.method).prepare(model, recipe, task)


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; 4-bit packed weights count as their real size."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel()
        if param.__class__.__name__ == "Params4bit":
            n *= 2
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


def head(model, recipe, task) -> list[str]:
    """The task's head modules in ``model`` (always trained, always saved)."""
    found = task.head_modules(model)
    if not found and (task.new_head or recipe.method == "freeze"):
        raise UserError(f"{type(model).__name__} has no module that the {task.kind} task knows as its head.")
    return found


ORDER = ("full", "freeze", "lora", "ia3", "qlora", "scratch")
"""The modules registered first, in this order (``--method``'s choices, ``compare``'s columns); any other module
of this package registers after them."""


def discover() -> None:
    """Import every module of this package: each registers its methods (a new method is a new file here)."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    for name in [n for n in ORDER if n in found] + sorted(n for n in found if n not in ORDER):
        importlib.import_module(f"{__name__}.{name}")


discover()

"""The fine-tuning methods: one module here per method family, each registering its methods by name
(full and scratch, freeze, lora / dora / qlora, ia3), found by discovery like the tasks.

A ``Method`` says everything the rest of the code asks about a method: its settings class (the recipe
field of that name holds them: ``full``, ``lora``, ``freeze``, ``ia3``) with their validation and learning
rate, whether it trains an adapter (and so saves one), whether that merges into the base model and whether
its runs are exported, whether it loads a quantized base and its extra ``from_pretrained`` arguments, the
check it needs before anything loads, how it prepares a loaded model, ``tune``'s search space for it, and
the sentence the model card says about it (from its own settings). ``recipe.py``, the CLI, the run, tune,
merge, export, push and the card loop over this registry; an unknown name is a clear error, never a
fall-through.

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

    def optimizer(self, model, args):
        """The optimizer these settings train ``model`` with under ``args`` (TrainingArguments); None: the
        Trainer's own (AdamW over every trained weight at ``args.learning_rate``)."""
        return None


def trainer_optimizer(model, args) -> tuple[type, dict[str, Any]]:
    """The optimizer class and settings the Trainer would use under ``args`` (``--optim``, betas, epsilon), less the
    learning rate: for a settings class's ``optimizer`` that puts the weights in groups with rates of their own."""
    from transformers import Trainer

    optimizer_class, settings = Trainer.get_optimizer_cls_and_kwargs(args, model)
    return optimizer_class, {k: v for k, v in settings.items() if k != "lr"}


@dataclass(frozen=True)
class Method:
    name: str
    card: str
    """The card's sentence; ``str.format`` fills in the settings' values ({r}, {alpha}, ...), {targets},
    {head} (the new head, trained and saved in full) and {embeddings} (frozen input embeddings, if so)."""
    prepare: Callable[[Any, Any, Any], Any]
    """(model, recipe, task) -> the model to train."""
    space: dict[str, dict] | None = None
    """``hf-transfer tune``'s search space for this method: name -> {low, high[, log]} or {choices: [...]}, names
    being TrainingArguments (``learning_rate``) or recipe fields (``lora.r``); ``search_space`` writes the part every
    method shares. None: tune refuses the method unless ``--space FILE`` gives one."""
    settings: str | None = None
    """The recipe field with this method's settings (``lora``, ``freeze``, ``ia3``), whose learning_rate applies."""
    settings_class: type | None = None
    adapter: bool = False
    """Trains and saves a peft adapter (the base model's weights stay as they are)."""
    mergeable: bool = False
    """The adapter merges into its base model (``hf-transfer merge``, ``--merge_adapter``, ``push --merge``)."""
    exports: bool = True
    """Its runs are exported (ONNX, GGUF): a full model as it is, an adapter merged in memory first (so an adapter
    that does not merge does not export)."""
    pretrained: bool = True
    """False: the checkpoint's architecture with random weights (no pretrained weights reused)."""
    quantized: bool = False
    """Loads the base model in 4 bits with bitsandbytes."""
    load_kwargs: Callable[[Any, Any], dict[str, Any]] = field(default=lambda recipe, checkpoint: {})
    """(recipe, resolved checkpoint) -> extra ``from_pretrained`` arguments (a quantization config)."""
    check: Callable[[str], None] | None = None
    """(method name) -> None, raising a UserError when the method cannot run on this machine: called before
    anything is loaded (bitsandbytes for the quantized methods)."""
    rate_scale: float = 1.0
    """Its learning rate, when nothing sets one, as a multiple of full fine-tuning's for the same model
    (``recipe/defaults.py``: adapters and a head trained alone want a higher rate)."""
    steps_scale: float = 1.0
    """The optimizer steps it gets, when nothing sets the epochs, as a multiple of full fine-tuning's."""
    order: int = 100
    """Where it stands in ``--method``'s choices and ``compare``'s columns (lower first; ties keep the order of
    registration)."""

    @property
    def exported(self) -> bool:
        """Its runs are exported: the entry says so, and an adapter merges (export merges it in memory first)."""
        return self.exports and (self.mergeable or not self.adapter)

    def settings_of(self, recipe):
        return getattr(recipe, self.settings) if self.settings else None

    def learning_rate(self, recipe) -> float | None:
        """The method's own learning rate from its settings, if the recipe gives one."""
        return getattr(self.settings_of(recipe), "learning_rate", None)

    def card_sentence(self, recipe, targets: str | None, head: str) -> str:
        """The card's sentence from this method's own settings; ``targets``: the modules a saved adapter names (None:
        the settings' ``target_modules``, else the attention projections)."""
        settings = self.settings_of(recipe)
        values = settings.card_values() if settings is not None else {}
        if targets is None:
            own = getattr(settings, "target_modules", None)
            own = [own] if isinstance(own, str) else own
            targets = ", ".join(f"`{t}`" for t in own or ["attention projections"])
        return self.card.format(**values, targets=targets, head=head)


METHODS: dict[str, Method] = {}
SETTINGS: dict[str, type] = {}
"""Recipe field -> settings class, in registration order: ``Recipe`` has one field per entry."""


def register(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"a method named {method.name!r} is registered already")
    known = SETTINGS.get(method.settings, method.settings_class) if method.settings else None
    if known is not method.settings_class:
        raise ValueError(f"method {method.name!r}: the recipe field {method.settings!r} holds {known.__name__}")
    METHODS[method.name] = method
    _rank()
    return method


def unregister(name: str) -> None:
    """Take a method out of the registry (a test's throwaway method); its settings group goes with its last user."""
    del METHODS[name]
    _rank()


def _rank() -> None:
    """METHODS in ``order`` (stable: registration order within one rank); SETTINGS in the order of their methods."""
    ranked = sorted(METHODS.values(), key=lambda m: m.order)
    METHODS.clear()
    METHODS.update((m.name, m) for m in ranked)
    SETTINGS.clear()
    SETTINGS.update({m.settings: m.settings_class for m in ranked if m.settings and m.settings not in SETTINGS})


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


def check_mergeable(name: str, run: str) -> None:
    """Refuse to merge a run whose method's adapter does not merge into its base model."""
    if not get(name).mergeable:
        raise UserError(f"{run} was trained with --method {name}, whose adapter does not merge into its base model: "
                        f"merge takes runs of {', '.join(mergeable_names())}.")  # fmt: skip


def check_exports(name: str, run: str) -> None:
    """Refuse to export a run whose method's entry says its runs are not exported (or whose adapter cannot merge)."""
    method = get(name)
    if not method.exported:
        why = "whose adapter does not merge into its base model" if method.exports else "whose runs are not exported"
        exported = ", ".join(n for n, m in METHODS.items() if m.exported)
        raise UserError(f"{run} was trained with --method {name}, {why}: export takes runs of {exported}.")


def search_space(learning_rates: tuple[float, float], **own: dict) -> dict[str, dict]:
    """A method's search space: its learning-rate range (searched on a log scale: adapters and heads want far higher
    rates than full fine-tuning), the epochs, warmup and weight decay every method searches, and its ``own``
    parameters (``**{"lora.r": {"choices": [4, 8]}}``)."""
    low, high = learning_rates
    return {
        "learning_rate": {"low": low, "high": high, "log": True},
        "num_train_epochs": {"low": 1, "high": 4},
        "warmup_ratio": {"low": 0.0, "high": 0.2},
        "weight_decay": {"low": 0.0, "high": 0.1},
        **own,
    }


def space(name: str) -> dict[str, dict]:
    """``tune``'s default search space for method ``name``, from its entry; a method without one is refused."""
    entry = get(name)
    if entry.space is None:
        raise UserError(f"--method {name} has no default search space in its registry entry: give one with "
                        "--space FILE (learning_rate: {low: 1e-5, high: 1e-3, log: true}, ...).")  # fmt: skip
    return {k: dict(v) for k, v in entry.space.items()}


def settings_problems(recipe) -> list[str]:
    """Every method's settings checked (a recipe holds them all; any may be switched to with --method)."""
    return [p for key in SETTINGS for p in getattr(recipe, key).problems(key)]


def without_method_rates(recipe, kept: set[str] = frozenset()):
    """``recipe`` with every method's own learning rate unset: an explicit ``--learning_rate`` wins over all of
    them (lora.learning_rate, freeze.learning_rate, ia3.learning_rate, and any method added later). ``kept``:
    fields left as they are (``lora.learning_rate``: what ``--set`` gave)."""
    changes = {}
    for key in SETTINGS:
        settings = getattr(recipe, key)
        rate = getattr(settings, "learning_rate", None)
        if f"{key}.learning_rate" in kept:
            continue
        if rate is not None:
            changes[key] = dataclasses.replace(settings, learning_rate=None)
    return dataclasses.replace(recipe, **changes) if changes else recipe


def learning_rate(recipe) -> float | None:
    return get(recipe.method).learning_rate(recipe)


def check_available(name: str) -> None:
    """Fail before anything is loaded when the method cannot run here (the entry's own pre-load check)."""
    method = get(name)
    if method.check is not None:
        method.check(name)


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


def head(model, recipe, task, required: bool = False) -> list[str]:
    """The task's head modules in ``model`` (always trained, always saved); ``required``: the method trains nothing
    else, so a model without one is refused even where the task reuses the checkpoint's head."""
    found = task.head_modules(model)
    if not found and (task.new_head or required):
        raise UserError(f"{type(model).__name__} has no module that the {task.kind} task knows as its head.")
    return found


def discover() -> None:
    """Import every module of this package: each registers its methods (a new method is a new file here); their
    entries' ``order`` ranks them."""
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        importlib.import_module(f"{__name__}.{name}")


discover()

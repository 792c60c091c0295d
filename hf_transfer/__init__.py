"""hf_transfer: transfer learning for NLP on the Hugging Face stack.

Importing the package is cheap (no torch): recipes, data sources, task settings and method settings.
Training lives in ``hf_transfer.run.train``; the command line in ``hf_transfer.cli``.

The task classes (``TextClassification``, ...) and method settings classes (``LoraSettings``, ...) are public
under their class names, read from the task and method registries when asked for: a task or method added in its
own module (or registered later) is public with nothing added here.
"""

from hf_transfer import methods
from hf_transfer.base.errors import UserError as UserError
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.sources import DataSource as DataSource
from hf_transfer.sources import FileData as FileData
from hf_transfer.sources import HubData as HubData
from hf_transfer.sources import PackagedData as PackagedData
from hf_transfer.tasks import TASKS

DISTRIBUTION = "hf-transfer-toolkit"
"""The name pip knows the package by (pyproject.toml), whose metadata holds ``__version__``."""

_NAMED = ["DataSource", "FileData", "HubData", "PackagedData", "Recipe", "UserError", "load_recipe"]


def load_recipe(name_or_path: str) -> Recipe:
    """A packaged recipe by name, or a recipe .py / .yaml file."""
    from hf_transfer.recipe.registry import find_recipe

    return find_recipe(name_or_path)[0]


def _registered() -> dict[str, type]:
    """The public classes the registries hold now: each task class and method settings class by its name."""
    return {cls.__name__: cls for cls in [*TASKS.values(), *methods.SETTINGS.values()]}


def __getattr__(name: str):
    if name == "__version__":  # pyproject.toml holds it; an uninstalled source tree says so
        from hf_transfer.sources.assets import installed_version

        return installed_version(DISTRIBUTION, "0+unknown")
    if name == "__all__":
        return sorted([*_NAMED, *_registered()])
    registered = _registered()
    if name in registered:
        return registered[name]
    raise AttributeError(f"module 'hf_transfer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "__version__", *_registered()})

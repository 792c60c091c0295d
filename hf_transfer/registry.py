"""Finding recipes: the packaged ones (``recipes/``, shipped as ``hf_transfer.recipes``), a .py file, or a YAML file."""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path

from .errors import UserError
from .recipe import Recipe

RECIPES_PACKAGE = "hf_transfer.recipes"


def recipes_dir() -> Path:
    return Path(importlib.import_module(RECIPES_PACKAGE).__file__).resolve().parent


@lru_cache(maxsize=1)
def packaged_recipes() -> dict[str, tuple[Recipe, Path]]:
    """Recipe name -> (recipe, module file), for every module in the recipes package."""
    found: dict[str, tuple[Recipe, Path]] = {}
    for file in sorted(recipes_dir().glob("*.py")):
        if file.name.startswith("_"):
            continue
        module = importlib.import_module(f"{RECIPES_PACKAGE}.{file.stem}")
        recipe = getattr(module, "RECIPE", None)
        if not isinstance(recipe, Recipe):
            raise RuntimeError(f"{file} does not define RECIPE = Recipe(...)")
        if recipe.name in found:
            raise RuntimeError(f"two packaged recipes are named {recipe.name!r}")
        found[recipe.name] = (recipe, file)
    return found


def _from_python_file(path: Path) -> Recipe:
    spec = importlib.util.spec_from_file_location(f"hf_transfer_user_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path} could not be imported: {type(exc).__name__}: {exc}") from None
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, Recipe):
        raise UserError(f"{path} does not define RECIPE = Recipe(...).")
    return recipe


def find_recipe(spec: str) -> tuple[Recipe, Path | None]:
    """A packaged recipe name, a path to a recipe .py module, or a path to a recipe YAML file."""
    path = Path(spec).expanduser()
    if path.suffix in (".py", ".yaml", ".yml"):
        if path.is_dir():
            raise UserError(f"Recipe file {spec} is a folder, not a recipe file: name the .py or .yaml file in it.")
        if not path.is_file():
            raise UserError(f"Recipe file {spec} does not exist.")
        if path.suffix == ".py":
            return _from_python_file(path), path
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as exc:
            raise UserError(f"Recipe file {spec} cannot be read as UTF-8 text: {exc}.") from None
        return Recipe.from_yaml(text), path
    recipes = packaged_recipes()
    if spec in recipes:
        return recipes[spec]
    close = difflib.get_close_matches(spec, list(recipes), n=3, cutoff=0.4)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UserError(
        f"Unknown recipe {spec!r}.{hint} `hf-transfer list` shows the packaged recipes; a path to a .py or .yaml "
        "recipe also works."
    )

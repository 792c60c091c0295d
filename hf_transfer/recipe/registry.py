"""Finding recipes: the packaged ones (``recipes/``, shipped as ``hf_transfer.recipes``), a .py file, or a YAML file."""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

from hf_transfer.base.errors import UserError
from hf_transfer.recipe.recipe import Recipe

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


def is_packaged(path: Path) -> bool:
    """Whether a recipe file is one of the packaged recipes (not a user's copy)."""
    return Path(path).resolve().parent == recipes_dir()


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


# --------------------------------------------------------------------------------------------
# Copying a recipe to adapt it
# --------------------------------------------------------------------------------------------


def copy_recipe(spec: str, dest: str | None, name: str | None = None, description: str | None = None,
                train_file: str | None = None, validation_file: str | None = None):  # fmt: skip
    """Copy recipe ``spec`` to ``dest`` (a file, or a folder to put it in) under a name of its own, without the
    template's ``expected`` results. A .py recipe keeps its text and comments (its docstring, which describes the
    template, becomes the copy's description); others become YAML. ``train_file``: the copy reads the user's file
    instead of the template's data, without the template's sample limits (they were sized for its data).
    Returns (template, copy, the file written). Nothing is written over an existing file."""
    from hf_transfer.sources import FileData

    recipe, source = find_recipe(spec)
    default_name = source.name if source else f"{recipe.name.replace('-', '_')}.py"
    path = Path(dest) if dest else Path(default_name)
    if path.is_dir():
        path = path / default_name
    if path.exists():
        raise UserError(f"{path} already exists; choose another destination.")
    if not path.parent.is_dir():
        raise UserError(f"The folder {path.parent} does not exist; create it first, or copy to an existing folder.")
    name = name or path.stem.lower().replace("_", "-")
    if name == recipe.name:  # a copy with the template's name would share its run folders and card title
        name = f"my-{recipe.name}"
    # the template's description names its data and checkpoint, which a copy is made to change: the card's
    # first line stays true until the user writes their own (--description, or in the file)
    description = description or f"Adapted from the hf_transfer recipe {recipe.name}."
    copied = dataclasses.replace(recipe, name=name, description=description, expected={})
    if train_file or validation_file:
        for given in (train_file, validation_file):
            if given and not Path(given).expanduser().is_file():
                raise UserError(f"{given} is not a file: give the data file the copy is to train on.")
        if not train_file:
            raise UserError("--validation_file needs --train_file as well.")
        copied = dataclasses.replace(copied, data=FileData.in_place_of(recipe.data, recipe.data, train_file,
                                                                       validation_file))  # fmt: skip
    copied.validate()  # a bad --name is refused before anything is written
    if source is not None and source.suffix == ".py":
        path.write_text(renamed_source(source.read_text(encoding="utf-8-sig"), recipe, copied), encoding="utf-8")
    else:
        path = path.with_suffix(".yaml")
        if path.exists():
            raise UserError(f"{path} already exists; choose another destination.")
        path.write_text(copied.to_yaml(), encoding="utf-8")
    return recipe, copied, path


def _data_source_text(data) -> str:
    """A FileData as Python source, with only the fields that differ from their defaults."""
    from hf_transfer.sources import FileData

    default = FileData(train_file="")
    fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    shown = {k: v for k, v in fields.items() if k == "train_file" or v != getattr(default, k)}
    return "FileData(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"


def renamed_source(text: str, original, copied) -> str:
    """A recipe module's source with the copy's name and description (also as the module's docstring), without
    the template's ``expected`` results, and with the copy's data where it reads another file; everything else
    (comments, layout) as written."""
    import ast

    def literal(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    tree = ast.parse(text)
    values = {"name": literal(copied.name), "description": literal(copied.description), "expected": "{}"}
    new_data = copied.data != original.data
    if new_data:
        values["data"] = _data_source_text(copied.data)
    edits = []  # (start line, start column, end line, end column) in UTF-8 bytes, as ast counts them -> new text
    first = tree.body[0] if tree.body else None
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) and isinstance(
        first.value.value, str
    ):  # the template's docstring describes the template's data and model
        v = first.value
        docstring = copied.description
        if original.name not in docstring:
            docstring += f" Copied from the hf_transfer recipe {original.name}."
        plain = '"' not in docstring and "\\" not in docstring
        edits.append(((v.lineno, v.col_offset, v.end_lineno, v.end_col_offset),
                      f'"""{docstring}"""' if plain else literal(docstring)))  # fmt: skip
    for node in ast.walk(tree):
        if new_data and isinstance(node, ast.ImportFrom) and node.module == "hf_transfer":
            if "FileData" not in {a.name for a in node.names}:
                names = sorted([a.name for a in node.names] + ["FileData"])
                where = (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
                edits.append((where, f"from hf_transfer import {', '.join(names)}"))
            new_data = False
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Recipe":
            for keyword in node.keywords:
                if keyword.arg in values:
                    v = keyword.value
                    edits.append(((v.lineno, v.col_offset, v.end_lineno, v.end_col_offset), values.pop(keyword.arg)))
            if "description" in values and "name" not in values:  # none in the template: one after the name
                name = next(k.value for k in node.keywords if k.arg == "name")
                where = (name.end_lineno, name.end_col_offset, name.end_lineno, name.end_col_offset)
                edits.append((where, ", description=" + values.pop("description")))
            break
    if "name" in values:
        raise UserError(f"No Recipe(name=...) call was found in the recipe module of {original.name!r} to rename.")
    if new_data:
        raise UserError(f"The recipe module of {original.name!r} has no `from hf_transfer import ...` to add FileData "
                        "to; copy without --train_file and set the data in the copy.")  # fmt: skip
    data = text.encode()
    offsets = [0]
    for line in data.splitlines(keepends=True):  # \n, \r and \r\n only, as Python's line numbers
        offsets.append(offsets[-1] + len(line))
    for (line, column, end_line, end_column), replacement in sorted(edits, reverse=True):
        start, end = offsets[line - 1] + column, offsets[end_line - 1] + end_column
        data = data[:start] + replacement.encode() + data[end:]
    result = data.decode()
    ast.parse(result)  # a copy that would not load is never written
    return result

"""The module map of docs/architecture.md, enforced (issues 14 and 36): the folders are the layers, imports go
down the folders only, and inside a folder down its modules' order, so no import circle can come back."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hf_transfer"
MAP = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
FOLDERS: list[tuple[str, list[str] | None]] = [
    ("cli", None),  # one module per command, lazily imported by cli/__init__.py
    ("commands", ["launch", "diff", "tune", "search_space", "study", "plan", "compare", "comparison",
                  "comparison_plots", "hub", "doctor", "predict"]),
    ("export", ["onnx", "onnx_graph", "onnx_card", "gguf", "gguf_card"]),
    ("run", ["train", "results", "options", "forecast", "probe", "probe_end", "budget", "loading", "reload_check",
             "evaluation", "trainer", "arguments", "guards"]),
    ("artifacts", ["merging", "models", "gguf_checkpoint", "card", "gguf_model", "onnx_model", "gguf_verify", "plots",
                   "staging", "runs"]),
    ("datacheck", ["report", "lora_folds", "label_issues", "profile", "overlap"]),
    ("data", ["lengths", "prepare", "cache"]),
    ("recipe", ["registry", "recipe", "defaults"]),
    ("sources", ["packaged", "hub", "files", "assets"]),
    ("tasks", None),  # task plug-ins, found by discovery; they share the base in tasks/__init__.py
    ("methods", None),  # method plug-ins, the same way
    ("metrics", None),
    ("base", ["hardware", "plain", "console", "progress", "tables", "class_report", "files", "stats", "errors"]),
]
"""Top to bottom: a folder may import the folders listed after it, never those before it; inside a folder
with an order, a module may import the modules listed after it."""
ROOT_MODULES = {"__init__", "__main__", "demo"}  # the public names and the two entry points, above every folder
NOT_CODE = {"recipes", "templates"}  # packaged recipes (they import the public names) and the card template


def place(dotted: str) -> tuple[str, str | None] | None:
    """(folder, module) of an hf_transfer module or package name; None outside the package."""
    parts = dotted.split(".")
    if parts[0] != "hf_transfer" or len(parts) < 2:
        return None
    return parts[1], parts[2] if len(parts) > 2 and parts[2] != "__init__" else None


def location(path: Path) -> tuple[str, str | None]:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0], parts[1] if len(parts) > 1 and parts[1] != "__init__" else None


def imported(path: Path) -> set[tuple[str, str | None]]:
    """(folder, module) pairs a file imports, at the top or inside functions."""
    here_package = ["hf_transfer", *path.relative_to(PACKAGE).parent.parts]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            dotted_names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here_package[: len(here_package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            dotted_names = [f"{module}.{alias.name}" for alias in node.names]
            dotted_names = [d if place(d) and _exists(d) else module for d in dotted_names]
        else:
            continue
        out |= {p for p in map(place, dotted_names) if p}
    return out


def _exists(dotted: str) -> bool:
    target = PACKAGE.joinpath(*dotted.split(".")[1:])
    return target.with_suffix(".py").exists() or target.is_dir()


def test_every_module_is_on_the_map():
    listed = dict(FOLDERS)
    unlisted = []
    for path in PACKAGE.rglob("*.py"):
        folder, module = location(path)
        if module is None and folder in ROOT_MODULES or folder in NOT_CODE:
            continue
        if folder not in listed or module is not None and listed[folder] is not None and module not in listed[folder]:
            unlisted.append(str(path.relative_to(PACKAGE)))
    assert unlisted == []
    text = MAP.read_text()
    assert [folder for folder, _ in FOLDERS if f"`{folder}/`" not in text] == []
    named = [f"{f}/{m}.py" for f, modules in FOLDERS for m in modules or [] if f"`{m}.py`" not in text]
    assert named == []


def test_imports_go_down_the_folders_only():
    rank = {folder: i for i, (folder, _) in enumerate(FOLDERS)}
    order = {folder: {m: i for i, m in enumerate(modules)} for folder, modules in FOLDERS if modules}
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        folder, module = location(path)
        if folder not in rank:
            continue  # the root modules sit above everything; recipes import the public names
        for target_folder, target_module in imported(path):
            if target_folder not in rank:
                wrong += [f"{path.relative_to(PACKAGE)} imports the root module {target_folder}"] * (
                    target_folder in ROOT_MODULES)
            elif rank[target_folder] < rank[folder]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target_folder}/ (a folder above it)")
            elif (target_folder == folder and folder in order and module and target_module
                  and order[folder][target_module] <= order[folder][module]):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target_module} (listed above it)")
    assert wrong == []


def test_the_checker_sees_an_import_up(tmp_path, monkeypatch):
    """The layering test must be able to fail: an import from base/ up into run/ is caught."""
    fake = tmp_path / "hf_transfer"
    (fake / "base").mkdir(parents=True)
    (fake / "run").mkdir()
    (fake / "run" / "train.py").write_text("")
    (fake / "base" / "files.py").write_text("def f():\n    from hf_transfer.run.train import x\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert imported(fake / "base" / "files.py") == {("run", "train")}

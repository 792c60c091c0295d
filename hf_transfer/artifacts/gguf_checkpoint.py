"""A GGUF checkpoint made trainable: dequantized once into a safetensors folder of hf_transfer's cache (and read
from there afterwards), and a model loaded from GGUF unmarked as quantized (its weights are plain floats)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

from hf_transfer.base.console import Console, quiet
from hf_transfer.base.errors import UserError
from hf_transfer.sources.assets import ResolvedCheckpoint


def unmark_gguf(model):
    """transformers dequantizes GGUF weights to ordinary float tensors but still marks the model as
    GGUF-quantized, which the Trainer refuses to train. The weights are plain floats: drop the mark."""
    if not all(p.is_floating_point() for p in model.parameters()):
        raise UserError("The GGUF checkpoint did not dequantize to floating-point weights; it cannot be fine-tuned.")
    model.is_quantized = False
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def plain_checkpoint(checkpoint: ResolvedCheckpoint, console: Console | None = None) -> ResolvedCheckpoint:
    """A GGUF checkpoint, dequantized once into a safetensors folder of hf_transfer's cache and read from there
    afterwards; any other checkpoint as it is.

    transformers parses the whole GGUF file for every config, tokenizer and model it reads from it (about 4 s
    each for SmolLM2-135M, and a run with its reload check reads it 7 times). The folder holds the same
    dequantized weights, config and tokenizer, and loads in a fraction of a second. It is keyed by the file
    (path, size, modification time) and the transformers and gguf versions that dequantize it, and written
    under a temporary name, checked, then renamed: a folder of that name is complete. A checkpoint that cannot be
    converted (an architecture transformers reads from GGUF but not as a causal LM) is read from GGUF as before."""
    if not checkpoint.gguf_file:
        return checkpoint
    import hashlib
    import os
    import tempfile

    import transformers

    from hf_transfer.data.cache import dequantized_dir
    from hf_transfer.sources.assets import installed_version

    source = Path(checkpoint.path) / checkpoint.gguf_file
    stat = source.stat()
    versions = f"{transformers.__version__}|{installed_version('gguf')}|{DEQUANTIZED_LAYOUT}"
    about = f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{versions}"
    folder = dequantized_dir() / f"{source.stem}-{hashlib.sha256(about.encode()).hexdigest()[:16]}"
    if folder.is_dir():
        if not _complete(folder):  # not written by plain_checkpoint: never loaded
            return checkpoint
        os.utime(folder)  # last used: what `hf-transfer cache clear --older-than` goes by
    else:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
        except OSError:  # a cache that cannot be written (read-only, full): read the GGUF file as before
            return checkpoint
        try:
            try:
                with quiet(console):  # the conversion's own bars and notes go to the run's log only
                    _dequantize(checkpoint, scratch)
            except (OSError, ValueError, KeyError, RuntimeError, UserError):
                return checkpoint  # loading it from GGUF says what is wrong, where it is loaded
            if not _complete(scratch):  # e.g. `hf-transfer cache clear` removed it while it was written
                return checkpoint
            try:
                os.rename(scratch, folder)
            except OSError:
                if not folder.is_dir():  # not another process finishing the same folder first
                    raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    note = f"{checkpoint.note} (once; kept as safetensors in {folder})" if checkpoint.note else None
    return dataclasses.replace(checkpoint, path=str(folder), gguf_file=None, note=note)


DEQUANTIZED_LAYOUT = 1
"""Part of a dequantized folder's key: raised when what ``_dequantize`` writes changes."""


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("config.json", "tokenizer_config.json")) and any(
        folder.glob("*.safetensors")
    )


def _dequantize(checkpoint: ResolvedCheckpoint, folder: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    tokenizer = AutoTokenizer.from_pretrained(checkpoint.path, **checkpoint.load_kwargs())
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint.path,
        quantization_config=GgufConfig(dequantize=True),  # plain float weights, even where a kernel could run
        **checkpoint.load_kwargs(),
    )
    model = unmark_gguf(model)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))

"""Loading what a run starts from and what it leaves: checkpoints (safetensors only unless allowed; a GGUF file
through ``gguf_checkpoint.py``), fast tokenizers, finished run folders (full models and adapters), and merging an
adapter into its base model."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

from hf_transfer import methods
from hf_transfer.artifacts.gguf_checkpoint import plain_checkpoint, unmark_gguf
from hf_transfer.artifacts.runs import ADAPTER_CONFIG, RunFolder
from hf_transfer.base.console import Console, quiet
from hf_transfer.base.errors import UserError, first_line
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.sources.assets import ResolvedCheckpoint, resolve_checkpoint


def load_base_model(recipe: Recipe, checkpoint: ResolvedCheckpoint, new_weights: list[str] | None = None,
                    as_saved: bool = False):  # fmt: skip
    """The recipe's checkpoint with its task head. ``new_weights``, when given, receives the names of the
    weights the checkpoint did not have (a new task head: they start random and this run trains them).
    ``as_saved``: the weights as they are on disk, in full precision, whatever the recipe's method does when it
    loads a checkpoint to train (random weights, a quantized base): a finished run, or the base an adapter merges
    into."""
    model = _from_pretrained(recipe, checkpoint, new_weights, as_saved)
    return unmark_gguf(model) if checkpoint.gguf_file else model


def _weights_kwargs(recipe: Recipe, checkpoint: ResolvedCheckpoint) -> dict:
    """safetensors only, unless the recipe allows pickle weights; a local pickle-only folder is refused by name."""
    if checkpoint.gguf_file or recipe.allow_pickle_weights:
        return {}
    folder = Path(checkpoint.path)
    pickled = any(folder.glob("*.bin")) or any(folder.glob("*.pt"))
    if folder.is_dir() and pickled and not any(folder.glob("*.safetensors*")):
        raise UserError(
            f"{checkpoint.path} holds its weights only as pickle files (.bin / .pt), which can run code when loaded. "
            "Convert them to safetensors, or pass --allow_pickle_weights if you trust the source."
        )
    return {"use_safetensors": True}


def _from_pretrained(recipe: Recipe, checkpoint: ResolvedCheckpoint, new_weights: list[str] | None = None,
                     as_saved: bool = False):  # fmt: skip
    task = recipe.task
    method = methods.get(recipe.method)
    if not method.pretrained and not as_saved:  # the checkpoint's architecture and tokenizer, random weights
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(
                checkpoint.path,
                trust_remote_code=recipe.trust_remote_code,
                **checkpoint.load_kwargs(),
                **task.model_kwargs(),
            )
        except (OSError, ValueError) as exc:
            raise UserError(f"Checkpoint {recipe.checkpoint!r} has no loadable config: {first_line(exc)}") from None
        return task.auto_model_class().from_config(config, trust_remote_code=recipe.trust_remote_code)
    try:
        model, info = task.auto_model_class().from_pretrained(
            checkpoint.path,
            trust_remote_code=recipe.trust_remote_code,
            output_loading_info=True,
            **_weights_kwargs(recipe, checkpoint),
            **checkpoint.load_kwargs(),
            **task.model_kwargs(),
            **({} if as_saved else method.load_kwargs(recipe, checkpoint)),
        )
        if new_weights is not None:
            new_weights.extend(sorted(info.get("missing_keys") or []))
        return model
    except (
        OSError,
        ValueError,
        RuntimeError,
        pickle.UnpicklingError,
    ) as exc:  # missing files, bad config, weights that do not fit
        raise UserError(f"Checkpoint {recipe.checkpoint!r} could not be loaded: {first_line(exc)}") from None


def new_weights_line(names: list[str], task) -> str:
    """transformers' loading report of a new task head, in one line: which modules start random."""
    modules = sorted({name.rsplit(".", 1)[0] for name in names})
    labels = task.class_names()
    what = f"new head: {', '.join(modules)}" if len(modules) <= 4 else f"{len(names)} weights not in the checkpoint"
    return what + (f" ({len(labels)} labels)" if labels else "") + ", initialised at random and trained by this run"


OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text"}
"""Models whose position table starts after the padding index: two positions fewer are usable."""


def check_lengths(recipe: Recipe, checkpoint: ResolvedCheckpoint) -> int | None:
    """The task's lengths fit the model's position embeddings: checked before training, not found by an
    index error in the first batch that is long enough (a limit still to come from the data is left for later).
    Returns the positions the model reads (None: no fixed limit), which caps a limit from the data."""
    usable = model_positions(recipe, checkpoint)
    for name in recipe.task.length_limits if usable is not None else ():
        length = getattr(recipe.task, name)
        if length is not None and length > usable:
            raise UserError(
                f"task.{name}={length} is longer than {recipe.checkpoint} can read: its position embeddings cover "
                f"{usable} tokens. Set --set task.{name}={usable} (or less)"
                + (f", or leave it to the data: --set task.{name}=null." if name == recipe.task.length_setting else ".")
            )
    return usable


def model_positions(recipe: Recipe, checkpoint: ResolvedCheckpoint) -> int | None:
    """The positions the checkpoint's model reads (None: relative positions, or no config to read)."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(
            checkpoint.path, trust_remote_code=recipe.trust_remote_code, **checkpoint.load_kwargs()
        )
    except (OSError, ValueError):
        return None  # loading the checkpoint says what is wrong
    positions = getattr(config, "max_position_embeddings", None)
    if not isinstance(positions, int):
        return None  # relative positions (T5): no fixed limit
    return positions - 2 if config.model_type in OFFSET_POSITIONS else positions


def length_cap(positions: int | None, tokenizer) -> int | None:
    """The most tokens a limit from the data may take: the model's positions and the tokenizer's
    ``model_max_length`` (where it names one: transformers writes a huge number where it does not)."""
    named = getattr(tokenizer, "model_max_length", None)
    caps = [n for n in (positions, named) if isinstance(n, int) and 0 < n < 1_000_000]
    return min(caps) if caps else None


def load_tokenizer(checkpoint: ResolvedCheckpoint, recipe: Recipe):
    from transformers import AutoConfig, AutoTokenizer

    path, extra = checkpoint.path, checkpoint.load_kwargs()
    try:  # an adapter run folder has no model config; its saved tokenizer already holds these settings
        model_type = AutoConfig.from_pretrained(path, trust_remote_code=recipe.trust_remote_code, **extra).model_type
    except (OSError, ValueError):
        model_type = ""
    try:
        extra = {**extra, **recipe.task.tokenizer_kwargs(model_type)}
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=recipe.trust_remote_code, **extra)
    except (OSError, ValueError) as exc:
        raise UserError(f"No tokenizer could be loaded from {path}: {first_line(exc)}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(
            f"The tokenizer of {recipe.checkpoint} is not a fast (Rust) tokenizer, which hf_transfer needs."
        )
    return tokenizer


def load_run(
    run_dir: Path, full_precision_base: bool = False, trust_remote_code: bool = False, console: Console | None = None
):
    """A finished (or staged) run folder -> (recipe, model, tokenizer), for full and adapter runs alike.

    ``full_precision_base``: load a QLoRA run's base model unquantized (to merge the adapter into it).
    ``trust_remote_code``: a run whose model needs Python code of its own (trained with --trust_remote_code, or
    a config naming code files) loads only when this is given; otherwise it is refused, naming the flag.
    The libraries' loading reports stay quiet (an adapter run's base model lacks the head loaded next): they go
    to ``console`` (a run's train.log) when one is given."""
    with quiet(console):
        return _load_run(run_dir, full_precision_base, trust_remote_code)


def remote_code(folder: RunFolder, recipe: Recipe) -> str | None:
    """Why loading this run would run Python code that came with it, or None when it would not."""
    if recipe.trust_remote_code:
        return f"it was trained with --trust_remote_code (code shipped with {recipe.checkpoint})"
    config = folder / "config.json"
    try:
        auto_map = json.loads(config.read_text()).get("auto_map") if config.is_file() else None
    except ValueError:
        auto_map = None
    if auto_map:
        return f"its config.json names code of its own (auto_map: {', '.join(sorted(auto_map))})"
    return None


def check_weights(folder: Path) -> None:
    """Every safetensors file of a run opens and holds what its header says: a damaged one (cut short by a full
    disk or a copy that stopped) is named, instead of a deserializing error from deep inside the loader."""
    from safetensors import SafetensorError, safe_open

    for file in sorted(Path(folder).glob("*.safetensors")):
        try:
            with safe_open(str(file), framework="pt"):  # it checks that the data covers what the header declares
                pass
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise UserError(
                f"The run's weights are damaged: {file} cannot be read ({first_line(exc)}). Train the run again, or "
                "copy the folder again from where it was made."
            ) from None


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def run_tokenizer(folder: RunFolder, here: ResolvedCheckpoint, recipe: Recipe):
    """The tokenizer a run (or export) saved. Without its files the libraries build an empty vocabulary from the
    config alone (every word [UNK], the model scoring nonsense without a word): that is refused, naming the files."""
    missing = f"Train or export the run again, or copy {' and '.join(TOKENIZER_FILES)} from where it was made."
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise UserError(f"{folder.path} has no tokenizer ({' or '.join(TOKENIZER_FILES)} is missing). {missing}")
    tokenizer = load_tokenizer(here, recipe)
    special = set(tokenizer.all_special_tokens)
    if not any(token not in special for token in tokenizer.get_vocab()):
        raise UserError(f"The tokenizer in {folder.path} has no vocabulary beyond its special tokens: its files are "
                        f"damaged or incomplete. {missing}")  # fmt: skip
    return tokenizer


def _load_run(run_dir: Path, full_precision_base: bool, trust_remote_code: bool):
    folder = RunFolder(run_dir)
    recipe = folder.recipe()
    needs_code = remote_code(folder, recipe)
    if needs_code and not trust_remote_code:
        raise UserError(
            f"Loading {folder.path} would run Python code that came with it: {needs_code}. Pass --trust_remote_code "
            "if you trust that code (it is off unless asked for)."
        )
    recipe = dataclasses.replace(recipe, trust_remote_code=bool(needs_code))
    here = ResolvedCheckpoint(str(folder.path))
    if folder.is_export:
        from hf_transfer.artifacts.gguf_model import GgufModel, is_gguf_export
        from hf_transfer.artifacts.onnx_model import OnnxModel, check_installed

        if is_gguf_export(folder.path):  # generation and the eval loss in llama.cpp
            return recipe, GgufModel(folder.path, n_ctx=recipe.task.context_tokens()), load_tokenizer(here, recipe)

        check_installed()
        return recipe, OnnxModel(folder.path), run_tokenizer(folder, here, recipe)
    check_weights(folder.path)
    tokenizer = run_tokenizer(folder, here, recipe)
    if folder.has_adapter:
        from peft import PeftModel

        base = load_base_model(recipe, plain_checkpoint(resolve_checkpoint(recipe.checkpoint)),
                               as_saved=full_precision_base)  # fmt: skip
        model = PeftModel.from_pretrained(base, str(folder.path))
    else:
        model = load_base_model(dataclasses.replace(recipe, checkpoint=str(folder.path)), here, as_saved=True)
    model.eval()
    return recipe, model, tokenizer


def point_adapter_at_hub_id(run_dir: Path, hub_id: str, checkpoint: ResolvedCheckpoint) -> None:
    """An adapter saved from a packaged or cached copy names that local path as its base model;
    name the Hub id instead, so the adapter loads anywhere (``AutoPeftModel...from_pretrained``)."""
    folder = RunFolder(run_dir)
    if not folder.has_adapter or checkpoint.note is None:
        return
    config = folder.adapter_config()
    config["base_model_name_or_path"] = hub_id
    (folder / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2) + "\n")

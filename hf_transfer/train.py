"""From a Recipe to a finished run folder, through ``transformers.Trainer``.

The run is built in ``<output_dir>.partial`` and renamed into place only once the model is saved,
reloaded from disk and re-evaluated to the same metric, so a crash never leaves a folder that looks
finished and never touches an earlier finished run.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import pickle
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import methods
from .assets import ResolvedCheckpoint, resolve_checkpoint
from .data import load_splits
from .errors import UserError, first_line
from .guards import run_warnings
from .cache import describe_entry, tokenization_cache_dir
from .card import license_warning, resolve_licenses, write_card
from .recipe import Recipe

FINISHED_MARKER = "metrics.json"
"""A run folder is finished when this file exists; it is written last, before the rename."""

RUN_DEFAULTS: dict[str, Any] = {
    "num_train_epochs": 3,
    "learning_rate": 5e-5,
    "per_device_train_batch_size": 32,
    "per_device_eval_batch_size": 128,
    "eval_strategy": "epoch",
    "save_strategy": "epoch",
    "save_total_limit": 1,
    "load_best_model_at_end": True,
    "logging_strategy": "steps",
    "logging_steps": 10,
    "logging_first_step": True,
    "train_sampling_strategy": "group_by_length",
    "report_to": "none",
    "seed": 42,
}
"""What hf_transfer sets before the recipe's ``training`` and the command-line flags."""

NOT_TRAINING_ARGS = {"output_dir", "overwrite_output_dir", "hub_token"}


def is_finished_run(path: Path) -> bool:
    return (path / FINISHED_MARKER).is_file()


def check_output_dir(output_dir: Path, overwrite: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output_dir {output_dir} is a file, not a folder.")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not overwrite:
        what = "a finished run" if is_finished_run(output_dir) else "files"
        raise UserError(
            f"--output_dir {output_dir} already holds {what}. Pass --overwrite_output_dir to replace it "
            "(the old folder stays until the new run has finished), or choose another --output_dir."
        )


def training_arguments(recipe: Recipe) -> dict[str, Any]:
    """Defaults < recipe.training, checked against TrainingArguments before anything is loaded."""
    task = recipe.task
    args_class, _ = task.trainer_classes()
    fields = {f.name: f for f in dataclasses.fields(args_class) if f.init}
    kwargs = dict(
        RUN_DEFAULTS,
        metric_for_best_model=task.main_metric(),
        greater_is_better=task.greater_is_better(),
        **device_defaults(),
        **task.training_defaults(),
    )
    method_rate = {"lora": recipe.lora, "qlora": recipe.lora, "freeze": recipe.freeze}.get(recipe.method)
    training = dict(recipe.training)
    if method_rate is not None and method_rate.learning_rate is not None:
        training["learning_rate"] = method_rate.learning_rate
    if "warmup_ratio" in training and "warmup_ratio" not in fields:  # transformers 5 reads a ratio from warmup_steps < 1
        ratio = training.pop("warmup_ratio")
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0 <= ratio < 1:
            raise UserError(f"Training argument warmup_ratio must be a number in [0, 1), got {ratio!r}.")
        training.setdefault("warmup_steps", float(ratio))
    for key, value in training.items():
        if key in NOT_TRAINING_ARGS or key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            where = "--output_dir / --overwrite_output_dir are flags of hf-transfer run" if key in NOT_TRAINING_ARGS else ""
            raise UserError(f"Unknown training argument {key!r}.{hint} {where}".strip())
        default = fields[key].default
        declared = fields[key].type if isinstance(fields[key].type, type) else {"float": float, "int": int}.get(str(fields[key].type))
        if isinstance(default, bool) and not isinstance(value, bool):
            raise UserError(f"Training argument {key} must be true or false, got {value!r}.")
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"Training argument {key} must be a number, got {value!r}.")
            kind = declared if declared in (int, float) else type(default)
            if kind is int and isinstance(value, float) and not value.is_integer():
                raise UserError(f"Training argument {key} must be a whole number, got {value!r}.")
            value = int(value) if kind is int or (isinstance(value, float) and value.is_integer() and value >= 1) else float(value)
        kwargs[key] = value
    if not kwargs.get("learning_rate", 1) > 0:
        raise UserError(f"Training argument learning_rate must be positive, got {kwargs['learning_rate']!r}.")
    if kwargs.get("max_steps", -1) <= 0 and not kwargs.get("num_train_epochs", 1) > 0:
        raise UserError(f"Training argument num_train_epochs must be positive, got {kwargs['num_train_epochs']!r}.")
    if kwargs.get("eval_strategy") == "no":
        kwargs["load_best_model_at_end"] = False
    return kwargs


def cpu_computes_bf16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX), where bf16 autocast pays:
    on the project's 2-core EPYC it trained MiniLM 2x faster with the same eval accuracy
    (benchmarks/results/train.md). Without it, bf16 is emulated and slower than fp32."""
    import torch

    cpu = getattr(torch, "cpu", None)
    return any(getattr(cpu, name, lambda: False)() for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))


def device_defaults() -> dict[str, Any]:
    """bf16 (else fp16) on a CUDA device that has it; on CPU, bf16 autocast where the CPU computes
    bf16 natively, else fp32; no pinned memory on CPU. ``--bf16 false`` turns autocast off."""
    import torch

    if torch.cuda.is_available():
        return {"bf16": True} if torch.cuda.is_bf16_supported() else {"fp16": True}
    # use_cpu also makes `accelerate launch` / `torchrun` processes train together (gloo) on CPUs
    return {"dataloader_pin_memory": False, "use_cpu": True, "bf16": cpu_computes_bf16()}


def make_training_args(output_dir: Path, kwargs: dict[str, Any], task):
    args_class, _ = task.trainer_classes()
    try:
        return args_class(output_dir=str(output_dir), **kwargs)
    except (ValueError, TypeError) as exc:
        raise UserError(f"Training arguments are not valid: {exc}") from None


def trainer_class(task):
    """The task's Trainer class, evaluating in dataset order.

    transformers applies ``train_sampling_strategy=group_by_length`` to evaluation as well, which
    shuffles eval batches; tasks that map each prediction row back to its feature (NER word ids,
    QA offsets) need rows in order."""
    from torch.utils.data import SequentialSampler

    _, base = task.trainer_classes()

    class OrderedEvalTrainer(base):
        def _get_eval_sampler(self, eval_dataset):
            if eval_dataset is None or self.args.world_size > 1:
                return None
            return SequentialSampler(eval_dataset)

    return OrderedEvalTrainer


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def _unmark_gguf(model):
    """transformers dequantizes GGUF weights to ordinary float tensors but still marks the model as
    GGUF-quantized, which the Trainer refuses to train. The weights are plain floats: drop the mark."""
    if not all(p.is_floating_point() for p in model.parameters()):
        raise UserError("The GGUF checkpoint did not dequantize to floating-point weights; it cannot be fine-tuned.")
    model.is_quantized = False
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def load_base_model(recipe: Recipe, checkpoint: ResolvedCheckpoint):
    if checkpoint.gguf_file:
        return _unmark_gguf(_from_pretrained(recipe, checkpoint))
    return _from_pretrained(recipe, checkpoint)


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


def _from_pretrained(recipe: Recipe, checkpoint: ResolvedCheckpoint):
    task = recipe.task
    if recipe.method == "scratch":  # the architecture and tokenizer of the checkpoint, random weights
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(checkpoint.path, trust_remote_code=recipe.trust_remote_code, **checkpoint.load_kwargs(), **task.model_kwargs())
        except (OSError, ValueError) as exc:
            raise UserError(f"Checkpoint {recipe.checkpoint!r} has no loadable config: {first_line(exc)}") from None
        return task.auto_model_class().from_config(config, trust_remote_code=recipe.trust_remote_code)
    try:
        return task.auto_model_class().from_pretrained(
            checkpoint.path,
            trust_remote_code=recipe.trust_remote_code,
            **_weights_kwargs(recipe, checkpoint),
            **checkpoint.load_kwargs(),
            **task.model_kwargs(),
            **methods.load_kwargs(recipe.method),
        )
    except (OSError, ValueError, RuntimeError, pickle.UnpicklingError) as exc:  # missing files, bad config, weights that do not fit
        raise UserError(f"Checkpoint {recipe.checkpoint!r} could not be loaded: {first_line(exc)}") from None


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
        raise UserError(f"The tokenizer of {recipe.checkpoint} is not a fast (Rust) tokenizer, which hf_transfer needs.")
    return tokenizer


def load_run(run_dir: Path, full_precision_base: bool = False):
    """A finished (or staged) run folder -> (recipe, model, tokenizer), for full and adapter runs alike.

    ``full_precision_base``: load a QLoRA run's base model unquantized (to merge the adapter into it)."""
    run_dir = Path(run_dir)
    recipe_file = run_dir / "recipe.yaml"
    if not recipe_file.is_file():
        raise UserError(f"{run_dir} is not a hf_transfer run folder: it has no recipe.yaml.")
    recipe = Recipe.from_yaml(recipe_file.read_text())
    here = ResolvedCheckpoint(str(run_dir))
    tokenizer = load_tokenizer(here, recipe)
    if (run_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base_recipe = dataclasses.replace(recipe, method="lora") if full_precision_base and recipe.method == "qlora" else recipe
        base = load_base_model(base_recipe, resolve_checkpoint(recipe.checkpoint))
        model = PeftModel.from_pretrained(base, str(run_dir))
    else:
        model = load_base_model(dataclasses.replace(recipe, checkpoint=str(run_dir), method="full"), here)
    model.eval()
    return recipe, model, tokenizer


# --------------------------------------------------------------------------------------------
# Data and evaluation
# --------------------------------------------------------------------------------------------


def _tokenization_key(task, tokenizer) -> str:
    """What the tokenized data depends on, besides the data itself: task settings, tokenizer, versions."""
    import hashlib

    import transformers

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:  # truncation / padding state changes as the tokenizer is used: leave it out
        described = {k: v for k, v in json.loads(backend.to_str()).items() if k not in ("truncation", "padding")}
        described = json.dumps(described, sort_keys=True)
    else:
        described = repr(tokenizer)
    parts = [
        task.kind, repr(sorted(dataclasses.asdict(task).items())), described,
        repr(sorted(tokenizer.special_tokens_map.items())), tokenizer.padding_side, str(getattr(tokenizer, "chat_template", "")),
        transformers.__version__, _versions().get("hf-transfer-toolkit", ""),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def tokenize_splits(splits, task, tokenizer, dataset: str = ""):
    """Batched fast tokenization, cached on disk: a second run over the same data, task settings and
    tokenizer loads the result instead of tokenizing again (``hf-transfer cache`` lists and clears it)."""
    import os

    key = _tokenization_key(task, tokenizer)
    cache = tokenization_cache_dir()
    function = task.tokenize_function(tokenizer)
    out = {}
    for split, ds in splits.items():
        fingerprint = f"{key}-{ds._fingerprint}"
        file = cache / f"{fingerprint}.arrow"
        out[split] = ds.map(
            function,
            batched=True,
            remove_columns=[c for c in ds.column_names if c != "labels"],
            cache_file_name=str(file),
            new_fingerprint=fingerprint,
            load_from_cache_file=True,
            desc=f"Tokenizing {split}",
        )
        if file.is_file():
            if not file.with_suffix(".json").is_file():
                describe_entry(file, dataset=dataset, split=split, task=task.kind, rows=len(out[split]),
                               tokenizer=getattr(tokenizer, "name_or_path", ""))
            os.utime(file)  # last used: `hf-transfer cache clear --older-than DAYS` keeps what runs still use
    return type(splits)(out)


def evaluate_model(model, tokenizer, recipe: Recipe, examples, features, batch_size: int) -> dict[str, float]:
    """The one evaluation path for a loaded model: the reload check and ``hf-transfer eval``.

    ``examples`` is the eval split before tokenization, ``features`` after it."""
    task = recipe.task
    with tempfile.TemporaryDirectory() as scratch:
        settings = {"per_device_eval_batch_size": batch_size, "report_to": "none", "seed": 42, **device_defaults()}
        settings.update({k: v for k, v in task.training_defaults().items() if not k.startswith(("eval_", "save_"))})
        settings.update({k: v for k, v in recipe.training.items() if k.startswith("generation_")})
        args = make_training_args(Path(scratch), settings, task)
        trainer = trainer_class(task)(
            model=model,
            args=args,
            eval_dataset=features,
            data_collator=task.collator(tokenizer),
            processing_class=tokenizer,
            compute_metrics=task.metrics_function(recipe.metric_names, examples, features, tokenizer),
        )
        return task.finish_metrics(trainer.evaluate())


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "adapter_model.safetensors")


def newest_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` that was written to the end. The Trainer writes trainer_state.json
    last, so a checkpoint cut short by a crash lacks it (or holds it truncated) and is skipped."""
    found = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.rsplit("-", 1)[-1].isdigit()]
    for candidate in sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[-1]), reverse=True):
        if not all((candidate / name).is_file() for name in CHECKPOINT_FILES):
            continue
        if not any((candidate / name).is_file() for name in WEIGHT_FILES):
            continue
        try:
            json.loads((candidate / "trainer_state.json").read_text())
        except ValueError:
            continue
        return candidate
    return None


def _check_staging(staging: Path, overwrite: bool, resume: bool) -> None:
    if staging.exists() and not (overwrite or resume):
        raise UserError(
            f"An unfinished run is in {staging} (a crash or an interruption). Pass --resume to continue it from its "
            "newest complete checkpoint, or --overwrite_output_dir to start over."
        )


def _prepare_staging(staging: Path, recipe: Recipe, overwrite: bool, resume: bool, log) -> Path | None:
    """Create or reuse ``<output_dir>.partial``; returns the checkpoint to resume from, if any."""
    _check_staging(staging, overwrite, resume)
    if staging.exists() and resume:
        started = staging / "recipe.yaml"
        if started.is_file() and Recipe.from_yaml(started.read_text()) != recipe:
            raise UserError(
                f"The unfinished run in {staging} was started with a different recipe; resume it with the same "
                "flags, or pass --overwrite_output_dir to start over."
            )
        checkpoint = newest_complete_checkpoint(staging / "checkpoints")
        log(f"[hf-transfer] resuming from {checkpoint}" if checkpoint else f"[hf-transfer] no complete checkpoint in {staging}: starting over")
        if checkpoint is not None:
            return checkpoint
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    (staging / "recipe.yaml").write_text(recipe.to_yaml())
    return None


def run(recipe: Recipe, output_dir: str | Path, overwrite: bool = False, command: str | None = None, log=print,
        resume: bool = False, full_size: bool = False) -> dict:
    """Train ``recipe`` and write its run folder. Returns the contents of ``metrics.json``.

    ``resume``: continue the unfinished run in ``<output_dir>.partial`` from its newest complete checkpoint.
    ``full_size``: the recipe runs as written (no sample or step limits), so its ``expected`` results apply."""
    recipe.validate()
    methods.check_available(recipe.method)
    output_dir = Path(output_dir).expanduser().resolve()
    check_output_dir(output_dir, overwrite)
    training_kwargs = training_arguments(recipe)
    staging = output_dir.with_name(output_dir.name + ".partial")
    if is_main_process():  # before anything is loaded; rank 0 alone looks, as it alone writes
        _check_staging(staging, overwrite, resume)
    requested = recipe

    from accelerate import PartialState

    # TrainingArguments set up the process group when launched by `accelerate launch` / `torchrun`;
    # made first, they let every rank agree on who is rank 0 before anything is written.
    args = make_training_args(staging / "checkpoints", training_kwargs, recipe.task)
    state = PartialState()
    main = state.is_main_process
    if not main:
        log = _silent
    checkpoint = resolve_checkpoint(recipe.checkpoint)
    if checkpoint.note:
        log(f"[hf-transfer] {checkpoint.note}")
    if recipe.trust_remote_code:
        log(f"[hf-transfer] trust_remote_code is on: Python code shipped with {recipe.checkpoint} will run on this machine.")
    licenses = resolve_licenses(recipe, checkpoint.path)
    warnings = [w for w in (license_warning("base model", licenses["base_model"]), license_warning("training data", licenses["data"])) if w]
    for warning in warnings:
        log(f"[hf-transfer] warning: {warning}")
    report: dict = {}
    splits, task = load_splits(recipe.data, recipe.task, report)
    for why, count in report["dropped"].items():
        log(f"[hf-transfer] dropped {count:,} rows: {why.replace('_', ' ')} (task setting)")
    recipe = dataclasses.replace(recipe, task=task)
    tokenizer = load_tokenizer(checkpoint, recipe)
    with state.main_process_first():  # rank 0 fills the tokenization cache, the others read it
        tokenized = tokenize_splits(splits, task, tokenizer, dataset=recipe.data.describe())

    from transformers import set_seed

    set_seed(training_kwargs["seed"])
    model = methods.prepare_model(load_base_model(recipe, checkpoint), recipe, task)
    trainable, total = methods.count_parameters(model)

    # rank 0 owns the file system; the other ranks wait for it
    resume_from = _prepare_staging(staging, requested, overwrite, resume, log) if main else None
    state.wait_for_everyone()
    if not main and resume:
        resume_from = newest_complete_checkpoint(staging / "checkpoints")
    trainer = trainer_class(task)(
        model=model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        data_collator=task.collator(tokenizer),
        processing_class=tokenizer,
        compute_metrics=task.metrics_function(recipe.metric_names, splits["validation"], tokenized["validation"], tokenizer),
        compute_loss_func=task.loss_function(tokenized["train"]),
    )
    log(
        f"[hf-transfer] {recipe.name}: method={recipe.method}, {len(tokenized['train'])} train / "
        f"{len(tokenized['validation'])} eval examples, trainable parameters {trainable:,} of {total:,}"
    )
    started = time.perf_counter()
    with PeakMemory() as memory:
        train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_seconds = time.perf_counter() - started
    eval_metrics = task.finish_metrics(trainer.evaluate())
    test_metrics = None
    if "test" in tokenized:  # once, with the model chosen on the validation split
        chosen_on_validation = trainer.compute_metrics  # the test split maps predictions back to its own examples
        trainer.compute_metrics = task.metrics_function(recipe.metric_names, splits["test"], tokenized["test"], tokenizer)
        test_metrics = task.finish_metrics(trainer.evaluate(eval_dataset=tokenized["test"], metric_key_prefix="test"))
        trainer.compute_metrics = chosen_on_validation

    trainer.save_model(str(staging))  # the Trainer saves from rank 0 only
    if main:
        (staging / "training_args.bin").unlink(missing_ok=True)  # a pickle; metrics.json records the arguments
        _point_adapter_at_hub_id(staging, recipe.checkpoint, checkpoint)
        trainer.state.save_to_json(str(staging / "trainer_state.json"))
        (staging / "recipe.yaml").write_text(recipe.to_yaml())
        task.after_training(trainer.model, tokenizer, splits, staging)
    state.wait_for_everyone()

    key = f"eval_{task.main_metric()}"
    _, reloaded, _ = load_run(staging)
    reloaded_metrics = evaluate_model(
        reloaded, tokenizer, recipe, splits["validation"], tokenized["validation"], args.per_device_eval_batch_size
    )
    reload_check = {
        "metric": key,
        "after_training": eval_metrics.get(key),
        "reloaded_from_disk": reloaded_metrics.get(key),
    }
    reload_check["match"] = _same(reload_check["after_training"], reload_check["reloaded_from_disk"])
    if not reload_check["match"]:
        raise RuntimeError(
            f"The saved run does not reproduce its metric ({key}: {reload_check['after_training']} after training, "
            f"{reload_check['reloaded_from_disk']} reloaded from {staging}); the run folder was not published."
        )

    baselines = task.baselines(tokenized["train"], tokenized["validation"])
    warnings += run_warnings(recipe, task, eval_metrics, baselines, args.get_warmup_steps(trainer.state.max_steps),
                             trainer.state.max_steps, full_size)
    samples = {"train": len(tokenized["train"]), "eval": len(tokenized["validation"])}
    if test_metrics is not None:
        samples["test"] = len(tokenized["test"])
    metrics = {
        "recipe": recipe.name,
        "method": recipe.method,
        "checkpoint": recipe.checkpoint,
        "checkpoint_source": checkpoint.note or checkpoint.path,
        "dataset": recipe.data.describe(),
        "samples": samples,
        "dropped": report["dropped"],
        "train": dict(train_output.metrics, wall_seconds=round(train_seconds, 2)),
        "eval": eval_metrics,
        **({"test": test_metrics} if test_metrics is not None else {}),
        "baselines": baselines,
        "parameters": {"trainable": trainable, "total": total, "trainable_share": trainable / total},
        "resources": {**memory.report(), "saved_bytes": 0},
        "training_arguments": {k: v for k, v in training_kwargs.items() if isinstance(v, (str, int, float, bool))},
        "world_size": args.world_size,
        "reload_check": reload_check,
        "licenses": licenses,
        "warnings": warnings,
        "versions": _versions(),
        "command": command,
    }
    metrics["output_dir"] = str(output_dir)
    if not main:
        return metrics
    _plot_curves(trainer.state.log_history, key, staging / "training_curves.png")
    shutil.rmtree(staging / "checkpoints", ignore_errors=True)
    metrics["resources"]["saved_bytes"] = sum(p.stat().st_size for p in staging.glob("*.safetensors"))
    (staging / FINISHED_MARKER).write_text(json.dumps({k: v for k, v in metrics.items() if k != "output_dir"}, indent=2) + "\n")
    write_card(staging)
    _publish(staging, output_dir)
    return metrics


def _silent(*args, **kwargs) -> None:
    """Ranks other than 0 say nothing; rank 0 speaks for the run."""


def is_main_process() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0


def merge_run(run_dir: Path, output_dir: Path | None = None) -> Path:
    """Merge a LoRA / QLoRA run's adapter into its base model and write a full run folder beside it."""
    run_dir = Path(run_dir).expanduser().resolve()
    if not is_finished_run(run_dir):
        raise UserError(f"{run_dir} is not a finished run folder (no {FINISHED_MARKER}).")
    if not (run_dir / "adapter_config.json").is_file():
        raise UserError(f"{run_dir} holds a full model, not an adapter: there is nothing to merge.")
    output_dir = Path(output_dir).expanduser().resolve() if output_dir else run_dir.with_name(run_dir.name + "-merged")
    check_output_dir(output_dir, overwrite=False)
    recipe, model, tokenizer = load_run(run_dir, full_precision_base=True)
    merged = model.merge_and_unload()
    staging = output_dir.with_name(output_dir.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    merged.save_pretrained(str(staging), safe_serialization=True)
    tokenizer.save_pretrained(str(staging))
    (staging / "recipe.yaml").write_text(recipe.to_yaml())
    for name in ("trainer_state.json", "training_curves.png", "samples.jsonl"):
        if (run_dir / name).is_file():
            shutil.copyfile(run_dir / name, staging / name)
    metrics = json.loads((run_dir / FINISHED_MARKER).read_text())
    metrics["merged_from"] = str(run_dir)
    (staging / FINISHED_MARKER).write_text(json.dumps(metrics, indent=2) + "\n")
    write_card(staging)
    _publish(staging, output_dir)
    return output_dir


def _point_adapter_at_hub_id(run_dir: Path, hub_id: str, checkpoint: ResolvedCheckpoint) -> None:
    """An adapter saved from a packaged or cached copy names that local path as its base model;
    name the Hub id instead, so the adapter loads anywhere (``AutoPeftModel...from_pretrained``)."""
    config_file = run_dir / "adapter_config.json"
    if not config_file.is_file() or checkpoint.note is None:
        return
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = hub_id
    config_file.write_text(json.dumps(config, indent=2) + "\n")


class PeakMemory:
    """Peak resident memory (and CUDA memory) while the block runs, sampled by a thread."""

    def __init__(self, interval: float = 0.05):
        self.interval, self.peak_rss, self._stop = interval, 0, None

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as f:
                import os

                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self):
        while not self._stop.wait(self.interval):
            self.peak_rss = max(self.peak_rss, self.rss())

    def __enter__(self):
        import threading

        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        self.peak_rss = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak_rss = max(self.peak_rss, self.rss())

    def report(self) -> dict[str, int]:
        import torch

        out = {"peak_rss_bytes": self.peak_rss}
        if torch.cuda.is_available():
            out["peak_cuda_bytes"] = int(torch.cuda.max_memory_allocated())
        return out


def _same(a, b) -> bool:
    return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)


def _publish(staging: Path, output_dir: Path) -> None:
    """Swap the staged run into place; an earlier run is removed only after the swap."""
    old = None
    if output_dir.exists():
        old = output_dir.with_name(output_dir.name + ".replaced")
        if old.exists():
            shutil.rmtree(old)
        output_dir.rename(old)
    staging.rename(output_dir)
    if old is not None:
        shutil.rmtree(old)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for dist in ("hf-transfer-toolkit", "torch", "transformers", "peft", "datasets", "evaluate", "accelerate"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _plot_curves(history: list[dict], metric_key: str, path: Path) -> None:
    from .plots import _pyplot, training_curves

    figure = training_curves(history, metric_key)
    figure.savefig(path, dpi=100)
    _pyplot().close(figure)

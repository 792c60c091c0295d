"""The model card (README.md) of a run folder.

Written at the end of every run from the run's own recipe.yaml and metrics.json: metadata through
huggingface_hub's card classes, the body from ``templates/model_card.md``. Everything that comes
from a recipe, a dataset or the command line is handed to the template as a *value*: it is never
parsed as template code, so a shared recipe cannot run anything while its card is written, and
text such as ``{{ 7*7 }}`` or ``{%`` stays as written.
"""

from __future__ import annotations

from pathlib import Path

from hf_transfer import methods
from hf_transfer.artifacts.runs import CARD_FILE, CURVES_FILE, STAGING_SUFFIX, TENSORBOARD_DIR, RunFolder
from hf_transfer.base.class_report import markdown
from hf_transfer.base.tables import is_timing
from hf_transfer.datacheck.report import card_lines
from hf_transfer.recipe.recipe import public_checkpoint
from hf_transfer.sources.assets import local_license

TEMPLATE_FILE = Path(__file__).with_name("templates") / "model_card.md"

OPEN_LICENSES = {
    "apache-2.0",
    "mit",
    "bsd",
    "bsd-2-clause",
    "bsd-3-clause",
    "cc0-1.0",
    "cc-by-4.0",
    "cc-by-3.0",
    "cc-by-2.0",
    "cc-by-sa-4.0",
    "cc-by-sa-3.0",
    "odc-by",
    "odbl",
    "pddl",
    "unlicense",
    "gpl-3.0",
    "lgpl-3.0",
    "mpl-2.0",
    "openrail",
    "llama2",
    "llama3",
    "gemma",
}
"""Licenses that allow commercial use (some with conditions); anything else gets a warning."""


def license_warning(what: str, license_id: str | None) -> str | None:
    """A sentence for the run output and the card when a license limits or hides how a model may be used."""
    value = (license_id or "unknown").lower()
    if value in ("unknown", "none", ""):
        return f"The license of the {what} is unknown: check it before you share or use this model."
    if "nc" in value.split("-") or "non-commercial" in value or "noncommercial" in value:
        return f"The {what} is licensed {license_id} (non-commercial): this model may not be usable commercially."
    if value == "other" or value not in OPEN_LICENSES:
        return f"The {what} is licensed {license_id!r}: read its terms before you share or use this model."
    return None


def resolve_licenses(recipe, checkpoint_path: str | None = None) -> dict[str, str]:
    """The base model's and the training data's licenses: from packaged assets and local cards, else
    from the Hub's model / dataset info when it can be reached; ``unknown`` otherwise."""
    from hf_transfer.sources.assets import hub_license, hub_reachable

    base = local_license(recipe.checkpoint) or (local_license(checkpoint_path) if checkpoint_path else None)
    online = hub_reachable()
    if online and base is None and not Path(recipe.checkpoint).expanduser().exists():
        base = hub_license("model", recipe.checkpoint, None)
    return {"base_model": base or "unknown", "data": recipe.data.license(online)}


def _usage(recipe, repo_id: str, adapter: bool) -> str:
    return recipe.task.usage(repo_id, adapter, recipe.checkpoint)


def _labels(task) -> list[str]:
    return [str(n) for n in task.class_names()]


def _number(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def length_text(length: dict | None) -> str:
    """The card's sentence on the run's length limit and where it came from (metrics.json's ``length_limit``)."""
    if not length:
        return ""
    where = f"from the data ({length['why']})" if length.get("source") == "data" else f"set by {length['source']}"
    return f" Length limit: task.{length['setting']}={length['value']}, {where}."


def card_variables(run_dir: Path, repo_id: str) -> dict:
    """Everything the card body shows, as plain values."""
    folder = RunFolder(run_dir)
    recipe, metrics, adapter = folder.recipe(), folder.metrics(), folder.has_adapter
    task, data = recipe.task, recipe.data.public()  # a card names files, never local paths
    saved = folder.adapter_config().get("target_modules") if adapter else None  # what the adapter holds
    saved = [saved] if isinstance(saved, str) else sorted(saved or [])
    head = " (the new task head was trained and saved in full)" if task.new_head else ""
    method_text = methods.get(recipe.method).card_sentence(  # the method describes itself from its settings
        recipe, ", ".join(f"`{t}`" for t in saved) or None, head
    )
    training = metrics.get("training_arguments") or recipe.training
    shown = (
        "learning_rate",
        "num_train_epochs",
        "max_steps",
        "per_device_train_batch_size",
        "gradient_accumulation_steps",
        "warmup_steps",
        "warmup_ratio",
        "weight_decay",
        "lr_scheduler_type",
        "seed",
        "bf16",
        "fp16",
        "train_sampling_strategy",
    )
    hyperparameters = [
        (k, training[k]) for k in sorted(shown) if k in training and not (k == "max_steps" and training[k] == -1)
    ]
    ran = metrics.get("train") or {}
    if ran.get("epoch") is not None:  # what ran, beside what was asked (a time budget or early stopping stops sooner)
        hyperparameters.append(("epochs run", f"{ran['epoch']:.2f}"))
    if ran.get("global_step") is not None:
        hyperparameters.append(("optimizer steps run", f"{ran['global_step']:,}"))

    def table(values: dict) -> list[tuple[str, str]]:
        return [
            (k.removeprefix("eval_").removeprefix("test_"), _number(v))
            for k, v in values.items()
            if isinstance(v, (int, float)) and not is_timing(k)
        ]

    results = table(metrics["eval"]) + [(k, _number(v)) for k, v in metrics.get("baselines", {}).items()]
    samples = metrics["samples"]
    unit = metrics.get("unit", "examples")
    evaluated_on = data.describe_evaluation()
    features = metrics.get("features") or {}

    def counted(split: str) -> str:
        return counted_text(samples[split], features.get(split, samples[split]), unit, task.feature_unit)

    dropped = metrics.get("dropped") or {}
    chose = f"{counted('selection')} carved from them to choose the kept model, " if "selection" in samples else ""
    data_text = (
        f"{data.describe()}: {counted('train')} for training, {chose}{counted('eval')} for evaluation ({evaluated_on})."
    )
    for what, count in dropped.items():
        data_text += f" {count:,} rows were dropped ({what.replace('_', ' ')})."
    data_text += "".join(f" {line}." for line in card_lines(metrics.get("data_check")))
    data_text += length_text(metrics.get("length_limit"))
    licenses = metrics.get("licenses") or {}
    warnings = list(metrics.get("warnings") or [])
    return (
        {
            "model_name": repo_id.split("/")[-1],
            "description": recipe.description or recipe.name,
            "checkpoint": public_checkpoint(recipe.checkpoint),
            "task_name": task.pipeline_tag().replace("-", " "),
            "dataset": data.describe(),
            "method": recipe.method,
            "adapter": adapter,
            "warnings": warnings,
            "usage": _usage(recipe, repo_id, adapter),
            "data": data_text,
            "labels": _labels(task),
            "base_license": licenses.get("base_model", local_license(recipe.checkpoint) or "unknown"),
            "data_license": licenses.get("data", "unknown"),
            "method_text": method_text,
            "trainable": f"{metrics['parameters']['trainable']:,}",
            "share": f"{metrics['parameters']['trainable_share']:.2%}",
            "total": f"{metrics['parameters']['total']:,}",
            "hyperparameters": hyperparameters,
            "eval_samples": counted("eval"),
            "kept": " ".join(filter(None, [selection_text(metrics), kept_text(metrics["kept"]) if metrics.get("kept")
                                           else ""])),  # fmt: skip
            "budget": (metrics.get("budget") or {}).get("text", ""),
            "generation": task.generation_note(metrics["eval"]),
            "comparison": (folder.comparison() or {}).get("lines", []),
            "eval_description": evaluated_on,
            "results": results,
            "class_report": markdown(metrics.get("classes") or {}),
            "test_results": table(metrics.get("test") or {}),
            "test_samples": f"{samples.get('test', 0):,} {unit}",
            "curves": (folder / CURVES_FILE).is_file(),
            "tensorboard": TENSORBOARD_DIR if (folder / TENSORBOARD_DIR).is_dir() else "",
            "versions": list(metrics.get("versions", {}).items()),
            "command": public_command(
                metrics.get("command") or f"hf-transfer run {recipe.name} --method {recipe.method}"
            ),
            "recipe": recipe.name,
        },
        recipe,
        metrics,
    )


def public_command(command: str) -> str:
    """The command that made the run, as a published card shows it: paths on this machine by their names only."""
    import shlex

    try:
        words = shlex.split(command)
    except ValueError:
        return command
    return shlex.join(Path(w).name if Path(w).is_absolute() and len(Path(w).parts) > 1 else w for w in words)


def render_body(variables: dict) -> str:
    """The card body: our template file, filled with values in a sandbox (the values are never parsed)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return env.from_string(TEMPLATE_FILE.read_text(encoding="utf-8")).render(**variables)


def build_card(run_dir: Path, repo_id: str | None = None):
    """The model card of a finished or staged run folder (a huggingface_hub ModelCard)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    run_dir = Path(run_dir)
    variables, recipe, metrics = card_variables(run_dir, repo_id or "")
    repo_id = repo_id or run_dir.name.removesuffix(STAGING_SUFFIX)  # a local card's snippets load the folder itself
    variables["model_name"] = repo_id.split("/")[-1]
    variables["usage"] = _usage(recipe, repo_id, variables["adapter"])
    task, data = recipe.task, recipe.data.public()
    dataset_id = data.hub_id
    eval_results = [
        EvalResult(
            task_type=task.pipeline_tag(),
            dataset_type=dataset_id or data.describe(),
            dataset_name=data.describe(),
            dataset_config=getattr(data, "name", None) if dataset_id else None,
            dataset_split=data.evaluation_split_name(),
            metric_type=key,
            metric_name=key,
            metric_value=round(float(metrics["eval"][f"eval_{key}"]), 4),
        )
        for key in task.report_keys(recipe.metric_names)
        if f"eval_{key}" in metrics["eval"]
    ]
    license_id = (metrics.get("licenses") or {}).get("base_model") or local_license(recipe.checkpoint)
    card_data = ModelCardData(
        base_model=recipe.checkpoint if not Path(recipe.checkpoint).is_dir() else None,
        datasets=[dataset_id] if dataset_id else None,
        language=recipe.language,
        license=license_id if license_id and license_id != "unknown" else None,
        library_name="peft" if variables["adapter"] else "transformers",
        pipeline_tag=task.pipeline_tag(),
        tags=[task.kind, recipe.method, "hf-transfer"],
        model_name=variables["model_name"],
        eval_results=eval_results or None,
    )
    # The metadata is YAML written by huggingface_hub; the body is plain text. No template sees either again.
    return ModelCard(f"---\n{card_data.to_yaml()}\n---\n{render_body(variables)}")


def write_card(run_dir: Path, repo_id: str | None = None) -> Path:
    card = build_card(run_dir, repo_id)
    path = Path(run_dir) / CARD_FILE
    path.write_text(str(card))
    return path


def counted_text(rows: int, features: int, unit: str, feature_unit: str) -> str:
    """``1,281 examples``; when rows became more features than rows (QA windows): ``64 questions (82 windows)``."""
    return f"{rows:,} {unit}" + (f" ({features:,} {feature_unit})" if features != rows else "")


def selection_text(metrics: dict) -> str:
    """How many rows chose the model and how many reported its result, in one sentence (the card)."""
    selection = metrics.get("selection")
    if not selection:
        return ""
    reported = f"{metrics['samples']['eval']:,} evaluation rows reported its result, scored once"
    if not selection.get("rows"):
        return f"Nothing was chosen on held-out rows ({selection['chose']}); the {reported}."
    return f"{selection['rows']:,} rows chose the model ({selection['described']}); the {reported}."


def kept_text(kept: dict) -> str:
    """One sentence for the console and the card."""
    metric = kept["metric"].removeprefix("eval_").replace("_", " ")
    where = f"epoch {kept['epoch']:g}" if kept.get("epoch") is not None else f"step {kept['step']}"
    text = f"the model kept is the best evaluation's on the selection split: {where} ({metric} {kept['value']:.4f})"
    stop = kept.get("early_stopping")
    if stop and stop["stopped_early"]:
        planned = f" of {stop['planned_epochs']:g}" if stop.get("planned_epochs") else ""
        text = (
            f"training stopped early at epoch {stop['stopped_at_epoch']:g}{planned} (step {stop['stopped_at_step']:,} "
            f"of {stop['planned_steps']:,}): {metric} did not improve for {stop['patience']} evaluation"
            f"{'s' if stop['patience'] > 1 else ''} in a row; {text}"
        )
    elif stop:
        text = f"early stopping (patience {stop['patience']}) did not stop training; {text}"
    return text[0].upper() + text[1:] + "."

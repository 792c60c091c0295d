"""The model card of a run folder, and pushing a finished run to the Hub.

The card (README.md) is written at the end of every run, from the run's own recipe.yaml and
metrics.json, with huggingface_hub's card classes for the metadata. The token comes from HF_TOKEN
or the stored login; it is never printed, logged or written.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path

from .errors import UserError, first_line

TEMPLATE = """
# {model_name}

{summary}

## How to use

```python
{usage}
```

## Training data

{data}

## Method

{method}

| | parameters |
|---|---|
| trainable | {trainable:,} ({share:.2%}) |
| total | {total:,} |

### Hyperparameters

| argument | value |
|---|---|
{hyperparameters}

## Results

Evaluated on {eval_samples:,} held-out examples ({eval_description}).

| metric | value |
|---|---|
{results}
{curves}
## Framework versions

{versions}

## Reproduce

```bash
{command}
```

Made with [hf_transfer](https://pypi.org/project/hf-transfer-toolkit/) from the `{recipe}` recipe.
"""

METHOD_TEXT = {
    "full": "Full fine-tuning: every parameter of the pretrained model was trained.",
    "freeze": "Freeze: the pretrained body stayed fixed; only the task head{top} was trained.",
    "lora": "LoRA (peft): low-rank adapters (r={r}, alpha={alpha}, dropout={dropout}) on {targets}, with the pretrained weights frozen{head}.",
    "scratch": "From scratch: the checkpoint's architecture and tokenizer with randomly initialised weights (no pretrained weights reused), all parameters trained.",
    "qlora": "QLoRA (peft + bitsandbytes): LoRA adapters (r={r}, alpha={alpha}) on a 4-bit NF4 quantized base model{head}.",
}


def _base_licence(checkpoint: str) -> str | None:
    from .assets import MODELS

    if checkpoint in MODELS:
        return MODELS[checkpoint].licence
    readme = Path(checkpoint) / "README.md"
    if readme.is_file():
        match = re.search(r"^license:\s*(\S+)", readme.read_text(errors="ignore").split("\n---", 1)[0], re.M)
        if match:
            return match.group(1)
    return None


def _usage(recipe, repo_id: str, adapter: bool) -> str:
    task = recipe.task
    if adapter:
        auto = {
            "text-classification": "AutoPeftModelForSequenceClassification",
            "token-classification": "AutoPeftModelForTokenClassification",
            "question-answering": "AutoPeftModelForQuestionAnswering",
            "seq2seq": "AutoPeftModelForSeq2SeqLM",
            "causal-lm": "AutoPeftModelForCausalLM",
        }[task.kind]
        return (
            f"from peft import {auto}\nfrom transformers import AutoTokenizer\n\n"
            f'model = {auto}.from_pretrained("{repo_id}")  # loads {recipe.checkpoint} and applies the adapter\n'
            f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")'
        )
    example = {
        "question-answering": 'pipe(question="Where did she go?", context="In 2019 she travelled to Paris.")',
        "causal-lm": 'pipe([{"role": "user", "content": "Give three tips for staying healthy."}])',
    }.get(task.kind, 'pipe("Your text here.")')
    return f'from transformers import pipeline\n\npipe = pipeline("{task.pipeline_tag()}", model="{repo_id}")\nprint({example})'


def build_card(run_dir: Path, repo_id: str | None = None):
    """The model card of a finished or staged run folder (a huggingface_hub ModelCard)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from .recipe import HubData, Recipe

    run_dir = Path(run_dir)
    recipe = Recipe.from_yaml((run_dir / "recipe.yaml").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    adapter = (run_dir / "adapter_config.json").is_file()
    repo_id = repo_id or f"{recipe.name}-{recipe.method}"
    task = recipe.task
    data = recipe.data
    lora = recipe.lora
    dataset_id = data.path if isinstance(data, HubData) else None
    keys = task.report_keys(recipe.metric_names)
    eval_results = [
        EvalResult(
            task_type=task.pipeline_tag(),
            dataset_type=dataset_id or data.describe(),
            dataset_name=data.describe(),
            dataset_config=getattr(data, "name", None) if dataset_id else None,
            dataset_split=data.eval_split or "held-out split of train",
            metric_type=key,
            metric_name=key,
            metric_value=round(float(metrics["eval"][f"eval_{key}"]), 4),
        )
        for key in keys
        if f"eval_{key}" in metrics["eval"]
    ]
    card_data = ModelCardData(
        base_model=recipe.checkpoint if not Path(recipe.checkpoint).is_dir() else None,
        datasets=[dataset_id] if dataset_id else None,
        language=recipe.language,
        license=_base_licence(recipe.checkpoint),
        library_name="peft" if adapter else "transformers",
        pipeline_tag=task.pipeline_tag(),
        tags=[task.kind, recipe.method, "hf-transfer"],
        model_name=repo_id.split("/")[-1],
        eval_results=eval_results or None,
    )
    targets = lora.target_modules
    if adapter:
        targets = json.loads((run_dir / "adapter_config.json").read_text()).get("target_modules") or targets
        targets = [targets] if isinstance(targets, str) else sorted(targets)
    params = metrics["parameters"]
    head = " (the new task head was trained and saved in full)" if task.new_head else ""
    method = METHOD_TEXT[recipe.method].format(
        r=lora.r, alpha=lora.alpha, dropout=lora.dropout, targets=", ".join(f"`{t}`" for t in targets or ["attention projections"]),
        head=head, top=f" and the top {recipe.freeze.train_top_layers} layers" if recipe.freeze.train_top_layers else "",
    )
    training = metrics.get("training_arguments") or recipe.training
    shown = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
             "warmup_steps", "weight_decay", "lr_scheduler_type", "seed", "bf16", "fp16", "train_sampling_strategy")
    training = {k: training[k] for k in shown if k in training and not (k == "max_steps" and training[k] == -1)}
    results = [(k.removeprefix("eval_"), v) for k, v in metrics["eval"].items() if isinstance(v, (int, float)) and "runtime" not in k and "per_second" not in k and k != "epoch"]
    results += list(metrics.get("baselines", {}).items())
    body = TEMPLATE.format(
        model_name=repo_id.split("/")[-1],
        summary=(
            f"{recipe.description or recipe.name}\n\nThis model is `{recipe.checkpoint}` fine-tuned for "
            f"{task.pipeline_tag().replace('-', ' ')} on {data.describe()} with the **{recipe.method}** method"
            + (" (this repository holds the adapter)." if adapter else ".")
        ),
        usage=_usage(recipe, repo_id, adapter),
        data=f"{data.describe()}: {metrics['samples']['train']:,} training examples, {metrics['samples']['eval']:,} evaluation examples"
        + (f", evaluation split `{data.eval_split}`." if data.eval_split else f", a seeded {data.eval_fraction:.0%} held out (seed {data.split_seed})."),
        method=method,
        trainable=params["trainable"],
        total=params["total"],
        share=params["trainable_share"],
        hyperparameters="\n".join(f"| {k} | {v} |" for k, v in sorted(training.items())) or "| (hf_transfer defaults) | |",
        eval_samples=metrics["samples"]["eval"],
        eval_description=data.describe(),
        results="\n".join(f"| {k} | {v:.4f} |" for k, v in results),
        curves="\n![Training curves](training_curves.png)\n" if (run_dir / "training_curves.png").is_file() else "",
        versions="\n".join(f"- {k} {v}" for k, v in metrics.get("versions", {}).items()),
        command=metrics.get("command") or f"hf-transfer run {recipe.name} --method {recipe.method}",
        recipe=recipe.name,
    )
    return ModelCard.from_template(card_data, template_str="---\n{{ card_data }}\n---\n" + body)


def recipe_name(run_dir: Path) -> str:
    import yaml

    return str(yaml.safe_load((Path(run_dir) / "recipe.yaml").read_text()).get("name", Path(run_dir).name))


def write_card(run_dir: Path, repo_id: str | None = None) -> Path:
    card = build_card(run_dir, repo_id)
    path = Path(run_dir) / "README.md"
    path.write_text(str(card))
    return path


# --------------------------------------------------------------------------------------------
# Push
# --------------------------------------------------------------------------------------------


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--hub_model_id {repo_id!r} is not a valid repository id: {exc}") from None
    if repo_id.count("/") > 1:
        raise UserError(f"--hub_model_id {repo_id!r} is not a valid repository id: use 'name' or 'namespace/name'.")


def _explain(exc: Exception, repo_id: str, endpoint: str) -> UserError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return UserError(
            f"The Hub at {endpoint} refused the push to {repo_id} ({status} {'unauthorized' if status == 401 else 'forbidden'}). "
            "Check that HF_TOKEN (or `hf auth login`) holds a token with write access to that namespace."
        )
    if status is not None and status >= 500:
        return UserError(f"The Hub at {endpoint} kept failing ({status}) while pushing {repo_id}; nothing was changed here. Try again later.")
    return UserError(f"Pushing {repo_id} to {endpoint} failed: {type(exc).__name__}: {first_line(exc)}")


def push(run_dir: Path, repo_id: str, private: bool = False, merge: bool = False, log=print) -> str:
    """Upload a finished run folder (or, with ``merge``, its merged model). Returns the repository URL."""
    from huggingface_hub import CommitOperationAdd, HfApi, get_token

    from .train import is_finished_run, merge_run

    run_dir = Path(run_dir).expanduser().resolve()
    _check_repo_id(repo_id)
    if not is_finished_run(run_dir):
        raise UserError(f"{run_dir} is not a finished run folder (no metrics.json): nothing to push.")
    adapter = (run_dir / "adapter_config.json").is_file()
    if merge and not adapter:
        raise UserError("--merge applies to LoRA / QLoRA runs; this run holds a full model already.")
    api = HfApi()
    if not get_token():
        raise UserError("No Hugging Face token: set HF_TOKEN, or run `hf auth login` (in a notebook: `notebook_login()`).")
    with tempfile.TemporaryDirectory() as scratch:
        folder = run_dir
        try:
            if "/" not in repo_id:
                repo_id = f"{api.whoami()['name']}/{repo_id}"
            if merge:
                folder = merge_run(run_dir, Path(scratch) / "merged")
            # the uploaded card names the repository; the run folder's own files stay as they are
            card = build_card(folder, repo_id)
            try:
                card.validate(repo_type="model")  # the Hub checks the metadata (model-index) before anything is uploaded
            except ValueError as exc:
                raise UserError(f"The Hub rejected the model card metadata: {exc}") from None
            card = str(card).encode()
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "README.md")
            operations = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=card)]
            operations += [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=str(p)) for p in files]
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            log(f"[hf-transfer] uploading {len(operations)} files to {repo_id} ({'private' if private else 'public'})")
            api.create_commit(repo_id=repo_id, operations=operations, commit_message=f"hf-transfer: {recipe_name(folder)}")
        except UserError:
            raise
        except Exception as exc:  # network and HTTP errors from huggingface_hub
            raise _explain(exc, repo_id, api.endpoint) from None
        finally:
            if folder != run_dir:
                shutil.rmtree(folder, ignore_errors=True)
    return str(url)

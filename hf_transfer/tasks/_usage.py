"""The model card's "How to use" snippet of a task's model (``Task.usage``): a transformers pipeline where there is
one for the task, else loading the model (an adapter on its base) and the tokenizer, then the task's ``use_code``."""

from __future__ import annotations


def usage_snippet(task, repo_id: str, adapter: bool, base_checkpoint: str) -> str:
    """The snippet for ``task``'s model at ``repo_id`` (``adapter``: an adapter on ``base_checkpoint``)."""
    if not adapter and task.has_pipeline:
        return (
            f'from transformers import pipeline\n\npipe = pipeline("{task.pipeline_tag()}", model="{repo_id}")\n'
            f"print(pipe({task.example_input}))"
        )
    head = task.model_kwargs()  # the new head's shape and labels: the base checkpoint does not have them
    settings, args = (f"head = {head!r}\n", ", **head") if head and adapter else ("", "")
    if adapter and task.peft_auto_model:
        load = (
            f"from peft import {task.peft_auto_model}\nfrom transformers import AutoTokenizer\n\n{settings}"
            f'model = {task.peft_auto_model}.from_pretrained("{repo_id}"{args})  # loads {base_checkpoint}, '
            "applies the adapter\n"
        )
    elif adapter:
        load = (
            f"from peft import PeftModel\nfrom transformers import {task.auto_model}, AutoTokenizer\n\n{settings}"
            f'base = {task.auto_model}.from_pretrained("{base_checkpoint}"{args})\n'
            f'model = PeftModel.from_pretrained(base, "{repo_id}")\n'
        )
    else:
        load = (
            f"from transformers import {task.auto_model}, AutoTokenizer\n\n"
            f'model = {task.auto_model}.from_pretrained("{repo_id}")\n'
        )
    return load + f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")' + task.use_code()

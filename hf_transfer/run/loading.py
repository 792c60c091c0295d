"""The load phase of a run: the checkpoint resolved (a GGUF file dequantized once), its lengths and licenses
checked, the data loaded, checked and split, the tokenizer, the length limit (from the data where none is given),
and the tokenization (from the cache when it holds it). Nothing is written into the run folder yet."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from hf_transfer.artifacts.card import counted_text, license_warning, resolve_licenses
from hf_transfer.artifacts.gguf_checkpoint import plain_checkpoint
from hf_transfer.artifacts.models import check_lengths, length_cap, load_tokenizer
from hf_transfer.data.lengths import length_profile, length_source, limit_from_data, limit_line
from hf_transfer.data.prepare import load_splits, tokenize_splits
from hf_transfer.datacheck import cut_by_limit, preflight
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.sources.assets import ResolvedCheckpoint, resolve_checkpoint


@dataclass
class Loaded:
    """What the load phase produced: the recipe with what was learned from the data, checkpoint, data, tokenizer."""

    recipe: Recipe
    learned: dict[str, Any]
    checkpoint: ResolvedCheckpoint
    splits: Any
    tokenized: Any
    tokenizer: Any
    licenses: dict[str, str]
    dropped: dict[str, int]
    warnings: list[str]
    data_check: dict
    """The cheap data check's findings (``datacheck.summary``): metrics.json and the card record them."""
    capped: dict = field(default_factory=dict)
    """{split: (rows kept, rows before, the setting that cut them)} for each sample limit that applied."""
    length: dict = field(default_factory=dict)
    """The task's length limit: ``setting``, ``value``, ``source`` (data, the recipe, the flag that set it); from the
    data, with the training rows' statistics it was chosen from (``data.lengths.limit_from_data``)."""

    def counted(self, split: str) -> str:
        task = self.recipe.task
        return counted_text(len(self.splits[split]), len(self.tokenized[split]), task.unit, task.feature_unit)

    def data_line(self, command: str | None = None, chosen: str = "") -> str:
        """What the run trains and evaluates on, with each sample limit that cut the data and where it is set
        (``command``: the command line, which tells a flag from the recipe's own setting); ``chosen``: what the run
        chooses on, said after the training rows."""
        parts = []
        for split, verb in (("train", "train on"), ("validation", "evaluate on")):
            text = f"{verb} {self.counted(split)}"
            if split in self.capped:
                _, before, setting = self.capped[split]
                rows, features = len(self.splits[split]), len(self.tokenized[split])
                origin = limit_origin(setting, command)
                text = f"{verb} {rows:,} of {before:,} rows ({setting}{origin}, a seeded sample)"
                if features != rows:
                    text += f", {features:,} {self.recipe.task.feature_unit}"
            parts.append(text)
        data = self.recipe.data
        if "validation" in self.capped:  # said above, with the rows it kept
            data = dataclasses.replace(data, max_eval_samples=None)
        return f"{parts[0]}{chosen}; {parts[1]}, once, with the model kept: {data.describe_evaluation()}"


def load(recipe: Recipe, state, console, chooses=False, command: str | None = None) -> Loaded:
    """``state``: accelerate's PartialState (rank 0 converts and tokenizes first, the others then read).
    ``chooses``: whether the run chooses (a function of the training rows' count): the selection split is carved.
    ``command``: the command line (where an explicit length limit was set)."""
    log = console.say
    with (
        state.local_main_process_first()
    ):  # each machine's first process converts a GGUF checkpoint, the others read it
        checkpoint = plain_checkpoint(resolve_checkpoint(recipe.checkpoint), console)
    if checkpoint.note:
        log(f"[hf-transfer] {checkpoint.note}")
    if recipe.trust_remote_code:
        log(f"[hf-transfer] trust_remote_code is on: Python code shipped with {recipe.checkpoint} will run here.")
    positions = check_lengths(recipe, checkpoint)
    licenses = resolve_licenses(recipe, checkpoint.path)
    warnings = [license_warning("base model", licenses["base_model"])]
    warnings = [w for w in (*warnings, license_warning("training data", licenses["data"])) if w]
    for warning in warnings:
        log(f"[hf-transfer] warning: {warning}")
    report: dict = {}
    splits, task = load_splits(recipe.data, recipe.task, report, chooses)
    for why, count in report["dropped"].items():
        log(f"[hf-transfer] dropped {count:,} rows: {why.replace('_', ' ')} (task setting)")
    splits, data_check = preflight(splits, task, recipe.data, log)
    task.check_training_data(splits["train"])
    names = task.class_names()
    if names:
        shown = ", ".join(map(str, names[:30])) + (f" ... ({len(names)} in all)" if len(names) > 30 else "")
        log(f"[hf-transfer] labels ({len(names)}): {shown}")
    tokenizer = load_tokenizer(checkpoint, recipe.with_task(task))
    learned = report["learned"]
    with state.local_main_process_first():  # each machine's first process fills its tokenization cache, others read it
        if task.length_limit() is None:  # from the data: measured once, cached beside the tokenization
            profile = length_profile(task, tokenizer, splits["train"], {"dataset": recipe.data.describe_split("train"),
                                                                        "split": "train"})  # fmt: skip
            length = limit_from_data(task, profile, length_cap(positions, tokenizer))
            log(f"[hf-transfer] {limit_line(length)}")
            learned = {**learned, task.length_setting: length["value"]}
            task = task.with_learned({task.length_setting: length["value"]})
        else:
            length = {"setting": task.length_setting, "value": task.length_limit(),
                      "source": length_source(task.length_setting, command)}  # fmt: skip
        tokenized = tokenize_splits(splits, task, tokenizer, dataset=recipe.data, log=log)
    quiet = ("train",) if length["source"] == "data" else ()
    data_check["cut_by_length_limit"] = cut_by_limit(tokenized, task, log, quiet)
    return Loaded(recipe.with_task(task), learned, checkpoint, splits, tokenized, tokenizer, licenses,
                  report["dropped"], warnings, data_check, report["capped"], length)  # fmt: skip


def length_statistics(loaded: Loaded, recipe: Recipe) -> dict:
    """The training rows' token lengths (p50/p90/p95/p99/max, from the cached profile) and the share of them the run's
    limit cuts (``over_limit_share``), with the limit's record (``Loaded.length``): what ``plan`` shows."""
    task = loaded.recipe.task
    about = {"dataset": recipe.data.describe_split("train"), "split": "train"}
    profile = length_profile(task, loaded.tokenizer, loaded.splits["train"], about)
    return {**loaded.length, **profile.summary(task.length_limit()), "rows": profile.rows, "sampled": profile.sampled}


def statistics_line(stats: dict, task) -> str:
    """``plan``'s line: the training rows' lengths, and the share the limit cuts (QA: splits into windows)."""
    sample = " (a seeded sample)" if stats["sampled"] else ""
    source = "from the data" if stats["source"] == "data" else f"set by {stats['source']}"
    return (f"token lengths of the {stats['rows']:,} training rows{sample}: p50 {stats['p50']:,}, "
            f"p99 {stats['p99']:,}, max {stats['max']:,}; {stats['over_limit_share']:.1%} of them are {task.cut_word} "
            f"{stats['setting']}={stats['value']} ({source})")  # fmt: skip


def limit_origin(setting: str, command: str | None) -> str:
    """`` from the recipe`` / `` from --max_train_samples`` / `` from --set data.max_train_samples``; nothing when
    the command line is not known (a tune trial) or the limit is a share (``train_fraction``: compare, tune)."""
    import shlex

    if setting.startswith("train_fraction") or not command or "(" in command:
        return ""
    try:
        tokens = shlex.split(command)
    except ValueError:
        return ""
    if any(t == f"--{setting}" or t.startswith(f"--{setting}=") for t in tokens):
        return f" from --{setting}"
    if any(f"data.{setting}=" in t for t in tokens):
        return f" from --set data.{setting}"
    return " from the recipe"

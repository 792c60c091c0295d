"""Command-line flags -> (Recipe, RunOptions): one pure function, ``resolve_run``.

The flags come as a plain mapping (``vars(args)`` of the CLI's parser, or a dict in a test); nothing here
writes to them, reads the disk beyond resolving paths, or imports torch. What the recipe says about the
model and data comes out as the resolved ``Recipe`` (what ``recipe.yaml`` records); how this one run is
carried out (where it writes, resume, its time budget, what to do afterwards) comes out as a frozen ``RunOptions``:
what ``train.run`` takes. The budget's clock starts here, when the command has read its flags, the one place a
command's budget is made.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hf_transfer import methods
from hf_transfer.artifacts.runs import default_output_dir
from hf_transfer.base.console import PROG
from hf_transfer.base.errors import UserError
from hf_transfer.base.plain import as_bool, parse_value
from hf_transfer.recipe.recipe import Recipe
from hf_transfer.run.budget import Budget, parse_duration
from hf_transfer.sources import CAPS, FileData

PUSH_FLAGS = ("push_to_hub", "hub_model_id", "hub_private_repo")
"""TrainingArguments names for pushing; hf-transfer pushes the finished run folder itself, after the run."""

RUN_GLUE_STEPS = ("do_train", "do_eval", "do_predict")
"""run_glue's switches: a run always trains and evaluates; --do_predict goes with --test_file."""


@dataclass(frozen=True)
class RunOptions:
    """How one run is carried out, apart from what it trains (the Recipe)."""

    output_dir: Path
    overwrite: bool = False
    resume: bool = False
    verbose: bool = False
    full_size: bool = False
    """The recipe runs as written (its own data, sample limits, epochs and steps): its ``expected`` results apply."""
    command: str | None = None
    """The command line as the user could type it again (the card and metrics.json record it)."""
    trust_remote_code: bool = False
    """Given on the command line (or ``RunOptions(trust_remote_code=True)``): the only way a run may execute a
    checkpoint's own code."""
    budget: Budget | None = None
    """The time the whole command may take (``--time_budget``), its clock started when the flags were resolved;
    a command of several runs hands each a share. None: no limit."""
    test_file: Path | None = None
    merge_adapter: bool = False
    push_to_hub: bool = False
    hub_model_id: str | None = None
    hub_private_repo: bool = False


def refuse_untrusted(recipe: Recipe, allowed: bool) -> None:
    """A recipe that asks to run its checkpoint's own code, refused unless the user allowed it (a recipe alone
    cannot switch that on)."""
    if recipe.trust_remote_code and not allowed:
        raise UserError(
            f"The recipe asks to run Python code shipped with its checkpoint {recipe.checkpoint} "
            "(trust_remote_code: true). A recipe cannot switch that on by itself: pass --trust_remote_code on the "
            "command line (or RunOptions(trust_remote_code=True)) if you trust that code."
        )


def parse_training_flags(tokens: list[str]) -> dict[str, Any]:
    """``--learning_rate 3e-5 --bf16 --eval_strategy=steps`` -> {"learning_rate": 3e-05, ...}."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--") or len(token) == 2:
            raise UserError(f"Unexpected argument {token!r}: training flags look like --learning_rate 3e-5.")
        name, eq, value = token[2:].partition("=")
        name = name.replace("-", "_")
        if eq:
            out[name] = parse_value(value)
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            out[name] = parse_value(tokens[i + 1])
            i += 1
        else:
            out[name] = True
        i += 1
    return out


def _data_with_files(recipe: Recipe, flags: Mapping[str, Any], template: Recipe | None = None):
    """The recipe's data, or the user's --train_file / --validation_file in its place (``FileData.in_place_of``:
    a sample limit only where this command set it); then --max_train_samples / --max_eval_samples."""
    data = recipe.data
    if flags.get("train_file") or flags.get("validation_file"):
        if not flags.get("train_file"):
            raise UserError("--validation_file needs --train_file as well.")
        data = FileData.in_place_of(data, (template or recipe).data, flags["train_file"], flags.get("validation_file"))
    for key in CAPS:
        if flags.get(key) is not None:
            data = dataclasses.replace(data, **{key: flags[key]})
    return data


def _set_keys(flags: Mapping[str, Any]) -> set[str]:
    """The recipe fields this command's ``--set key=value`` sets (``training.learning_rate``, ...)."""
    return {item.partition("=")[0].strip() for item in flags.get("set") or []}


def _sized_for_its_own(recipe: Recipe, set_keys: set[str], new_data: bool, new_checkpoint: bool) -> dict[str, Any]:
    """The recipe's ``training`` without what the recipe chose for what this command replaced: its epochs for its
    own data (``--train_file``), its learning rate for its own checkpoint (``--model_name_or_path``; the methods' own
    rates are left out in ``resolve_run``); a value ``--set`` changed is kept. ``recipe/defaults.py`` chooses the
    ones left out from the user's data and model."""
    training = dict(recipe.training)
    replaced = ["num_train_epochs"] * new_data + ["learning_rate"] * new_checkpoint
    for key in replaced:
        if key in training and f"training.{key}" not in set_keys:
            del training[key]
    return training


def check_run_glue_steps(steps: dict[str, Any], test_file) -> None:
    """Honour run_glue's --do_train / --do_eval / --do_predict where hf-transfer run does that, and name the
    hf_transfer way where it does not (they would otherwise be accepted by TrainingArguments and ignored)."""
    steps = {k: as_bool(v) for k, v in steps.items()}
    if steps.get("do_train") is False or (steps.get("do_eval") and not steps.get("do_train", False)):
        raise UserError(
            "hf-transfer run always trains, then evaluates (--do_eval alone would still train). To evaluate a "
            "finished run without training: hf-transfer eval RUN_DIR [--validation_file F]."
        )
    if steps.get("do_predict") and not test_file:
        raise UserError(
            "--do_predict needs --test_file F: the rows to predict after training (written to "
            "RUN_DIR/predictions-<F>.jsonl). A finished run predicts with: hf-transfer predict RUN_DIR --input_file F."
        )


def adapted_from(template: Recipe, source: Path | None) -> str:
    """How a card names what an adapted run started from: a packaged recipe by name, a user's file by its name."""
    from hf_transfer.recipe.registry import is_packaged

    if source is None or is_packaged(source):
        return f"the hf_transfer recipe {template.name}"
    return f"the recipe file {source.name}"


def resolve_run(
    recipe: Recipe, flags: Mapping[str, Any], extra: list[str] = (), source: Path | None = None
) -> tuple[Recipe, RunOptions]:
    """Apply run flags to ``recipe`` (a packaged recipe, or one read from the file ``source``).

    ``flags``: the parsed flags of ``hf-transfer run`` by name (missing ones are off); ``extra``: the
    TrainingArguments flags as typed (``["--learning_rate", "3e-5"]``). Returns the resolved recipe and
    the run's options; bad input is a UserError naming it."""
    template = recipe
    recipe = recipe.with_overrides(list(flags.get("set") or []))
    refuse_untrusted(recipe, bool(flags.get("trust_remote_code")))
    changes: dict[str, Any] = {}
    if flags.get("method"):
        changes["method"] = flags["method"]
    if flags.get("trust_remote_code"):
        changes["trust_remote_code"] = True
    if flags.get("allow_pickle_weights"):
        changes["allow_pickle_weights"] = True
    if flags.get("early_stopping_patience") is not None:
        changes["early_stopping_patience"] = flags["early_stopping_patience"]
    if flags.get("model_name_or_path"):
        path = Path(flags["model_name_or_path"]).expanduser()
        changes["checkpoint"] = str(path.resolve()) if path.is_dir() else flags["model_name_or_path"]
    changes["data"] = _data_with_files(recipe, flags, template)
    setting, set_keys = recipe.task.length_setting, _set_keys(flags)
    if flags.get("max_seq_length") is not None:  # --max_seq_length: the task's own length setting, whatever its name
        changes["task"] = dataclasses.replace(recipe.task, **{setting: flags["max_seq_length"]})
    elif flags.get("train_file") and f"task.{setting}" not in set_keys:
        # the recipe's limit was sized for its own data: the user's gets one from its own lengths (data/lengths.py)
        changes["task"] = dataclasses.replace(recipe.task, **{setting: None})
    training = parse_training_flags(list(extra))
    if "hub_token" in training:
        raise UserError(
            "--hub_token is not accepted (it would end up in shell history and logs): set HF_TOKEN or run `hf auth "
            "login`."
        )
    push = {key: training.pop(key, None) for key in PUSH_FLAGS}
    check_run_glue_steps({key: training.pop(key) for key in RUN_GLUE_STEPS if key in training}, flags.get("test_file"))
    resume = bool(flags.get("resume"))
    if "resume_from_checkpoint" in training:  # the transformers spelling of --resume
        if training.pop("resume_from_checkpoint") not in (True, "auto"):
            raise UserError(
                "--resume_from_checkpoint takes 'auto' (the newest complete checkpoint of this output folder); or "
                "use --resume."
            )
        resume = True
    new_checkpoint = changes.get("checkpoint", template.checkpoint) != template.checkpoint
    resolved = dataclasses.replace(recipe, **changes)
    if new_checkpoint:  # the methods' rates were chosen for the recipe's own checkpoint
        resolved = methods.without_method_rates(resolved, kept=set_keys)
    if "learning_rate" in training:  # an explicit rate wins over every method's own rate
        resolved = methods.without_method_rates(resolved)
    own = _sized_for_its_own(recipe, set_keys, bool(flags.get("train_file")), new_checkpoint)
    resolved = dataclasses.replace(resolved, training={**own, **training})
    differences = template.differences(resolved)
    if differences and resolved.description == template.description:  # the card must not claim the template's
        resolved = dataclasses.replace(
            resolved, description=f"Adapted from {adapted_from(template, source)}: " + "; ".join(differences) + "."
        )
    resolved.validate()
    if flags.get("output_dir") is not None and not str(flags["output_dir"]).strip():
        raise UserError("--output_dir is empty: name a folder, or leave the flag out for runs/<recipe>-<method>.")
    output_dir = Path(flags.get("output_dir") or default_output_dir(template, resolved))
    push_to_hub = bool(as_bool(push["push_to_hub"])) if push["push_to_hub"] is not None else False
    options = RunOptions(
        output_dir=output_dir,
        overwrite=bool(flags.get("overwrite_output_dir")),
        resume=resume,
        verbose=bool(flags.get("verbose")),
        full_size=runs_as_written(template, resolved),
        command=flags.get("command"),
        trust_remote_code=bool(flags.get("trust_remote_code")),
        test_file=Path(flags["test_file"]).expanduser().resolve() if flags.get("test_file") else None,
        merge_adapter=bool(flags.get("merge_adapter")),
        budget=budget_from(flags.get("time_budget")),
        push_to_hub=push_to_hub,
        hub_model_id=(push["hub_model_id"] or output_dir.name) if push_to_hub else None,
        hub_private_repo=bool(as_bool(push["hub_private_repo"])) if push["hub_private_repo"] is not None else False,
    )
    if options.merge_adapter and not methods.get(resolved.method).mergeable:
        raise UserError(
            f"--merge_adapter applies to adapter methods ({', '.join(methods.mergeable_names())}), not "
            f"{resolved.method}."
        )
    return resolved, options


def budget_from(duration) -> Budget | None:
    """``--time_budget 10m`` -> the command's Budget, its clock started now; None without a budget."""
    seconds = parse_duration(duration)
    return None if seconds is None else Budget.starting_now(seconds)


def runs_as_written(original: Recipe, resolved: Recipe) -> bool:
    """Whether a run trains its recipe at full size (its own data, sample limits, epochs and steps), so
    that the recipe's ``expected`` results apply to it."""
    keys = ("num_train_epochs", "max_steps")
    return (
        not original.differences(resolved)  # its own checkpoint and data
        and all(getattr(original.data, k) == getattr(resolved.data, k) for k in CAPS)
        and all(original.training.get(k) == resolved.training.get(k) for k in keys)
    )


def command_line(argv: list[str]) -> str:
    """The command as the user could type it again (the card and metrics.json record it)."""
    return f"{PROG} " + shlex.join(argv)

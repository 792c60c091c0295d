"""``hf-transfer merge`` (and ``--merge_adapter``, ``push --merge``): an adapter run merged into its base model, written
as a full run folder beside it; a method whose registry entry says its adapter does not merge is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

from hf_transfer import methods
from hf_transfer.artifacts.card import write_card
from hf_transfer.artifacts.models import load_run
from hf_transfer.artifacts.runs import CURVES_FILE, SAMPLES_FILE, TRAINER_STATE, RunFolder
from hf_transfer.artifacts.staging import check_output_dir, check_replaces_only, publish
from hf_transfer.base.errors import UserError


def merge_run(
    run_dir: Path, output_dir: Path | None = None, overwrite: bool = False, trust_remote_code: bool = False
) -> Path:
    """Merge an adapter run (of a method whose entry says it merges) into its base model and write a full run folder
    beside it."""
    source = RunFolder(run_dir)
    source.require_finished("nothing to merge yet.")
    source.refuse_export("an export holds a merged model already; merge takes an adapter run")
    if not source.has_adapter:
        raise UserError(f"{source.path} holds a full model, not an adapter: there is nothing to merge.")
    methods.check_mergeable(source.recipe().method, str(source.path))
    target = RunFolder(output_dir or source.path.with_name(source.path.name + "-merged"))
    if target.overlaps(source):
        raise UserError(
            f"--output_dir {target.path} is the adapter run {source.path} itself (or a folder around or inside it): "
            "the merge would replace the run it is made from. Choose another --output_dir (default: "
            f"{source.path.name}-merged beside it)."
        )
    check_output_dir(target.path, overwrite=overwrite)
    check_replaces_only(target.path, "merge")
    recipe, model, tokenizer = load_run(source.path, full_precision_base=True, trust_remote_code=trust_remote_code)
    merged = model.merge_and_unload()
    staging = RunFolder(target.staging)
    if staging.path.exists():
        shutil.rmtree(staging.path)
    merged.save_pretrained(str(staging.path), safe_serialization=True)
    tokenizer.save_pretrained(str(staging.path))
    staging.write_recipe(recipe)
    for name in (TRAINER_STATE, CURVES_FILE, SAMPLES_FILE):
        if (source / name).is_file():
            shutil.copyfile(source / name, staging / name)
    metrics = source.metrics()
    metrics["merged_from"] = str(source.path)
    staging.write_metrics(metrics)
    write_card(staging.path)
    publish(staging.path, target.path)
    return target.path

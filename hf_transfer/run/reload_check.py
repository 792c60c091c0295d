"""The reload check: the saved run folder, reloaded from disk, must give the trained model's outputs (values within
the precision's tolerance, no prediction changed) before it is evaluated once as the run's evaluation; and the
comparison of two models' outputs row by row (``agreement``) it shares with an export's verification."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hf_transfer.run.evaluation import evaluate_model


def agreement(ours, theirs) -> dict[str, Any]:
    """Two models' outputs on the same rows, compared row by row: the largest absolute difference of any output
    value, the scale of the outputs, and how many predictions (the arg-max over the last axis: a class, a tag, a
    start or end position) differ out of how many. Positions the evaluation loop padded with -100 are not
    predictions. ``ours`` / ``theirs``: an array, or a tuple of arrays (QA's start and end logits). Compared
    ``COMPARED_VALUES`` at a time in float64: a causal LM's logits (positions x a vocabulary of 49,152) made
    whole-array float64 temporaries of several GiB."""
    import numpy as np

    ours = ours if isinstance(ours, (tuple, list)) else (ours,)
    theirs = theirs if isinstance(theirs, (tuple, list)) else (theirs,)
    unlike = {"max_difference": math.inf, "scale": 0.0, "changed_predictions": None, "predictions": 0}
    if len(ours) != len(theirs):  # outputs of another shape: nothing to compare
        return unlike
    largest, scale, changed, compared = 0.0, 0.0, 0, 0
    for a, b in zip(ours, theirs, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape:
            return unlike
        if not a.size:
            continue
        predicts = a.ndim >= 2  # an arg-max over the last axis is a prediction
        width = a.shape[-1] if predicts else a.size
        a, b = a.reshape(-1, width), b.reshape(-1, width)
        step = max(1, COMPARED_VALUES // width)
        for start in range(0, len(a), step):
            x = a[start : start + step].astype(np.float64)
            y = b[start : start + step].astype(np.float64)
            both_nan = np.isnan(x) & np.isnan(y)
            difference = np.where(both_nan, 0.0, np.abs(x - y))
            largest = max(largest, float(np.nan_to_num(difference, nan=math.inf).max()))
            scale = max(scale, float(np.nanmax(np.abs(np.where(np.isnan(x), 0.0, x)))))
            if predicts:
                real = ~np.all(x == -100, axis=-1)
                changed += int(((x.argmax(-1) != y.argmax(-1)) & real).sum())
                compared += int(real.sum())
    return {"max_difference": largest, "scale": scale, "changed_predictions": changed, "predictions": compared}


def within(found: dict[str, Any], tolerance: float) -> bool:
    """Whether compared outputs agree: every value within ``tolerance`` relative to the outputs' scale (at least
    1), and no prediction changed."""
    return found["changed_predictions"] == 0 and found["max_difference"] <= tolerance * max(1.0, found["scale"])


PRECISION_KEYS = ("bf16", "fp16", "use_cpu")
"""The training settings that say in which precision a model computes (the reload check compares under them)."""
COMPARED_ROWS = 8
"""How many evaluation rows (a seeded sample) the reload check runs through the trained and the reloaded model:
any row shows a wrong save, and a few cost far less than an evaluation (an Alpaca row takes a second per forward
pass on a CPU)."""
COMPARED_VALUES = 1 << 20
"""Output values compared at a time (8 MiB in float64)."""
RELOAD_TOLERANCE = {"fp32": 1e-4, "bf16": 2e-2, "fp16": 2e-3}
"""How far (relative to the outputs' scale) the reloaded model's outputs may be from the trained model's, per
precision: the same weights give the same outputs, up to a different order of the same arithmetic."""


def compared_rows(features, seed: int = 0) -> list[int]:
    import random

    count = min(COMPARED_ROWS, len(features))
    return sorted(random.Random(seed).sample(range(len(features)), count))


def compare_reloaded(trainer, reloaded, features, precision: dict) -> dict[str, Any]:
    """The trained model (in memory) and the saved one (reloaded from disk) on a seeded sample of evaluation rows,
    under the run's precision: their outputs compared value by value and their predictions row by row."""
    import torch

    rows = features.select(compared_rows(features))
    name = "bf16" if precision.get("bf16") else "fp16" if precision.get("fp16") else "fp32"
    autocast = torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=bool(precision.get("bf16")) and not torch.cuda.is_available()
    )
    found = {"max_difference": 0.0, "scale": 0.0, "changed_predictions": 0, "predictions": 0}
    for batch in trainer.get_eval_dataloader(rows):  # the Trainer drops the columns the model does not take
        batch = {k: v.to(trainer.model.device) if hasattr(v, "to") else v for k, v in batch.items()}
        size = len(batch["input_ids"]) if "input_ids" in batch else 1
        for i in range(size):  # a row at a time: a causal LM's logits of a batch of 8 took GiB per model
            row = batch if size == 1 else {k: v[i : i + 1] if torch.is_tensor(v) and v.dim() and len(v) == size
                                            else v for k, v in batch.items()}  # fmt: skip
            part = agreement(*(_outputs(model, row, autocast) for model in (trainer.model, reloaded)))
            found["max_difference"] = max(found["max_difference"], part["max_difference"])
            found["scale"] = max(found["scale"], part["scale"])
            found["predictions"] += part["predictions"]
            if found["changed_predictions"] is not None and part["changed_predictions"] is not None:
                found["changed_predictions"] += part["changed_predictions"]
            else:  # outputs of another shape: no prediction to compare
                found["changed_predictions"] = None
    found.update(rows=len(rows), precision=name, tolerance=RELOAD_TOLERANCE[name])
    return found


def _outputs(model, batch: dict, autocast) -> tuple:
    """A model's outputs on a batch, as float32 arrays (every output tensor that is not a scalar, such as the loss)."""
    import torch

    model.eval()
    with torch.no_grad(), autocast:
        out = model(**batch)
    values = out.values() if hasattr(out, "values") else out
    return tuple(v.float().cpu().numpy() for v in values if torch.is_tensor(v) and v.dim() > 0)


def evaluate_reloaded(trainer, loaded, staging: Path, precision: dict, console, clock,
                      records: list | None = None) -> tuple[dict, dict]:  # fmt: skip
    """The reload check, then the run's one evaluation: the run folder in ``staging`` reloaded from disk must give
    the trained model's outputs (``compare_reloaded``: values within the precision's tolerance, no prediction
    changed) on a seeded sample of evaluation rows; then it is evaluated once on the evaluation split, and those are
    the run's metrics (``records`` receives its per-example records). Returns (metrics, the check); a mismatch stops
    the run before anything is published."""
    from hf_transfer.artifacts.models import load_run

    args = trainer.args
    key = f"eval_{loaded.recipe.task.main_metric()}"
    _, reloaded, _ = load_run(staging, trust_remote_code=loaded.recipe.trust_remote_code, console=console)
    if getattr(reloaded, "config", None) is not None:
        # as the Trainer set it on the trained model: an adapter's reloaded base keeps its checkpoint's KV cache
        # setting, and with a cache transformers ignores packed rows' position ids and attends across examples
        reloaded.config.use_cache = args.use_cache
    found = compare_reloaded(trainer, reloaded, loaded.tokenized["validation"], precision)
    check = {
        "metric": key,
        "compared": f"outputs of the trained model and the saved one reloaded from disk on {found['rows']} seeded "
        "evaluation rows",
        **found,
        "match": within(found, found["tolerance"]),
    }
    clock.lap("reload_check")
    if not check["match"]:
        changed = found["changed_predictions"]
        raise RuntimeError(
            f"The saved run does not reproduce the trained model: reloaded from {staging}, its outputs on "
            f"{found['rows']} evaluation rows differ by up to {found['max_difference']:.3g} (tolerance "
            f"{found['tolerance']:g} x {max(1.0, found['scale']):.3g}) and "
            f"{'its outputs have another shape' if changed is None else f'{changed} prediction(s) changed'}; "
            "the run folder was not published."
        )
    metrics = evaluate_model(reloaded, loaded.tokenizer, loaded.recipe, loaded.splits["validation"],
                             loaded.tokenized["validation"], args.per_device_eval_batch_size, precision,
                             console, records=records)  # fmt: skip
    return metrics, check

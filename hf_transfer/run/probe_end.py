"""The end of a run, probed after the probe's training steps (``probe.py``): what it holds in memory and how long
what it does after training takes, on this machine.

Memory: once the model is saved the run lets its training state go (``trainer.release_training_state``), loads the
saved model a second time beside the trained one, compares the two row by row (the reload check) and evaluates the
reloaded one. Its peak is the resident memory without the training state, plus the second model, plus the largest of
the evaluation's, the comparison's and generation's own memory, each measured here on its largest input. On a CPU a
causal LM's run peaked there, not in its training steps.

Time: the reload check's comparison (its longest row timed, the others padded to it), and what the run
generates or predicts after training: a task's generated responses (instruction tuning's ``samples.jsonl`` and its
generation metrics: ``Task.generated_after_training``) and a ``--test_file``'s predictions, timed through the task's
own ``predict`` on a batch of evaluation examples; generation is timed at one and at ``1 + NEW_TOKENS`` new tokens
and carried to the task's ``max_new_tokens`` (greedy responses that end sooner take less)."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

from hf_transfer.base.hardware import PeakMemory
from hf_transfer.run.reload_check import PRECISION_KEYS, compare_reloaded, compared_rows
from hf_transfer.run.trainer import eval_order, release_training_state, row_length

PREDICT_BATCH = 32
"""Rows ``predict`` (and a run's ``--test_file``) hands the task at a time (``commands/predict.py``)."""
NEW_TOKENS = 8
"""New tokens of the longer of the two timed generations: the time per new token is their difference over these."""
SAMPLING = 0.01
"""Seconds between the memory samples of a probed phase (an evaluation batch can be over in a tenth of a second)."""


def model_bytes(model) -> int:
    """The bytes of a model's weights and buffers as they sit in memory: what loading it a second time adds."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def file_rows(path: Path) -> int:
    """The rows of a ``--test_file`` (a ``.txt`` file: its lines), as ``predict`` reads them."""
    from hf_transfer.sources.files import file_format, read_file

    if file_format(Path(path))[1] == ".txt":
        return len(Path(path).read_text(encoding="utf-8").splitlines())
    return len(read_file(str(path)))


def _timed(call) -> tuple[float, int]:
    """(seconds, the resident memory it added at its peak) of ``call()``."""
    before = PeakMemory.rss()
    with PeakMemory(SAMPLING) as memory:
        started = time.perf_counter()
        call()
        seconds = time.perf_counter() - started
    return seconds, max(0, memory.peak_rss - before)


def prediction_batch(run, model, most: int) -> dict | None:
    """Seconds (and memory) of one batch of the task's ``predict`` on evaluation examples, as the end of the run
    and ``--test_file`` generate or predict: ``rows`` at a time, at most ``most`` (the largest pass's rows). None when
    no example gives a prediction input."""
    from hf_transfer.base.errors import UserError
    from hf_transfer.tasks import MissingInput

    loaded = run.loaded
    task, tokenizer, examples = loaded.recipe.task, loaded.tokenizer, loaded.splits["validation"]
    size = min(most, getattr(task, "generation_batch_size", PREDICT_BATCH))  # a task may generate in batches of its own
    inputs = []
    for row in examples.select(range(min(len(examples), 4 * size))):
        try:
            inputs.append(task.parse_predict_input(task.predict_text(row)))
        except (MissingInput, ValueError, KeyError, UserError):  # chat rows have no instruction to predict from
            continue
        if len(inputs) == size:
            break
    if not inputs:
        return None
    new_tokens = getattr(task, "max_new_tokens", None)
    try:
        if new_tokens is None:
            seconds, memory = _timed(lambda: task.predict(model, tokenizer, inputs))
            return {"rows": len(inputs), "seconds": seconds, "memory_bytes": memory}
        one, longer = (dataclasses.replace(task, max_new_tokens=n) for n in (1, 1 + NEW_TOKENS))
        one.predict(model, tokenizer, inputs)  # warm-up: the first generation sets itself up
        first, _ = _timed(lambda: one.predict(model, tokenizer, inputs))
        more, memory = _timed(lambda: longer.predict(model, tokenizer, inputs))
    except (MissingInput, ValueError, UserError):  # predict takes these rows one at a time, reporting the bad ones
        return None
    per_token = max(0.0, more - first) / NEW_TOKENS
    return {"rows": len(inputs), "seconds": first + per_token * (new_tokens - 1), "memory_bytes": memory,
            "new_tokens": new_tokens}  # fmt: skip


def probe_end(run, trainer, model, test_file: Path | None) -> dict:
    """The end of the run on the probe's ``trainer`` (its training steps done) and ``model``: its memory and the
    seconds of the reload check's comparison, of generation after training and of ``test_file``'s predictions."""
    loaded, args = run.loaded, trainer.args
    task, evaluation = loaded.recipe.task, loaded.tokenized["validation"]
    release_training_state(trainer)
    held = PeakMemory.rss()
    longest = eval_order(evaluation)[: args.per_device_eval_batch_size]
    _, evaluating = _timed(lambda: trainer.evaluate(eval_dataset=evaluation.select(longest)))
    rows = compared_rows(evaluation)
    lengths = [row_length(evaluation[i]["input_ids"]) for i in rows]
    precision = {k: run.training_kwargs[k] for k in PRECISION_KEYS if k in run.training_kwargs}
    row = evaluation.select([rows[lengths.index(max(lengths))]])
    # the longest of the compared rows: the check takes them a row at a time, each padded to the longest of its batch
    compare_row, comparing = _timed(lambda: compare_reloaded(trainer, model, row, precision))
    out = {
        "held_rss_bytes": held,
        "reload_bytes": model_bytes(model),
        "transient_bytes": {"evaluation": evaluating, "reload_check": comparing},
        "compare_seconds": compare_row * len(rows),
        "generated": 0,
        "generation_seconds": 0.0,
        "test_file_rows": file_rows(test_file) if test_file is not None else 0,
        "test_file_seconds": 0.0,
        "unprobed": [],
    }
    passes = task.generated_after_training(len(loaded.splits["validation"]), loaded.recipe.metric_names)
    out["generated"] = sum(passes)
    if not passes and not out["test_file_rows"]:
        return out
    batch = prediction_batch(run, model, max(passes + [out["test_file_rows"]]))
    if batch is None:
        out["unprobed"].append(f"generating or predicting for {sum(passes) + out['test_file_rows']:,} rows: no batch "
                               "of evaluation examples could be predicted to time it on")  # fmt: skip
        return out
    out["transient_bytes"]["predict"] = batch["memory_bytes"]  # generating (or predicting) a batch
    out["generation_seconds"] = sum(math.ceil(n / batch["rows"]) for n in passes) * batch["seconds"]
    out["test_file_seconds"] = math.ceil(out["test_file_rows"] / batch["rows"]) * batch["seconds"]
    return out

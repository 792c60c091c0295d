"""The probe a forecast is made of: a handful of training batches chosen across the training data's length
distribution (the longest included, so the peak memory is met), two evaluation batches and one save, timed on
this machine; the weights it changed and the random generators' state are put back afterwards. Step time is
interpolated between the probe's batches by their tokens (``Fit``; tokens: the padded input of a batch as the task's
collator makes it)."""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROBE_TRAIN_BATCHES = 4
"""Timed training batches (after one warm-up batch): rows at three length quantiles, then the longest rows."""
PROBE_EVAL_BATCHES = 2
"""Timed evaluation batches: the longest and a median one."""


@dataclass
class Fit:
    """Step seconds against a batch's tokens, through the probe's batches: linear between them (by tokens), and in
    proportion to the nearest one outside them. Not a straight line fitted over all of them: a step's time grows
    faster than its tokens where sequences get long (QA's 384-token windows took four times as long as batches of
    half their tokens here), and a line through such points, its intercept cut at zero, forecast QA at twice its
    real time."""

    points: list[tuple[float, float]]
    """(tokens, seconds), sorted by tokens; batches of equal tokens averaged."""
    spread: float = 0.0
    """How well the probe predicts itself: the root mean square of (measured / predicted - 1) over each inner batch
    predicted from its neighbours and each batch against others of its size (0 when there is nothing to compare)."""

    def __call__(self, tokens: float) -> float:
        return _interpolate(self.points, tokens)

    @classmethod
    def of(cls, points: list[tuple[float, float]]) -> Fit:
        by_tokens: dict[float, list[float]] = {}
        for x, y in points:
            by_tokens.setdefault(x, []).append(y)
        merged = [(x, sum(ys) / len(ys)) for x, ys in sorted(by_tokens.items())]
        errors = [(y / mean - 1) ** 2 for (x, mean) in merged for y in by_tokens[x] if len(by_tokens[x]) > 1 and mean]
        for i in range(1, len(merged) - 1):  # each inner batch as its neighbours predict it
            predicted = _interpolate(merged[:i] + merged[i + 1 :], merged[i][0])
            if predicted > 0:
                errors.append((merged[i][1] / predicted - 1) ** 2)
        return cls(merged, math.sqrt(sum(errors) / len(errors)) if errors else 0.0)


def _interpolate(points: list[tuple[float, float]], tokens: float) -> float:
    if not points:
        return 0.0
    (x0, y0), (xn, yn) = points[0], points[-1]
    if tokens <= x0:
        return y0 * tokens / x0 if x0 > 0 else y0
    if tokens >= xn:
        return yn * tokens / xn if xn > 0 else yn
    for (xa, ya), (xb, yb) in zip(points, points[1:], strict=False):
        if xa <= tokens <= xb:
            return ya + (yb - ya) * (tokens - xa) / (xb - xa)
    return yn


def batch_tokens(batch: dict) -> int:
    """The size of a collated batch as the model sees it: its padded input ids, and decoder labels that are a
    sequence of their own (seq2seq)."""
    ids = batch["input_ids"]
    tokens = int(ids.numel())
    labels = batch.get("labels")
    if labels is not None and labels.dim() >= 2 and tuple(labels.shape) != tuple(ids.shape):
        tokens += int(labels.numel())
    return tokens


def row_lengths(dataset) -> list[int]:
    from hf_transfer.run.trainer import row_length

    return [row_length(row) for row in dataset["input_ids"]]


BATCH_COLUMNS = ("input_ids", "attention_mask", "token_type_ids", "labels", "label", "start_positions",
                 "end_positions", "decoder_input_ids")  # fmt: skip
"""The columns a collator pads into a batch; the others (NER's word_ids, QA's offsets) serve the metrics only."""


def tokens_of(batches: list[list[int]], dataset, collator) -> list[int]:
    columns = [c for c in dataset.column_names if c in BATCH_COLUMNS]
    out = []
    for rows in batches:
        features = dataset.select(rows).to_list()
        out.append(batch_tokens(collator([{k: f[k] for k in columns} for f in features])))
    return out


def probe_rows(dataset, batch_size: int, heaviest: list[int] | None = None) -> list[list[int]]:
    """Batches for the probe: rows at the 25th, 50th and 75th length percentiles, then the heaviest batch; the median
    batch again at the start, as a warm-up that is not timed. The heaviest batch comes last, as in a run whose batches
    of other lengths came before it: the memory they freed but the C allocator kept (on a CPU) is under its peak.

    ``heaviest``: the largest batch the run's own sampler draws (``forecast.py``, by collated tokens); without it, the
    longest rows together. Length-grouped batches draw about that; batches in random order never do, and packed ones
    (instruction tuning, one row of all a batch's examples) would make the longest rows one row far longer than any
    batch of the run: a peak 30% over the run's."""
    lengths = row_lengths(dataset)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    size = min(batch_size, len(order))
    groups = []
    for quantile in (0.75, 0.5, 0.25, 0.0)[-PROBE_TRAIN_BATCHES:]:
        start = min(int(quantile * len(order)), max(0, len(order) - size))
        groups.append(order[start : start + size])
    if heaviest is not None:
        groups[-1] = list(heaviest)
    return [groups[1]] + groups  # warm-up on a median batch


def _random_state(state: tuple | None = None) -> tuple:
    """The random generators' state (Python's, NumPy's, torch's CPU and CUDA ones), or, given one, put back."""
    import random

    import numpy as np
    import torch

    if state is not None:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
        if state[3] is not None:
            torch.cuda.set_rng_state_all(state[3])
        return state
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    return random.getstate(), np.random.get_state(), torch.get_rng_state(), cuda


def probe(run, model, heaviest: list[int] | None = None) -> dict:
    """Train and evaluate a few batches of ``run``'s data on ``model`` (its changed weights put back after),
    and save it once; ``heaviest``: the run's largest training batch (``probe_rows``). Returns the measurements the
    forecast is made of."""
    import torch
    from transformers import TrainerCallback

    from hf_transfer.base.console import hush
    from hf_transfer.base.hardware import PeakMemory
    from hf_transfer.run.arguments import make_training_args
    from hf_transfer.run.probe_end import SAMPLING, probe_end
    from hf_transfer.run.trainer import build_trainer, eval_order

    loaded, args = run.loaded, run.args
    train, evaluation = loaded.tokenized["train"], loaded.tokenized["validation"]
    groups = probe_rows(train, args.per_device_train_batch_size, heaviest)
    rows = [i for group in groups for i in group]
    probe_set = train.select(rows)
    scratch = Path(tempfile.mkdtemp(prefix="hf-transfer-probe-"))
    kept = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    copy_bytes = sum(t.numel() * t.element_size() for t in kept.values())
    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_step_end(self, args, state, control, **kwargs):
            times.append(time.perf_counter() - self.started)

    settings = dict(run.training_kwargs, max_steps=len(groups), eval_strategy="no", save_strategy="no",
                    load_best_model_at_end=False, logging_strategy="no", train_sampling_strategy="sequential",
                    gradient_accumulation_steps=1, warmup_steps=0, report_to="none", disable_tqdm=True)  # fmt: skip
    probe_args = make_training_args(scratch / "probe", settings, loaded.recipe.task)
    started = time.perf_counter()
    random_state = _random_state()
    try:
        with PeakMemory(SAMPLING) as memory:
            trainer = build_trainer(loaded.recipe, loaded.splits, {**loaded.tokenized, "train": probe_set},
                                    loaded.tokenizer, model, probe_args)  # fmt: skip
            trainer.add_callback(Timer())
            hush(trainer)  # the probe's steps are measured, not shown
            with loaded.recipe.task.while_training(trainer.model):
                trainer.train()
            longest = eval_order(evaluation)
            size = args.per_device_eval_batch_size
            eval_groups = [longest[:size], longest[len(longest) // 2 : len(longest) // 2 + size]][:PROBE_EVAL_BATCHES]
            eval_points = []
            for group in eval_groups:
                subset = evaluation.select(group)
                before = time.perf_counter()
                # the forward passes and, where the run generates (seq2seq), generation are what scales with rows:
                # a metrics function that computes nothing keeps the Trainer generating as the run's evaluation does
                trainer.compute_metrics = _nothing
                trainer.evaluate(eval_dataset=subset)
                eval_points.append((tokens_of([list(range(len(group)))], subset, trainer.data_collator)[0],
                                    time.perf_counter() - before))  # fmt: skip
        end = probe_end(run, trainer, model, run.options.test_file)
        before = time.perf_counter()
        trainer.save_model(str(scratch / "saved"))
        save_seconds = time.perf_counter() - before
        saved_bytes = sum(p.stat().st_size for p in (scratch / "saved").glob("*.safetensors"))
    finally:
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in kept:
                    param.copy_(kept[name])
        model.zero_grad(set_to_none=True)
        _random_state(random_state)  # the run goes on as if there had been no probe: same seed, same model
        shutil.rmtree(scratch, ignore_errors=True)
    train_tokens = tokens_of(groups, train, trainer.data_collator)
    points = list(zip(train_tokens[1:], times[1:], strict=True))
    report = memory.report()
    return {
        "train_fit": Fit.of(points),
        "eval_fit": Fit.of(eval_points),
        "save_seconds": save_seconds,
        "saved_bytes": saved_bytes,
        "peak_rss_bytes": max(0, report["peak_rss_bytes"] - copy_bytes),
        "end": dict(end, held_rss_bytes=max(0, end["held_rss_bytes"] - copy_bytes)),
        "peak_cuda_bytes": report.get("peak_cuda_bytes"),
        "seconds": time.perf_counter() - started,
        "train_batches": len(points),
        "eval_batches": len(eval_points),
    }


def _nothing(prediction) -> dict:
    return {}

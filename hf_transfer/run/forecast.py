"""How long a run will take, how much memory it will need and how large its folder will be, from a few probe
steps on this machine, before it trains (``hf-transfer plan``, ``--time_budget``).

The probe trains a handful of batches chosen across the training data's length distribution (the longest
included, so the peak memory is met), evaluates two evaluation batches, and saves the model once; the
weights it changed are put back afterwards. Step time is fitted as ``a + b * tokens`` (tokens: the padded
input of a batch as the task's collator makes it) and summed over the batches the run's own sampler will
form, so a dataset of short and long rows is forecast by what it holds, not by its first batches.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROBE_TRAIN_BATCHES = 4
"""Timed training batches (after one warm-up batch): the longest rows, and rows at three length quantiles."""
PROBE_EVAL_BATCHES = 2
"""Timed evaluation batches: the longest and a median one."""


@dataclass
class Fit:
    """seconds = fixed + per_token * tokens, fitted by least squares on the probe's batches."""

    fixed: float
    per_token: float
    spread: float = 0.0
    """The probe batches' scatter around the fit: the root mean square of (measured / fitted - 1)."""

    def __call__(self, tokens: float) -> float:
        return self.fixed + self.per_token * tokens

    @classmethod
    def of(cls, points: list[tuple[float, float]]) -> Fit:
        n = len(points)
        mean_x = sum(x for x, _ in points) / n
        mean_y = sum(y for _, y in points) / n
        spread = sum((x - mean_x) ** 2 for x, _ in points)
        slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread > 0 else 0.0
        slope = max(slope, 0.0)
        fit = cls(fixed=max(mean_y - slope * mean_x, 0.0), per_token=slope)
        ratios = [(y / fit(x) - 1) ** 2 for x, y in points if fit(x) > 0]
        fit.spread = math.sqrt(sum(ratios) / len(ratios)) if ratios else 0.0
        return fit


@dataclass
class Forecast:
    """What one run is forecast to cost here (seconds, bytes), and what the probe cost."""

    method: str
    trainable: int
    total: int
    steps: int
    evaluations: int
    seconds: dict[str, float]
    """setup_and_data, model, train, evaluations, checkpoints, save_and_check, and total."""
    peak_rss_bytes: int
    peak_cuda_bytes: int | None
    saved_bytes: int
    precision: str
    probe: dict = field(default_factory=dict)
    """What the probe did: training and evaluation batches, seconds, and its share of the forecast run."""
    step_seconds: float = 0.0
    """Mean seconds per optimizer step over the run's own batches."""
    evaluation_seconds: float = 0.0
    """Seconds of one evaluation pass (plus the checkpoint it saves when the run keeps the best model)."""
    final_seconds: float = 0.0
    """The end of a run: save, reload, the saved model's evaluation, the card."""

    @property
    def total_seconds(self) -> float:
        return self.seconds["total"]

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "trainable": self.trainable,
            "total": self.total,
            "steps": self.steps,
            "evaluations": self.evaluations,
            "seconds": self.seconds,
            "peak_rss_bytes": self.peak_rss_bytes,
            "peak_cuda_bytes": self.peak_cuda_bytes,
            "saved_bytes": self.saved_bytes,
            "precision": self.precision,
            "probe": self.probe,
        }


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


def epoch_batches(dataset, args, seed: int) -> list[list[int]]:
    """The micro-batches (row indices) of one epoch, as the run's sampler forms them."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    size = args.per_device_train_batch_size
    if str(getattr(args.train_sampling_strategy, "value", args.train_sampling_strategy)) == "group_by_length":
        sampler = LengthGroupedSampler(
            size * args.gradient_accumulation_steps,
            lengths=row_lengths(dataset),
            generator=torch.Generator().manual_seed(seed),
        )
        order = list(iter(sampler))
    else:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + size] for i in range(0, len(order), size)]


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


def probe_rows(dataset, batch_size: int) -> list[list[int]]:
    """Batches for the probe: the longest rows, then rows at the 75th, 50th and 25th length percentiles; the
    first of them again at the start, as a warm-up that is not timed."""
    lengths = row_lengths(dataset)
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    size = min(batch_size, len(order))
    groups = []
    for quantile in (0.0, 0.25, 0.5, 0.75)[:PROBE_TRAIN_BATCHES]:
        start = min(int(quantile * len(order)), max(0, len(order) - size))
        groups.append(order[start : start + size])
    return [groups[2]] + groups  # warm-up on a median batch: the longest batch is then timed warm


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


def probe(run, model) -> dict:
    """Train and evaluate a few batches of ``run``'s data on ``model`` (its changed weights put back after),
    and save it once. Returns the measurements the forecast is made of."""
    import torch
    from transformers import TrainerCallback

    from hf_transfer.base.console import hush
    from hf_transfer.base.hardware import PeakMemory
    from hf_transfer.run.arguments import make_training_args
    from hf_transfer.run.trainer import build_trainer, eval_order

    loaded, args = run.loaded, run.args
    train, evaluation = loaded.tokenized["train"], loaded.tokenized["validation"]
    groups = probe_rows(train, args.per_device_train_batch_size)
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
        with PeakMemory() as memory:
            trainer = build_trainer(loaded.recipe, loaded.splits, {**loaded.tokenized, "train": probe_set},
                                    loaded.tokenizer, model, probe_args)  # fmt: skip
            trainer.add_callback(Timer())
            hush(trainer)  # the probe's steps are measured, not shown
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
        "peak_cuda_bytes": report.get("peak_cuda_bytes"),
        "seconds": time.perf_counter() - started,
        "train_batches": len(points),
        "eval_batches": len(eval_points),
    }


def planned_steps(args, train_rows: int) -> tuple[int, int]:
    """(optimizer steps, steps per epoch) the run will take."""
    per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
    per_epoch = max(1, math.ceil(train_rows / per_step))
    if args.max_steps and args.max_steps > 0:
        return args.max_steps, per_epoch
    return max(1, math.ceil(per_epoch * args.num_train_epochs)), per_epoch


def planned_evaluations(args, steps: int, per_epoch: int) -> int:
    strategy = str(getattr(args.eval_strategy, "value", args.eval_strategy))
    if strategy == "epoch":
        return math.ceil(steps / per_epoch)
    if strategy == "steps":
        every = args.eval_steps if args.eval_steps >= 1 else max(1, int(args.eval_steps * steps))
        return steps // int(every)
    return 0


def forecast_run(run, model, setup_seconds: float, model_seconds: float) -> Forecast:
    """The whole run forecast from the probe: ``setup_seconds`` (arguments, data and tokenization as a run reads
    them) and ``model_seconds`` (loading the checkpoint) were measured by the caller."""
    from hf_transfer import methods
    from hf_transfer.base.hardware import precision_text

    measured = probe(run, model)
    args, loaded = run.args, run.loaded
    train = loaded.tokenized["train"]
    steps, per_epoch = planned_steps(args, len(train))
    batches = epoch_batches(train, args, args.seed)
    collator = loaded.recipe.task.collator(loaded.tokenizer)
    tokens = tokens_of(batches, train, collator)
    epoch_seconds = sum(measured["train_fit"](t) for t in tokens)
    micro_per_step = args.gradient_accumulation_steps
    step_seconds = epoch_seconds / max(1, len(batches)) * micro_per_step
    train_seconds = step_seconds * steps
    from hf_transfer.run.trainer import eval_order

    def evaluation_seconds(split: str) -> float:
        rows = loaded.tokenized[split]
        order, size = eval_order(rows), args.per_device_eval_batch_size
        return sum(measured["eval_fit"](t) for t in tokens_of([order[i : i + size] for i in range(0, len(order), size)],
                                                               rows, collator))  # fmt: skip

    one_eval = evaluation_seconds("validation")  # the saved model's one evaluation, at the end
    # the evaluations during training read the selection split when the run has one
    during = evaluation_seconds("selection") if "selection" in loaded.tokenized else one_eval
    evaluations = planned_evaluations(args, steps, per_epoch)
    from hf_transfer.run.trainer import one_evaluation_point

    if one_evaluation_point(args, len(train)):
        evaluations = 0
    trainable, total = methods.count_parameters(model)
    checkpoint_seconds = (
        measured["save_seconds"] * (1 + 2 * trainable / max(1, total)) if args.load_best_model_at_end else 0.0
    )
    checkpoints = checkpoint_seconds * evaluations
    final = measured["save_seconds"] + model_seconds + one_eval
    seconds = {
        "setup_and_data": round(setup_seconds, 2),
        "model": round(model_seconds, 2),
        "train": round(train_seconds, 2),
        "evaluations": round(during * evaluations, 2),
        "checkpoints": round(checkpoints, 2),
        "save_and_check": round(final, 2),
    }
    seconds["total"] = round(sum(seconds.values()), 2)
    probe_info = {
        "step_spread": round(measured["train_fit"].spread, 3),
        "train_batches": measured["train_batches"],
        "eval_batches": measured["eval_batches"],
        "seconds": round(measured["seconds"], 2),
        "share_of_run": round(measured["seconds"] / max(seconds["total"], 1e-9), 3),
    }
    return Forecast(
        method=loaded.recipe.method,
        trainable=trainable,
        total=total,
        steps=steps,
        evaluations=evaluations,
        seconds=seconds,
        peak_rss_bytes=measured["peak_rss_bytes"],
        peak_cuda_bytes=measured["peak_cuda_bytes"],
        saved_bytes=measured["saved_bytes"],
        precision=precision_text(run.training_kwargs),
        probe=probe_info,
        step_seconds=step_seconds,
        evaluation_seconds=during + checkpoint_seconds,
        final_seconds=final,
    )


def _nothing(prediction) -> dict:
    return {}


def process_seconds() -> float:
    """Seconds since this process started (Python and the imports a run pays before its own clock starts)."""
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:  # no psutil, or no /proc: the startup is left out
        return 0.0

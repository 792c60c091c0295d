"""How long a run will take, how much memory it will need and how large its folder will be, from a few probe
steps on this machine, before it trains (``hf-transfer plan``, ``--time_budget``).

The probe (``probe.py``) trains a handful of batches chosen across the training data's length distribution, the
heaviest batch the run will draw last (so the peak memory is met), evaluates two evaluation batches, probes the end
of the run (``probe_end.py``: its memory with the saved model loaded a second time, the reload check, what it
generates or predicts after training), and saves the model once; the weights it changed are put back afterwards.
Step time is fitted against tokens (the padded input of a batch as the task's collator makes it) and summed over the
batches the run's own sampler will form, so a dataset of short and long rows is forecast by what it holds, not by
its first batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hf_transfer.run.probe import probe, row_lengths, tokens_of
from hf_transfer.tasks import pad_multiple


@dataclass
class Forecast:
    """What one run is forecast to cost here (seconds, bytes), and what the probe cost."""

    method: str
    trainable: int
    total: int
    steps: int
    evaluations: int
    seconds: dict[str, float]
    """setup_and_data, model, train, evaluations, checkpoints, test_split, save_and_check, generation, test_file, and
    total."""
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
    """Everything after training: the test split, save, reload and check, the saved model's evaluation, generation,
    a --test_file's predictions."""
    peak_phase: str = "training"
    """Where the peak memory falls: "training" (its steps and evaluations) or "end" (the saved model loaded a second
    time beside the trained one, and evaluated)."""
    memory: dict = field(default_factory=dict)
    """The peak resident bytes of each (training, end), and what the end's is made of (end_parts: held, second_model,
    and the evaluation's, the reload check's and the task's predict's own: generating, or predicting a --test_file)."""
    not_forecast: list[str] = field(default_factory=list)
    """What the run does that the forecast leaves out, said in words (an upload to the Hub)."""

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
            "peak_phase": self.peak_phase,
            "memory": self.memory,
            "not_forecast": self.not_forecast,
        }


def length_grouped(args) -> bool:
    """The run's sampler groups rows of similar length (``train_sampling_strategy=group_by_length``)."""
    return str(getattr(args.train_sampling_strategy, "value", args.train_sampling_strategy)) == "group_by_length"


def epoch_batches(dataset, args, seed: int) -> list[list[int]]:
    """The micro-batches (row indices) of one epoch, as the run's sampler forms them."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    size = args.per_device_train_batch_size
    if length_grouped(args):
        sampler = LengthGroupedSampler(
            size * args.gradient_accumulation_steps,
            lengths=row_lengths(dataset),
            generator=torch.Generator().manual_seed(seed),
        )
        order = list(iter(sampler))
    else:
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + size] for i in range(0, len(order), size)]


SIMULATED_EPOCHS = 16
"""At most this many epochs of one run's batches are drawn again to find its heaviest batch."""
SIMULATED_RUNS = 20
"""Runs drawn again (each its own seeds) where the batches come in random order: their heaviest batches differ."""
PEAK_QUANTILE = 0.9
"""The simulated runs' heaviest batch the forecast takes: 9 runs in 10 draw none heavier."""
SIMULATED_ROWS = 2_000_000
"""At most this many row draws in all: a large dataset is simulated in fewer runs."""


def run_batches(dataset, args, steps: int, seed: int) -> list[list[int]]:
    """The micro-batches one run draws, epoch after epoch (seeds ``seed``, ``seed + 1``, ...), as its sampler forms
    them; the first ones only when its steps end inside the first epoch."""
    drawn = steps * args.gradient_accumulation_steps
    batches: list[list[int]] = []
    for epoch in range(SIMULATED_EPOCHS):
        if len(batches) >= drawn:
            break
        batches += epoch_batches(dataset, args, seed + epoch)
    return batches[:drawn] or batches[:1]


def heaviest_batch(dataset, args, steps: int, collator) -> list[int]:
    """The run's largest micro-batch by collated tokens, for the probe to train last. Length-grouped batches put the
    longest rows together in every epoch: one epoch tells. Batches in random order (instruction tuning's packed
    batches) seldom do, and which heavy batch a run meets is chance (the Trainer's sampler draws from the process's
    generator): ``SIMULATED_RUNS`` runs are drawn, each's heaviest batch found, and the one at ``PEAK_QUANTILE`` of
    them taken. On Alpaca (SmolLM2, LoRA, packed, two epochs, peak 4.28 GiB): the longest rows packed together
    forecast 5.50 GiB, the first epoch's heaviest batch 3.06, both epochs' 3.33 (packed attention on a CPU costs
    memory quadratic in a batch's tokens). Candidates are ranked by their rows' lengths (padded: rows x the longest;
    packed: the sum) and the collator measures the few largest."""
    lengths = row_lengths(dataset)
    grouped = length_grouped(args)
    one_run = run_batches(dataset, args, 1 if grouped else steps, args.seed)
    rows_drawn = max(1, sum(map(len, one_run)))
    runs = 1 if grouped else max(1, min(SIMULATED_RUNS, SIMULATED_ROWS // rows_drawn))

    def top(batches: list[list[int]], score) -> list[int]:
        return sorted(range(len(batches)), key=lambda i: -score([lengths[r] for r in batches[i]]))[:4]

    heaviest: list[tuple[int, list[int]]] = []
    for k in range(runs):
        batches = one_run if k == 0 else run_batches(dataset, args, steps, args.seed + 1000 * k)
        candidates = [batches[i] for i in sorted(set(top(batches, lambda rows: len(rows) * max(rows))
                                                     + top(batches, sum)))]  # fmt: skip
        tokens = tokens_of(candidates, dataset, collator)
        best = max(range(len(candidates)), key=tokens.__getitem__)
        heaviest.append((tokens[best], candidates[best]))
    heaviest.sort(key=lambda pair: pair[0])
    return heaviest[round(PEAK_QUANTILE * (len(heaviest) - 1))][1]


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

    args, loaded = run.args, run.loaded
    train = loaded.tokenized["train"]
    steps, per_epoch = planned_steps(args, len(train))
    batches = epoch_batches(train, args, args.seed)
    collator = loaded.recipe.task.collator(loaded.tokenizer, pad_multiple(args))
    tokens = tokens_of(batches, train, collator)
    # the probe's peak: the largest batch this run's sampler draws, as the collator makes it (padded or packed)
    measured = probe(run, model, heaviest=heaviest_batch(train, args, steps, collator))
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
    end = measured["end"]
    after = {
        "test_split": evaluation_seconds("test") if "test" in loaded.tokenized else 0.0,
        # the saved model reloaded, compared with the trained one row by row, and evaluated once
        "save_and_check": measured["save_seconds"] + model_seconds + end["compare_seconds"] + one_eval,
        "generation": end["generation_seconds"],
        # predict loads the finished run folder, then predicts the file's rows
        "test_file": model_seconds + end["test_file_seconds"] if end["test_file_rows"] else 0.0,
    }
    seconds = {
        "setup_and_data": round(setup_seconds, 2),
        "model": round(model_seconds, 2),
        "train": round(train_seconds, 2),
        "evaluations": round(during * evaluations, 2),
        "checkpoints": round(checkpoints, 2),
        **{key: round(value, 2) for key, value in after.items()},
    }
    seconds["total"] = round(sum(seconds.values()), 2)
    # the end of the run: what it holds without the training state, a second copy of the model, and the largest of
    # what evaluating, comparing and generating take on top of that
    parts = {"held": end["held_rss_bytes"], "second_model": end["reload_bytes"], **end["transient_bytes"]}
    peaks = {"training": measured["peak_rss_bytes"],
             "end": parts["held"] + parts["second_model"] + max(end["transient_bytes"].values())}  # fmt: skip
    peak_phase = max(peaks, key=peaks.get)
    probe_info = {
        "step_spread": round(measured["train_fit"].spread, 3),
        "train_batches": measured["train_batches"],
        "eval_batches": measured["eval_batches"],
        "seconds": round(measured["seconds"], 2),
        "share_of_run": round(measured["seconds"] / max(seconds["total"], 1e-9), 3),
        "generated": end["generated"],
        "test_file_rows": end["test_file_rows"],
    }
    return Forecast(
        method=loaded.recipe.method,
        trainable=trainable,
        total=total,
        steps=steps,
        evaluations=evaluations,
        seconds=seconds,
        peak_rss_bytes=peaks[peak_phase],
        peak_cuda_bytes=measured["peak_cuda_bytes"],
        saved_bytes=measured["saved_bytes"],
        precision=precision_text(run.training_kwargs),
        probe=probe_info,
        step_seconds=step_seconds,
        evaluation_seconds=during + checkpoint_seconds,
        final_seconds=sum(after.values()),
        peak_phase=peak_phase,
        memory={**peaks, "end_parts": parts},
        not_forecast=end["unprobed"] + follow_ups_left_out(run.options, measured["saved_bytes"]),
    )


def follow_ups_left_out(options, saved_bytes: int) -> list[str]:
    """What a run's flags ask for after it that no probe measures: the upload to the Hub (the network decides)."""
    if not options.push_to_hub:
        return []
    return [f"--push_to_hub: uploading the run folder ({saved_bytes / 2**20:,.1f} MiB of weights) to "
            f"{options.hub_model_id}, which depends on the network"]  # fmt: skip


def process_seconds(until: float) -> float:
    """Seconds from this process's start to ``until`` (Python and the imports a run pays before its own clock
    starts, when ``until`` is the moment the command's ``main`` was reached)."""
    try:
        import psutil

        return max(0.0, until - psutil.Process().create_time())
    except Exception:  # no psutil, or no /proc: the startup is left out
        return 0.0

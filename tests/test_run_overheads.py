"""What a run does beyond the plain Trainer stays cheap and leaves the process as it found it: the garbage collector
is told to leave the run's imports, data and model alone while it trains (and gets them back after, however the
run ends), and each metric module is made once per process."""

from __future__ import annotations

import gc

import pytest
from transformers import TrainerCallback

from hf_transfer.base.hardware import SettledHeap

from conftest import tiny_run_args


def tiny_recipe(tiny_bert, files, *extra):
    from hf_transfer.cli import build_parser
    from hf_transfer.recipe.registry import find_recipe
    from hf_transfer.run.options import resolve_run

    args, rest = build_parser().parse_known_args([str(a) for a in tiny_run_args(tiny_bert, files, "unused", *extra)])
    return resolve_run(find_recipe("rotten-tomatoes-minilm")[0], vars(args), rest)[0]


class FrozenWhileTraining(TrainerCallback):
    """Reads the collector's frozen count when training starts and when it ends."""

    def __init__(self):
        self.seen: list[int] = []

    def on_train_begin(self, args, state, control, **kwargs):
        self.seen.append(gc.get_freeze_count())

    def on_train_end(self, args, state, control, **kwargs):
        self.seen.append(gc.get_freeze_count())


def test_a_run_trains_with_its_heap_settled_and_hands_it_back(tiny_bert, sentiment_files, tmp_path):
    from hf_transfer.run.options import RunOptions
    from hf_transfer.run.train import run

    assert gc.get_freeze_count() == 0
    watch = FrozenWhileTraining()
    metrics = run(tiny_recipe(tiny_bert, sentiment_files, "--max_steps", "2"), RunOptions(output_dir=tmp_path / "out"),
                  callbacks=[watch])  # fmt: skip
    assert metrics["train"]["global_step"] == 2
    # the modules, data and model made before training are out of the collector's walks while it trains
    assert len(watch.seen) == 2 and min(watch.seen) > 10_000, watch.seen
    assert gc.get_freeze_count() == 0, "every object is the collector's again once the run is over"


def test_a_run_that_fails_hands_its_heap_back_too(tiny_bert, sentiment_files, tmp_path):
    from hf_transfer.base.errors import UserError
    from hf_transfer.run.options import RunOptions
    from hf_transfer.run.train import run

    class Refuse(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            assert gc.get_freeze_count() > 0
            raise UserError("stopped on purpose")

    with pytest.raises(UserError, match="stopped on purpose"):
        run(tiny_recipe(tiny_bert, sentiment_files, "--max_steps", "2"), RunOptions(output_dir=tmp_path / "out"),
            callbacks=[Refuse()])  # fmt: skip
    assert gc.get_freeze_count() == 0


def test_objects_the_process_froze_itself_stay_frozen():
    """A program that froze its own objects (before forking workers, say) keeps them frozen: the run neither adds to
    them nor hands them back."""
    kept = [object() for _ in range(10)]
    gc.freeze()
    try:
        # frozen objects still die by reference counting (the count may drop by a few while the block runs): what
        # is checked is that the 5,000 lists made inside are not frozen on top and that nothing is handed back
        before = gc.get_freeze_count()
        with SettledHeap() as heap:
            made = [[i] for i in range(5_000)]
            heap.settle()
            assert before - 1_000 < gc.get_freeze_count() < before + 1_000
        assert before - 1_000 < gc.get_freeze_count() < before + 1_000
    finally:
        gc.unfreeze()
    assert kept and made


def test_settling_leaves_out_only_what_exists_and_garbage_after_is_collected():
    with SettledHeap() as heap:
        heap.settle()
        settled = gc.get_freeze_count()
        assert settled > 0
        cycle = []
        cycle.append(cycle)  # garbage made after settling: a cycle that only the collector frees
        del cycle
        assert gc.collect() >= 1
        assert settled - 1_000 < gc.get_freeze_count() <= settled, "the collection left the settled objects settled"
    assert gc.get_freeze_count() == 0


def test_a_metric_module_is_made_once_and_still_computes_after_a_refused_input():
    import evaluate

    from hf_transfer.metrics import load_metric

    accuracy = load_metric("accuracy")
    assert isinstance(accuracy, evaluate.EvaluationModule) and type(accuracy).__name__ == "Accuracy"
    assert load_metric("accuracy") is accuracy and load_metric("accuracy", "multilabel") is not accuracy
    with pytest.raises(ValueError, match="class ids"):
        accuracy.compute(predictions=[0.7, 1.0], references=[1, 1])
    # nothing of the refused call is counted in the next one
    assert accuracy.compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"] == pytest.approx(2 / 3)
    assert accuracy.compute(predictions=[1], references=[1])["accuracy"] == 1.0


class BatchLengths(TrainerCallback):
    """The padded length of every batch the model trains on."""

    def __init__(self):
        self.lengths: list[int] = []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        model.register_forward_pre_hook(
            lambda module, positional, named: self.lengths.append(named["input_ids"].shape[1]), with_kwargs=True
        )


@pytest.mark.parametrize("bf16", ["false", "true"])
def test_batches_pad_to_8_tokens_in_16_bits_and_to_their_longest_row_in_fp32_on_a_cpu(tiny_bert, sentiment_files,
                                                                                       tmp_path, bf16):  # fmt: skip
    """Padding to a multiple of 8 saves memory in bf16 (1.76 -> 1.54 GiB on MiniLM) but cost fp32 training 9% for
    nothing: fp32 batches on a CPU are padded to their longest row only."""
    from hf_transfer.run.options import RunOptions
    from hf_transfer.run.train import run

    watch = BatchLengths()
    recipe = tiny_recipe(tiny_bert, sentiment_files, "--max_steps", "4", "--bf16", bf16)
    run(recipe, RunOptions(output_dir=tmp_path / "out"), callbacks=[watch])
    assert len(watch.lengths) >= 4
    if bf16 == "true":
        assert all(n % 8 == 0 for n in watch.lengths), watch.lengths
    else:
        assert any(n % 8 for n in watch.lengths), watch.lengths


def test_the_pad_multiple_follows_the_precision_and_the_device():
    from types import SimpleNamespace

    from hf_transfer.tasks import PAD_MULTIPLE, pad_multiple

    cpu, gpu = SimpleNamespace(type="cpu"), SimpleNamespace(type="cuda")
    assert pad_multiple(SimpleNamespace(bf16=True, fp16=False, use_cpu=True, device=cpu)) == PAD_MULTIPLE == 8
    assert pad_multiple(SimpleNamespace(bf16=False, fp16=True, use_cpu=False, device=gpu)) == 8
    assert pad_multiple(SimpleNamespace(bf16=False, fp16=False, use_cpu=False, device=gpu)) == 8
    assert pad_multiple(SimpleNamespace(bf16=False, fp16=False, use_cpu=False, device=cpu)) is None
    assert pad_multiple(SimpleNamespace(bf16=False, fp16=False, use_cpu=True, device=cpu)) is None

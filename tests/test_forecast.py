"""What the end of a run holds in memory, and what plan's forecast covers after training (issue 35).

The alpaca-smollm2 run peaked at 9.83 GiB against a forecast of 4.45 GiB: the reload check ran the trained and the
reloaded model on a batch of 8 rows and compared their logits (8 rows x up to 512 positions x 49,152 tokens) as
whole float64 arrays, over 4 GiB for a moment; and the optimizer state and the heap the training steps freed were
still held when the end of the run loaded the saved model a second time. The forecast probed neither the end of the
run nor what it does after training (generation, the test split, --test_file's predictions)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from conftest import tiny_run_args

# ---- the end of a run, in memory


def test_outputs_are_compared_in_pieces_of_bounded_memory():
    """Two 64 MiB outputs compared: the comparison's own memory stays under the size of one of them (the whole-array
    float64 copies and differences took several times their size), with the same findings."""
    import tracemalloc

    import numpy as np

    from hf_transfer.run.reload_check import agreement

    rng = np.random.default_rng(0)
    ours = rng.standard_normal((8, 64, 32768), dtype=np.float32)  # 16M values, as a causal LM's logits of 8 rows
    theirs = ours.copy()
    theirs[3, 5, 7] += 0.25
    theirs[6, 1, int(ours[6, 1].argmin())] = float(ours[6, 1].max()) + 1.0  # one prediction changes
    ours[7, 60:] = theirs[7, 60:] = -100  # positions the evaluation loop padded: not predictions
    expected = float(np.abs(ours.astype(np.float64) - theirs).max())
    tracemalloc.start()
    try:
        found = agreement(ours, theirs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < ours.nbytes
    assert found["max_difference"] == pytest.approx(expected) and found["scale"] == pytest.approx(100.0)
    assert found["changed_predictions"] == 1 and found["predictions"] == 8 * 64 - 4


def test_the_reload_check_runs_the_two_models_a_row_at_a_time():
    """A batch of 8 rows went through both models at once: a causal LM's logits of 8 rows took GiB per model."""
    import datasets
    import torch

    from hf_transfer.run.reload_check import compare_reloaded

    class Model(torch.nn.Module):
        device = torch.device("cpu")

        def __init__(self, seen: list, shift: float = 0.0):
            super().__init__()
            self.seen, self.shift = seen, shift

        def forward(self, input_ids, attention_mask=None, labels=None):
            self.seen.append(len(input_ids))
            logits = torch.nn.functional.one_hot(input_ids % 5, 5).float() + self.shift
            return {"loss": logits.sum(), "logits": logits}

    batch = {"input_ids": torch.arange(80).reshape(8, 10), "attention_mask": torch.ones(8, 10, dtype=torch.long)}
    seen: list[int] = []
    trainer = SimpleNamespace(model=Model(seen), get_eval_dataloader=lambda rows: [batch])
    features = datasets.Dataset.from_dict({"input_ids": [[1, 2]] * 20})
    found = compare_reloaded(trainer, Model(seen, shift=1e-6), features, {})
    assert seen == [1] * 16, "each of the 8 rows through the trained and the reloaded model, one at a time"
    assert found["rows"] == 8 and found["predictions"] == 80 and found["changed_predictions"] == 0
    assert 0 < found["max_difference"] < 1e-5


def test_the_optimizer_state_is_let_go_before_the_end_of_the_run(tiny_bert, sentiment_files, tmp_path, run_cli,
                                                                 monkeypatch):  # fmt: skip
    """AdamW's state (twice the model in a full run) was still held while the saved model was loaded a second time
    and evaluated; so were the gradients."""
    from hf_transfer.run import train

    held = {}
    check = train.evaluate_reloaded

    def watching(trainer, *args, **kwargs):
        held.update(optimizer=trainer.optimizer, kept=list(trainer.accelerator._optimizers),
                    grads=[p for p in trainer.model.parameters() if p.grad is not None])  # fmt: skip
        return check(trainer, *args, **kwargs)

    monkeypatch.setattr(train, "evaluate_reloaded", watching)
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, tmp_path / "run", "--num_train_epochs", "1"))
    assert code == 0, err
    assert held == {"optimizer": None, "kept": [], "grads": []}
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["reload_check"]["match"]


def test_a_spike_between_two_memory_samples_is_counted():
    """The probe sampled its memory every 50 ms: an evaluation batch's spike could fall between two samples (NER's
    forecast missed 0.1 GiB of one). Where the block raises the process's high-water mark, that is its peak."""
    import numpy as np

    from hf_transfer.base.hardware import PeakMemory

    if not PeakMemory.high_water():
        pytest.skip("no VmHWM here (not Linux): the samples alone count")
    before = PeakMemory.rss()
    spike = PeakMemory.high_water() - before + 100 * 2**20  # above anything this process held so far
    with PeakMemory(interval=60) as memory:  # no sample falls inside the block
        values = np.ones(spike // 8)
        del values
    assert memory.peak_rss >= before + spike - 8 * 2**20


# ---- what plan forecasts


def plan_json(run_cli, *args) -> dict:
    code, out, err = run_cli("plan", *[str(a) for a in args], "--json")
    assert code == 0, err
    [forecast] = json.loads(out)
    return forecast


def plan_flags(tiny_bert, files) -> list:
    """The tiny run's flags as plan takes them (no run folder)."""
    return tiny_run_args(tiny_bert, files, None, command="plan")[1:]


def test_the_probe_trains_its_longest_batch_last():
    """A run's longest batch comes after batches of other lengths, whose freed memory the C allocator keeps: the
    probe's longest batch came first, and its peak fell short of the run's (QA 3.91 GiB forecast, 4.51 GiB run)."""
    import datasets

    from hf_transfer.run.probe import probe_rows

    rows = datasets.Dataset.from_dict({"input_ids": [[1] * (n + 1) for n in range(40)]})
    groups = probe_rows(rows, 4)
    lengths = [sorted(len(rows[i]["input_ids"]) for i in group) for group in groups]
    assert lengths[-1] == [37, 38, 39, 40], "the longest rows, last"
    assert max(map(max, lengths[:-1])) < 37 and lengths[0] == lengths[2], "a median warm-up, then shorter to longer"


def test_the_probe_ends_on_the_heaviest_batch_the_runs_sampler_draws(monkeypatch):
    """Batches in random order, packed into one row each (instruction tuning's default), seldom put the longest rows
    together, and which heavy batch a run meets is chance: the probe's last batch is the heaviest batch that 9 runs in
    10 of this one stay under, by collated tokens, not the longest rows (SmolLM2 on Alpaca, two epochs, peak 4.28 GiB:
    the longest rows packed forecast 5.50, the first epoch's heaviest batch 3.06, both epochs' 3.33)."""
    import datasets

    from hf_transfer.run import forecast
    from hf_transfer.run.probe import probe_rows

    rows = datasets.Dataset.from_dict({"input_ids": [[1] * (n + 1) for n in range(40)]})
    chosen = [3, 17, 39, 8]
    assert probe_rows(rows, 4, heaviest=chosen)[-1] == chosen
    assert probe_rows(rows, 4, heaviest=chosen)[:-1] == probe_rows(rows, 4)[:-1], "the timed quantiles stay"

    seen = {}

    def recording(run, model, heaviest=None):
        seen["heaviest"] = heaviest
        raise RuntimeError("stop after the choice")

    monkeypatch.setattr(forecast, "probe", recording)
    run = SimpleNamespace(
        args=SimpleNamespace(per_device_train_batch_size=4, gradient_accumulation_steps=1, seed=3, world_size=1,
                             max_steps=0, num_train_epochs=3, train_sampling_strategy="random", bf16=False,
                             fp16=False, use_cpu=True),
        loaded=SimpleNamespace(tokenized={"train": rows}, tokenizer=None,
                               recipe=SimpleNamespace(task=SimpleNamespace(collator=lambda tokenizer, pad: packed))),
    )  # fmt: skip

    def packed(features):  # one row of every example's tokens, as a packing collator makes it
        import torch

        return {"input_ids": torch.ones(1, sum(len(f["input_ids"]) for f in features), dtype=torch.long)}

    with pytest.raises(RuntimeError, match="stop after the choice"):
        forecast.forecast_run(run, None, 0.0, 0.0)
    # twenty runs of three epochs (ten batches each, one seed per epoch) drawn again: each run's heaviest batch, and
    # the forecast takes the one that 9 runs in 10 do not exceed
    maxima = []
    for k in range(20):
        batches = [b for epoch in range(3) for b in forecast.epoch_batches(rows, run.args, 3 + 1000 * k + epoch)]
        maxima.append(max(sum(i + 1 for i in batch) for batch in batches))
    chosen = sum(i + 1 for i in seen["heaviest"])
    assert chosen == sorted(maxima)[17], (chosen, sorted(maxima))
    assert sum(i + 1 for i in seen["heaviest"]) < sum(range(37, 41)), "not the four longest rows packed"
    # length-grouped batches put the longest row in a batch of its own length every epoch: that batch, padded
    run.args.train_sampling_strategy = "group_by_length"
    with pytest.raises(RuntimeError, match="stop after the choice"):
        forecast.forecast_run(run, None, 0.0, 0.0)
    assert 39 in seen["heaviest"], "the longest row's batch"


def test_the_peak_is_the_larger_of_the_training_and_the_end_of_the_run(tiny_bert, sentiment_files, run_cli):
    """The end of the run holds a second copy of the model (the saved one, reloaded and evaluated): the forecast
    reckons it, beside the training's peak, and says which is larger."""
    forecast = plan_json(run_cli, *plan_flags(tiny_bert, sentiment_files))
    memory, parts = forecast["memory"], forecast["memory"]["end_parts"]
    weights = forecast["total"] * 4  # the tiny BERT in fp32
    assert weights <= parts["second_model"] < weights + 2**20, "its weights and buffers"
    assert parts["held"] > parts["second_model"] and {"evaluation", "reload_check"} <= set(parts)
    others = max(v for k, v in parts.items() if k not in ("held", "second_model"))
    assert memory["end"] == parts["held"] + parts["second_model"] + others
    assert forecast["peak_rss_bytes"] == max(memory["training"], memory["end"]) == memory[forecast["peak_phase"]]


def test_plan_forecasts_a_test_files_predictions_and_says_what_it_leaves_out(tiny_bert, sentiment_files, tmp_path,
                                                                             run_cli):  # fmt: skip
    """--test_file's predictions and --push_to_hub's upload follow the run: plan took neither flag's work into
    account (--test_file was not even accepted)."""
    from conftest import sentiment_rows, write_csv

    test_file = write_csv(tmp_path / "test.csv", sentiment_rows(70, seed=3))
    flags = plan_flags(tiny_bert, sentiment_files)
    without = plan_json(run_cli, *flags)
    forecast = plan_json(run_cli, *flags, "--test_file", test_file, "--push_to_hub", "--hub_model_id", "me/tiny")
    assert without["seconds"]["test_file"] == 0 and without["not_forecast"] == []
    assert forecast["probe"]["test_file_rows"] == 70 and forecast["seconds"]["test_file"] > 0
    assert forecast["seconds"]["total"] == pytest.approx(sum(v for k, v in forecast["seconds"].items()
                                                             if k != "total"), abs=0.02)  # fmt: skip
    [upload] = forecast["not_forecast"]
    assert upload.startswith("--push_to_hub: uploading the run folder") and "me/tiny" in upload
    code, out, err = run_cli("plan", *flags, "--test_file", test_file, "--push_to_hub", "--hub_model_id", "me/tiny")
    assert code == 0, err
    assert "--test_file predictions" in out and "full: not in the forecast: --push_to_hub: uploading" in out
    code, _, err = run_cli("plan", *flags, "--test_file", tmp_path / "missing.csv")
    assert code == 2 and "missing.csv" in err, "a test file the run would refuse, refused by plan too"


def test_a_budgeted_run_keeps_time_for_its_test_files_predictions(tiny_bert, sentiment_files, tmp_path):
    """--time_budget covers the whole command: the time kept after training includes the predictions that follow."""
    import dataclasses

    from test_plan_tune import tiny_recipe

    from hf_transfer.base.console import Console
    from hf_transfer.commands.plan import plan
    from hf_transfer.run.options import RunOptions

    from conftest import sentiment_rows, write_csv

    recipe = tiny_recipe(tiny_bert, sentiment_files)
    test_file = write_csv(tmp_path / "test.csv", sentiment_rows(70, seed=3))
    options = dataclasses.replace(RunOptions(output_dir=tmp_path / "x"), test_file=test_file)
    with Console() as console:
        [forecast] = plan(recipe, ["lora"], console, options=options)
    seconds = forecast.seconds
    after = ("test_split", "save_and_check", "generation", "test_file")
    assert seconds["test_file"] > 0 and forecast.final_seconds == pytest.approx(sum(seconds[k] for k in after),
                                                                                 abs=0.05)  # fmt: skip


def test_plan_forecasts_the_test_split(tiny_bert, tmp_path):
    """Data with a test split is evaluated on it once, after training: a phase of its own in the forecast."""
    import dataclasses

    from test_plan_tune import tiny_recipe

    from hf_transfer.base.console import Console
    from hf_transfer.commands.plan import phase_lines, plan
    from hf_transfer.sources import HubData

    from conftest import sentiment_rows, write_csv

    folder = tmp_path / "data"
    folder.mkdir()
    for split, rows, seed in (("train", 120, 1), ("validation", 30, 2), ("test", 60, 3)):
        write_csv(folder / f"{split}.csv", sentiment_rows(rows, seed))
    recipe = tiny_recipe(tiny_bert, {"train": folder / "train.csv"})
    data = HubData(str(folder), columns={"text": "sentence"}, eval_split="validation", test_split="test")
    with Console() as console:
        [forecast] = plan(dataclasses.replace(recipe, data=data).validate(), ["full"], console)
    assert forecast.seconds["test_split"] > 0
    assert "test split" in "\n".join(phase_lines([forecast]))


def test_an_instruction_tuning_forecast_has_its_generation(tiny_smollm2, tmp_path, run_cli):
    """Instruction tuning generates after training (samples.jsonl, and the generation metrics where metrics are
    named): the forecast times a batch of the task's generation and counts every prompt."""
    from conftest import instruction_rows, write_jsonl

    train = write_jsonl(tmp_path / "train.jsonl", instruction_rows(24, seed=1))
    valid = write_jsonl(tmp_path / "valid.jsonl", instruction_rows(12, seed=2))
    flags = ["alpaca-smollm2", "--method", "lora", "--model_name_or_path", tiny_smollm2, "--train_file", train,
             "--validation_file", valid, "--max_steps", "2", "--set", "task.max_new_tokens=6"]  # fmt: skip
    samples = plan_json(run_cli, *flags)
    assert samples["probe"]["generated"] == 3 and samples["seconds"]["generation"] > 0, "samples.jsonl's 3 prompts"
    scored = plan_json(run_cli, *flags, "--set", "metrics=[rouge]", "--set", "task.generation_samples=10")
    assert scored["probe"]["generated"] == 3 + 10 and scored["seconds"]["generation"] > 0
    assert "predict" in scored["memory"]["end_parts"], "the memory of generating a batch"


def test_generation_the_probe_cannot_time_is_said_to_be_left_out(tiny_smollm2, tmp_path, run_cli):
    """Chat rows (messages) give predict no instruction to time generation on: the forecast says what it leaves out
    rather than forecasting nothing for it."""
    from conftest import instruction_rows, write_jsonl

    def chats(n: int, seed: int) -> list[dict]:
        return [{"messages": [{"role": "user", "content": r["instruction"]}, {"role": "assistant",
                                                                              "content": r["output"]}]}
                for r in instruction_rows(n, seed)]  # fmt: skip

    train = write_jsonl(tmp_path / "train.jsonl", chats(24, 1))
    valid = write_jsonl(tmp_path / "valid.jsonl", chats(12, 2))
    forecast = plan_json(run_cli, "alpaca-smollm2", "--method", "lora", "--model_name_or_path", tiny_smollm2,
                         "--train_file", train, "--validation_file", valid, "--max_steps", "2")  # fmt: skip
    assert forecast["probe"]["generated"] == 3 and forecast["seconds"]["generation"] == 0
    [left_out] = forecast["not_forecast"]
    assert left_out.startswith("generating or predicting for 3 rows")

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

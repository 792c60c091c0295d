"""Evaluation batches go longest first, and compute_metrics still sees rows in dataset order (issue 15)."""

from __future__ import annotations


def test_eval_sorted_by_length_and_metrics_in_dataset_order(tiny_bert, tmp_path):
    import numpy as np
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

    from hf_transfer.run.arguments import make_training_args
    from hf_transfer.run.trainer import eval_order, trainer_class
    from hf_transfer.tasks.classification import TextClassification

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = ["good " * n for n in (3, 30, 1, 12, 7, 20, 2, 9)]
    data = Dataset.from_dict(dict(tokenizer(texts), labels=list(range(8))))
    order = eval_order(data)
    lengths = [len(x) for x in data["input_ids"]]
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)

    seen = {}

    def compute(eval_pred):
        seen["labels"] = list(eval_pred.label_ids)
        seen["rows"] = len(eval_pred.predictions)
        return {}

    task = TextClassification(label_names=[str(i) for i in range(8)])
    batches = []
    collator = DataCollatorWithPadding(tokenizer)

    def collate(features):
        batch = collator(features)
        batches.append(batch["input_ids"].shape[1])
        return batch

    model = AutoModelForSequenceClassification.from_pretrained(tiny_bert, num_labels=8)
    args = make_training_args(tmp_path, {"per_device_eval_batch_size": 2, "report_to": "none", "use_cpu": True}, task)
    trainer = trainer_class(task)(
        model=model, args=args, eval_dataset=data, data_collator=collate, compute_metrics=compute
    )
    trainer.evaluate()
    assert seen["labels"] == list(range(8)), "compute_metrics gets dataset order back"
    assert batches == sorted(batches, reverse=True), "padded lengths shrink batch by batch"
    assert np.isclose(batches[0], max(lengths))

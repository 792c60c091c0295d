"""Out-of-fold probabilities from short LoRA runs (``check --label_issues --label_issue_method lora``): per fold, the
recipe's checkpoint with a fresh LoRA adapter (the recipe's LoRA settings, the methods registry's ``lora``), trained
for a few passes over the other folds with AdamW at the recipe's LoRA learning rate, then asked for the held-out
fold's class probabilities. The task tokenizes and collates exactly as a run does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

BATCH = 16


@dataclasses.dataclass
class LoraFolds:
    recipe: Any
    """The resolved recipe (task with its learned labels)."""
    tokenizer: Any
    load_model: Callable[[], Any]
    """A fresh copy of the checkpoint with its task head, for each fold."""
    epochs: int = 1
    seed: int = 42

    def describe(self, folds: int) -> str:
        return f"short LoRA runs ({self.epochs} epoch{'s' * (self.epochs != 1)} each), {folds} folds"

    def _features(self, train):
        task = self.recipe.task
        encoded = train.map(task.tokenize_function(self.tokenizer), batched=True)
        word_ids = encoded["word_ids"] if "word_ids" in encoded.column_names else None
        keep = [c for c in ("input_ids", "attention_mask", "token_type_ids", "labels") if c in encoded.column_names]
        return encoded.select_columns(keep), word_ids

    def _logits(self, encoded, train_rows, held_rows):
        """Train a fresh LoRA model on ``train_rows``; the held-out rows' logits (padded batches, as a list)."""
        import torch

        from hf_transfer.methods import count_parameters, learning_rate, prepare_model
        from hf_transfer.recipe import defaults

        recipe = dataclasses.replace(self.recipe, method="lora")
        torch.manual_seed(self.seed)
        model = prepare_model(self.load_model(), recipe, recipe.task)
        collate = recipe.task.collator(self.tokenizer)
        rate = learning_rate(recipe) or defaults.learning_rate(count_parameters(model)[1], "lora").value
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=rate)
        generator = torch.Generator().manual_seed(self.seed)
        model.train()
        for _ in range(self.epochs):
            order = [train_rows[i] for i in torch.randperm(len(train_rows), generator=generator).tolist()]
            for start in range(0, len(order), BATCH):
                batch = collate([encoded[i] for i in order[start : start + BATCH]])
                loss = model(**batch).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
        model.eval()
        out = []
        with torch.no_grad():
            for start in range(0, len(held_rows), BATCH):
                rows = held_rows[start : start + BATCH]
                batch = collate([encoded[i] for i in rows])
                batch.pop("labels", None)
                out.extend(zip(rows, torch.softmax(model(**batch).logits.float(), -1).numpy(), strict=True))
        return out

    def row_probabilities(self, train, labels, splitter):
        import numpy as np

        encoded, _ = self._features(train)
        probs = np.zeros((len(labels), int(labels.max()) + 1))
        for train_rows, held_rows in splitter.split(np.zeros(len(labels)), labels):
            for row, p in self._logits(encoded, train_rows.tolist(), held_rows.tolist()):
                probs[row, : len(p)] = p
        return probs

    def word_probabilities(self, train, folds: int):
        """(probabilities of each word's first sub-token, its tag, its sentence), words in sentence order."""
        import numpy as np
        from sklearn.model_selection import KFold

        from hf_transfer.datacheck.label_issues import first_sub_tokens

        encoded, word_ids = self._features(train)
        per_row = {}
        for train_rows, held_rows in KFold(folds, shuffle=True, random_state=self.seed).split(np.zeros(len(train))):
            per_row.update(self._logits(encoded, train_rows.tolist(), held_rows.tolist()))
        probs, labels, groups = [], [], []
        tags = train["tags"]
        for row in range(len(train)):
            for position, word in first_sub_tokens(word_ids[row]):
                probs.append(per_row[row][position])
                labels.append(tags[row][word])
                groups.append(row)
        return np.stack(probs), np.asarray(labels), np.asarray(groups)

"""Likely label errors (``hf-transfer check --label_issues``): out-of-fold predicted probabilities of a cheap method
trained on k folds, given to cleanlab. The user picks the method (``--label_issue_method``):

- ``freeze`` (the default): each row (NER: each word) is embedded once by the recipe's checkpoint, frozen (the mean
  of the last hidden states; NER: each word's first sub-token); a logistic regression is trained on k - 1 folds.
- ``lora``: a short LoRA run per fold (the recipe's LoRA settings and learning rate, ``epochs`` passes over the
  k - 1 folds; ``lora_folds.py``): slower, and it sees what a frozen checkpoint's features miss.

Either way each fold's model predicts the held-out fold, so no row is scored by a model that saw its label, and
cleanlab's ``find_label_issues`` ranks the rows whose given label the predictions doubt most. The task says what it
labels (``Task.label_issue_unit``): rows, or tokens.
"""

from __future__ import annotations

from hf_transfer.base.errors import UserError

BATCH = 32


def _hidden(model, tokenizer, batches, device="cpu"):
    import torch

    with torch.no_grad():
        for encoded in batches:
            out = model(**{k: v.to(device) for k, v in encoded.items()}, output_hidden_states=True)
            yield encoded, out.hidden_states[-1].float()


def _row_features(model, tokenizer, ds, task):
    import numpy as np

    pairs = ds["text_pair"] if "text_pair" in ds.column_names else None
    texts = [t or "" for t in ds["text"]]

    def batches():
        for start in range(0, len(texts), BATCH):
            second = pairs[start : start + BATCH] if pairs else None
            yield tokenizer(texts[start : start + BATCH], second, truncation=True, max_length=task.max_length,
                            padding=True, return_tensors="pt")  # fmt: skip

    out = []
    for encoded, hidden in _hidden(model, tokenizer, batches()):
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        out.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
    return np.concatenate(out)


def first_sub_tokens(word_ids) -> list[tuple[int, int]]:
    """(position, word) of each word's first sub-token, in order (``None`` / -1: not a word)."""
    seen, out = set(), []
    for position, word in enumerate(word_ids):
        if word is not None and word >= 0 and word not in seen:
            seen.add(word)
            out.append((position, word))
    return out


def _word_features(model, tokenizer, ds, task):
    """(features of each word that fits the length limit, its tag, its sentence)."""
    import numpy as np

    sentences, tags = ds["tokens"], ds["tags"]
    features, labels, groups = [], [], []
    for start in range(0, len(sentences), BATCH):
        words = sentences[start : start + BATCH]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=task.max_length,
                            padding=True, return_tensors="pt")  # fmt: skip
        word_ids = [encoded.word_ids(i) for i in range(len(words))]
        (_, hidden), = _hidden(model, tokenizer, [encoded])
        for i, ids in enumerate(word_ids):
            for position, word in first_sub_tokens(ids):
                features.append(hidden[i, position].numpy())
                labels.append(tags[start + i][word])
                groups.append(start + i)
    return np.stack(features), np.asarray(labels), np.asarray(groups)


def fold_splitter(labels, folds: int, groups=None, seed: int = 42):
    """k folds: stratified by label over rows, or whole groups (NER: sentences) kept together."""
    import numpy as np
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    classes = np.unique(labels)
    smallest = min(int((labels == c).sum()) for c in classes)
    if groups is None and smallest < folds:
        raise UserError(
            f"--label_issues trains on {folds} folds, but a class has only {smallest} training rows: each class needs "
            f"{folds} or more (or fewer folds: --label_issue_folds)."
        )
    return GroupKFold(n_splits=folds) if groups is not None else StratifiedKFold(folds, shuffle=True, random_state=seed)


def _out_of_fold(features, labels, folds: int, groups=None, seed: int = 42):
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = np.unique(labels)
    cv = fold_splitter(labels, folds, groups, seed)
    head = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probs = cross_val_predict(head, features, labels, cv=cv, groups=groups, method="predict_proba")
    full = np.zeros((len(labels), int(labels.max()) + 1))
    full[:, classes] = probs  # a class absent from a fold's training part gets no probability there
    return full


def label_issues(splits, task, model, tokenizer, folds: int = 5, top: int = 20, lora=None) -> dict:
    """The training rows (NER: words) cleanlab finds likely mislabelled, the most doubtful first. ``model``: the
    recipe's checkpoint with its task head (its last hidden states are the features), in eval mode. ``lora``: a
    ``lora_folds.LoraFolds`` to use short LoRA runs instead of frozen features."""
    import numpy as np
    from cleanlab.filter import find_label_issues

    unit = task.label_issue_unit()
    if unit is None:
        raise UserError(
            f"--label_issues covers single-label text classification and token classification (NER); not "
            f"{task.describe()}."
        )
    if folds < 2:
        raise UserError(f"--label_issue_folds must be 2 or more (got {folds}).")
    train, names = splits["train"], task.class_names()
    if unit == "rows":
        labels = np.asarray(train["labels"])
        if lora is not None:
            probs = lora.row_probabilities(train, labels, fold_splitter(labels, folds))
        else:
            probs = _out_of_fold(_row_features(model, tokenizer, train, task), labels, folds)
        ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
        issues = [{"row": int(i), "text": train[int(i)]["text"], "given": names[labels[i]],
                   "suspected": names[int(probs[i].argmax())],
                   "given_probability": round(float(probs[i, labels[i]]), 3)} for i in ranked[:top]]  # fmt: skip
        how = lora.describe(folds) if lora is not None else f"frozen features + logistic regression, {folds} folds"
        return {"unit": "rows", "method": how, "count": len(ranked),
                "of": len(labels), "issues": issues, "ranked_rows": [int(i) for i in ranked]}  # fmt: skip
    from cleanlab.token_classification.filter import find_label_issues as find_token_issues

    if lora is not None:
        probs, labels, groups = lora.word_probabilities(train, min(folds, len(train)))
    else:
        features, labels, groups = _word_features(model, tokenizer, train, task)
        probs = _out_of_fold(features, labels, min(folds, len(set(groups.tolist()))), groups)
    by_sentence = sorted(set(groups.tolist()))
    per_labels = [labels[groups == s].tolist() for s in by_sentence]
    per_probs = [probs[groups == s] for s in by_sentence]
    ranked = find_token_issues(per_labels, per_probs)
    issues = []
    for sentence, word in ranked[:top]:
        row = by_sentence[sentence]
        label = per_labels[sentence][word]
        issues.append({"row": row, "word": word, "token": train[row]["tokens"][word], "given": names[label],
                       "suspected": names[int(per_probs[sentence][word].argmax())],
                       "given_probability": round(float(per_probs[sentence][word][label]), 3)})  # fmt: skip
    how = (lora.describe(folds) if lora is not None else
           f"frozen features + logistic regression, {folds} folds") + " by sentence"  # fmt: skip
    return {"unit": "tokens", "method": how,
            "count": len(ranked), "of": len(labels), "issues": issues,
            "ranked": [[by_sentence[s], w] for s, w in ranked]}  # fmt: skip

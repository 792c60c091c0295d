"""Token classification (NER): word-level tags aligned to sub-tokens, entity-level seqeval metrics."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from hf_transfer.base.errors import UserError
from hf_transfer.tasks import IGNORE_INDEX, PAD_MULTIPLE, Task, register
from hf_transfer.tasks._shared import CheckedRow, class_counts, counts_f1, head_names_present

NEEDS_PREFIX_SPACE = {"roberta", "gpt2", "bart", "longformer", "deberta", "mvp", "led"}
"""Byte-level BPE tokenizers that need add_prefix_space=True for pre-split words."""
WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
"""How ``predict`` splits raw text into words (letters/digits runs, punctuation alone)."""


def align_labels(
    word_ids: list[int | None], word_labels: list[int], label_all_subtokens: bool, continuation: dict[int, int]
) -> list[int]:
    """Sub-token labels from word labels: the first sub-token of a word carries the word's label;
    the others get -100, or with ``label_all_subtokens`` the label too (B-X turned into I-X)."""
    labels, previous = [], None
    for word in word_ids:
        if word is None:
            labels.append(IGNORE_INDEX)
        elif word != previous:
            labels.append(word_labels[word])
        elif label_all_subtokens:
            labels.append(continuation.get(word_labels[word], word_labels[word]))
        else:
            labels.append(IGNORE_INDEX)
        previous = word
    return labels


def first_subtoken_positions(word_ids: list[int]) -> list[int]:
    """Positions of each word's first sub-token (word ids stored with -1 for special tokens)."""
    out, previous = [], None
    for position, word in enumerate(word_ids):
        if word != -1 and word != previous:
            out.append(position)
        previous = word
    return out


def entity_spans(tags: list[str], scheme: str) -> list[tuple[str, int, int]]:
    """(type, first word, last word) for each entity in a tag sequence, read leniently."""
    spans: list[list] = []
    open_span = None
    for i, tag in enumerate(tags):
        prefix, _, kind = tag.partition("-")
        if tag == "O" or not kind:
            open_span = None
            continue
        # B and S always open an entity; I and E continue one of the same type, or open one (lenient)
        if open_span is None or open_span[0] != kind or prefix in ("B", "S"):
            open_span = [kind, i, i]
            spans.append(open_span)
        else:
            open_span[2] = i
        if prefix in ("E", "S") and scheme == "BIOES":
            open_span = None
    return [tuple(s) for s in spans]


@register
@dataclass
class TokenClassification(Task):
    kind = "token-classification"
    roles = {"tokens": True, "tags": True}
    peft_task_type = "TOKEN_CLS"
    metric_choices = ("seqeval",)
    auto_model = "AutoModelForTokenClassification"
    peft_auto_model = "AutoPeftModelForTokenClassification"

    max_length: int | None = None
    """The most tokens of a sentence the model reads; None: from the data (the limit that keeps 99% of the training rows
    whole, rounded up to a multiple of 8, at most the model's positions)."""
    label_names: list[str] | None = None
    """Tag set in id order. ``None``: from the data's ClassLabel names, else sorted with 'O' first."""
    label_all_subtokens: bool = False
    scheme: Literal["IOB1", "IOB2", "BIOES"] = "IOB2"

    def class_names(self) -> list[str]:
        return list(self.label_names or [])

    def problems(self) -> list[str]:
        out = []
        if self.max_length is not None and self.max_length <= 0:
            out.append("task.max_length must be positive")
        if self.label_names is not None and len(set(self.label_names)) != len(self.label_names):
            out.append("task.label_names has duplicates")
        return out

    def default_metrics(self) -> list[str]:
        return ["seqeval"]

    def main_metric(self) -> str:
        return "overall_f1"

    def report_keys(self, metric_names: list[str]) -> list[str]:
        return ["overall_precision", "overall_recall", "overall_f1"]

    def pipeline_tag(self) -> str:
        return "token-classification"

    def model_kwargs(self) -> dict[str, Any]:
        names = self.label_names or []
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }

    def tokenizer_kwargs(self, model_type: str) -> dict[str, Any]:
        return {"add_prefix_space": True} if model_type in NEEDS_PREFIX_SPACE else {}

    # ---- labels ---------------------------------------------------------------------------

    def prepare(self, splits):
        names = self.label_names or self._learn_names(splits["train"])
        bare = [n for n in names if n != "O" and not re.match(r"^[BIES]-.", n)]
        if bare:
            raise UserError(
                f"Tags {bare[:5]} have no B-/I- prefix, which scheme {self.scheme} needs to find entities (seqeval "
                "would score 0). Write them as B-X / I-X (IOB2: B- opens an entity, I- continues it), or map them."
            )
        learned = {"label_names": names}
        resolved = self.with_learned(learned)
        index = {n: i for i, n in enumerate(names)}
        encoded = {}
        for split, ds in splits.items():
            all_tags = []
            for row, (tokens, tags) in enumerate(zip(ds["tokens"], ds["tags"], strict=True)):
                if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                    raise UserError(
                        f"Row {row} of the {split} split: tokens must be a list of strings, got {tokens!r}."
                    )
                if not isinstance(tags, list) or len(tags) != len(tokens):
                    got = len(tags) if isinstance(tags, list) else repr(tags)
                    raise UserError(f"Row {row} of the {split} split has {len(tokens)} tokens but {got} tags.")
                if not tokens:
                    raise UserError(f"Row {row} of the {split} split has no tokens.")
                all_tags.append([resolved._tag_id(tag, index, split, row) for tag in tags])
            encoded[split] = ds.remove_columns("tags").add_column("tags", all_tags)
        return type(splits)(encoded), learned

    def check_row(self, row: dict) -> CheckedRow:
        tags = tuple(self.label_names[t] for t in row["tags"])
        return CheckedRow(" ".join(row["tokens"]), tags, tuple(t for t in tags if t != "O"))

    def label_issue_unit(self) -> str | None:
        return "tokens"

    def _learn_names(self, train) -> list[str]:
        inner = getattr(train.features["tags"], "feature", None)
        if inner is not None and hasattr(inner, "names"):
            return list(inner.names)
        seen = {tag for tags in train["tags"] if isinstance(tags, list) for tag in tags}
        if any(not isinstance(t, str) for t in seen):
            raise UserError(
                "Integer tags need their names: set task.label_names, e.g. --set 'task.label_names=[O, B-PER, I-PER]'."
            )
        return sorted(seen, key=lambda t: (t != "O", t.partition("-")[2], t))

    def _tag_id(self, tag, index, split, row) -> int:
        if isinstance(tag, str):
            if tag in index:
                return index[tag]
        elif isinstance(tag, int) and not isinstance(tag, bool) and 0 <= tag < len(index):
            return tag
        raise UserError(f"Tag {tag!r} in row {row} of the {split} split is not in the tag set ({', '.join(index)}).")

    # ---- tokenization ---------------------------------------------------------------------

    def tokenize_function(self, tokenizer):
        names = self.label_names
        continuation = {}
        for i, name in enumerate(names):
            if name.startswith(("B-", "S-")) and f"I-{name[2:]}" in names:
                continuation[i] = names.index(f"I-{name[2:]}")

        def tokenize(batch):
            encoded = tokenizer(batch["tokens"], is_split_into_words=True, truncation=True, max_length=self.max_length)
            labels, word_ids = [], []
            for i, tags in enumerate(batch["tags"]):
                ids = encoded.word_ids(i)
                labels.append(align_labels(ids, tags, self.label_all_subtokens, continuation))
                word_ids.append([-1 if w is None else w for w in ids])
            encoded["labels"] = labels
            encoded["word_ids"] = word_ids
            return encoded

        return tokenize

    def collator(self, tokenizer, pad_to_multiple_of: int | None = PAD_MULTIPLE):
        from transformers import DataCollatorForTokenClassification

        return DataCollatorForTokenClassification(tokenizer, pad_to_multiple_of=pad_to_multiple_of)

    def head_modules(self, model) -> list[str]:
        return head_names_present(model, ("classifier",))

    # ---- evaluation -----------------------------------------------------------------------

    def metrics_function(self, metric_names: list[str], examples=None, features=None, tokenizer=None):
        import numpy as np

        from hf_transfer.metrics import load_metric

        modules = [load_metric(name) for name in metric_names]
        names = self.label_names
        word_ids = features["word_ids"] if features is not None else None
        kwargs = {"scheme": "IOBES", "mode": "strict"} if self.scheme == "BIOES" else {}

        def compute(eval_pred):
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            predicted = np.asarray(logits).argmax(-1)
            references = np.asarray(eval_pred.label_ids)
            pred_tags, ref_tags = [], []
            for row in range(len(predicted)):
                if word_ids is not None:
                    positions = first_subtoken_positions(word_ids[row])
                else:
                    positions = [j for j, y in enumerate(references[row]) if y != IGNORE_INDEX]
                pred_tags.append([names[predicted[row][j]] for j in positions])
                ref_tags.append([names[references[row][j]] for j in positions])
            out = {}
            for module in modules:
                for key, value in module.compute(predictions=pred_tags, references=ref_tags, **kwargs).items():
                    if isinstance(value, dict):
                        out.update({f"{key}_{k}": v for k, v in value.items() if k != "number"})
                    else:
                        out[key] = value
            return out

        return compute

    def example_records(self, examples=None, features=None, tokenizer=None):
        import numpy as np

        names = self.label_names
        word_ids = features["word_ids"] if features is not None else None
        lengths = [len(ids) for ids in features["input_ids"]] if features is not None else None
        tokens = examples["tokens"] if examples is not None and "tokens" in examples.column_names else None

        def records(eval_pred):
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            predicted, references = np.asarray(logits).argmax(-1), np.asarray(eval_pred.label_ids)
            out = []
            for row in range(len(predicted)):
                if word_ids is not None:
                    positions = first_subtoken_positions(word_ids[row])
                else:
                    positions = [j for j, y in enumerate(references[row]) if y != IGNORE_INDEX]
                guess = set(entity_spans([names[predicted[row][j]] for j in positions], self.scheme))
                gold = set(entity_spans([names[references[row][j]] for j in positions], self.scheme))
                truncated = bool(lengths and lengths[row] >= self.max_length)
                if tokens is not None and len(positions) < len(tokens[row]):
                    truncated = True
                out.append({"prediction": sorted(guess), "reference": sorted(gold), "correct": guess == gold,
                            "truncated": truncated, **class_counts(guess, gold)})  # fmt: skip
            return out

        return records

    def aggregate(self, records: list[dict]) -> float:
        return counts_f1(records)

    # ---- prediction -----------------------------------------------------------------------

    def predict_text(self, row: dict) -> str:
        tokens = row.get("tokens")
        if isinstance(tokens, list) and tokens and "text" not in row:
            return " ".join(map(str, tokens))
        return super().predict_text(row)

    def predict(self, model, tokenizer, inputs: list[Any]) -> list[Any]:
        import torch

        if not all(isinstance(item, str) and item.strip() for item in inputs):
            raise UserError(
                'Token classification tags texts: hf-transfer predict RUN_DIR "Angela Merkel visited Paris."'
            )
        model.eval()
        results = []
        for text in inputs:
            matches = list(WORD.finditer(text))
            words = [m.group() for m in matches]
            encoded = tokenizer(
                words, is_split_into_words=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            ids = encoded.word_ids(0)
            with torch.no_grad():
                probs = torch.softmax(
                    model(**{k: v.to(model.device) for k, v in encoded.items()}).logits[0].float(), -1
                )
            word_probs: dict[int, list] = {}
            for position, word in enumerate(ids):
                if word is not None:
                    word_probs.setdefault(word, []).append(probs[position])
            tags, scores = [], []
            for word in range(len(words)):
                if word not in word_probs:  # cut off by max_length
                    tags.append("O")
                    scores.append(0.0)
                    continue
                # the sub-tokens that training labelled: the first one, or all of them
                pieces = word_probs[word] if self.label_all_subtokens else word_probs[word][:1]
                mean = torch.stack(pieces).mean(0)
                best = int(mean.argmax())
                tags.append(self.label_names[best])
                scores.append(float(mean[best]))
            entities = []
            for kind, first, last in entity_spans(tags, self.scheme):
                start, end = matches[first].start(), matches[last].end()
                entities.append(
                    {
                        "entity": kind,
                        "start": start,
                        "end": end,
                        "text": text[start:end],
                        "score": sum(scores[first : last + 1]) / (last - first + 1),
                    }
                )
            results.append(entities)
        return results

    def format_prediction(self, text: Any, prediction: Any) -> str:
        if not prediction:
            return f"{text}\n  (no entities)"
        lines = [
            f"  {e['entity']:<6} {e['start']:>4}-{e['end']:<4} {e['text']!r} ({e['score']:.3f})" for e in prediction
        ]
        return f"{text}\n" + "\n".join(lines)

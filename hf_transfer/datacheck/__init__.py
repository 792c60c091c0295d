"""The data check: what a recipe's data holds before compute is spent on it (``hf-transfer check``, and the cheap part
before every run).

Each task says what of a row is compared (``Task.check_row``: the text, its label, a part shared by design); this
package finds, per split: evaluation rows that are in the training data (exact, near-duplicate, contained), training
texts repeated or labelled two ways, label counts, token lengths against the task's limit, and rows that are not
text. ``overlap`` holds the comparisons, ``profile`` the per-split counts, ``report`` the console text.
"""

from __future__ import annotations

import time

from hf_transfer.base.errors import UserError
from hf_transfer.data.lengths import length_profile, limit_from_data
from hf_transfer.datacheck.overlap import (
    TrainingIndex,
    duplicates_and_conflicts,
    extra_rows,
    group_labels,
    normalise,
    rows_to_drop,
    training_groups,
)
from hf_transfer.datacheck.profile import label_counts, non_text

DEFAULT_THRESHOLD = 0.8
PREFLIGHT_NEAR_ROWS = 200_000
"""Above this many training rows a run's preflight leaves the near-duplicate search to ``hf-transfer check`` (17 s and
900 MiB at 100,000 rows: benchmarks/results/check.md)."""
EXAMPLES = 5
"""Worst examples kept per finding (data_check.json and the console)."""


def check_threshold(value: float) -> float:
    if not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise UserError(
            f"--near_duplicate_threshold {value} is not a Jaccard similarity: give a number above 0 and at most 1 "
            f"(default {DEFAULT_THRESHOLD}: texts sharing 80% of their word shingles)."
        )
    return float(value)


def check_splits(splits, task, tokenizer=None, threshold: float = DEFAULT_THRESHOLD, contained: bool = True,
                 near: bool = True, cap: int | None = None) -> dict:  # fmt: skip
    """The data check of prepared splits (roles named, labels encoded: ``data.load_splits``) as plain data, what
    ``data_check.json`` holds. ``tokenizer``: measure token lengths with it (None: lengths are not measured; ``cap``:
    the most the model reads, where a limit comes from the data);
    ``contained``: look for evaluation texts inside longer training texts (a pass over every training word);
    ``near``: look for near-duplicates (MinHash LSH; False: exact leakage only)."""
    started = time.perf_counter()
    threshold = check_threshold(threshold)
    rows = {split: [task.check_row(r) for r in ds.to_list()] for split, ds in splits.items()}
    texts = {split: [r.text for r in rs] for split, rs in rows.items()}
    normalised = {split: [normalise(t) for t in ts] for split, ts in texts.items()}
    train_labels = [r.label for r in rows["train"]]
    report: dict = {"task": task.kind, "unit": task.unit, "rows": {s: len(ds) for s, ds in splits.items()}}
    report["near_duplicate_threshold"] = threshold

    groups = training_groups(normalised["train"], train_labels)
    train_text = texts["train"]
    repeated, conflicts = duplicates_and_conflicts(groups, train_labels)
    report["duplicates"] = {
        "texts": len(repeated),
        "rows": extra_rows(repeated),
        "droppable_rows": rows_to_drop(repeated, train_labels),
        "examples": [{"text": train_text[g.rows[0]], "rows": g.rows[:10], "count": len(g.rows)}
                     for g in repeated[:EXAMPLES]],
    }  # fmt: skip
    report["conflicts"] = {
        "texts": len(conflicts),
        "rows": sum(len(g.rows) for g in conflicts),
        "examples": [{"text": train_text[g.rows[0]], "rows": g.rows[:10], "labels": group_labels(g)}
                     for g in conflicts[:EXAMPLES]],
    }  # fmt: skip

    shared = {s: [normalise(r.shared) for r in rs] for s, rs in rows.items()} if rows["train"][0].shared else None
    index = TrainingIndex(normalised["train"], threshold, shared["train"] if shared else None, near)
    report["near_duplicates_searched"] = near
    report["leakage"] = {}
    for split in (s for s in splits if s != "train"):
        found = index.leaks(normalised[split], shared[split] if shared else None, contained)
        leaked = sorted({i for kind in ("exact", "near") for i, _, _ in found[kind]})  # contained: reported apart
        entry = {kind: len(found[kind]) for kind in ("exact", "near", "contained")}
        entry.update(rows=len(leaked), of=len(splits[split]), leaked_rows=leaked)
        if shared:
            entry["shared_context"] = len(found["shared"])
        entry["examples"] = [
            {"kind": kind, "row": i, "train_row": j, "similarity": similarity, "text": texts[split][i],
             "train_text": train_text[j]}
            for kind in ("exact", "near", "contained") for i, j, similarity in found[kind][:EXAMPLES]
        ]  # fmt: skip
        report["leakage"][split] = entry

    report["non_text"] = {}
    for split, ts in texts.items():
        kinds = non_text(ts)
        if kinds:
            report["non_text"][split] = {k: {"count": len(v), "rows": v[:10]} for k, v in kinds.items()}

    report["labels"] = label_counts({s: [r.classes for r in rs] for s, rs in rows.items()})
    if report["labels"] and "validation" in splits:
        try:
            report["labels"]["baselines"] = task.baselines(splits["train"], splits["validation"])
        except (KeyError, ValueError, TypeError, IndexError):  # a task whose baselines need more than the labels
            report["labels"]["baselines"] = {}
    if tokenizer is not None:
        report["lengths"] = measure_lengths(splits, task, tokenizer, cap)
    report["seconds"] = round(time.perf_counter() - started, 2)
    return report


def measure_lengths(splits, task, tokenizer, cap: int | None = None) -> dict:
    """Each split's token lengths (``data.lengths``: from the cache where this data was measured before), against the
    task's limit; where the task leaves it to the data, the limit a run would take (``limit_source: data``)."""
    profiles = {split: length_profile(task, tokenizer, ds, {"split": split}) for split, ds in splits.items()}
    chosen = limit_from_data(task, profiles["train"], cap)
    limit = task.length_limit()
    out: dict = {"setting": f"task.{task.length_setting}", "limit": chosen["value"] if limit is None else limit,
                 "limit_source": "data" if limit is None else "given", "cut_word": task.cut_word,
                 "splits": {}}  # fmt: skip
    for split, profile in profiles.items():
        out["splits"][split] = {**profile.summary(out["limit"]), "sampled": profile.sampled}
    out["keeps_99_percent"] = chosen["keeps_99_percent"]
    out["from_data"] = {k: chosen[k] for k in ("value", "reason", "why")}
    return out


def strict_failures(report: dict) -> list[str]:
    """What ``--strict`` fails on: leakage between training and evaluation, and training texts with two labels."""
    out = [f"{e['rows']} {split} rows leaked" for split, e in report["leakage"].items() if e["rows"]]
    if report["conflicts"]["texts"]:
        out.append(f"{report['conflicts']['texts']} training texts with conflicting labels")
    return out


def summary(report: dict) -> dict:
    """The findings a run records (metrics.json, the card): counts, no rows or examples."""
    keep = ("exact", "near", "contained", "rows", "of", "shared_context")
    return {
        "leakage": {s: {k: e[k] for k in keep if k in e} for s, e in report["leakage"].items()},
        "duplicates": {k: report["duplicates"][k] for k in ("texts", "rows")},
        "conflicts": {k: report["conflicts"][k] for k in ("texts", "rows")},
        "seconds": report["seconds"],
    }


def cut_by_limit(tokenized, task, log, quiet: tuple[str, ...] = ()) -> dict[str, float]:
    """The share of each tokenized split's rows at the task's length limit (cut by it; read from the tokenization
    the run made anyway, so nothing is tokenized again), with a console line where some are (but the ``quiet`` splits:
    the training rows a limit from the data cuts, which its own line said). Multiple choice and question answering
    (one row, several windows: the console counts them) are left out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    limit = task.length_limit()
    if task.windows_long_rows:
        return {}
    out = {}
    for split, ds in tokenized.items():
        if "input_ids" not in ds.column_names or len(ds) == 0:
            continue
        column = ds.data.column("input_ids")
        if pa.types.is_list(column.type.value_type) or pa.types.is_large_list(column.type.value_type):
            continue
        share = pc.mean(pc.greater_equal(pc.list_value_length(column), limit)).as_py() or 0.0
        out[split] = round(share, 4)
        if share and split not in quiet:
            log(f"[hf-transfer] data check: {share:.1%} of {split} rows are {task.cut_word} task.{task.length_setting}="
                f"{limit} (hf-transfer check tells the limit that keeps 99% whole)")  # fmt: skip
    return out


def preflight(splits, task, data, log):
    """The cheap checks before a run: one console line per finding; the rows ``data.drop_leaked`` /
    ``data.drop_duplicates`` ask to drop are dropped and counted. Returns (splits, the summary a run records)."""
    from hf_transfer.datacheck.report import finding_lines

    near = len(splits["train"]) <= PREFLIGHT_NEAR_ROWS
    report = check_splits(splits, task, contained=False, near=near)
    if not near:
        log(f"[hf-transfer] data check: {len(splits['train']):,} training rows: exact leakage only before a run (the "
            "near-duplicate search is hf-transfer check's)")  # fmt: skip
    for line in finding_lines(report):
        log(f"[hf-transfer] data check: {line}")
    recorded = summary(report)
    dropped = {}
    if getattr(data, "drop_leaked", False):
        for split, entry in report["leakage"].items():
            if entry["leaked_rows"]:
                leaked = set(entry["leaked_rows"])
                if len(leaked) == len(splits[split]):
                    raise UserError(f"data.drop_leaked would drop every row of the {split} split: all are in training.")
                splits[split] = splits[split].select([i for i in range(len(splits[split])) if i not in leaked])
                dropped[f"leaked_{split}_rows"] = len(leaked)
    if getattr(data, "drop_duplicates", False) and report["duplicates"]["droppable_rows"]:
        drop = set(report["duplicates"]["droppable_rows"])
        splits["train"] = splits["train"].select([i for i in range(len(splits["train"])) if i not in drop])
        dropped["duplicate_train_rows"] = len(drop)
    for why, count in dropped.items():
        log(f"[hf-transfer] data check: dropped {count:,} {why.replace('_', ' ')} (as data.drop_* asked)")
    if dropped:
        recorded["dropped"] = dropped
    return splits, recorded

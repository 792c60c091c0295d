"""The data check as text: one line per finding (a run's preflight prints these), and the full report of
``hf-transfer check`` (tables, the worst examples quoted, what to do about each finding)."""

from __future__ import annotations

from hf_transfer.base.tables import format_table

QUOTE = 100
"""Characters of a text quoted in the report."""


KINDS = (("exact", "exact"), ("near", "near-duplicate"))


def quote(text: str) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= QUOTE else text[:QUOTE] + "...")


def finding_lines(report: dict) -> list[str]:
    """One short line per finding; none for clean data."""
    lines = []
    for split, e in report["leakage"].items():
        if e["rows"]:
            parts = [f"{e[k]} {word}" for k, word in KINDS if e[k]]
            lines.append(f"{e['rows']:,} of {e['of']:,} {split} rows are in the training data ({', '.join(parts)})")
        if e["contained"]:
            lines.append(
                f"{e['contained']:,} {split} texts appear whole inside longer training texts (a phrase may be "
                "harmless, a sentence seen inside a longer one is not: read them in data_check.json)"
            )
        if e.get("shared_context"):
            lines.append(
                f"{e['shared_context']:,} of {e['of']:,} {split} questions ask about a context the training data has "
                "too (shared contexts are usual in SQuAD-style data; the questions differ)"
            )
    d, c = report["duplicates"], report["conflicts"]
    if d["texts"]:
        lines.append(f"{d['texts']:,} training texts are repeated ({d['rows']:,} rows beyond the first of each)")
    if c["texts"]:
        lines.append(f"{c['texts']:,} training texts carry two labels or more ({c['rows']:,} rows)")
    for split, kinds in report["non_text"].items():
        shown = ", ".join(f"{v['count']:,} {k}" for k, v in kinds.items())
        lines.append(f"{split} rows that are not text: {shown}")
    labels = report.get("labels") or {}
    for where, classes in labels.get("missing", {}).items():
        lines.append(f"classes {where}: {', '.join(map(str, classes[:10]))}" + (" ..." if len(classes) > 10 else ""))
    if labels.get("imbalance", 1) >= 5:
        ratio = labels["imbalance"]
        lines.append(f"training labels are imbalanced: the largest class has {ratio}x the smallest's rows")
    lengths = report.get("lengths") or {}
    from_data = lengths.get("limit_source") == "data"
    for split, s in lengths.get("splits", {}).items():
        if s.get("over_limit") and not (from_data and split == "train"):  # a limit from the data cuts 1% by design
            lines.append(
                f"{s['over_limit_share']:.1%} of {split} rows are {lengths['cut_word']} {lengths['setting']}="
                f"{lengths['limit']}{' (from the data)' if from_data else ''}; {lengths['keeps_99_percent']} would "
                "keep 99% of training rows whole"
            )
    return lines


def card_lines(summary: dict | None) -> list[str]:
    """What a run's card says of the data check recorded in metrics.json (nothing when the data is clean)."""
    if not summary:
        return []
    out = []
    for split, e in summary.get("leakage", {}).items():
        name = "evaluation" if split == "validation" else split
        if e.get("rows"):
            kinds = ", ".join(f"{e[k]:,} {k}" for k in ("exact", "near") if e.get(k))
            out.append(f"{e['rows']:,} of {e['of']:,} {name} rows were found in the training data ({kinds} "
                       "after normalisation; near: Jaccard of word shingles >= 0.8)")  # fmt: skip
    if summary.get("conflicts", {}).get("texts"):
        out.append(f"{summary['conflicts']['texts']:,} training texts carry two labels or more")
    if summary.get("duplicates", {}).get("texts"):
        d = summary["duplicates"]
        out.append(f"{d['texts']:,} training texts are repeated ({d['rows']:,} rows beyond the first of each)")
    cut = (summary.get("cut_by_length_limit") or {}).get("train")
    if cut:
        out.append(f"{cut:.1%} of the training rows were cut by the length limit")
    for why, count in (summary.get("dropped") or {}).items():
        out.append(f"{count:,} {why.replace('_', ' ')} were dropped before training (data.drop_leaked / "
                   "data.drop_duplicates)")  # fmt: skip
    return out


ADVICE = {
    "leakage": "evaluation rows the model trained on score too well: --set data.drop_leaked=true drops them (the run "
    "records how many), or fix the split",
    "duplicates": "repeated rows weigh more in training: --set data.drop_duplicates=true keeps one of each",
    "conflicts": "a text with two labels teaches both: decide which is right (the rows are listed in data_check.json)",
    "non_text": "check how the file was written and decoded (encoding, delimiter, quoting)",
    "lengths": "raise the limit (--set task.{setting}=N) or accept the cut",
}


def full_report(report: dict, recipe_name: str, data: str) -> str:
    out = [f"Data check of {recipe_name} ({report['task']}): {data}"]
    out.append(", ".join(f"{split}: {n:,} rows" for split, n in report["rows"].items()))
    lines = finding_lines(report)
    out += ["", "Findings:" if lines else "Findings: none."] + [f"  - {line}" for line in lines]
    for split, e in report["leakage"].items():
        if e["examples"]:
            out += ["", f"{split.capitalize()} rows found in the training data (worst examples):"]
            for x in e["examples"]:
                out.append(f"  {split} row {x['row']} ~ train row {x['train_row']} ({x['kind']}, Jaccard "
                           f"{x['similarity']}): {quote(x['text'])}")  # fmt: skip
                if x["kind"] != "exact":
                    out.append(f"      train: {quote(x['train_text'])}")
            out.append(f"  -> {ADVICE['leakage']}")
    if report["conflicts"]["examples"]:
        out += ["", "Training texts with two labels or more:"]
        out += [f"  {quote(x['text'])}: {x['labels']} (rows {x['rows']})" for x in report["conflicts"]["examples"]]
        out.append(f"  -> {ADVICE['conflicts']}")
    if report["duplicates"]["examples"]:
        out += ["", "Training texts repeated most:"]
        out += [f"  {x['count']}x {quote(x['text'])}" for x in report["duplicates"]["examples"]]
        out.append(f"  -> {ADVICE['duplicates']}")
    if report["non_text"]:
        out += ["", "Rows that are not text:"]
        for split, kinds in report["non_text"].items():
            out += [f"  {split}: {v['count']} {kind} (rows {v['rows']})" for kind, v in kinds.items()]
        out.append(f"  -> {ADVICE['non_text']}")
    issues = report.get("label_issues")
    if issues:
        out += ["", f"Likely label errors ({issues['count']:,} of {issues['of']:,} training {issues['unit']}; "
                f"{issues['method']}; cleanlab), the most doubtful first:"]  # fmt: skip
        for x in issues["issues"][:10]:
            what = f"word {x['token']!r} of row {x['row']}" if issues["unit"] == "tokens" else f"row {x['row']}"
            quoted = "" if issues["unit"] == "tokens" else f": {quote(x['text'])}"
            out.append(f"  {what}: given {x['given']} (p={x['given_probability']}), suspected {x['suspected']}{quoted}")
        out.append("  -> read these rows and fix the labels that are wrong; a run trains on them as they are")
    labels = report.get("labels") or {}
    if labels.get("counts"):
        names = list(dict.fromkeys(c for counts in labels["counts"].values() for c in counts))[:20]
        rows = [[name, *(labels["counts"][s].get(name, 0) for s in labels["counts"])] for name in names]
        out += ["", "Labels:", format_table(["class", *labels["counts"]], rows)]
        for name, value in (labels.get("baselines") or {}).items():
            out.append(f"{name.replace('_', ' ')} on validation: {value:.4f} (what a model must beat)")
    lengths = report.get("lengths") or {}
    if lengths.get("splits"):
        header = ["split", "p50", "p90", "p95", "p99", "max", f"over {lengths['limit']}"]
        rows = [[split, s["p50"], s["p90"], s["p95"], s["p99"], s["max"], f"{s.get('over_limit_share', 0):.1%}"]
                for split, s in lengths["splits"].items()]  # fmt: skip
        title = f"{lengths['setting']}={lengths['limit']}"
        if lengths.get("limit_source") == "data":
            title += f" from the data: {lengths['from_data']['why']}"
        else:
            title += f"; 99% of training rows fit in {lengths['keeps_99_percent']}"
        out += ["", f"Token lengths ({title}):", format_table(header, rows)]
        if any(s.get("sampled") for s in lengths["splits"].values()):
            out.append("(larger splits: a seeded sample of 20,000 rows)")
    elif "lengths_skipped" in report:
        out += ["", f"Token lengths not measured: {report['lengths_skipped']}"]
    return "\n".join(out)

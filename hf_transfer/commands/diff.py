"""``hf-transfer diff RUN_A RUN_B``: what one run gets right that the other gets wrong, on the same evaluation
data: the flips (with McNemar's test where an example is right or wrong), per-class (per-entity-type) changes,
the largest error changes for regression, and how many of the errors were inputs cut by the length limit."""

from __future__ import annotations

import json
from pathlib import Path

from hf_transfer.base.class_report import by_class, prf
from hf_transfer.base.errors import UserError

FLIPS_SHOWN = 10


def _comparable(a, b, validation_file) -> None:
    """Refuse two runs that cannot be compared example by example, naming the difference."""
    ta, tb = a.task, b.task
    if ta.describe() != tb.describe():
        kinds = (ta.describe(), tb.describe())
        raise UserError(f"The runs solve different tasks: {kinds[0]} and {kinds[1]}; diff compares runs of one task.")
    names = (ta.class_names(), tb.class_names())
    if names[0] != names[1]:
        raise UserError(f"The runs have different labels: {names[0]} and {names[1]}.")
    if validation_file is None and a.data.describe_evaluation() != b.data.describe_evaluation():
        raise UserError(
            "The runs were evaluated on different data: "
            f"{a.data.describe_evaluation()!r} and {b.data.describe_evaluation()!r}. Give --validation_file F to "
            "evaluate both on the same file."
        )


def _same_rows(a: dict, b: dict) -> None:
    """Refuse unless both runs were evaluated on the same rows, in the same order (their contents compared): one
    description can cover different rows (a held-out share rounded in its text, a file changed since)."""
    import hashlib

    def digests(rows):
        return [hashlib.sha256(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest() for r in rows]

    da, db = digests(a["rows"]), digests(b["rows"])
    if da == db and len(a["records"]) == len(b["records"]):
        return
    if len(da) != len(db):
        what = f"{len(da):,} rows for A and {len(db):,} for B"
    elif da != db:
        changed = [i for i, (x, y) in enumerate(zip(da, db, strict=True)) if x != y]
        what = f"{len(changed):,} of {len(da):,} rows differ, the first is row {changed[0]}"
    else:
        what = f"{len(a['records']):,} examples for A and {len(b['records']):,} for B"
    raise UserError(
        f"The runs were not evaluated on the same rows ({what}), though both say {a['evaluated_on']!r}: diff compares "
        "row by row. Give --validation_file F to evaluate both on one file."
    )


def compare_records(a: list[dict], b: list[dict]) -> dict:
    """The example-by-example comparison of two runs' records on the same rows (the numbers ``diff`` reports)."""
    from hf_transfer.base.stats import mcnemar

    if len(a) != len(b):
        raise ValueError("records of the same rows")
    out: dict = {"examples": len(a)}
    if a and a[0].get("correct") is not None:
        both = sum(x["correct"] and y["correct"] for x, y in zip(a, b, strict=True))
        a_only = sum(x["correct"] and not y["correct"] for x, y in zip(a, b, strict=True))
        b_only = sum(y["correct"] and not x["correct"] for x, y in zip(a, b, strict=True))
        out.update(both_right=both, a_right_b_wrong=a_only, b_right_a_wrong=b_only,
                   both_wrong=len(a) - both - a_only - b_only, mcnemar_p=mcnemar(a_only, b_only))  # fmt: skip
        out["flips"] = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x["correct"] != y["correct"]]
        out["truncated_errors"] = {
            "a": sum(1 for x in a if not x["correct"] and x.get("truncated")),
            "b": sum(1 for y in b if not y["correct"] and y.get("truncated")),
            "a_errors": sum(1 for x in a if not x["correct"]),
            "b_errors": sum(1 for y in b if not y["correct"]),
        }
    if a and "by_class" in a[0]:
        pa, pb = by_class(a), by_class(b)
        out["by_class"] = {
            name: {
                "a": pa.get(name, prf({"tp": 0, "fp": 0, "fn": 0})),
                "b": pb.get(name, prf({"tp": 0, "fp": 0, "fn": 0})),
            }
            for name in sorted(set(pa) | set(pb))
        }
        for change in out["by_class"].values():
            change["f1_change"] = change["b"]["f1"] - change["a"]["f1"]
    if a and "f1" in a[0] and "exact_match" in a[0]:
        for key in ("exact_match", "f1"):
            out[key] = {"a": 100 * sum(x[key] for x in a) / len(a), "b": 100 * sum(y[key] for y in b) / len(b)}
    if a and "abs_error" in a[0]:
        changes = sorted(range(len(a)), key=lambda i: -abs(b[i]["abs_error"] - a[i]["abs_error"]))
        out["largest_error_changes"] = changes[:FLIPS_SHOWN]
        out["flips"] = changes[:FLIPS_SHOWN]
    return out


def diff(run_a: Path, run_b: Path, validation_file: Path | None = None, output_file: Path | None = None,
         trust_remote_code: bool = False) -> dict:  # fmt: skip
    """Both runs evaluated on the same data, compared example by example; the flipped examples written as JSONL."""
    from hf_transfer.artifacts.runs import RunFolder
    from hf_transfer.base.files import check_output_file, data_files, write_atomically
    from hf_transfer.run.evaluation import example_records

    a_folder, b_folder = RunFolder(run_a), RunFolder(run_b)
    a_recipe, b_recipe = a_folder.recipe(), b_folder.recipe()
    a_folder.require_finished("finish it first.")
    b_folder.require_finished("finish it first.")
    _comparable(a_recipe, b_recipe, validation_file)
    # by default beside the runs (the second one's folder holds it), never into whatever folder the shell is in
    default = b_folder.path.resolve().parent / f"diff-{a_folder.path.name}-vs-{b_folder.path.name}.jsonl"
    out = Path(output_file).expanduser() if output_file else default
    if out.suffix.lower() != ".jsonl":
        raise UserError(f"--output_file {out}: the flipped examples are JSON lines; give a name ending in .jsonl.")
    check_output_file(out, validation_file, *data_files(a_recipe.data), *data_files(b_recipe.data),
                      runs=(a_folder, b_folder))
    a = example_records(a_folder.path, validation_file, trust_remote_code)
    b = example_records(b_folder.path, validation_file, trust_remote_code)
    _same_rows(a, b)
    result = compare_records(a["records"], b["records"])
    result.update(run_a=str(a_folder.path), run_b=str(b_folder.path), evaluated_on=a["evaluated_on"],
                  unit=a["task"].unit, main_metric=a["task"].main_metric(),
                  metric={"a": a["task"].aggregate(a["records"]), "b": b["task"].aggregate(b["records"])})  # fmt: skip
    lines = []
    for i in result.get("flips", []):
        ra, rb = a["records"][i], b["records"][i]
        row = {k: v for k, v in a["rows"][i].items() if k not in ("labels", "label")}
        lines.append(json.dumps({"row": i, **row, "reference": ra["reference"], "prediction_a": ra["prediction"],
                                 "prediction_b": rb["prediction"], "right": _who(ra, rb)}, ensure_ascii=False,
                                default=str))  # fmt: skip
    write_atomically(out, "".join(line + "\n" for line in lines))
    result["output_file"] = str(out.resolve())
    return result


def _who(a: dict, b: dict) -> str:
    if a.get("correct") is None:
        return "a" if a["abs_error"] < b["abs_error"] else "b"
    return "a" if a["correct"] else "b"


def report_lines(result: dict) -> list[str]:
    """What ``hf-transfer diff`` prints."""
    from hf_transfer.base.tables import format_table

    name_a, name_b = Path(result["run_a"]).name, Path(result["run_b"]).name
    lines = [f"A = {name_a}, B = {name_b}; {result['examples']:,} {result['unit']}: {result['evaluated_on']}", ""]
    metric = result["main_metric"].replace("_", " ")
    lines.append(f"{metric}: A {result['metric']['a']:.4f}, B {result['metric']['b']:.4f}")
    if "a_right_b_wrong" in result:
        lines.append(
            f"A right, B wrong: {result['a_right_b_wrong']:,}; B right, A wrong: {result['b_right_a_wrong']:,}; both "
            f"right: {result['both_right']:,}; both wrong: {result['both_wrong']:,} "
            f"(McNemar p = {result['mcnemar_p']:.3g}"
            + (", the difference may be chance)" if result["mcnemar_p"] >= 0.05 else ")")
        )
        t = result["truncated_errors"]
        lines.append(
            f"Errors on inputs cut by the length limit: A {t['a']} of {t['a_errors']}, B {t['b']} of {t['b_errors']}."
        )
    if "exact_match" in result:
        lines.append(f"exact match: A {result['exact_match']['a']:.1f}, B {result['exact_match']['b']:.1f}; "
                     f"F1: A {result['f1']['a']:.1f}, B {result['f1']['b']:.1f}")  # fmt: skip
    if result.get("by_class"):
        rows = [[name, f"{c['a']['precision']:.3f} -> {c['b']['precision']:.3f}", f"{c['a']['recall']:.3f} -> "
                 f"{c['b']['recall']:.3f}", f"{c['a']['f1']:.3f} -> {c['b']['f1']:.3f}", f"{c['f1_change']:+.3f}",
                 c["a"]["support"]] for name, c in result["by_class"].items()]  # fmt: skip
        lines += ["", format_table(["class", "precision", "recall", "F1", "F1 change", "support"], rows)]
    if "largest_error_changes" in result:
        lines.append(f"The {len(result['largest_error_changes'])} largest changes of absolute error are in the file.")
    lines.append(f"\n{len(result.get('flips', [])):,} examples that changed: {result['output_file']}")
    return lines

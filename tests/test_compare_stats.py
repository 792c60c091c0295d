"""Comparisons a user can trust (issue 27): intervals, paired differences, learning curves, and diff."""

from __future__ import annotations

import json
import math

import pytest

from conftest import tiny_run_args

# ---- the statistics, against textbook computations


def test_t_interval_is_the_textbook_one():
    from hf_transfer.base.stats import t_interval

    interval = t_interval([0.80, 0.82, 0.84])
    # mean 0.82, sample sd 0.02, t(0.975, 2 df) = 4.302653 (a t table)
    assert interval.mean == pytest.approx(0.82)
    assert interval.half == pytest.approx(4.302653 * 0.02 / math.sqrt(3), rel=1e-6)
    assert interval.how == "t-interval over 3 seeds"
    with pytest.raises(ValueError, match="at least two"):
        t_interval([0.8])


def test_paired_t_is_the_t_interval_of_the_differences():
    from hf_transfer.base.stats import paired_t

    diff = paired_t([0.80, 0.81, 0.85], [0.78, 0.80, 0.81])
    # differences 0.02, 0.01, 0.04: mean 0.023333, sd 0.015275
    assert diff.mean == pytest.approx(0.0233333, rel=1e-5)
    assert diff.half == pytest.approx(4.302653 * 0.0152753 / math.sqrt(3), rel=1e-4)
    assert diff.covers_zero(), "three seeds this close cannot tell 2 points from none"


def test_bootstrap_interval_behaves_like_the_normal_one_on_many_examples():
    from hf_transfer.base.stats import bootstrap_interval

    records = [1] * 600 + [0] * 400
    interval = bootstrap_interval(records, lambda rows: sum(rows) / len(rows), seed=1)
    assert interval.mean == pytest.approx(0.6)
    assert interval.half == pytest.approx(1.96 * math.sqrt(0.6 * 0.4 / 1000), rel=0.15)
    assert bootstrap_interval([1] * 50, lambda rows: sum(rows) / len(rows)).half == 0.0


def test_mcnemar_is_the_exact_binomial_test():
    from hf_transfer.base.stats import mcnemar

    assert mcnemar(10, 2) == pytest.approx(2 * (1 + 12 + 66) / 4096)  # 2 * P(X <= 2), X ~ Bin(12, 1/2)
    assert mcnemar(3, 3) == 1.0 and mcnemar(0, 0) == 1.0


@pytest.mark.parametrize(("mean", "half", "noise"), [(0.01, 0.02, True), (0.03, 0.02, False), (-0.02, 0.02, True),
                                                      (-0.021, 0.02, False)])  # fmt: skip
def test_within_noise_exactly_when_the_interval_covers_zero(mean, half, noise):
    from hf_transfer.base.stats import Interval, difference_text

    interval = Interval.symmetric(mean, half, "t", 3)
    assert interval.covers_zero() is noise
    assert ("(within noise)" in difference_text("lora", "full", interval, 100)) is noise
    assert difference_text("lora", "full", interval, 100).startswith(f"lora vs full: {mean * 100:+.1f} ± 2.0 points")


def test_power_law_fit_recovers_a_crafted_curve_and_says_when_it_cannot():
    from hf_transfer.base.stats import fit_power_law

    sizes = [100, 250, 500, 1000]
    metrics = [1 - 0.5 * n**-0.5 for n in sizes]
    fit = fit_power_law(sizes, metrics)
    assert fit.a == pytest.approx(0.5) and fit.b == pytest.approx(0.5)
    gain, half = fit.gain_from_doubling(1000, 100)
    assert gain == pytest.approx(100 * 0.5 * (1000**-0.5 - 2000**-0.5))
    assert half == pytest.approx(0.0, abs=1e-9), "an exact curve leaves no residual"
    two = fit_power_law(sizes[:2], metrics[:2])
    assert two.gain_from_doubling(250, 100)[1] is None, "two points: no interval"
    assert fit_power_law([100], [0.9]) is None and fit_power_law([100, 200], [0.9, 1.0]) is None


def test_the_doubling_gain_has_an_interval_of_the_gain_not_of_the_level():
    """On noisy points at 100/250/500/1000 the gain's interval comes from the fit's coefficient covariance: far
    narrower than a prediction interval of the metric level at 2n (the old 2.47 ± 1.93 kind), and it agrees with a
    bootstrap of the gain over the fitted points' residuals."""
    import random

    from hf_transfer.base.stats import fit_power_law

    sizes = [100, 250, 500, 1000]
    metrics = [0.60, 0.68, 0.715, 0.76]
    fit = fit_power_law(sizes, metrics)
    gain, half = fit.gain_from_doubling(1000, 100)
    assert 0 < half < 1.0 and gain > half
    # the same quantity by a parametric bootstrap of the residuals: within 40% of the delta method's half width
    rng = random.Random(0)
    fitted = [math.log(fit.error(n)) for n in sizes]
    gains = []
    for _ in range(2000):
        ys = [f + rng.gauss(0, fit.residual_sd) for f in fitted]
        again = fit_power_law(sizes, [1 - math.exp(y) for y in ys])
        gains.append(again.gain_from_doubling(1000, 100)[0])
    gains.sort()
    spread = (gains[int(0.975 * len(gains))] - gains[int(0.025 * len(gains))]) / 2
    from scipy import stats

    # the same standard error: the fit's interval uses t with 2 degrees of freedom, the simulation knows sigma
    assert half / stats.t.ppf(0.975, 2) == pytest.approx(spread / 1.96, rel=0.25)
    assert not fit.near_saturation(1000, 100) and fit_power_law([100, 1000, 10000], [0.9, 0.95, 0.951]).near_saturation(
        10000, 100)  # fmt: skip


def test_a_bootstrap_interval_of_an_accuracy_stays_inside_its_range():
    """97 of 100 right: a percentile interval (scipy) ends at or below 1, where a symmetric one went to 1.005."""
    from hf_transfer.base.stats import bootstrap_interval, difference_text, paired_bootstrap

    records = [1] * 97 + [0] * 3
    interval = bootstrap_interval(records, lambda rows: sum(rows) / len(rows), seed=1)
    assert interval.mean == 0.97 and interval.high <= 1.0 and interval.low < 0.97 < interval.high
    assert interval.high - 0.97 < 0.97 - interval.low, "not symmetric near the top of the range"
    paired = paired_bootstrap([1] * 100, records, lambda rows: sum(rows) / len(rows))
    assert paired.low >= 0 and "to" in difference_text("a", "b", paired, 100), "asymmetric intervals give their ends"


# ---- diff, on crafted records


def records(correct: list[bool]) -> list[dict]:
    return [{"prediction": "a" if c else "b", "reference": "a", "correct": c, "truncated": i % 2 == 0,
             "tp": int(c), "fp": int(not c), "fn": int(not c),
             "by_class": {"a": {"tp": int(c), "fp": 0, "fn": int(not c)},
                          **({} if c else {"b": {"tp": 0, "fp": 1, "fn": 0}})}}
            for i, c in enumerate(correct)]  # fmt: skip


def test_diff_counts_flips_exactly():
    from hf_transfer.commands.diff import compare_records

    a = records([True, True, False, False, True, False])
    b = records([True, False, True, False, False, False])
    result = compare_records(a, b)
    assert (result["both_right"], result["a_right_b_wrong"], result["b_right_a_wrong"], result["both_wrong"]) == (
        1,
        2,
        1,
        2,
    )
    assert result["flips"] == [1, 2, 4]
    assert result["truncated_errors"] == {"a": 1, "b": 1, "a_errors": 3, "b_errors": 4}
    assert result["by_class"]["a"]["a"]["recall"] == pytest.approx(3 / 6)
    assert result["by_class"]["a"]["f1_change"] == pytest.approx(2 * (2 / 6) / (1 + 2 / 6) - 2 * 0.5 / 1.5)
    same = compare_records(a, a)
    assert same["flips"] == [] and same["a_right_b_wrong"] == same["b_right_a_wrong"] == 0 and same["mcnemar_p"] == 1


def test_multi_label_and_regression_records():
    from types import SimpleNamespace

    import numpy as np

    from hf_transfer import TextClassification
    from hf_transfer.commands.diff import compare_records

    task = TextClassification(problem_type="multi_label", label_names=["x", "y", "z"])
    make = task.example_records()
    out = make(
        SimpleNamespace(predictions=np.array([[3.0, -3, 3], [-3, 3, -3]]), label_ids=np.array([[1, 0, 0], [0, 1, 0]]))
    )
    assert out[0]["prediction"] == ["x", "z"] and out[0]["correct"] is False and (out[0]["tp"], out[0]["fp"]) == (1, 1)
    assert out[1]["correct"] is True and task.aggregate(out) == pytest.approx(2 * 2 / (2 * 2 + 1))
    regression = TextClassification(problem_type="regression")
    rows = regression.example_records()(SimpleNamespace(predictions=np.array([[1.0], [2.0], [5.0]]),
                                                        label_ids=np.array([1.5, 2.0, 3.0])))  # fmt: skip
    assert [r["abs_error"] for r in rows] == [0.5, 0.0, 2.0] and rows[0]["correct"] is None
    better = [dict(r, abs_error=0.0, prediction=r["reference"]) for r in rows]
    assert compare_records(rows, better)["largest_error_changes"][0] == 2


# ---- end to end on tiny runs


def test_diff_of_a_run_against_itself_and_against_another(finished_run, run_cli, tmp_path):
    full, lora = finished_run("text-classification", "full"), finished_run("text-classification", "lora")
    code, out, err = run_cli("diff", full, full, "--output_file", tmp_path / "self.jsonl")
    assert code == 0, err
    assert "A right, B wrong: 0; B right, A wrong: 0" in out and (tmp_path / "self.jsonl").read_text() == ""
    code, out, err = run_cli("diff", full, lora, "--output_file", tmp_path / "other.jsonl")
    assert code == 0, err
    flips = [json.loads(line) for line in (tmp_path / "other.jsonl").read_text().splitlines()]
    a_only = int(out.split("A right, B wrong: ")[1].split(";")[0])
    b_only = int(out.split("B right, A wrong: ")[1].split(";")[0])
    assert len(flips) == a_only + b_only and {f["right"] for f in flips} <= {"a", "b"}
    assert all("text" in f and f["reference"] in ("neg", "pos") for f in flips)


def test_diff_records_come_from_the_one_evaluation_path(finished_run, monkeypatch):
    """diff's and compare's per-example records are made by the evaluation eval and the run use (issue 36: a second
    Trainer and a second reading of the data made them), so they score what its metrics say."""
    from hf_transfer.run import evaluation

    run = finished_run("text-classification", "full")  # trained before the spy
    calls = []
    real = evaluation.evaluate_model

    def spy(*args, **kwargs):
        metrics = real(*args, **kwargs)
        calls.append((kwargs.get("records"), metrics))
        return metrics

    monkeypatch.setattr(evaluation, "evaluate_model", spy)
    found = evaluation.example_records(run)
    [(records, metrics)] = calls
    assert records is found["records"] and len(records) == len(found["rows"]) > 0
    assert sum(r["correct"] for r in records) / len(records) == pytest.approx(metrics["eval_accuracy"])


def test_diff_ner_by_entity_type_and_qa_by_question(finished_run, run_cli, tmp_path):
    ner = [finished_run("token-classification", m) for m in ("full", "lora")]
    code, out, err = run_cli("diff", *ner, "--output_file", tmp_path / "ner.jsonl")
    assert code == 0, err
    assert "PER" in out and "LOC" in out and "F1 change" in out
    qa = [finished_run("question-answering", m) for m in ("full", "lora")]
    code, out, err = run_cli("diff", *qa, "--output_file", tmp_path / "qa.jsonl")
    assert code == 0, err
    assert "exact match: A " in out and "30 questions" in out


def test_diff_refuses_runs_it_cannot_compare(finished_run, run_cli, tmp_path):
    runs = [finished_run(task, "full") for task in ("text-classification", "token-classification")]
    code, _, err = run_cli("diff", *runs, "--output_file", tmp_path / "x.jsonl")
    assert (
        code == 2
        and "The runs solve different tasks: text-classification (single_label) and token-classification" in err
    )
    assert not (tmp_path / "x.jsonl").exists()


def test_compare_seeds_and_fractions(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "cmp"
    args = tiny_run_args(tiny_bert, sentiment_files, out)
    code, stdout, err = run_cli("compare", *args[1:], "--methods", "freeze,full", "--seeds", "2",
                                "--fractions", "0.25,0.5,1", "--max_steps", "6")  # fmt: skip
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["intervals"]["full"]["how"] == "t-interval over 2 seeds"
    seeds = {
        json.loads((out / f"full-frac1-seed{k}" / "metrics.json").read_text())["training_arguments"]["seed"]
        for k in (0, 1)
    }
    assert seeds == {42, 43}
    # the learning curve shows what the table shows: the mean over both seeds at each step, with their band
    from hf_transfer.commands.comparison import _curve

    full = next(r for r in report["rows"] if r["method"] == "full")
    per_seed = [dict(_curve(out / f"full-frac1-seed{k}", "eval_accuracy")) for k in (0, 1)]
    for (step, mean), (_, low, high, n) in zip(full["learning_curve"], full["learning_curve_spread"], strict=True):
        values = [curve[step] for curve in per_seed if step in curve]
        assert n == len(values) and mean == pytest.approx(sum(values) / n)
        assert (low, high) == (min(values), max(values))
    sizes = [
        json.loads((out / f"full-frac{f}-seed0" / "metrics.json").read_text())["samples"]["train"]
        for f in ("0.25", "0.5", "1")
    ]
    # 16 of the 160 rows carved out to choose on (compare evaluates several times); the fractions share the rest
    assert sizes == [36, 72, 144]
    assert report["curves"]["full"]["examples"] == [36, 72, 144]
    card = (out / "full-frac1-seed0" / "README.md").read_text()
    assert "Compared with other methods" in card and report["conclusions"][0] in card
    assert (out / "data_curves.png").is_file()
    markdown = (out / "report.md").read_text()
    # every number says over how many seeds; each metric column has its trivial baseline under it
    assert "accuracy (mean of 2 seeds)" in markdown and "train time (mean of 2 seeds)" in markdown
    assert "| trivial baseline | 0.5000 |" in markdown
    assert "Report:" in stdout and "data_curves.png" in stdout.split("Report:")[1]


def test_nested_fractions_are_nested(tiny_bert, sentiment_files):
    from hf_transfer import FileData, TextClassification
    from hf_transfer.data.prepare import load_splits

    sets, evaluations = [], []
    for fraction in (0.1, 0.25, 0.5, None):
        source = FileData(
            train_file=str(sentiment_files["train"]), columns={"text": "sentence"}, train_fraction=fraction
        )
        splits, _ = load_splits(source, TextClassification())
        sets.append({(r["text"], i) for i, r in enumerate(splits["train"].to_list())} and set(splits["train"]["text"]))
        evaluations.append(splits["validation"]["text"])
    assert all(small <= large for small, large in zip(sets, sets[1:], strict=False)), "the 10% is inside the 25%"
    assert len(evaluations[0]) == len(evaluations[-1]) and evaluations[0] == evaluations[-1], "the same evaluation"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seeds", "0"], "--seeds must be a whole number, 1 or more"),
        (["--fractions", "0.5,1.5"], "--fractions takes shares in (0, 1]"),
        (["--fractions", "0,1"], "--fractions takes shares in (0, 1]"),
        (["--fractions", "half"], "give shares of the training data"),
    ],
)
def test_bad_compare_input(extra, message, tiny_bert, sentiment_files, tmp_path, run_cli):
    code, _, err = run_cli("compare", *tiny_run_args(tiny_bert, sentiment_files, tmp_path / "c")[1:], *extra)
    assert code == 2 and message in err and not (tmp_path / "c").exists()


def test_a_fraction_with_fewer_examples_than_classes_is_said_not_run(tiny_bert, sentiment_files, tmp_path, run_cli):
    out = tmp_path / "c"
    code, stdout, err = run_cli("compare", *tiny_run_args(tiny_bert, sentiment_files, out)[1:], "--methods", "full",
                                "--fractions", "0.005,0.5,1", "--num_train_epochs", "1")  # fmt: skip
    assert code == 0, err
    assert "fraction 0.005 leaves 1 training examples for 2 classes: not run" in stdout
    assert not (out / "full-frac0.005-seed0").exists() and (out / "full-frac0.5-seed0").is_dir()


def test_fractions_share_the_capped_rows_and_a_curve_needs_two_sizes(tiny_bert, sentiment_files, tmp_path, run_cli):
    """The fraction applies to the rows the run would use (after --max_train_samples), so a cap does not make every
    point the same size; fractions that leave one size are refused before anything trains, saying why."""
    out = tmp_path / "cmp"
    args = tiny_run_args(tiny_bert, sentiment_files, out, "--max_train_samples", "80", "--max_steps", "2")
    code, _, err = run_cli("compare", *args[1:], "--methods", "full", "--fractions", "0.5,1")
    assert code == 0, err
    sizes = [json.loads((out / f"full-frac{f}-seed0" / "metrics.json").read_text())["samples"]["train"]
             for f in ("0.5", "1")]  # fmt: skip
    assert sizes[0] < sizes[1] <= 80 and sizes[0] == pytest.approx(sizes[1] / 2, abs=1)
    code, _, err = run_cli("compare", *tiny_run_args(tiny_bert, sentiment_files, tmp_path / "one")[1:], "--methods",
                           "full", "--fractions", "0.5,0.501")  # fmt: skip
    assert code == 2 and "a learning curve needs at least two" in err and "Traceback" not in err
    assert not (tmp_path / "one").exists()

"""The length limit from the data (issues 34 item 5 and 37): each row's token length measured once per data and
tokenizer, cached beside the tokenization (check reads it, a run reads it, plan shows it, cache clear removes it); a run
whose recipe and command line give no limit takes the one that keeps 99% of its training rows whole, rounded up to a
multiple of 8, capped by the model's positions; an explicit limit wins."""

from __future__ import annotations

import json
import math
import random

import pytest

from conftest import tiny_run_args, write_csv
from tiny_models import FILLER, NEGATIVE, POSITIVE

FROM_DATA = ["--set", "task.max_length=null"]
"""The demo recipe sets max_length=128; null leaves it to the data, as a recipe without one does."""


def rows_of(word_counts: list[int], seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i, n in enumerate(word_counts):
        words = POSITIVE if i % 2 == 0 else NEGATIVE
        text = " ".join(rng.choice(FILLER + words) for _ in range(n - 1)) + f" {rng.choice(words)}"
        rows.append({"sentence": text, "label": "pos" if i % 2 == 0 else "neg"})
    return rows


def length_files(folder, counts: list[int], seed: int = 1) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "train": write_csv(folder / "train.csv", rows_of(counts, seed)),
        "validation": write_csv(folder / "validation.csv", rows_of([8, 12, 16, 20] * 5, seed + 1)),
    }


def spread_counts(n: int = 200, seed: int = 3) -> list[int]:
    """Mostly 5-30 words, three long rows on top: the 99th percentile falls between the longest ordinary rows and
    the long ones, and is not a multiple of 8."""
    rng = random.Random(seed)
    return [rng.randint(5, 30) for _ in range(n - 3)] + [57, 80, 120]


def expected_limit(tiny_bert, train_file) -> tuple[int, int, float]:
    """(the 99% length rounded up to a multiple of 8, the longest row, the share of rows longer than that limit),
    measured here with the tokenizer itself."""
    import csv

    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    with open(train_file) as f:
        lengths = [len(tokenizer(row["sentence"])["input_ids"]) for row in csv.DictReader(f)]
    fits = sorted(lengths)[math.ceil(0.99 * len(lengths)) - 1]  # the least length 99% of the rows fit in
    limit = -(-fits // 8) * 8
    return limit, max(lengths), sum(n > limit for n in lengths) / len(lengths)


@pytest.fixture
def counted(monkeypatch):
    """How many splits had their token lengths measured (not read from the cache)."""
    from hf_transfer.data import lengths

    calls = []
    measure = lengths.token_lengths

    def counting(task, tokenizer, ds, seed=42):
        calls.append(len(ds))
        return measure(task, tokenizer, ds, seed)

    monkeypatch.setattr(lengths, "token_lengths", counting)
    return calls


def test_check_measures_once_and_reads_the_cached_profile_after(tmp_path, tiny_bert, run_cli, counted):
    files = length_files(tmp_path / "data", spread_counts())
    out = tmp_path / "check.json"
    args = tiny_run_args(tiny_bert, files, None, "--output_file", out, *FROM_DATA, command="check", training=())
    code, stdout, err = run_cli(*args)
    assert code == 0, err
    assert counted == [200, 20]  # train and validation measured, once each
    first = json.loads(out.read_text())["lengths"]
    value, longest, over = expected_limit(tiny_bert, files["train"])
    assert first["limit"] == value and first["limit_source"] == "data"
    assert first["splits"]["train"]["max"] == longest
    assert f"task.max_length={value} from the data: keeps 99% of 200 training rows whole" in stdout

    code, _, err = run_cli(*args)
    assert code == 0, err
    assert counted == [200, 20]  # the second check read both profiles from the cache: nothing tokenized for lengths
    assert json.loads(out.read_text())["lengths"] == first

    code, stdout, _ = run_cli("cache", "clear")
    assert code == 0
    run_cli(*args)
    assert counted == [200, 20, 200, 20]  # cleared with the tokenization cache: measured again


def test_a_run_without_a_limit_takes_the_99_percent_length_from_the_data(tmp_path, tiny_bert, run_cli, counted):
    from hf_transfer.artifacts.runs import CARD_FILE, RunFolder

    files = length_files(tmp_path / "data", spread_counts())
    out = tmp_path / "run"
    # no selection split: the training rows are the file's 200, the ones the test measures
    flags = [*FROM_DATA, "--set", "data.selection_fraction=0", "--max_steps", "2"]
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, files, out, *flags))
    assert code == 0, err
    value, longest, over = expected_limit(tiny_bert, files["train"])
    assert value % 8 == 0 and 16 < value < longest  # the 99% length, not the longest row, not the floor
    line = f"max_length {value} from the data (keeps 99% of 200 training rows whole; the longest is {longest})"
    assert line in stdout + err
    folder = RunFolder(out)
    assert folder.requested_recipe().task.max_length is None  # recipe.yaml: as asked for
    assert folder.learned()["max_length"] == value and folder.recipe().task.max_length == value
    record = folder.metrics()["length_limit"]
    assert record["value"] == value and record["source"] == "data" and record["max"] == longest
    assert record["over_limit_share"] == pytest.approx(over) and 0 < over <= 0.01
    assert f"Length limit: task.max_length={value}, from the data (keeps 99% of 200" in (out / CARD_FILE).read_text()
    assert counted == [200]  # the training rows only; the run's tokenization reads the chosen limit


def test_an_explicit_limit_wins_and_nothing_is_measured(tmp_path, tiny_bert, run_cli, counted):
    from hf_transfer.artifacts.runs import RunFolder

    files = length_files(tmp_path / "data", spread_counts())
    out = tmp_path / "flag"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, files, out, *FROM_DATA, "--max_seq_length", "24",
                                          "--max_steps", "1"))  # fmt: skip
    assert code == 0, err
    folder = RunFolder(out)
    assert folder.requested_recipe().task.max_length == 24 and "max_length" not in folder.learned()
    assert folder.metrics()["length_limit"] == {"setting": "max_length", "value": 24, "source": "--max_seq_length"}
    assert folder.metrics()["data_check"]["cut_by_length_limit"]["train"] > 0.3  # rows of up to 120 words are cut
    assert counted == []
    # with --train_file the recipe's own limit (sized for its own data) is left out; --set keeps one
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, files, tmp_path / "recipe", "--max_steps", "1", "--set",
                                               "task.max_length=128"))  # fmt: skip
    assert code == 0, err
    assert RunFolder(tmp_path / "recipe").metrics()["length_limit"]["value"] == 128
    assert "from the data" not in stdout + err and counted == []


def load_argv(argv):
    """A run's check and load phases as ``hf-transfer ARGV`` makes them (no model built, nothing trained): (the
    loaded data, what the console said)."""
    from hf_transfer.base.console import Console
    from hf_transfer.cli import build_parser
    from hf_transfer.cli.startup import start
    from hf_transfer.run.train import Run

    argv = [str(a) for a in argv]
    args, training = build_parser().parse_known_args(argv)
    recipe, options = start(args, training, argv)
    said: list[str] = []
    with Console(log=said.append) as console:
        run = Run(recipe, options, console)
        run.check()
        run.load()
    return run.loaded, "\n".join(said)


def load_only(tiny_bert, files, tmp_path, *extra):
    return load_argv(tiny_run_args(tiny_bert, files, tmp_path / "run", *extra))


def test_the_limit_from_the_data_is_capped_by_the_model_positions(tmp_path, tiny_bert):
    positions = json.loads((tiny_bert / "config.json").read_text())["max_position_embeddings"]
    files = length_files(tmp_path / "data", [positions // 2, positions * 2] * 40)  # half the rows longer than that
    loaded, said = load_only(tiny_bert, files, tmp_path, *FROM_DATA)
    assert loaded.recipe.task.max_length == positions and loaded.learned["max_length"] == positions
    assert loaded.length["reason"] == "cap" and loaded.length["cap"] == positions
    assert loaded.length["max"] > 2 * positions and loaded.length["over_limit_share"] == 0.5
    assert f"max_length {positions} from the data (the most the model reads; 99% of 72 training rows" in said
    assert max(len(ids) for ids in loaded.tokenized["train"]["input_ids"]) == positions


def test_plan_shows_the_statistics_of_the_profile_the_limit_came_from(tmp_path, tiny_bert, run_cli, counted):
    files = length_files(tmp_path / "data", spread_counts())
    code, stdout, err = run_cli(*tiny_run_args(tiny_bert, files, None, *FROM_DATA, "--set", "data.selection_fraction=0",
                                               command="plan"))  # fmt: skip
    assert code == 0, err
    value, longest, over = expected_limit(tiny_bert, files["train"])
    shown = stdout + err
    assert "token lengths of the 200 training rows: p50 " in shown
    assert f", max {longest}; {over:.1%} of them are cut by max_length={value} (from the data)" in shown
    assert counted == [200]  # one measurement: the limit, the statistics and the real run all read it


# ---- the rule itself, per task family


@pytest.mark.parametrize("task", ["token-classification", "question-answering", "seq2seq", "causal-lm",
                                  "multiple-choice"])  # fmt: skip (text classification: the tests above)
def test_every_family_takes_its_limit_from_the_data(task, tmp_path, request, counted):
    """Each family's matrix case with its length setting left to the data: the run's limit is the rule's on the
    training rows' profile, the tokenization keeps to it, and the model's tokens are never more than the limit."""
    from hf_transfer import TASKS
    from hf_transfer.data.lengths import limit_from_data, token_lengths

    import helpers

    setting = TASKS[task].length_setting
    data = helpers.write_data(tmp_path / "data")[task]
    model = request.getfixturevalue(helpers.CASES[task][1])
    argv = [*helpers.run_args(task, "full", model, data, tmp_path / "run"), "--set", f"task.{setting}=null"]
    loaded, said = load_argv(argv)
    chosen = getattr(loaded.recipe.task, setting)
    assert loaded.learned[setting] == chosen and loaded.length["source"] == "data"
    assert f"{setting} {chosen} from the data (" in said and len(counted) == 1
    measured = token_lengths(loaded.recipe.task, loaded.tokenizer, loaded.splits["train"])
    assert chosen == limit_from_data(loaded.recipe.task, measured, loaded.length["cap"])["value"]
    assert chosen % 8 == 0 and chosen >= 16
    ids = loaded.tokenized["train"]["input_ids"]
    longest = max(max(map(len, row)) if isinstance(row[0], list) else len(row) for row in ids)
    assert longest <= chosen


def profile(lengths, kept=0):
    from hf_transfer.data.lengths import Profile

    return Profile(list(lengths), len(lengths), False, kept)


def test_the_rule_rounds_up_floors_and_caps():
    from hf_transfer import TextClassification
    from hf_transfer.data.lengths import limit_from_data

    task = TextClassification()
    lengths = list(range(10, 110))  # 99 of the 100 fit in 108 -> 112
    assert limit_from_data(task, profile(lengths), None)["value"] == 112
    capped = limit_from_data(task, profile(lengths), 100)
    assert capped["value"] == 100 and capped["reason"] == "cap" and capped["over_limit"] == 9
    short = limit_from_data(task, profile([3, 4, 5]), None)
    assert short["value"] == 16 and short["reason"] == "floor"


def test_question_answering_keeps_windows_moving_and_instructions_keep_every_prompt():
    from hf_transfer import InstructionTuning, QuestionAnswering
    from hf_transfer.data.lengths import limit_from_data

    qa = limit_from_data(QuestionAnswering(doc_stride=64), profile([40] * 99 + [900]), 512)
    assert qa["value"] == 128 and qa["reason"] == "task" and "twice task.doc_stride=64" in qa["why"]
    assert QuestionAnswering(doc_stride=64).with_learned({"max_length": qa["value"]}).problems() == []
    sft = limit_from_data(InstructionTuning(), profile([60] * 99 + [400], kept=150), 2048)
    assert sft["value"] == 168 and sft["reason"] == "prompt"  # 150 + 16 response tokens, rounded up
    whole = limit_from_data(InstructionTuning(), profile([60] * 99 + [155], kept=150), 2048)
    assert whole["value"] == 160  # no more room than the longest row needs


def test_instruction_prompts_are_measured_and_the_chosen_limit_tokenizes_every_row(tiny_smollm2):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from hf_transfer import InstructionTuning
    from hf_transfer.data.lengths import limit_from_data, token_lengths

    tokenizer = AutoTokenizer.from_pretrained(tiny_smollm2)
    rng = random.Random(0)
    rows = [{"instruction": " ".join(rng.choice(FILLER) for _ in range(n)), "input": "", "output": "good film"}
            for n in [5] * 98 + [120, 6]]  # fmt: skip
    rows[-1]["output"] = " ".join(["great"] * 150)  # one long response: the 99% length is far below the long prompt
    ds = Dataset.from_list(rows)
    task = InstructionTuning()
    measured = token_lengths(task, tokenizer, ds)
    text = tokenizer.apply_chat_template([{"role": "user", "content": rows[98]["instruction"]}], tokenize=False,
                                         add_generation_prompt=True)  # fmt: skip
    prompt = len(tokenizer(text, add_special_tokens=False)["input_ids"])
    assert measured.kept == prompt
    chosen = limit_from_data(task, measured, None)
    assert chosen["reason"] == "prompt" and chosen["value"] >= min(prompt + 16, max(measured.lengths))
    assert chosen["value"] > prompt > chosen["keeps_99_percent"]
    tokenized = ds.map(task.with_learned({"max_length": chosen["value"]}).tokenize_function(tokenizer), batched=True,
                       remove_columns=ds.column_names)  # fmt: skip  (a prompt that did not fit would be refused)
    assert len(tokenized) == 100 and max(len(ids) for ids in tokenized["input_ids"]) <= chosen["value"]


def test_bad_length_flags_are_refused_clearly(tmp_path, tiny_bert, sentiment_files, run_cli):
    out = tmp_path / "run"
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--max_seq_length", "0"))
    assert code == 2 and "task.max_length must be positive" in err and "Traceback" not in err
    code, _, err = run_cli(*tiny_run_args(tiny_bert, sentiment_files, out, "--max_length", "4096"))
    assert code == 2 and "task.max_length=4096 is longer than" in err
    assert "or leave it to the data: --set task.max_length=null" in err
    assert not out.exists() and not out.with_name("run.partial").exists()

"""Each row's length in tokens, nothing cut, measured once per data and tokenizer and cached beside the tokenization;
and the length limit a run takes from it when neither the recipe nor the command line gives one.

A split's profile is kept as ``<key>-<data fingerprint>.lengths.json`` in the tokenization cache, ``<key>`` being the
tokenization's key for the task with its length lifted (the same profile whatever limit is asked for), written
atomically and cleared with the rest (``cache.py``). ``hf-transfer check`` reads it, a run whose limit comes from the
data reads it, and ``plan`` shows it: one computation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass

from hf_transfer.base.files import write_atomically
from hf_transfer.data.cache import PROFILE_SUFFIX, in_use, tokenization_cache_dir
from hf_transfer.data.prepare import _tokenization_key

LIFTED = 1_000_000
"""The task's length limit while lengths are measured: nothing is cut, so each row's whole length is seen."""
LENGTH_SAMPLE = 20_000
"""Rows per split whose tokens are counted (a seeded sample of larger splits)."""
PERCENTILES = (50, 90, 95, 99)
KEEP = 99
"""The percentile of training rows a limit from the data keeps whole."""
MULTIPLE = 8
"""A limit from the data is rounded up to a multiple of this (batches are padded to a multiple of 8 anyway)."""
FLOOR = 16
"""The least limit taken from the data: room for the special tokens and a few words."""
RESPONSE_ROOM = 16
"""Instruction tuning: the response tokens a limit from the data leaves after the longest prompt (a prompt that does
not fit is refused, a response is cut)."""


@dataclass(frozen=True)
class Profile:
    """One split's token lengths: ``lengths`` of the rows measured (a seeded sample of ``rows`` when ``sampled``),
    ``kept``: the most tokens of one row a limit must not cut (an instruction's prompt; 0 where nothing is)."""

    lengths: list[int]
    rows: int
    sampled: bool
    kept: int = 0

    def summary(self, limit: int | None = None) -> dict:
        """p50/p90/p95/p99 and max; with ``limit``, the rows over it (their count and share)."""
        return length_summary(self.lengths, limit)


def token_lengths(task, tokenizer, ds, seed: int = 42) -> Profile:
    """Each row's length in tokens as the task tokenizes it, nothing cut (multiple choice: its longest choice; a
    question: with its whole context), over a seeded sample of ``LENGTH_SAMPLE`` rows of a larger split."""
    import transformers

    rows = len(ds)
    sampled = rows > LENGTH_SAMPLE
    if sampled:
        ds = ds.shuffle(seed=seed).select(range(LENGTH_SAMPLE))
    function = lifted(task).tokenize_function(tokenizer)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "longer than the model's maximum": measured on purpose
    lengths: list[int] = []
    kept = 0
    try:
        for start in range(0, len(ds), 1000):
            encoded = function(ds[start : start + 1000])
            for ids in encoded["input_ids"]:
                lengths.append(max(map(len, ids)) if ids and isinstance(ids[0], list) else len(ids))
            kept = max([kept, *task.kept_tokens(encoded)])
    finally:
        transformers.logging.set_verbosity(verbosity)
    return Profile(lengths, rows, sampled, kept)


def lifted(task):
    """The task with its length limit lifted, as lengths are measured (and the profile's cache key made)."""
    return dataclasses.replace(task, **{task.length_setting: LIFTED})


def length_profile(task, tokenizer, ds, about: dict | None = None) -> Profile:
    """``token_lengths`` of a split, from the cache when it holds this data's profile for this task and tokenizer;
    measured and cached otherwise. ``about``: what the cache's description records (dataset, split)."""
    cache = tokenization_cache_dir()
    file = cache / f"{_tokenization_key(lifted(task), tokenizer)}-{ds._fingerprint}{PROFILE_SUFFIX}"
    with in_use(cache):  # `hf-transfer cache clear` leaves this write alone
        cached = _read(file, len(ds))
        if cached is not None:
            with contextlib.suppress(FileNotFoundError):
                os.utime(file)  # last used: `cache clear --older-than DAYS` keeps what runs use
            return cached
        profile = token_lengths(task, tokenizer, ds)
        record = {**(about or {}), "task": task.kind, "tokenizer": getattr(tokenizer, "name_or_path", ""),
                  "created": time.time(), **dataclasses.asdict(profile)}  # fmt: skip
        with contextlib.suppress(OSError):  # a cache that cannot be written: measured again next time
            write_atomically(file, json.dumps(record, separators=(",", ":")))
    return profile


def _read(file, rows: int) -> Profile | None:
    """A cached profile of a split of ``rows`` rows; None when there is none or it does not read whole."""
    try:
        data = json.loads(file.read_text())
        profile = Profile(list(data["lengths"]), int(data["rows"]), bool(data["sampled"]), int(data.get("kept", 0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return profile if profile.rows == rows and all(isinstance(n, int) for n in profile.lengths) else None


def length_summary(lengths: list[int], limit: int | None) -> dict:
    import numpy as np

    if not lengths:
        return {}
    values = np.asarray(lengths)
    out = {f"p{p}": int(math.ceil(np.percentile(values, p))) for p in PERCENTILES}
    out["max"] = int(values.max())
    if limit is not None:
        out["over_limit"] = int((values > limit).sum())
        out["over_limit_share"] = round(float((values > limit).mean()), 4)
    return out


def fits_99(lengths: list[int]) -> int | None:
    """The least length limit that keeps at least 99% of these rows whole (of 200 rows, all but the 2 longest)."""
    if not lengths:
        return None
    whole = math.ceil(round(KEEP / 100 * len(lengths), 6))  # rows that must fit
    return sorted(lengths)[whole - 1]


def round_up(n: int) -> int:
    return -(-n // MULTIPLE) * MULTIPLE


def limit_from_data(task, profile: Profile, cap: int | None) -> dict:
    """The length limit a run takes from its training rows' profile: the one that keeps 99% of them whole, rounded up
    to a multiple of 8, at least ``FLOOR`` and what the task needs (``Task.least_length``; an instruction's longest
    prompt with ``RESPONSE_ROOM`` tokens of its response), and at most ``cap`` (the model's positions). Returns the
    record a run keeps (metrics.json): ``value``, the statistics it read, and ``why`` in words."""
    setting = task.length_setting
    fits = fits_99(profile.lengths) or 0
    wanted = {"keeps 99%": round_up(fits), "floor": FLOOR}
    least, least_why = task.least_length()
    if least:
        wanted["task"] = round_up(least)
    if profile.kept:  # the longest prompt whole, with room for its response (no more room than any row needs)
        wanted["prompt"] = round_up(min(profile.kept + RESPONSE_ROOM, max(profile.lengths)))
    reason = max(wanted, key=lambda k: (wanted[k], k == "keeps 99%"))
    value = wanted[reason]
    if cap is not None and value > cap:
        value, reason = cap, "cap"
    summary = profile.summary(value)
    rows = f"{profile.rows:,} training rows" if not profile.sampled else (
        f"a seeded sample of {len(profile.lengths):,} of {profile.rows:,} training rows")  # fmt: skip
    longest = f"the longest is {summary.get('max', 0):,}"
    why = {
        "keeps 99%": f"keeps 99% of {rows} whole; {longest}",
        "floor": f"the least taken from the data; every one of {rows} fits in {summary.get('max', 0):,}",
        "task": f"{least_why}; 99% of {rows} fit in {fits:,}, {longest}",
        "prompt": f"the longest prompt, {profile.kept:,} tokens, whole with {RESPONSE_ROOM} of its response; 99% of "
        f"{rows} fit in {fits:,}, {longest}",
        "cap": f"the most the model reads; 99% of {rows} whole would need {fits:,}: "
        f"{summary.get('over_limit_share', 0):.1%} are cut, {longest}",
    }[reason]
    return {"setting": setting, "value": value, "source": "data", "reason": reason, "why": why,
            "rows": profile.rows, "measured": len(profile.lengths), "sampled": profile.sampled,
            "keeps_99_percent": fits, "cap": cap, **summary}  # fmt: skip


def limit_line(record: dict) -> str:
    """The console's line for a run's length limit: ``max_length 72 from the data (keeps 99% of ...)``."""
    return f"{record['setting']} {record['value']} from the data ({record['why']})"


LENGTH_FLAGS = ("--max_seq_length", "--max_length", "--max_source_length")
"""The command-line flag that sets a task's length limit (``cli/flags.py``), as the transformers examples spell it
(run_glue, run_ner, run_qa; run_summarization)."""


def length_source(setting: str, command: str | None) -> str:
    """Where an explicit length limit was set: the flag (``--max_seq_length``), ``--set task.max_length``, or the
    recipe; "given" when the command line is not known (a tune trial)."""
    import shlex

    try:
        tokens = shlex.split(command) if command and "(" not in command else []
    except ValueError:
        tokens = []
    if not tokens:
        return "given"
    flag = next((t.partition("=")[0] for t in reversed(tokens) if t.partition("=")[0] in LENGTH_FLAGS), None)
    if flag:
        return flag
    if any(t.startswith(f"task.{setting}=") for t in tokens):
        return f"--set task.{setting}"
    return "the recipe"


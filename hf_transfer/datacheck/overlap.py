"""Texts that repeat: inside training (duplicates, and the same text with two labels) and between training and
evaluation (leakage): exact after normalisation, near-duplicate by MinHash over word shingles with LSH (datasketch),
and an evaluation text contained whole in a longer training text (looked for word by word)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

SHINGLE = 3
"""Words per shingle: short texts (fewer words) are one shingle of all their words."""
NUM_PERM = 128
CHUNK = 10_000
_SPACE = re.compile(r"\s+")


_DROPPED = "PSZC"
"""Unicode categories a normalised text loses: punctuation, symbols, separators, control and other characters."""
_ASCII_DROPPED = {i: " " for i in range(128) if unicodedata.category(chr(i))[0] in _DROPPED}
"""The same rule for ASCII, as one ``str.translate`` table: most rows are ASCII, and a table is C-speed where the
character-by-character rule is Python (with the control-character pattern in ``profile.py``, the data check of 3,281
Rotten Tomatoes rows took 0.24 s instead of 0.28)."""


def normalise(text: str) -> str:
    """NFKC, case folded, punctuation and symbols dropped, whitespace collapsed: what the exact comparison sees."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    if text.isascii():
        kept = text.translate(_ASCII_DROPPED)
    else:
        kept = "".join(" " if unicodedata.category(c)[0] in _DROPPED else c for c in text)
    return _SPACE.sub(" ", kept).strip()


def shingles(normalised: str) -> set[bytes]:
    words = normalised.split()
    if len(words) <= SHINGLE:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + SHINGLE]).encode() for i in range(len(words) - SHINGLE + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


@dataclass
class Group:
    """Training rows with one normalised text."""

    rows: list[int]
    labels: Counter


def training_groups(texts: list[str], labels: list) -> dict[str, Group]:
    """Normalised training text -> the rows that have it and their labels (texts that normalise to nothing are
    left to the non-text check)."""
    groups: dict[str, Group] = {}
    for i, (text, label) in enumerate(zip(texts, labels, strict=True)):
        if text:
            group = groups.setdefault(text, Group([], Counter()))
            group.rows.append(i)
            group.labels[_hashable(label)] += 1
    return groups


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


def _shape(label):
    """Labels of one shape can be compared: a class with a class, a tag sequence with one of its own length (CoNLL's
    "8,000" and "8 000" normalise alike but are not the same tokens, so their tags are not two labels of one text)."""
    return len(label) if isinstance(label, (tuple, list)) else None


def duplicates_and_conflicts(groups: dict[str, Group], labels: list) -> tuple[list, list]:
    """(texts repeated, whatever their labels; those of them carrying two labels or more, of one shape), the largest
    first."""
    repeated = sorted((g for g in groups.values() if len(g.rows) > 1), key=lambda g: -len(g.rows))
    conflicts = []
    for group in repeated:
        if len(group.labels) < 2 or all(label is None for label in group.labels):
            continue
        same: dict = {}
        for r in group.rows:
            sub = same.setdefault(_shape(labels[r]), Group([], Counter()))
            sub.rows.append(r)
            sub.labels[_hashable(labels[r])] += 1
        conflicts += [g for g in same.values() if len(g.labels) > 1]
    return repeated, conflicts


class TrainingIndex:
    """The training texts, indexed once: exact (normalised text), near (MinHash LSH at ``threshold``; ``near=False``:
    exact only); queried with each evaluation split's texts."""

    def __init__(self, normalised: list[str], threshold: float, shared: list[str] | None = None, near: bool = True):
        from datasketch import MinHash, MinHashLSH

        self.normalised, self.threshold = normalised, threshold
        self.exact: dict[str, int] = {}
        for i, text in enumerate(normalised):
            if text:
                self.exact.setdefault(text, i)
        self.shared = {t for t in shared or () if t}
        rows = [i for i, t in enumerate(normalised) if t] if near else []
        self.near = near
        # candidates are checked on their shingles: a missed pair costs more than a false candidate
        self.lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM, weights=(0.1, 0.9))
        with self.lsh.insertion_session() as session:
            for start in range(0, len(rows), CHUNK):  # signatures a chunk at a time: the index keeps only its bands
                chunk = rows[start : start + CHUNK]
                hashes = MinHash.bulk([shingles(normalised[i]) for i in chunk], num_perm=NUM_PERM)
                for i, signature in zip(chunk, hashes, strict=True):
                    session.insert(i, signature, check_duplication=False)

    def leaks(self, normalised: list[str], shared: list[str] | None = None, contained: bool = True) -> dict:
        """Each evaluation row found in training: ``{"exact"|"near"|"contained": [(eval row, train row, similarity)],
        "shared": [eval rows whose shared part (QA context) is a training row's]}``. Contained: the evaluation text
        is found whole inside a longer training text (a phrase of SST-2's training data, or a sentence seen inside a
        longer one), looked for when ``contained``."""
        from datasketch import MinHash

        found: dict[str, list] = {"exact": [], "near": [], "contained": [], "shared": []}
        if shared is not None:
            found["shared"] = [i for i, t in enumerate(shared) if t and t in self.shared]
        rest = []
        for i, text in enumerate(normalised):
            if not text:
                continue
            if text in self.exact:
                found["exact"].append((i, self.exact[text], 1.0))
            else:
                rest.append(i)
        if not rest or not self.near:
            return found
        sets = [shingles(normalised[i]) for i in rest]
        candidates: dict[str, list[int]] = {}
        for i, own, signature in zip(rest, sets, MinHash.bulk(sets, num_perm=NUM_PERM), strict=True):
            scored = ((jaccard(own, shingles(self.normalised[j])), j) for j in self.lsh.query(signature))
            best = max(scored, default=(0.0, -1))
            if best[0] >= self.threshold:
                found["near"].append((i, best[1], round(best[0], 3)))
            elif contained:
                candidates.setdefault(" ".join(normalised[i].split()[:SHINGLE]), []).append(i)
        found["contained"] = sorted(self._contained(candidates, normalised))
        return found

    def _contained(self, candidates: dict[str, list[int]], normalised: list[str]) -> list[tuple]:
        """Evaluation texts found whole inside a longer training text: one pass over the training texts' word
        n-grams, each looked up among the evaluation texts' first words (few), then the whole text looked for."""
        out, sizes = [], sorted({len(k.split()) for k in candidates})
        left = sum(map(len, candidates.values()))
        for j, text in enumerate(self.normalised):
            if not left:
                break
            words, padded = text.split(), f" {text} "
            for n in sizes:
                for k in range(len(words) - n + 1):
                    rows = candidates.get(" ".join(words[k : k + n]))
                    if not rows:
                        continue
                    hits = [i for i in rows if len(normalised[i]) < len(text) and f" {normalised[i]} " in padded]
                    out += [(i, j, round(len(normalised[i].split()) / len(words), 3)) for i in hits]
                    rows[:] = [i for i in rows if i not in hits]
                    left -= len(hits)
        return out


def extra_rows(groups: list[Group]) -> int:
    """Rows in ``groups`` beyond the first of each text."""
    return sum(len(g.rows) - 1 for g in groups)


def rows_to_drop(duplicates: list[Group], labels: list) -> list[int]:
    """Training rows that repeat an earlier row's text and label (the first of each is kept; a text with two labels
    keeps one row per label: which label is right is the user's call)."""
    out = []
    for group in duplicates:
        seen = set()
        for r in group.rows:
            label = _hashable(labels[r])
            if label in seen:
                out.append(r)
            seen.add(label)
    return sorted(out)


def group_labels(group: Group) -> dict[str, int]:
    return {_show(label): n for label, n in group.labels.most_common()}


def _show(label) -> str:
    if isinstance(label, tuple):
        return " ".join(map(str, label)) if len(label) <= 12 else " ".join(map(str, label[:12])) + " ..."
    return str(label)

"""Answer spans of extractive question answering: an answer's token positions in one window of a context, and
the best span over all windows of a question (predictions mapped back to the context through the offsets)."""

from __future__ import annotations

from typing import Any

NO_OFFSET = [-1, -1]
"""Offset stored for tokens outside the context (question, special tokens)."""


def best_answer(context: str, windows: list[tuple[list, Any, Any]], n_best: int, max_answer_length: int):
    """The best span over the windows of one question.

    ``windows``: (offsets, start_logits, end_logits) per window, offsets ``[-1, -1]`` outside the
    context. Returns ``(text, start_char, score, null_score, candidate_scores)``; ``null_score`` is the
    lowest score of the "no answer" position (the first token) over the windows.
    """
    import numpy as np

    best = ("", -1, float("-inf"))
    null_score = float("inf")
    scores = []
    for offsets, start_logits, end_logits in windows:
        n = len(offsets)
        start_logits, end_logits = np.asarray(start_logits)[:n], np.asarray(end_logits)[:n]
        null_score = min(null_score, float(start_logits[0] + end_logits[0]))
        starts = np.argsort(start_logits)[::-1][:n_best]
        ends = np.argsort(end_logits)[::-1][:n_best]
        for s in starts:
            if list(offsets[s]) == NO_OFFSET:
                continue
            for e in ends:
                if list(offsets[e]) == NO_OFFSET or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start_logits[s] + end_logits[e])
                scores.append(score)
                if score > best[2]:
                    best = (context[offsets[s][0] : offsets[e][1]], int(offsets[s][0]), score)
    return best[0], best[1], best[2], null_score, scores


def answer_positions(offsets: list[list[int]], answers: dict) -> tuple[int, int]:
    """Token positions of the first answer in this window, or (0, 0) when it is not inside."""
    if not answers["text"]:
        return 0, 0
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    inside = [i for i, o in enumerate(offsets) if o != NO_OFFSET]
    first, last = inside[0], inside[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return 0, 0
    start = next(i for i in inside if offsets[i][1] > start_char)
    end = next(i for i in reversed(inside) if offsets[i][0] < end_char)
    return start, end

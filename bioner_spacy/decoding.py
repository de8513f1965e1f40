"""From per-token tag scores to entity spans.

``viterbi_bio`` finds the best tag sequence under the IOB2 constraints
(I-X only after B-X or I-X), so decoding never yields an orphan I- tag.
"""
from typing import List, Sequence, Tuple

import numpy


def allowed_transitions(tags: Sequence[str]) -> numpy.ndarray:
    """allowed[p, c]: may tag c follow tag p?  Row len(tags) is the start."""
    T = len(tags)
    allowed = numpy.ones((T + 1, T), dtype=bool)
    for c, cur in enumerate(tags):
        if cur.startswith("I-"):
            for p, prev in enumerate(tags):
                allowed[p, c] = prev[2:] == cur[2:] and prev[:2] in ("B-", "I-")
            allowed[T, c] = False
    return allowed


def viterbi_bio(log_probs: numpy.ndarray, allowed: numpy.ndarray) -> List[int]:
    """Best tag path for one sentence: log_probs is (n, T)."""
    n, T = log_probs.shape
    if n == 0:
        return []
    penalty = numpy.where(allowed, 0.0, -numpy.inf)
    score = log_probs[0] + penalty[T]
    back = numpy.zeros((n, T), dtype="int32")
    for i in range(1, n):
        candidates = score[:, None] + penalty[:T]  # (prev, cur)
        back[i] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[i]
    path = [int(score.argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def bio_to_spans(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
    """(start, end, label) token spans of a valid IOB2 sequence; an I-X that
    does not continue an X entity opens a new one."""
    spans: List[Tuple[int, int, str]] = []
    start, label = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        continues = tag.startswith("I-") and label == tag[2:]
        if start is not None and not continues:
            spans.append((start, i, label))
            start, label = None, None
        if tag.startswith("B-") or (tag.startswith("I-") and not continues):
            start, label = i, tag[2:]
    return spans


def spans_to_bio(n: int, spans: Sequence[Tuple[int, int, str]]) -> List[str]:
    tags = ["O"] * n
    for start, end, label in spans:
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
    return tags

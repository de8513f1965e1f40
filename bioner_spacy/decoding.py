"""From per-token tag scores to entity spans.

``viterbi_bio`` finds the best tag sequence under the IOB2 constraints
(I-X only after B-X or I-X), so decoding never yields an orphan I- tag;
``viterbi`` is the general search, with scores for transitions, starts and
ends (the CRF's, ``ml/output/crf.py``).
"""
from typing import List, Sequence, Tuple

import numpy


def transition_constraints(tags: Sequence[str]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Which tag paths are well formed, in IOB2 or (where any tag is E- or S-)
    IOBES: allowed[p, c] (may tag c follow tag p?), start_ok[c] (may a
    sentence begin with c?), end_ok[p] (may it end with p?). I-X (and E-X)
    continue a B-X or I-X; in IOBES a B-X or I-X must be continued."""
    T = len(tags)
    iobes = any(tag[:2] in ("E-", "S-") for tag in tags)
    opens = ("B-", "I-")  # tags an I-X or E-X may follow
    allowed = numpy.ones((T, T), dtype=bool)
    start_ok = numpy.ones(T, dtype=bool)
    end_ok = numpy.ones(T, dtype=bool)
    for c, cur in enumerate(tags):
        continues = cur[:2] in ("I-", "E-")
        for p, prev in enumerate(tags):
            if continues:
                allowed[p, c] = prev[:2] in opens and prev[2:] == cur[2:]
            elif iobes:
                allowed[p, c] = prev[:2] not in opens
        start_ok[c] = not continues
        end_ok[c] = not (iobes and cur[:2] in opens)
    return allowed, start_ok, end_ok


def allowed_transitions(tags: Sequence[str]) -> numpy.ndarray:
    """allowed[p, c]: may tag c follow tag p?  Row len(tags) is the start."""
    allowed, start_ok, _ = transition_constraints(tags)
    return numpy.vstack([allowed, start_ok[None, :]])


def viterbi(E: numpy.ndarray, A: numpy.ndarray, start: numpy.ndarray, end: numpy.ndarray) -> List[int]:
    """The path y maximising start[y_1] + sum_i E[i, y_i] + sum_{i>1}
    A[y_{i-1}, y_i] + end[y_n], for one sentence (E is n x T)."""
    n, T = E.shape
    if n == 0:
        return []
    score = start + E[0]
    back = numpy.zeros((n, T), dtype="int32")
    for i in range(1, n):
        candidates = score[:, None] + A  # (previous, current)
        back[i] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + E[i]
    path = [int((score + end).argmax())]
    for i in range(n - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


def viterbi_batch(Es: Sequence[numpy.ndarray], A: numpy.ndarray, start: numpy.ndarray,
                  end: numpy.ndarray) -> List[List[int]]:
    """``viterbi`` for many sentences at once, the same paths (ties included):
    the sentences are padded to the longest, and each step of the search
    runs over all of them; a sentence that has ended keeps its scores."""
    lengths = numpy.asarray([len(E) for E in Es], dtype="int64")
    paths: List[List[int]] = [[] for _ in Es]
    live = numpy.flatnonzero(lengths)
    if not len(live):
        return paths
    lengths = lengths[live]
    B, n, T = len(live), int(lengths.max()), A.shape[0]
    E = numpy.zeros((B, n, T), dtype=numpy.result_type(*(Es[b].dtype for b in live), A.dtype))
    for row, b in enumerate(live):
        E[row, : lengths[row]] = Es[b]
    score = start + E[:, 0]
    back = numpy.zeros((B, n, T), dtype="int32")
    for i in range(1, n):
        candidates = score[:, :, None] + A  # (sentence, previous, current)
        back[:, i] = candidates.argmax(axis=1)
        going = (i < lengths)[:, None]
        score = numpy.where(going, candidates.max(axis=1) + E[:, i], score)
    best = numpy.zeros((B, n), dtype="int64")
    rows = numpy.arange(B)
    best[rows, lengths - 1] = (score + end).argmax(axis=1)
    for i in range(n - 1, 0, -1):
        inside = i < lengths  # step back from position i to i - 1
        best[inside, i - 1] = back[rows[inside], i, best[inside, i]]
    for row, b in enumerate(live):
        paths[b] = best[row, : lengths[row]].tolist()
    return paths


def viterbi_over(Es: Sequence[numpy.ndarray], A: numpy.ndarray, start: numpy.ndarray, end: numpy.ndarray,
                 keep: numpy.ndarray) -> List[List[int]]:
    """``viterbi_batch`` over the tags ``keep`` (ids) only, the paths given
    in the full tag ids: a tag outside ``keep`` is on no path, so the search
    over the kept ones finds the same paths at (len(keep) / T)^2 the cost.
    ``Es`` hold the kept tags' scores (n x len(keep), ``E[:, keep]``: the
    caller turns only those into scores); A, start and end all T tags'."""
    paths = viterbi_batch(Es, A[numpy.ix_(keep, keep)], start[keep], end[keep])
    return [keep[path].tolist() for path in paths]


def viterbi_bio(log_probs: numpy.ndarray, allowed: numpy.ndarray) -> List[int]:
    """Best tag path for one sentence: log_probs is (n, T); ``allowed`` as
    from ``allowed_transitions``."""
    T = log_probs.shape[1]
    penalty = numpy.where(allowed, 0.0, -numpy.inf)
    return viterbi(log_probs, penalty[:T], penalty[T], numpy.zeros(T))


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


# the one label of an untyped model (cfa_ner with typed = false), and of spans scored untyped
UNTYPED = "ENTITY"


def untyped_bio(tags: Sequence[str]) -> List[str]:
    """IOB2 tags with every entity type replaced by UNTYPED: the spans alone."""
    return [tag if tag == "O" else tag[:2] + UNTYPED for tag in tags]


def spans_to_bio(n: int, spans: Sequence[Tuple[int, int, str]]) -> List[str]:
    tags = ["O"] * n
    for start, end, label in spans:
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
    return tags

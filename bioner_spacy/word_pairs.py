"""Entities as word-pair relations on a sentence's n x n grid (seed 002,
after W2NER), and back.

An entity is the tuple of its word indices, increasing (head first, tail
last; gaps make it discontinuous), with a type. On the grid:

- NNW (next-neighbouring word) at cell (a, b) for each pair of consecutive
  words a < b of the entity: the upper triangle;
- THW-type (tail-head word) at cell (tail, head): the lower triangle, the
  diagonal for a one-word entity.

Relation ids: 0 None, 1 NNW, 2 + k THW of ``types[k]``.

Decoding reads every THW cell as (head, tail, type) and follows NNW edges
from head to tail: each such path is one entity. Nested, overlapping and
discontinuous entities come out as they went in, with two limits of the
scheme (``encode_grid`` and ``decode_relations`` document them):

- one cell holds one relation, so two entities with the same head and tail
  but different types keep only one of the types;
- NNW edges are shared, so when entities chain into another head-to-tail
  path of a THW cell, that path is decoded too. Contiguous entities never do
  (their edges join adjacent words only), so sets of contiguous entities,
  nested or not, round-trip exactly as long as no two share both head and
  tail.
"""
from typing import Iterable, Iterator, List, Sequence, Tuple

import numpy

NONE, NNW, THW = 0, 1, 2

GridEntity = Tuple[Tuple[int, ...], str]


def relation_names(types: Sequence[str]) -> List[str]:
    return ["None", "NNW"] + [f"THW-{t}" for t in types]


def fragments(words: Sequence[int]) -> List[Tuple[int, int]]:
    """The contiguous runs of a word tuple as (start, end) ranges."""
    runs: List[Tuple[int, int]] = []
    for w in words:
        if runs and runs[-1][1] == w:
            runs[-1] = (runs[-1][0], w + 1)
        else:
            runs.append((w, w + 1))
    return runs


def words_of(ranges: Iterable[Tuple[int, int]]) -> Tuple[int, ...]:
    """The word tuple of (start, end) ranges (the inverse of ``fragments``)."""
    return tuple(sorted({w for start, end in ranges for w in range(start, end)}))


def encode_grid(n: int, entities: Iterable[GridEntity], types: Sequence[str]) -> numpy.ndarray:
    """The (n, n) relation ids of a sentence of n words.

    Entities are written in sorted order, so when two share head and tail with
    different types, the later type (in sort order) holds the THW cell.
    """
    index = {label: THW + k for k, label in enumerate(types)}
    grid = numpy.zeros((n, n), dtype="int32")
    for words, label in sorted(entities):
        if not words or list(words) != sorted(set(words)) or words[0] < 0 or words[-1] >= n:
            raise ValueError(f"entity words must be increasing indices in [0, {n}): {words}")
        if label not in index:
            raise ValueError(f"entity type {label!r} is not one of {list(types)}")
        for a, b in zip(words, words[1:]):
            grid[a, b] = NNW
        grid[words[-1], words[0]] = index[label]
    return grid


def nnw_paths(successors: List[List[int]], head: int, tail: int, limit: int) -> Iterator[Tuple[int, ...]]:
    """Paths of NNW edges from head to tail, depth first, at most ``limit``
    of them (their number can grow exponentially). Only words that can still
    reach the tail are entered, so the search never walks dead ends: its cost
    is at most ``limit`` paths of at most tail - head + 1 words."""
    reaches = {tail}
    for word in range(tail - 1, head - 1, -1):
        if any(nxt in reaches for nxt in successors[word] if nxt <= tail):
            reaches.add(word)
    if head not in reaches:
        return
    stack = [(head,)]
    found = 0
    while stack and found < limit:
        path = stack.pop()
        last = path[-1]
        if last == tail:
            found += 1
            yield path
            continue
        for nxt in reversed(successors[last]):
            if nxt in reaches:
                stack.append(path + (nxt,))


def decode_relations(relations: numpy.ndarray, types: Sequence[str], max_paths: int = 16) -> List[GridEntity]:
    """The entities of an (n, n) relation grid: NNW is read in the upper
    triangle only and THW in the lower triangle and diagonal only."""
    n = relations.shape[0]
    successors: List[List[int]] = [[] for _ in range(n)]
    for a, b in zip(*numpy.nonzero(numpy.triu(relations == NNW, k=1))):
        successors[a].append(int(b))  # row-major: each list increasing
    entities = set()
    tails, heads = numpy.nonzero(numpy.tril(relations >= THW))
    for tail, head in zip(tails.tolist(), heads.tolist()):
        label = types[int(relations[tail, head]) - THW]
        for path in nnw_paths(successors, head, tail, max_paths):
            entities.add((tuple(int(w) for w in path), label))
    return sorted(entities)


def best_relations(probs: numpy.ndarray, allowed: numpy.ndarray) -> numpy.ndarray:
    """The most probable relation of each cell of an (n, n, R) grid among
    those its region can hold: None or NNW above the diagonal, None or an
    allowed THW type on and below it. ``allowed`` masks the THW types (R,)."""
    upper = numpy.arange(probs.shape[2]) <= NNW
    lower = allowed.copy()
    lower[NNW] = False
    lower[NONE] = True
    n = probs.shape[0]
    above = numpy.triu(numpy.ones((n, n), dtype=bool), k=1)
    masked = numpy.where(above[:, :, None], numpy.where(upper, probs, -1.0), numpy.where(lower, probs, -1.0))
    return masked.argmax(axis=2).astype("int32")


def entity_scores(probs: numpy.ndarray, entities: Sequence[GridEntity], types: Sequence[str]) -> numpy.ndarray:
    """Each entity's score: the mean probability of its own cells (its THW
    cell and NNW edges), for all entities of one grid in one gather (an
    untrained grid decodes thousands per sentence)."""
    if not entities:
        return numpy.zeros(0)
    thw = {label: THW + k for k, label in enumerate(types)}
    owner, rows, cols, relations = [], [], [], []
    for i, (words, label) in enumerate(entities):
        # the THW cell (tail, head), then the NNW edge of each consecutive pair
        rows += [words[-1], *words[:-1]]
        cols += [words[0], *words[1:]]
        relations += [thw[label]] + [NNW] * (len(words) - 1)
        owner += [i] * len(words)
    sums = numpy.bincount(owner, weights=probs[rows, cols, relations].astype("float64"), minlength=len(entities))
    return sums / numpy.asarray([len(words) for words, _ in entities])

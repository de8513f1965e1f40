"""The context of every token of a batch as padded arrays, the form the
attention layers read (CFA, KVMN, TWA).

``context.py`` defines each syntax type's context token by token, in the
paper's terms; this module builds the same contexts for a whole batch at
once. For "pos" and "dep" it works on spaCy's attribute arrays with numpy
(no Python loop over tokens: the loop was most of the NER component's
time at inference); "syn" goes through ``context.constituency_context``.
Either way the result equals the padded form of ``context.syntax_context``
(tests/test_context_table.py checks this on parsed text).

A context is a set of (i, k) pairs over the batch's concatenated tokens:
token i attends to context word k, labelled with k's syntactic label (for
every syntax type the label is a property of k alone).
"""
from typing import Dict, List, Tuple

import numpy
from spacy.attrs import HEAD, DEP, TAG
from spacy.tokens import Doc

from .context import constituency_context, require_annotation, SYNTAX_TYPES

# label id of a label the model never saw (row 0 of the label tables)
UNKNOWN_LABEL = 0

Pairs = Tuple[numpy.ndarray, numpy.ndarray]  # rows i, columns k (token indices)


def constituency_pairs(doc: Doc, max_context: int) -> Tuple[numpy.ndarray, numpy.ndarray, List[str]]:
    """(rows, cols, labels of each column token) of one doc's "syn" context,
    already cut to ``max_context``."""
    ctx = constituency_context(doc, max_context=max_context)
    rows = numpy.asarray([i for i, indices in enumerate(ctx.indices) for _ in indices], dtype="int64")
    cols = numpy.asarray([k for indices in ctx.indices for k in indices], dtype="int64")
    labels = [""] * len(doc)
    for indices, names in zip(ctx.indices, ctx.labels):
        for k, name in zip(indices, names):
            labels[k] = name
    return rows, cols, labels


def keep_nearest(rows: numpy.ndarray, cols: numpy.ndarray, max_context: int) -> Pairs:
    """At most ``max_context`` pairs per row, the columns closest to the row
    (ties: the earlier column), as ``context.nearest`` keeps them."""
    order = numpy.lexsort((cols, numpy.abs(cols - rows), rows))
    rows, cols = rows[order], cols[order]
    first = numpy.searchsorted(rows, rows, side="left")
    keep = numpy.arange(len(rows)) - first < max_context
    return rows[keep], cols[keep]


def batch_pairs(docs: List[Doc], syntax: str, label_ids: Dict[str, int]) -> Tuple[numpy.ndarray, numpy.ndarray,
                                                                                  numpy.ndarray]:
    """(rows, cols, label id of every token) over the batch's concatenated
    tokens (at least one) for "dep" and "pos", from one attribute array per doc, without a
    Python step per token. dep: each token, its governor and its dependents,
    (i, i), (i, head(i)) and (head(j), j) for every non-root j, labelled with
    the lower-cased dependency label; pos: each token and its neighbours
    within one word in its doc, labelled with the fine-grained tag."""
    attr = DEP if syntax == "dep" else TAG
    for doc in docs:
        require_annotation(doc, syntax)
    lengths = numpy.asarray([len(doc) for doc in docs], dtype="int64")
    table = numpy.concatenate([doc.to_array([HEAD, attr]).reshape(len(doc), 2) for doc in docs])
    N = int(lengths.sum())
    i = numpy.arange(N, dtype="int64")
    if syntax == "dep":
        head = i + table[:, 0].view("int64")
        linked = head != i
        rows = numpy.concatenate([i, i[linked], head[linked]])
        cols = numpy.concatenate([i, head[linked], i[linked]])
    else:
        start = numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)  # each token's doc start
        end = start + numpy.repeat(lengths, lengths)
        rows = numpy.repeat(i, 3)
        cols = rows + numpy.tile(numpy.asarray([-1, 0, 1], dtype="int64"), N)
        inside = (cols >= numpy.repeat(start, 3)) & (cols < numpy.repeat(end, 3))
        rows, cols = rows[inside], cols[inside]
    strings = docs[0].vocab.strings
    keys, inverse = numpy.unique(table[:, 1], return_inverse=True)
    names = [strings[int(key)].lower() if syntax == "dep" else strings[int(key)] for key in keys.tolist()]
    ids = numpy.asarray([label_ids.get(name, UNKNOWN_LABEL) for name in names], dtype="int32")
    return rows, cols, ids[inverse.reshape(-1)]


def context_table(
    docs: List[Doc], syntax: str, max_context: int, label_ids: Dict[str, int]
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Padded (N, m) arrays over the batch's N concatenated tokens: the global
    index of each context word (in sentence order), its label id
    (``label_ids``; UNKNOWN_LABEL for an unseen label) and a mask of the real
    entries. A padding slot points at the token itself and is masked out."""
    N = sum(len(doc) for doc in docs)
    if N == 0:
        empty = numpy.zeros((0, 1), dtype="int32")
        return empty, empty.copy(), numpy.zeros((0, 1), dtype="bool")
    if syntax in ("dep", "pos"):
        rows, cols, token_label = batch_pairs(docs, syntax, label_ids)
    elif syntax == "syn":
        all_rows, all_cols, label_of_token, offset = [], [], [], 0
        for doc in docs:
            doc_rows, doc_cols, labels = constituency_pairs(doc, max_context)
            all_rows.append(doc_rows + offset)
            all_cols.append(doc_cols + offset)
            label_of_token.extend(labels)
            offset += len(doc)
        rows, cols = numpy.concatenate(all_rows), numpy.concatenate(all_cols)
        token_label = numpy.asarray([label_ids.get(name, UNKNOWN_LABEL) for name in label_of_token], dtype="int32")
    else:
        raise ValueError(f"Unknown syntax type {syntax!r}: use one of {', '.join(SYNTAX_TYPES)}")
    # one entry per (i, k), sorted by i then k
    keys = numpy.unique(rows * N + cols)
    rows, cols = keys // N, keys % N
    if max_context > 0 and syntax != "syn":
        rows, cols = keep_nearest(rows, cols, max_context)
        keys = numpy.sort(rows * N + cols)
        rows, cols = keys // N, keys % N
    counts = numpy.bincount(rows, minlength=N)
    m = max(int(counts.max()), 1)
    slot = numpy.arange(len(rows)) - numpy.repeat(numpy.cumsum(counts) - counts, counts)
    index = numpy.repeat(numpy.arange(N, dtype="int32")[:, None], m, axis=1)
    label = numpy.zeros((N, m), dtype="int32")
    mask = numpy.zeros((N, m), dtype="bool")
    index[rows, slot] = cols
    label[rows, slot] = token_label[cols]
    mask[rows, slot] = True
    return index, label, mask


def width_buckets(mask: numpy.ndarray) -> List[Tuple[numpy.ndarray, int]]:
    """The rows of a padded table grouped by how many real entries they have,
    each group with the width that holds it (a power of two, at most the
    table's): [(rows, width), ...]. Most tokens have two or three context
    words and a few have twenty; attending group by group over ``width``
    slots instead of all rows over the widest costs a fraction of the work,
    with the same result."""
    counts = mask.sum(axis=1)
    m = mask.shape[1]
    widths = numpy.minimum(2 ** numpy.ceil(numpy.log2(numpy.maximum(counts, 1))).astype("int64"), m)
    return [(numpy.flatnonzero(widths == w), int(w)) for w in numpy.unique(widths).tolist()]

"""What the baselines of seed 000 that attend over syntax share (KVMN and
two-way attention, ``kvmn.py`` and ``twa.py``): learned embeddings of the
context words and of their syntactic labels, looked up per (token, context
slot; the attention step itself is ``dot_product.attend``.

Unlike CFA, whose context vectors are built from the encoder's own outputs
h_k, these baselines embed the context words in a table of their own,
randomly initialised (seed 000, Introduction: "the embeddings of syntactic
information are only randomly initialized"). Context words are hashed by
their NORM into ``rows`` buckets; labels get one row each (row 0: unseen).
"""
from typing import Callable, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .cfa import context_arrays


Read = Callable[[Model, Floats2d, numpy.ndarray, numpy.ndarray, numpy.ndarray], Tuple[Floats2d, Callable]]


def memory_layer(name: str, read: Read, width: Optional[int], syntax: str, max_context: int,
                 rows: int, parts: int) -> Model:
    """A layer with a context-word table W (rows x d1) and a label table L
    (labels + 1 x d1). ``read(model, H, words, labels, mask)`` gives the
    attended vectors A ((parts - 1) * d1 per token) and their backward pass
    (dA -> dH, adding the tables' gradients); the layer outputs o_i = [A_i ; h_i].
    width: d1 (None: set at initialisation)."""
    return Model(
        name,
        memory_forward(read),
        init=init,
        dims={"nI": width, "nO": parts * width if width else None, "nL": None, "nW": rows},
        params={"W": None, "L": None},
        attrs={"syntax": syntax, "max_context": max_context, "labels": [], "parts": parts},
    )


def memory_forward(read: Read) -> Callable:
    def forward(model: Model, inputs: Tuple[List[Doc], List[Floats2d]], is_train: bool):
        docs, Hs = inputs
        ops, parts = model.ops, model.attrs["parts"]
        d1, lengths = model.get_param("W").shape[1], [len(h) for h in Hs]
        if not sum(lengths):
            return [ops.alloc2f(0, parts * d1) for _ in Hs], lambda dO: (docs, [ops.alloc2f(0, d1) for _ in Hs])
        H = ops.flatten(Hs)
        words, labels, mask = (ops.asarray(a) for a in context_ids(model, docs))
        A, backprop_read = read(model, H, words, labels, mask)
        O = ops.xp.concatenate([A, H], axis=1)

        def backprop(dOs: List[Floats2d]) -> Tuple[List[Doc], List[Floats2d]]:
            dO = ops.flatten(dOs)
            dH = backprop_read(dO[:, :-d1]) + dO[:, -d1:]
            return docs, ops.unflatten(dH, lengths)

        return ops.unflatten(O, lengths), backprop

    return forward


def init(model: Model, X=None, Y=None) -> Model:
    """Both tables random, N(0, 1/d1) (h_i . k_ij starts near unit scale).
    Not zero: with a zero table the attended vector is 0, the output layer's
    weights on it get no gradient from a zero-initialised softmax, and the
    table then never learns: the head would stay the plain one."""
    if not model.has_dim("nL"):
        model.set_dim("nL", len(model.attrs["labels"]) + 1)
    d1 = model.get_dim("nI")
    for name, rows in (("W", model.get_dim("nW")), ("L", model.get_dim("nL"))):
        table = numpy.random.normal(scale=1.0 / numpy.sqrt(d1), size=(rows, d1)).astype("float32")
        model.set_param(name, model.ops.asarray_f(table))
    return model


def word_rows(docs: List[Doc], rows: int) -> numpy.ndarray:
    """The embedding row of every token of the batch: its NORM hash modulo ``rows``."""
    norms = [token.norm for doc in docs for token in doc]
    return (numpy.asarray(norms, dtype="uint64") % numpy.uint64(rows)).astype("int32")


def context_ids(model: Model, docs: List[Doc]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """(N, m) arrays over the batch's tokens: the word-table row of each
    context word, its label row, and the mask of real entries."""
    index, label, mask = context_arrays(model, docs)
    return word_rows(docs, model.get_dim("nW"))[index], label, mask


def scatter_rows(ops, table_shape, ids, d_rows):
    """The gradient of a table from the gradients of the rows gathered by ``ids``."""
    d_table = ops.alloc2f(*table_shape)
    ops.scatter_add(d_table, ops.asarray(ids.ravel()), d_rows.reshape((-1, table_shape[1])))
    return d_table

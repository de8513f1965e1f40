"""Combined feature attention (seed 000, "Combined feature attention").

For token i with context words S_i = [s_i1..s_im] (token indices k) and
syntactic labels L_i = [l_i1..l_im]:

    e_ij = W_e [h_k ; emb(l_ij)] + b_e        (W_e = [W_s | W_l])
    a_ij = softmax_j(h_i . e_ij / sqrt(d1))
    a_i  = sum_j a_ij e_ij
    o_i  = [a_i ; h_i]

The layer takes ``(docs, H)``: the docs provide S and L (see
``bioner_spacy.syntax.context``), H is the encoder output, one (n, d1) array
per doc. It returns one (n, 2 * d1) array per doc. The backward pass is
written out by hand, so the layer runs on numpy and cupy alike.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model, glorot_uniform_init, normal_init
from thinc.types import Floats2d

from ...syntax.context_table import context_table, width_buckets
from .dot_product import attend

InT = Tuple[List[Doc], List[Floats2d]]
OutT = List[Floats2d]


def CombinedFeatureAttention(
    width: Optional[int], label_width: Optional[int], syntax: str, max_context: int
) -> Model[InT, OutT]:
    """width: d1, the encoder width (None: inferred from the encoder output at
    initialisation, as for a transformer listener). label_width: d2 (None: d1)."""
    return Model(
        "cfa_attention",
        forward,
        init=init,
        dims={"nI": width, "nO": 2 * width if width else None, "nL": None, "nD": label_width or width},
        params={"W_s": None, "W_l": None, "b": None, "L": None},
        attrs={"syntax": syntax, "max_context": max_context, "labels": []},
    )


def set_syntax_labels(model: Model, labels: Sequence[str]) -> None:
    """Fix the label inventory (index 0 is reserved for unseen labels)."""
    model.attrs["labels"] = sorted(set(labels))
    model.set_dim("nL", len(model.attrs["labels"]) + 1, force=True)


def set_width(model: Model, width: int) -> None:
    """Set d1 of an attention layer (CFA's, or a baseline's: its output joins
    ``attrs["parts"]`` vectors of width d1, 2 unless it says otherwise)."""
    model.set_dim("nI", width)
    model.set_dim("nO", model.attrs.get("parts", 2) * width)
    if model.has_dim("nD") is None:  # CFA's label width d2, when not given: d1
        model.set_dim("nD", width)


def init(model: Model, X=None, Y=None) -> Model:
    """nI (d1) must be set first: by the constructor, or by the tagger's
    initialisation with ``set_width`` from the encoder's output."""
    if not model.has_dim("nL"):
        model.set_dim("nL", len(model.attrs["labels"]) + 1)
    d1, d2, nL = model.get_dim("nI"), model.get_dim("nD"), model.get_dim("nL")
    ops = model.ops
    model.set_param("W_s", glorot_uniform_init(ops, (d1, d1)))
    model.set_param("W_l", glorot_uniform_init(ops, (d1, d2)))
    model.set_param("b", ops.alloc1f(d1))
    # zeros: thinc's normal_init reads its scale from ``mean``. The label rows
    # still learn (e_ij = W_s h_k + W_l l + b is non-zero through h_k), but they
    # start equal; kept so that trained CFA models and their results stay valid.
    model.set_param("L", normal_init(ops, (nL, d2), mean=0.0))
    return model


def context_arrays(model: Model, docs: List[Doc]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Padded (N, m) arrays over the concatenated tokens of the batch: global
    index k of each context word, its label id, and a mask of real entries
    (``syntax.context_table``)."""
    label_ids: Dict[str, int] = {label: i + 1 for i, label in enumerate(model.attrs["labels"])}
    return context_table(docs, model.attrs["syntax"], model.attrs["max_context"], label_ids)


def forward(model: Model[InT, OutT], inputs: InT, is_train: bool) -> Tuple[OutT, Callable]:
    docs, Hs = inputs
    ops = model.ops
    xp = ops.xp
    W_s, W_l = model.get_param("W_s"), model.get_param("W_l")
    b, L = model.get_param("b"), model.get_param("L")
    d1 = W_s.shape[0]
    lengths = [len(h) for h in Hs]
    H = ops.flatten(Hs) if Hs else ops.alloc2f(0, d1)
    if H.shape[0] == 0:
        return [ops.alloc2f(0, 2 * d1) for _ in Hs], lambda dO: (docs, [ops.alloc2f(0, d1) for _ in Hs])
    index, label, mask = context_arrays(model, docs)
    N = index.shape[0]
    scale = float(1.0 / numpy.sqrt(d1))
    # W_e [h_k ; l_ij] + b = W_s h_k + W_l l_ij + b: project every token and
    # every label once, then gather, instead of projecting each (i, j) pair.
    P = H @ W_s.T  # (N, d1): W_s h_k for every token k
    Q = L @ W_l.T  # (nL, d1): W_l l for every label
    attended = ops.alloc2f(N, d1)
    groups = []
    # tokens grouped by their number of context words (width_buckets): the same
    # result as attending over the widest context for all, for less work
    for rows, width in width_buckets(mask):
        rows, k, l, m = (ops.asarray(a) for a in (rows, index[rows, :width], label[rows, :width], mask[rows, :width]))
        E = P[k] + Q[l] + b  # (rows, width, d1): e_ij
        # a_ij = softmax_j(h_i . e_ij / sqrt(d1)), a_i = sum_j a_ij e_ij: e_ij is key and value
        attended[rows], backprop_attend = attend(ops, H[rows], E, E, m, scale)
        groups.append((rows, k, l, backprop_attend))
    O = xp.concatenate([attended, H], axis=1)  # o_i = [a_i ; h_i]

    def backprop(dOs: OutT) -> Tuple[List[Doc], List[Floats2d]]:
        dO = ops.flatten(dOs)
        dH = dO[:, d1:].copy()
        dP = ops.alloc2f(N, d1)
        dQ = ops.alloc2f(L.shape[0], d1)
        db = ops.alloc1f(d1)
        for rows, k, l, backprop_attend in groups:
            dH_attend, dK, dV = backprop_attend(dO[rows, :d1])
            dH[rows] += dH_attend  # rows of a group are distinct
            dE2 = (dV + dK).reshape((-1, d1))
            ops.scatter_add(dP, k.ravel(), dE2)
            ops.scatter_add(dQ, l.ravel(), dE2)
            db += dE2.sum(axis=0)
        model.inc_grad("W_s", dP.T @ H)
        model.inc_grad("W_l", dQ.T @ L)
        model.inc_grad("b", db)
        model.inc_grad("L", dQ @ W_l)
        dH += dP @ W_s
        return docs, ops.unflatten(dH, lengths)

    return ops.unflatten(O, lengths), backprop

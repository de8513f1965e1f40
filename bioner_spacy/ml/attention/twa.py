"""Two-way attention over syntax (TWA; Tian et al. 2020, "Joint Chinese word
segmentation and part-of-speech tagging via two-way attentions of
auto-analyzed knowledge", ACL), a baseline of seed 000 ("BioBERT-TWA").
For token i with context words s_ij and their syntactic labels l_ij (the
contexts CFA reads), two separate attentions, one over each:

    c_ij = E_w[s_ij],   a^c_ij = softmax_j(h_i . c_ij),   o^c_i = sum_j a^c_ij c_ij
    g_ij = E_l[l_ij],   a^g_ij = softmax_j(h_i . g_ij),   o^g_i = sum_j a^g_ij g_ij
    o_i  = [o^c_i ; o^g_i ; h_i]

Seed 000's criticism: the two parts are computed apart (CFA joins word and
label in one e_ij), and their embeddings start random (CFA's word part is
the encoder's h_k). The backward pass is written out by hand.
"""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .context_memory import attend, context_ids, memory_layer, scatter_rows

InT = Tuple[List[Doc], List[Floats2d]]


def TwoWayAttention(width: Optional[int], syntax: str, max_context: int, rows: int = 20000) -> Model[InT, List[Floats2d]]:
    """width: d1, the encoder width (None: set at initialisation); rows: buckets of the context-word table."""
    return memory_layer("twa_attention", forward, width, syntax, max_context, rows, parts=3)


def forward(model: Model, inputs: InT, is_train: bool) -> Tuple[List[Floats2d], Callable]:
    docs, Hs = inputs
    ops, xp = model.ops, model.ops.xp
    W, L = model.get_param("W"), model.get_param("L")
    d1, lengths = W.shape[1], [len(h) for h in Hs]
    if not sum(lengths):
        return [ops.alloc2f(0, 3 * d1) for _ in Hs], lambda dO: (docs, [ops.alloc2f(0, d1) for _ in Hs])
    H = ops.flatten(Hs)
    words, labels, mask = (ops.asarray(a) for a in context_ids(model, docs))
    C, G = W[words], L[labels]
    o_c, backprop_words = attend(ops, H, C, C, mask)
    o_g, backprop_labels = attend(ops, H, G, G, mask)
    O = xp.concatenate([o_c, o_g, H], axis=1)

    def backprop(dOs: List[Floats2d]) -> Tuple[List[Doc], List[Floats2d]]:
        dO = ops.flatten(dOs)
        dH_c, dK_c, dV_c = backprop_words(dO[:, :d1])
        dH_g, dK_g, dV_g = backprop_labels(dO[:, d1:2 * d1])
        model.inc_grad("W", scatter_rows(ops, W.shape, words, dK_c + dV_c))
        model.inc_grad("L", scatter_rows(ops, L.shape, labels, dK_g + dV_g))
        return docs, ops.unflatten(dH_c + dH_g + dO[:, 2 * d1:], lengths)

    return ops.unflatten(O, lengths), backprop

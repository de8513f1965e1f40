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

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .context_memory import memory_layer, scatter_rows
from .dot_product import attend


def TwoWayAttention(width: Optional[int], syntax: str, max_context: int,
                    rows: int = 20000) -> Model[Tuple[List[Doc], List[Floats2d]], List[Floats2d]]:
    """width: d1, the encoder width (None: set at initialisation); rows: buckets of the context-word table."""
    return memory_layer("twa_attention", read, width, syntax, max_context, rows, parts=3)


def read(model: Model, H: Floats2d, words: numpy.ndarray, labels: numpy.ndarray,
         mask: numpy.ndarray) -> Tuple[Floats2d, Callable]:
    """[o^c_i ; o^g_i] for every token: each table attended over by itself."""
    W, L = model.get_param("W"), model.get_param("L")
    d1 = W.shape[1]
    C, G = W[words], L[labels]
    o_c, backprop_words = attend(model.ops, H, C, C, mask)
    o_g, backprop_labels = attend(model.ops, H, G, G, mask)

    def backprop(d_o: Floats2d) -> Floats2d:
        dH_c, dK_c, dV_c = backprop_words(d_o[:, :d1])
        dH_g, dK_g, dV_g = backprop_labels(d_o[:, d1:])
        model.inc_grad("W", scatter_rows(model.ops, W.shape, words, dK_c + dV_c))
        model.inc_grad("L", scatter_rows(model.ops, L.shape, labels, dK_g + dV_g))
        return dH_c + dH_g

    return model.ops.xp.concatenate([o_c, o_g], axis=1), backprop

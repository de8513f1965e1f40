"""Key-value memory over syntax (KVMN), the attention of BioKMNER (Tian et
al. 2020, "Improving biomedical named entity recognition with syntactic
information", BMC Bioinformatics 21:539; after Miller et al. 2016), a
baseline of seed 000. For token i with context words s_ij and their
syntactic labels l_ij (the same contexts CFA reads: POS window,
constituency span or dependency neighbours):

    k_ij = E_w[s_ij]                       key: the context word's embedding
    v_ij = E_l[l_ij]                       value: its label's embedding
    p_ij = softmax_j(h_i . k_ij)
    a_i  = sum_j p_ij v_ij
    o_i  = [a_i ; h_i]

The keys only weigh the values (seed 000's criticism of KVMN). ``o_i``
joins ``a_i`` to ``h_i`` as CFA does, so that the three heads differ only in
how ``a_i`` is made. The backward pass is written out by hand.
"""
from typing import Callable, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .context_memory import memory_layer, scatter_rows
from .dot_product import attend


def KeyValueMemory(width: Optional[int], syntax: str, max_context: int,
                   rows: int = 20000) -> Model[Tuple[List[Doc], List[Floats2d]], List[Floats2d]]:
    """width: d1, the encoder width (None: set at initialisation); rows: buckets of the context-word table."""
    return memory_layer("kvmn_attention", read, width, syntax, max_context, rows, parts=2)


def read(model: Model, H: Floats2d, words: numpy.ndarray, labels: numpy.ndarray,
         mask: numpy.ndarray) -> Tuple[Floats2d, Callable]:
    """a_i for every token: the label embeddings weighed by the context words'."""
    W, L = model.get_param("W"), model.get_param("L")
    a, backprop_attend = attend(model.ops, H, W[words], L[labels], mask)

    def backprop(d_a: Floats2d) -> Floats2d:
        dH, dK, dV = backprop_attend(d_a)
        model.inc_grad("W", scatter_rows(model.ops, W.shape, words, dK))
        model.inc_grad("L", scatter_rows(model.ops, L.shape, labels, dV))
        return dH

    return a, backprop

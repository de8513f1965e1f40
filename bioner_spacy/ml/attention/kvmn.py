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

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .context_memory import attend, context_ids, memory_layer, scatter_rows

InT = Tuple[List[Doc], List[Floats2d]]


def KeyValueMemory(width: Optional[int], syntax: str, max_context: int, rows: int = 20000) -> Model[InT, List[Floats2d]]:
    """width: d1, the encoder width (None: set at initialisation); rows: buckets of the context-word table."""
    return memory_layer("kvmn_attention", forward, width, syntax, max_context, rows, parts=2)


def forward(model: Model, inputs: InT, is_train: bool) -> Tuple[List[Floats2d], Callable]:
    docs, Hs = inputs
    ops, xp = model.ops, model.ops.xp
    W, L = model.get_param("W"), model.get_param("L")
    d1, lengths = W.shape[1], [len(h) for h in Hs]
    if not sum(lengths):
        return [ops.alloc2f(0, 2 * d1) for _ in Hs], lambda dO: (docs, [ops.alloc2f(0, d1) for _ in Hs])
    H = ops.flatten(Hs)
    words, labels, mask = (ops.asarray(a) for a in context_ids(model, docs))
    a, backprop_attend = attend(ops, H, W[words], L[labels], mask)
    O = xp.concatenate([a, H], axis=1)

    def backprop(dOs: List[Floats2d]) -> Tuple[List[Doc], List[Floats2d]]:
        dO = ops.flatten(dOs)
        dH, dK, dV = backprop_attend(dO[:, :d1])
        model.inc_grad("W", scatter_rows(ops, W.shape, words, dK))
        model.inc_grad("L", scatter_rows(ops, L.shape, labels, dV))
        return docs, ops.unflatten(dH + dO[:, d1:], lengths)

    return ops.unflatten(O, lengths), backprop

"""Seed 003's machine-reading-comprehension auxiliary task: the span head and
its loss (Eqs. 1-7).

The MRC input m = [CLS] query [SEP] passage [SEP] goes through the same
transformer as the NER input; for each passage token i the head gives a
start and an end distribution over {no, yes}:

    P_start_i = softmax(W_start h_i + b_start)        (1)
    P_end_i   = softmax(W_end h_i + b_end)            (2)
    I_start   = {i | argmax P_start_i = yes}           (3)
    I_end     = {i | argmax P_end_i = yes}             (4)
    L_MRC     = BCE(P_start, Y_start) + BCE(P_end, Y_end)   (5)-(7)

each BCE the mean over the batch's passage tokens. ``bioner.MRCSpanHead.v1``
pools word pieces to tokens (as a transformer listener does) and gives the
four logits per token: (start no, start yes, end no, end yes). The
component (``pipeline/mrc_auxiliary.py``) builds the inputs and adds
beta * L_MRC to the training objective; nothing of it runs at inference.
"""
from typing import List, Sequence, Set, Tuple

from spacy.util import registry
from thinc.api import Linear, Model, chain, with_array
from thinc.types import Floats2d, Ints1d


@registry.architectures("bioner.MRCSpanHead.v1")
def mrc_span_head(pooling: Model, grad_factor: float = 1.0) -> Model:
    """Transformer output per doc (spacy-transformers' TransformerData) ->
    (tokens, 4) start and end logits."""
    from spacy_transformers.layers.trfs2arrays import trfs2arrays

    return chain(trfs2arrays(pooling, grad_factor), with_array(Linear(nO=4)))


def span_loss(ops, logits: Sequence[Floats2d], starts: Sequence[Ints1d], ends: Sequence[Ints1d]) -> Tuple[float, List[Floats2d]]:
    """L_MRC and its gradient for each doc's passage logits (tokens, 4),
    given the 0/1 start and end targets of its tokens."""
    xp = ops.xp
    tokens = sum(len(x) for x in logits)
    if tokens == 0:
        return 0.0, [ops.alloc2f(*x.shape) for x in logits]
    loss, grads = 0.0, []
    for x, start, end in zip(logits, starts, ends):
        d = ops.alloc2f(*x.shape)
        for column, target in ((0, start), (2, end)):
            probs = ops.softmax(x[:, column:column + 2], axis=-1)
            gold = xp.zeros_like(probs)
            gold[xp.arange(len(target)), xp.asarray(target, dtype="i")] = 1.0
            loss += float(-(gold * xp.log(probs + 1e-12)).sum()) / tokens
            d[:, column:column + 2] = (probs - gold) / tokens
        grads.append(d)
    return loss, grads


def start_end_positions(ops, logits: Floats2d) -> Tuple[Set[int], Set[int]]:
    """Eqs. 3 and 4: the tokens whose start (end) distribution says yes."""
    x = ops.to_numpy(logits)
    return set((x[:, 1] > x[:, 0]).nonzero()[0].tolist()), set((x[:, 3] > x[:, 2]).nonzero()[0].tolist())

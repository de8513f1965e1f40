"""Seed 004's window CNN (Crichton et al. 2017, "Single task model"): each
token is read through a window of 2n + 1 static word vectors (n = 3: seven
words, zero vectors beyond the sentence), kept frozen, and convolved by
filters of several widths w that each span whole word vectors and slide over
the window's positions, with no pooling (positions are kept):

    x_i        = [v_{i-n}; ...; v_{i+n}]                     (2n+1) word vectors, frozen
    z_{i,w,p}  = ReLU(F_w [v_{i-n+p}; ...; v_{i-n+p+w-1}] + c_w)   p = 0 .. 2n+1-w
    u_i        = [z_{i,w,p} for every width w and position p]      (concatenated)
    h_i        = dropout(ReLU(W u_i + b))                      the fully connected layer

``bioner.WindowCNN.v1`` gives h_i per token: the tagger puts the softmax on
top (one per dataset in the multi-output model, MO-MTM). The paper's setting:
n = 3, 100 filters of each width 3, 4 and 5, dropout at the fully connected
layer only. The vectors are the vocab's (the domain floret vectors: every
word, unseen ones too, gets one from its subwords); they are never updated.
"""
from typing import List

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Dropout, Model, Relu, chain, concatenate, expand_window, with_array
from thinc.types import Floats2d


def frozen_vectors() -> Model[List[Doc], List[Floats2d]]:
    """Each token's row of the vocab's static vectors, as they are (no
    projection, no gradient)."""
    return Model("frozen_vectors", vectors_forward)


def vectors_forward(model: Model, docs: List[Doc], is_train: bool):
    if docs and docs[0].vocab.vectors.shape[0] == 0:
        raise ValueError("bioner.WindowCNN.v1 reads static word vectors, and the vocab has none: set [initialize] "
                         "vectors (paths.vectors; `spacy project run vectors` builds pretraining/vectors)")
    out = []
    for doc in docs:
        vectors = doc.vocab.vectors
        # keyed by the attribute the vectors were built on (LOWER for ours), as spaCy's StaticVectors
        keys = [int(key) for key in doc.to_array(vectors.attr)] if len(doc) else []
        out.append(model.ops.asarray2f(vectors.get_batch(keys)) if keys else model.ops.alloc2f(0, vectors.shape[1]))
    return out, lambda d_out: []


def filters_at(n: int, width: int, filters: int) -> Model[Floats2d, Floats2d]:
    """``filters`` filters of ``width`` words (ReLU) at every position of a
    (2n+1)-word window: input (tokens, (2n+1)*d), output (tokens, positions*filters)."""
    return Model("window_filters", positions_forward, init=positions_init, layers=[Relu(filters)],
                 dims={"nO": filters * (2 * n + 2 - width)}, attrs={"n": n, "width": width})


def grams_of(model: Model, X: Floats2d) -> Floats2d:
    """(tokens, positions, width*d): the w consecutive word vectors at each position."""
    n, width = model.attrs["n"], model.attrs["width"]
    d = X.shape[1] // (2 * n + 1)
    return model.ops.xp.stack([X[:, p * d:(p + width) * d] for p in range(2 * n + 2 - width)], axis=1)


def positions_init(model: Model, X=None, Y=None) -> Model:
    grams = grams_of(model, X)
    model.layers[0].initialize(X=grams.reshape((-1, grams.shape[2]))[:8] if len(grams) else None)
    return model


def positions_forward(model: Model, X: Floats2d, is_train: bool):
    grams = grams_of(model, X)
    tokens, positions, gram_width = grams.shape
    Z, backprop_filters = model.layers[0](grams.reshape((-1, gram_width)), is_train)
    Y = Z.reshape((tokens, positions * Z.shape[1]))

    def backprop(dY: Floats2d) -> Floats2d:
        d_grams = backprop_filters(dY.reshape(Z.shape)).reshape(grams.shape)
        d = gram_width // model.attrs["width"]
        dX = model.ops.alloc2f(*X.shape)
        for p in range(positions):
            dX[:, p * d:p * d + gram_width] += d_grams[:, p]
        return dX

    return Y, backprop


@registry.architectures("bioner.WindowCNN.v1")
def WindowCNN(
    window: int = 3, filters: int = 100, widths: List[int] = [3, 4, 5], hidden: int = 300, dropout: float = 0.25
) -> Model[List[Doc], List[Floats2d]]:
    """window: n, the words on each side (3: a 7-word window).
    filters: filters per width; widths: the filter widths, in words.
    hidden: the fully connected layer's width (the encoder's output width).
    dropout: at the fully connected layer only (the paper's "dropout with a
        probability of 0.75" read as keeping 0.75 of the units)."""
    if any(w > 2 * window + 1 for w in widths):
        raise ValueError(f"bioner.WindowCNN.v1: filter widths {widths} must fit the {2 * window + 1}-word window")
    convolutions = concatenate(*[filters_at(window, w, filters) for w in widths])
    layers = chain(expand_window(window_size=window), convolutions, Relu(hidden), Dropout(dropout))
    model = chain(frozen_vectors(), with_array(layers))
    model.set_dim("nO", hidden)
    return model

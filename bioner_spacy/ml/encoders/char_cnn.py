"""Character-level token features and seed 001's word representation.

``bioner.CharCNN.v1`` (Ma and Hovy 2016, the character CNN of seed 001's
BiLSTM-CNN-CRF): each character of a token is embedded (30 dimensions), a
convolution of 30 filters reads each window of 3 characters (the character and
one on each side, zero-padded at the token's edges), and the token's vector is
the maximum of each filter over its characters:

    c_j = Emb(char_j)                         j = 1..m (the token's characters)
    z_j = W [c_{j-1}; c_j; c_{j+1}] + b       (filters x 3*char_width)
    v   = max_j z_j                           (elementwise)

``bioner.WordCharEmbed.v1``: the token's static word vector (frozen, with a
learned projection, as spaCy's ``StaticVectors``; floret vectors give every
word one) concatenated with ``v``, then dropout: the input of seed 001's BiLSTM.

``bioner.HashCharEmbed.v1``: spaCy's ``MultiHashEmbed`` (the learned NORM,
PREFIX, SUFFIX and SHAPE tables, and the static vectors where included)
concatenated with ``v``: the character CNN beside the affix features rather
than in their place (spaCy's ``CharacterEmbed`` replaces them).
"""
from typing import List, Optional, Union

import numpy
from spacy.ml.models.tok2vec import MultiHashEmbed
from spacy.ml.staticvectors import StaticVectors
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import (Dropout, HashEmbed, Linear, Model, chain, concatenate, expand_window, list2ragged, ragged2list,
                       reduce_max, with_array)
from thinc.types import Floats2d, Ragged


@registry.architectures("bioner.CharCNN.v1")
def CharCNN(
    filters: int = 30, char_width: int = 30, window: int = 1, rows: int = 2000, max_chars: int = 30,
    seed: Optional[int] = None,
) -> Model[List[Doc], Ragged]:
    """filters: the token vector's width (number of convolution filters).
    char_width: the character embedding's width.
    window: characters on each side a filter reads (1: width-3 filters).
    rows: rows of the hashed character table.
    max_chars: a longer token is read by its first max_chars characters.
    seed: the character hashing's seed (None: Thinc's default, the layer's
        id, which depends on how many layers the process made before it;
        saved with the model either way).
    Returns one row per token of the batch (lengths: tokens per doc)."""
    convolution = chain(
        token_characters(max_chars),
        with_array(HashEmbed(char_width, rows, column=0, seed=seed)),
        expand_window(window),
        with_array(Linear(filters, char_width * (2 * window + 1))),
        reduce_max(),
    )
    return Model("char_cnn", char_cnn_forward, init=char_cnn_init, layers=[convolution], dims={"nO": filters})


def char_cnn_init(model: Model, X=None, Y=None) -> Model:
    model.layers[0].initialize(X=X)
    return model


def char_cnn_forward(model: Model, docs: List[Doc], is_train: bool):
    vectors, backprop_convolution = model.layers[0](docs, is_train)
    lengths = model.ops.asarray1i([len(doc) for doc in docs])

    def backprop(dY: Ragged) -> List[Doc]:
        return backprop_convolution(dY.data)

    return Ragged(vectors, lengths), backprop


def token_characters(max_chars: int) -> Model[List[Doc], Ragged]:
    """Each token's characters (code points, at most max_chars) as ids in one
    column, grouped by token."""
    return Model("token_characters", token_characters_forward, attrs={"max_chars": max_chars})


def token_characters_forward(model: Model, docs: List[Doc], is_train: bool):
    max_chars = model.attrs["max_chars"]
    texts = [token.text[:max_chars] for doc in docs for token in doc]
    ids = numpy.fromiter((ord(char) for text in texts for char in text), dtype="uint64")
    lengths = model.ops.asarray1i([len(text) for text in texts])
    return Ragged(model.ops.asarray(ids.reshape(-1, 1)), lengths), lambda dY: []


@registry.architectures("bioner.WordCharEmbed.v1")
def WordCharEmbed(
    width: int, char_cnn: Model[List[Doc], Ragged], dropout: float = 0.5
) -> Model[List[Doc], List[Floats2d]]:
    """width: the output width (the encoder's input): the static word vectors
        projected to width minus the character CNN's filters, then the
        character features.
    char_cnn: the character features (``bioner.CharCNN.v1``).
    dropout: on the concatenated representation (seed 001: before the BiLSTM)."""
    words = StaticVectors(width_beside("WordCharEmbed", width, char_cnn), dropout=0.0)
    model = chain(concatenate(words, char_cnn), with_array(Dropout(dropout)), ragged2list())
    model.set_dim("nO", width)
    return model


@registry.architectures("bioner.HashCharEmbed.v1")
def HashCharEmbed(
    width: int,
    attrs: List[Union[str, int]],
    rows: List[int],
    include_static_vectors: bool,
    char_cnn: Model[List[Doc], Ragged],
) -> Model[List[Doc], List[Floats2d]]:
    """width: the output width (the encoder's input): spaCy's MultiHashEmbed
        at width minus the character CNN's filters, then the character features.
    attrs, rows, include_static_vectors: as for ``spacy.MultiHashEmbed.v2``.
    char_cnn: the character features (``bioner.CharCNN.v1``)."""
    hashed = chain(MultiHashEmbed(width_beside("HashCharEmbed", width, char_cnn), attrs, rows, include_static_vectors),
                   list2ragged())
    model = chain(concatenate(hashed, char_cnn), ragged2list())
    model.set_dim("nO", width)
    return model


def width_beside(architecture: str, width: int, char_cnn: Model) -> int:
    """The width left for the word features beside the character CNN's
    filters in an output of ``width``; an error naming both where none is."""
    filters = char_cnn.get_dim("nO")
    if width <= filters:
        raise ValueError(f"{architecture}: width ({width}) must exceed the character CNN's filters ({filters})")
    return width - filters

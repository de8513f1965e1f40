"""Inference: embed each distinct token of a batch once.

spaCy's Tok2Vec is ``chain(embed, encode)``, and its contract is that
``embed`` maps tokens to *context-independent* vectors ("Embed tokens into
context-independent word vector representations", spacy.Tok2Vec.v2); only
``encode`` reads context. Biomedical text repeats its words (a batch of 128
BC5CDR sentences has about 30% distinct tokens), so at inference the embed
is computed for the distinct tokens only and copied to every occurrence:
the same vectors, bit for bit, for a third of the work.

A token is identified by its ORTH and its NORM (the one attribute spaCy lets
a token override); every other column the embed's feature extractors read
must be a lexical attribute (a function of ORTH). An embed made of layers
this module does not know, or reading other columns, is run as it is.
Training never takes this path: dropout and gradients stay per occurrence.
"""
from typing import List, Optional

import numpy
from spacy.attrs import IDS, NORM, ORTH
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

# attributes a token takes from its lexeme: the same for every token of an ORTH
LEXICAL = {IDS[name] for name in IDS if name in ("ORTH", "LOWER", "PREFIX", "SUFFIX", "SHAPE", "LENGTH", "ID")
           or name.startswith("IS_") or name.startswith("LIKE_")}
# the leaves of spaCy's embedding layers (MultiHashEmbed, CharacterEmbed, StaticVectors)
TOKEN_WISE_LAYERS = {"extract_features", "list2ragged", "ragged2list", "ints-getitem", "hashembed", "static_vectors",
                     "maxout", "layernorm", "dropout", "charembed", "with_array", "concatenate", "chain", "noop",
                     "remap_ids", "list2array", "array2list", "residual"}


def token_key_attrs(embed: Model) -> Optional[List[int]]:
    """The attributes that identify a token for ``embed`` (ORTH, NORM), or
    None where the embed is not known to be token-wise over lexical
    attributes and NORM."""
    for layer in embed.walk():
        if not layer.layers and layer.name not in TOKEN_WISE_LAYERS:
            return None
        if layer.name == "extract_features":
            columns = [IDS[c.upper()] if isinstance(c, str) else c for c in layer.attrs.get("columns", [])]
            if any(c not in LEXICAL and c != NORM for c in columns):
                return None
    return [ORTH, NORM]


def embed_distinct_tokens(embed: Model, docs: List[Doc]) -> List[Floats2d]:
    """``embed.predict(docs)``, computing each distinct token's vector once."""
    attrs = token_key_attrs(embed)
    lengths = [len(doc) for doc in docs]
    if attrs is None or sum(lengths) == 0:
        return embed.predict(docs)
    keys = numpy.concatenate([doc.to_array(attrs).reshape(len(doc), len(attrs)) for doc in docs])
    distinct, inverse = numpy.unique(keys, axis=0, return_inverse=True)
    vocab = docs[0].vocab
    one = Doc(vocab, words=[vocab.strings[int(orth)] for orth in distinct[:, 0]])
    one.from_array(attrs[1:], numpy.ascontiguousarray(distinct[:, 1:]))
    (vectors,) = embed.predict([one])
    every = vectors[embed.ops.asarray(inverse.reshape(-1))]
    starts = numpy.cumsum([0] + lengths)
    return [every[start:end] for start, end in zip(starts[:-1], starts[1:])]


def predict_tok2vec(tok2vec: Model, docs: List[Doc]) -> List[Floats2d]:
    """``tok2vec.predict(docs)``; for spaCy's Tok2Vec (refs ``embed`` and
    ``encode``), the embed computed once per distinct token."""
    if not (tok2vec.has_ref("embed") and tok2vec.has_ref("encode")) or not docs:
        return tok2vec.predict(docs)
    return tok2vec.get_ref("encode").predict(embed_distinct_tokens(tok2vec.get_ref("embed"), docs))


def tok2vec_forward(tok2vec: Model, docs: List[Doc], is_train: bool):
    """``tok2vec(docs, is_train)``; at inference through ``predict_tok2vec``."""
    if is_train:
        return tok2vec(docs, is_train)

    def no_backprop(dH):
        raise ValueError(f"{tok2vec.name}: backprop after a forward pass with is_train=False")

    return predict_tok2vec(tok2vec, docs), no_backprop

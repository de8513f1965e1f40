"""Inference: embed each distinct token of a batch once.

spaCy's Tok2Vec is ``chain(embed, encode)``, and its contract is that
``embed`` maps tokens to *context-independent* vectors ("Embed tokens into
context-independent word vector representations", spacy.Tok2Vec.v2); only
``encode`` reads context. Biomedical text repeats its words, so at inference
the embed is computed for the distinct tokens of a batch only and copied to
every occurrence: the same vectors for less work (the profiler,
``bioner_spacy.benchmark.profile``, times the embedding).

A token is identified by its ORTH and its NORM (the one attribute spaCy lets
a token override); every other column the embed's feature extractors read
must be a lexical attribute (a function of ORTH). An embed made of layers
this module does not know, or reading other columns, is run as it is.
Training never takes this path: dropout and gradients stay per occurrence.

Across batches, a component can keep the rows it has computed in an
``EmbeddingCache`` while its weights cannot change (within one ``pipe``
stream): a word seen in an earlier batch is not embedded again.
"""
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Dict, Iterator, List, Optional, Tuple

import numpy
from spacy.attrs import IDS, NORM, ORTH
from spacy.tokens import Doc
from thinc.api import Model, NumpyOps
from thinc.types import Floats1d, Floats2d

from .packed_lstm import predict_encoder

# attributes a token takes from its lexeme: the same for every token of an ORTH
LEXICAL = {IDS[name] for name in IDS if name in ("ORTH", "LOWER", "PREFIX", "SUFFIX", "SHAPE", "LENGTH", "ID")
           or name.startswith("IS_") or name.startswith("LIKE_")}
# the leaves of spaCy's embedding layers (MultiHashEmbed, CharacterEmbed, StaticVectors)
TOKEN_WISE_LAYERS = {"extract_features", "list2ragged", "ragged2list", "ints-getitem", "hashembed", "static_vectors",
                     "maxout", "layernorm", "dropout", "charembed", "with_array", "concatenate", "chain", "noop",
                     "remap_ids", "list2array", "array2list", "residual"}


# composite layers known to read each token alone, by its text: their inner layers (a convolution
# over one token's characters) are not checked one by one
TOKEN_WISE_BLOCKS = {"char_cnn"}


_key_attrs: Dict[int, Optional[List[int]]] = {}  # embed layer id -> token_key_attrs (a model's layers are fixed)


def token_key_attrs(embed: Model) -> Optional[List[int]]:
    """The attributes that identify a token for ``embed`` (ORTH, NORM), or
    None where the embed is not known to be token-wise over lexical
    attributes and NORM; worked out once per embed layer."""
    if embed.id not in _key_attrs:
        _key_attrs[embed.id] = find_key_attrs(embed)
    return _key_attrs[embed.id]


def find_key_attrs(embed: Model) -> Optional[List[int]]:
    trusted = {inner.id for layer in embed.walk() if layer.name in TOKEN_WISE_BLOCKS for inner in layer.walk()}
    for layer in embed.walk():
        if layer.id in trusted:
            continue
        if not layer.layers and layer.name not in TOKEN_WISE_LAYERS:
            return None
        if layer.name == "extract_features":
            columns = [IDS[c.upper()] if isinstance(c, str) else c for c in layer.attrs.get("columns", [])]
            if any(c not in LEXICAL and c != NORM for c in columns):
                return None
    return [ORTH, NORM]


class EmbeddingCache:
    """Embedding rows by token, kept between batches for one embed layer's
    current weights. Its owner clears it whenever the weights may change;
    at ``max_rows`` it starts again empty (frequent words come back first)."""

    def __init__(self, max_rows: int = 100_000):
        self.max_rows = max_rows
        self.rows: Dict[int, Dict[Tuple[int, ...], Floats1d]] = {}  # embed layer id -> token -> row
        self.computed = 0  # rows embedded since the last clear(), for tests and profiling

    def clear(self) -> None:
        self.rows = {}
        self.computed = 0

    def table(self, embed: Model) -> Dict[Tuple[int, ...], Floats1d]:
        return self.rows.setdefault(embed.id, {})

    def add(self, embed: Model, keys: List[Tuple[int, ...]], vectors: Floats2d) -> None:
        table = self.table(embed)
        if len(table) + len(keys) > self.max_rows:
            table.clear()
        table.update(zip(keys, vectors))
        self.computed += len(keys)

    @contextmanager
    def in_use(self) -> Iterator["EmbeddingCache"]:
        """Use this cache for the inference runs inside the block."""
        token = _active_cache.set(self)
        try:
            yield self
        finally:
            _active_cache.reset(token)


_active_cache: ContextVar[Optional[EmbeddingCache]] = ContextVar("bioner_embedding_cache", default=None)


def embed_tokens(embed: Model, attrs: List[int], tokens: numpy.ndarray, vocab) -> Floats2d:
    """The embed's rows for distinct tokens (one row of ``attrs`` values each),
    run as one doc."""
    doc = Doc(vocab, words=[vocab.strings[int(orth)] for orth in tokens[:, 0]])
    doc.from_array(attrs[1:], numpy.ascontiguousarray(tokens[:, 1:]))
    return embed.predict([doc])[0]


def embed_distinct_tokens(embed: Model, docs: List[Doc], cache: Optional[EmbeddingCache] = None) -> List[Floats2d]:
    """``embed.predict(docs)``, computing each distinct token's vector once,
    and with a cache (CPU), only the tokens it does not hold yet."""
    attrs = token_key_attrs(embed)
    lengths = [len(doc) for doc in docs]
    if attrs is None or sum(lengths) == 0:
        return embed.predict(docs)
    keys = numpy.concatenate([doc.to_array(attrs).reshape(len(doc), len(attrs)) for doc in docs])
    distinct, inverse = numpy.unique(keys, axis=0, return_inverse=True)
    vocab = docs[0].vocab
    if cache is None or type(embed.ops) is not NumpyOps:
        vectors = embed_tokens(embed, attrs, distinct, vocab)
    else:
        tokens = list(map(tuple, distinct.tolist()))
        table = cache.table(embed)
        rows = [table.get(token) for token in tokens]
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing:
            new = embed_tokens(embed, attrs, distinct[missing], vocab)
            for i, row in zip(missing, new):
                rows[i] = row
            cache.add(embed, [tokens[i] for i in missing], new)
        vectors = numpy.stack(rows)
    every = vectors[embed.ops.asarray(inverse.reshape(-1))]
    starts = numpy.cumsum([0] + lengths)
    return [every[start:end] for start, end in zip(starts[:-1], starts[1:])]


def predict_tok2vec(tok2vec: Model, docs: List[Doc]) -> List[Floats2d]:
    """``tok2vec.predict(docs)``; for spaCy's Tok2Vec (refs ``embed`` and
    ``encode``), the embed computed once per distinct token (and not again
    for a token in the cache in use, if any), and a BiLSTM encoder run over
    each doc as if alone (``packed_lstm.predict_encoder``)."""
    if not (tok2vec.has_ref("embed") and tok2vec.has_ref("encode")) or not docs:
        return tok2vec.predict(docs)
    embedded = embed_distinct_tokens(tok2vec.get_ref("embed"), docs, _active_cache.get())
    return predict_encoder(tok2vec.get_ref("encode"), embedded)


def tok2vec_forward(tok2vec: Model, docs: List[Doc], is_train: bool):
    """``tok2vec(docs, is_train)``; at inference through ``predict_tok2vec``."""
    if is_train:
        return tok2vec(docs, is_train)

    def no_backprop(dH):
        raise ValueError(f"{tok2vec.name}: backprop after a forward pass with is_train=False")

    return predict_tok2vec(tok2vec, docs), no_backprop

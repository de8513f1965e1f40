"""The CFA tagger architecture: encoder -> combined feature attention ->
softmax over BIO tags (seed 000, "Sequence tagging network").

``syntax = "none"`` turns the attention off (o_i = h_i): the same encoder
with a plain softmax head, seed 000's baseline ("BioBERT" against
"BioBERT-CFA", here for every encoder)."""
from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, Softmax_v2, chain, with_array
from thinc.types import Floats2d

from ..syntax.context import SYNTAX_TYPES
from .cfa_attention import CombinedFeatureAttention, set_width

# the syntax setting of the plain head: no attention, o_i = h_i
NO_SYNTAX = "none"


@registry.architectures("bioner.CFATagger.v1")
def build_cfa_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    syntax: str = "dep",
    label_width: Optional[int] = None,
    max_context: int = 32,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """tok2vec: the encoder giving h_i (any spaCy tok2vec or transformer listener).
    syntax: which context the attention reads: "pos", "syn" or "dep"; "none"
        for the plain head (no attention, softmax over h_i).
    label_width: d2, the size of the syntactic label embeddings (default d1).
    max_context: at most this many context words per token, the nearest kept
        (0 = no limit; a root's constituency context is its whole sentence).
    nO: number of BIO tags (inferred at initialisation when None).
    """
    if syntax == NO_SYNTAX:
        return build_plain_tagger(tok2vec, nO)
    if syntax not in SYNTAX_TYPES:
        raise ValueError(f"Unknown syntax type {syntax!r}: use one of {', '.join(SYNTAX_TYPES)} or {NO_SYNTAX!r}")
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    attention = CombinedFeatureAttention(width, label_width, syntax, max_context)
    encoder = Model(
        "cfa_encoder",
        encode_forward,
        layers=[tok2vec, attention],
        dims={"nO": 2 * width if width else None},
        refs={"tok2vec": tok2vec, "attention": attention},
        init=encode_init,
    )
    output = Softmax_v2(nO, 2 * width if width else None)
    model = chain(encoder, with_array(output))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("attention", attention)
    model.set_ref("output_layer", output)
    return model


def build_plain_tagger(tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None) -> Model:
    """encoder -> softmax: o_i = h_i."""
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    output = Softmax_v2(nO, width)
    model = chain(tok2vec, with_array(output))
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("output_layer", output)
    model.attrs["syntax"] = NO_SYNTAX
    return model


def encode_init(model: Model, X=None, Y=None) -> Model:
    tok2vec, attention = model.get_ref("tok2vec"), model.get_ref("attention")
    tok2vec.initialize(X=X)
    if not attention.has_dim("nI"):
        if not X:
            raise ValueError("cfa_encoder: the encoder width is unknown; initialise with sample docs")
        set_width(attention, tok2vec.predict(X[:1])[0].shape[1])
    attention.initialize()
    if not model.has_dim("nO"):
        model.set_dim("nO", attention.get_dim("nO"))
    return model


def encode_forward(model: Model, docs: List[Doc], is_train: bool):
    tok2vec, attention = model.get_ref("tok2vec"), model.get_ref("attention")
    H, backprop_tok2vec = tok2vec(docs, is_train)
    O, backprop_attention = attention((docs, H), is_train)

    def backprop(dO):
        _, dH = backprop_attention(dO)
        return backprop_tok2vec(dH)

    return O, backprop

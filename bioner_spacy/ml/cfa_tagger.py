"""The CFA tagger architecture: encoder -> combined feature attention ->
softmax over BIO tags (seed 000, "Sequence tagging network"), or a linear
layer and a CRF (``output = "crf"``, ml/output/crf.py).

``syntax = "none"`` turns the attention off (o_i = h_i): the same encoder
with a plain softmax head, seed 000's baseline ("BioBERT" against
"BioBERT-CFA", here for every encoder)."""
from typing import List, Optional, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, chain, with_array
from thinc.types import Floats2d

from ..syntax.context import SYNTAX_TYPES
from .attention.cfa import CombinedFeatureAttention, set_width
from .attention.kvmn import KeyValueMemory
from .attention.twa import TwoWayAttention
from .encoders.distinct_tokens import tok2vec_forward
from .output.layers import output_layers

# the syntax setting of the plain head: no attention, o_i = h_i
NO_SYNTAX = "none"
# how a token attends over its syntactic context: CFA (seed 000), or its baselines
# KVMN (BioKMNER) and two-way attention
ATTENTIONS = ("cfa", "kvmn", "twa")


def attention_layer(attention: str, width: Optional[int], label_width: Optional[int], syntax: str,
                    max_context: int) -> Model:
    if attention == "cfa":
        return CombinedFeatureAttention(width, label_width, syntax, max_context)
    if attention == "kvmn":
        return KeyValueMemory(width, syntax, max_context)
    if attention == "twa":
        return TwoWayAttention(width, syntax, max_context)
    raise ValueError(f"Unknown attention {attention!r}: use one of {', '.join(ATTENTIONS)}")


def with_output(encoder: Model, output: str, nO: Optional[int], nI: Optional[int]) -> Model:
    """encoder -> per-token output layer (-> CRF), with refs to both."""
    layer, crf = output_layers(output, nO, nI)
    model = chain(encoder, with_array(layer)) if crf is None else chain(encoder, with_array(layer), crf)
    model.set_ref("output_layer", layer)
    if crf is not None:
        model.set_ref("crf", crf)
    return model


@registry.architectures("bioner.CFATagger.v1")
def build_cfa_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    syntax: str = "dep",
    label_width: Optional[int] = None,
    max_context: int = 32,
    nO: Optional[int] = None,
    output: str = "softmax",
    attention: str = "cfa",
) -> Model[List[Doc], List[Floats2d]]:
    """tok2vec: the encoder giving h_i (any spaCy tok2vec or transformer listener).
    syntax: which context the attention reads: "pos", "syn" or "dep"; "none"
        for the plain head (no attention, softmax over h_i).
    label_width: d2, the size of the syntactic label embeddings (default d1).
    max_context: at most this many context words per token, the nearest kept
        (0 = no limit; a root's constituency context is its whole sentence).
    nO: number of BIO tags (inferred at initialisation when None).
    output: "softmax" (probabilities per token) or "crf" (tag scores and a
        linear-chain CRF: trained on the sentence's likelihood, decoded with
        its learned transitions).
    attention: "cfa" (seed 000), or seed 000's baselines over the same
        contexts: "kvmn" (key-value memory, BioKMNER) or "twa" (two-way
        attention); label_width applies to CFA only.
    """
    if syntax == NO_SYNTAX:
        return build_plain_tagger(tok2vec, nO, output)
    if syntax not in SYNTAX_TYPES:
        raise ValueError(f"Unknown syntax type {syntax!r}: use one of {', '.join(SYNTAX_TYPES)} or {NO_SYNTAX!r}")
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    layer = attention_layer(attention, width, label_width, syntax, max_context)
    out_width = layer.attrs.get("parts", 2) * width if width else None
    encoder = Model(
        "cfa_encoder",
        encode_forward,
        layers=[tok2vec, layer],
        dims={"nO": out_width},
        refs={"tok2vec": tok2vec, "attention": layer},
        init=encode_init,
    )
    model = with_output(encoder, output, nO, out_width)
    model.set_ref("tok2vec", tok2vec)
    model.set_ref("attention", layer)
    return model


def build_plain_tagger(tok2vec: Model[List[Doc], List[Floats2d]], nO: Optional[int] = None,
                       output: str = "softmax") -> Model:
    """encoder -> output layer: o_i = h_i."""
    width = tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None
    model = with_output(tok2vec, output, nO, width)
    model.set_ref("tok2vec", tok2vec)
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
    H, backprop_tok2vec = tok2vec_forward(tok2vec, docs, is_train)
    O, backprop_attention = attention((docs, H), is_train)

    def backprop(dO):
        _, dH = backprop_attention(dO)
        return backprop_tok2vec(dH)

    return O, backprop

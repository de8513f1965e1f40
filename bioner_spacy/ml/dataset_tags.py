"""Dataset tag tokens in the encoder input (seed 000, "Multi-task model").

``with_dataset_tags`` wraps a tok2vec: each doc is encoded as
``<T> w_1 ... w_n </T>``, where T comes from ``doc._.dataset``; the tags are
embedded by the same embedding as words and pass through the same encoder,
and their rows are dropped from the output, so the head sees exactly the
user's tokens and ``doc.text`` is never changed. A doc without a dataset is
encoded untagged.

Variants (``tags``): "DN" (dataset name, begin and end tag), "DN-begin" (the
begin tag only) and "none" (direct mixing, no tags).
"""
from typing import List, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

TAG_VARIANTS = ("DN", "DN-begin", "none")


def tag_words(dataset: str, variant: str) -> Tuple[List[str], List[str]]:
    """The tag tokens to put before and after a doc's words."""
    if variant == "none" or not dataset:
        return [], []
    if variant == "DN":
        return [f"<{dataset}>"], [f"</{dataset}>"]
    if variant == "DN-begin":
        return [f"<{dataset}>"], []
    raise ValueError(f"Unknown dataset tag variant {variant!r}: use one of {', '.join(TAG_VARIANTS)}")


def tagged_doc(doc: Doc, variant: str) -> Tuple[Doc, int, int]:
    """The doc with its tag tokens, and how many were added before and after."""
    before, after = tag_words(doc._.dataset, variant)
    if not before and not after:
        return doc, 0, 0
    words = before + [t.text for t in doc] + after
    return Doc(doc.vocab, words=words), len(before), len(after)


@registry.architectures("bioner.DatasetTagTok2Vec.v1")
def with_dataset_tags(tok2vec: Model[List[Doc], List[Floats2d]], tags: str = "DN") -> Model[List[Doc], List[Floats2d]]:
    if tags not in TAG_VARIANTS:
        raise ValueError(f"Unknown dataset tag variant {tags!r}: use one of {', '.join(TAG_VARIANTS)}")
    model = Model(
        "dataset_tags",
        forward,
        layers=[tok2vec],
        attrs={"tags": tags},
        dims={"nO": tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None},
        init=init,
    )
    return model


def init(model: Model, X=None, Y=None) -> Model:
    tok2vec = model.layers[0]
    tok2vec.initialize(X=[tagged_doc(doc, model.attrs["tags"])[0] for doc in X] if X else None)
    if tok2vec.has_dim("nO"):
        model.set_dim("nO", tok2vec.get_dim("nO"), force=True)
    return model


def forward(model: Model, docs: List[Doc], is_train: bool):
    tagged = [tagged_doc(doc, model.attrs["tags"]) for doc in docs]
    H, backprop_tok2vec = model.layers[0]([t[0] for t in tagged], is_train)
    kept = [h[before : len(h) - after] for h, (_, before, after) in zip(H, tagged)]

    def backprop(dK: List[Floats2d]) -> List[Doc]:
        ops = model.ops
        dH = []
        for dk, (_, before, after) in zip(dK, tagged):
            if before or after:
                dk = ops.xp.concatenate(
                    [ops.alloc2f(before, dk.shape[1]), dk, ops.alloc2f(after, dk.shape[1])], axis=0
                )
            dH.append(dk)
        return backprop_tok2vec(dH)

    return kept, backprop

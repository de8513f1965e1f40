"""Dataset tag tokens in the encoder input (seed 000, "Multi-task model").

``with_dataset_tags`` wraps a tok2vec: each doc is encoded as
``<T> w_1 ... w_n </T>``, where T comes from ``doc._.dataset``; the tags are
embedded by the same embedding as words and pass through the same encoder,
and their rows are dropped from the output, so the head sees exactly the
user's tokens and ``doc.text`` is never changed. A doc without a dataset is
encoded untagged.

Variants (``tags``, seed 000's ablations):

- "DN": the dataset name, ``<BC5CDR-chem> ... </BC5CDR-chem>`` (default);
- "TN": the dataset's entity type, by seed 000's four type names
  (``TYPE_NAMES``: gene/protein, disease, species, chemical), so corpora of
  one kind share a tag: ``<chemical> ... </chemical>`` for BC5CDR-chem and
  BioNLP11ID-chem alike; a type outside the four keeps its own label; a
  corpus with several types gets one tag naming them all, sorted and joined by
  "+" (``<chemical+disease>``);
- "TN+DN": both pairs, type outside, ``<chemical> <BC5CDR-chem> ... </BC5CDR-chem> </chemical>``;
- "DN-begin": the begin tag only;
- "none": no tags (DM, direct mixing of the corpora).

TN needs each dataset's entity types: the owning component sets them with
``set_dataset_types`` at initialisation; they are saved with the model.

Over a transformer (``spacy-transformers.Tok2VecTransformer.v3`` inside the
component, not a listener, so that the tagged docs are what it reads), the tag
strings become added special tokens of its tokenizer, each one word piece with
an embedding of its own (the embedding matrix grows at initialisation and is
saved with the model).
"""
from typing import Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..encoders.distinct_tokens import tok2vec_forward

TAG_VARIANTS = ("DN", "TN", "TN+DN", "DN-begin", "none")

# seed 000's four entity-type names, for the label strings of the shared corpora
TYPE_NAMES = {
    **dict.fromkeys(["GENE", "Gene", "Protein", "protein", "DNA", "RNA", "GGP", "Gene_or_gene_product"], "gene/protein"),
    "Disease": "disease",
    **dict.fromkeys(["Species", "Organism", "Taxon"], "species"),
    **dict.fromkeys(["Chemical", "Simple_chemical", "CHEBI"], "chemical"),
}


def type_name(types: Sequence[str]) -> str:
    """The TN tag name of a dataset with these entity types."""
    return "+".join(sorted({TYPE_NAMES.get(t, t) for t in types}))


def tag_words(
    dataset: Optional[str], variant: str, types: Optional[Sequence[str]] = None
) -> Tuple[List[str], List[str]]:
    """The tag tokens to put before and after a doc's words.

    types: the dataset's entity types (needed by TN and TN+DN only).
    """
    if variant not in TAG_VARIANTS:
        raise ValueError(f"Unknown dataset tag variant {variant!r}: use one of {', '.join(TAG_VARIANTS)}")
    if variant == "none" or not dataset:
        return [], []
    if variant == "DN":
        return [f"<{dataset}>"], [f"</{dataset}>"]
    if variant == "DN-begin":
        return [f"<{dataset}>"], []
    if types is None:
        raise ValueError(f"Dataset tag variant {variant!r} needs the entity types of dataset {dataset!r}, and none are known")
    name = type_name(types) or "O"  # a dataset without entities
    if variant == "TN":
        return [f"<{name}>"], [f"</{name}>"]
    return [f"<{name}>", f"<{dataset}>"], [f"</{dataset}>", f"</{name}>"]


def tagged_doc(doc: Doc, variant: str, dataset_types: Optional[Dict[str, List[str]]] = None) -> Tuple[Doc, int, int]:
    """The doc with its tag tokens, and how many were added before and after."""
    dataset = doc._.dataset
    before, after = tag_words(dataset, variant, (dataset_types or {}).get(dataset))
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
        attrs={"tags": tags, "dataset_types": {}},
        dims={"nO": tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None},
        init=init,
    )
    return model


def set_dataset_types(model: Model, dataset_types: Dict[str, Sequence[str]]) -> None:
    """Tell every dataset-tag layer inside ``model`` the entity types of each dataset."""
    for node in model.walk():
        if node.name == "dataset_tags":
            node.attrs["dataset_types"] = {name: sorted(types) for name, types in dataset_types.items()}


def tag_all(model: Model, docs: List[Doc]) -> List[Tuple[Doc, int, int]]:
    return [tagged_doc(doc, model.attrs["tags"], model.attrs["dataset_types"]) for doc in docs]


def all_tag_words(model: Model, docs: Optional[List[Doc]]) -> List[str]:
    """Every tag string of the known datasets and of ``docs``' datasets."""
    datasets = set(model.attrs["dataset_types"]) | {doc._.dataset for doc in docs or [] if doc._.dataset}
    words = set()
    for dataset in datasets:
        types = model.attrs["dataset_types"].get(dataset)
        if model.attrs["tags"] in ("TN", "TN+DN") and types is None:
            continue
        before, after = tag_words(dataset, model.attrs["tags"], types)
        words.update(before + after)
    return sorted(words)


def add_tag_tokens(model: Model, words: List[str]) -> None:
    """Make each tag one added special token of every transformer inside
    ``model`` (spacy-transformers' TransformerModel), growing its embeddings."""
    for node in model.walk():
        if type(node).__name__ != "TransformerModel" or not words:
            continue
        tokenizer, transformer = node.tokenizer, node.transformer
        new = [w for w in words if w not in tokenizer.get_vocab()]
        if new:
            tokenizer.add_special_tokens({"additional_special_tokens": new}, replace_additional_special_tokens=False)
            # new rows drawn like the model's own initial embeddings, so that
            # different tags differ from the start (mean resizing would make
            # them near copies of one another)
            try:
                transformer.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            except TypeError:  # transformers < 4.46
                transformer.resize_token_embeddings(len(tokenizer))


def init(model: Model, X=None, Y=None) -> Model:
    tok2vec = model.layers[0]
    tagged = [t[0] for t in tag_all(model, X)] if X else None
    tok2vec.initialize(X=tagged)
    add_tag_tokens(tok2vec, all_tag_words(model, X))
    if tok2vec.has_dim("nO"):
        model.set_dim("nO", tok2vec.get_dim("nO"), force=True)
    return model


def forward(model: Model, docs: List[Doc], is_train: bool):
    tagged = tag_all(model, docs)
    H, backprop_tok2vec = tok2vec_forward(model.layers[0], [t[0] for t in tagged], is_train)
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

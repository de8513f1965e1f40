"""Custom attributes that bioner-spacy keeps on spaCy objects."""
from spacy.tokens import Doc, Span

DATASET_ATTR = "dataset"
# The dataset setting that runs every dataset tag a model knows, and the
# span group where that writes their entities.
ALL_DATASETS = "all"
ALL_SPANS_KEY = "bioner"


def span_dataset(span: Span):
    """The dataset tag that produced a span of ``doc.spans["bioner"]`` (its
    ``id_``). On other spans it is their ``id_`` too, whatever that means
    there (an entity ruler's pattern id, say), or None."""
    return span.id_ or None


def register_extensions() -> None:
    """Register ``Doc._.dataset``: the name of the corpus a doc came from, or
    the dataset tag it was read with; and ``Span._.dataset`` (read-only).

    Extension values live in ``doc.user_data``, so they survive ``DocBin``
    serialisation (``store_user_data=True``) and ``Doc.copy``.
    """
    if not Doc.has_extension(DATASET_ATTR):
        Doc.set_extension(DATASET_ATTR, default=None)
    if not Span.has_extension(DATASET_ATTR):
        Span.set_extension(DATASET_ATTR, getter=span_dataset)

"""Custom attributes that bioner-spacy keeps on spaCy objects."""
from spacy.tokens import Doc

DATASET_ATTR = "dataset"


def register_extensions() -> None:
    """Register ``Doc._.dataset``: the name of the corpus a doc came from.

    Extension values live in ``doc.user_data``, so they survive ``DocBin``
    serialisation (``store_user_data=True``) and ``Doc.copy``.
    """
    if not Doc.has_extension(DATASET_ATTR):
        Doc.set_extension(DATASET_ATTR, default=None)

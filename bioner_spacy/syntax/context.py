"""Syntactic context of each token, read from spaCy's own annotations
(seed 000, "Syntactic feature extraction").

For every token i of a doc, each function returns the indices of its context
words (S_i, as doc token indices, in sentence order) and their syntactic
labels (L_i):

- ``pos_context``: the token and its neighbours within a 1-word window,
  labelled with ``token.tag_``;
- ``constituency_context``: the words of the first acceptable phrase above the
  token, each labelled with the phrase directly above it. spaCy has no
  constituency parser, so phrases come from the dependency parse (see
  ``dependency_phrases``) unless benepar's constituents are on the doc;
- ``dependency_context``: the token, its governor and its dependents, labelled
  with their (lower-cased) dependency relation.
"""
from typing import Iterable, List, NamedTuple, Optional, Sequence

from spacy.tokens import Doc, Span

SYNTAX_TYPES = ("pos", "syn", "dep")

# Chunk labels of the CoNLL-2003 shared task: the phrases a word may take as
# its constituency context.
ACCEPTABLE_PHRASES = frozenset(
    {"NP", "VP", "PP", "ADJP", "ADVP", "SBAR", "PRT", "INTJ", "CONJP", "LST", "UCP"}
)

# Phrase label of a dependency subtree, from the universal POS of its head.
PHRASE_OF_UPOS = {
    "NOUN": "NP",
    "PROPN": "NP",
    "PRON": "NP",
    "NUM": "QP",
    "VERB": "VP",
    "AUX": "VP",
    "ADJ": "ADJP",
    "ADV": "ADVP",
    "ADP": "PP",
    "SCONJ": "SBAR",
    "PART": "PRT",
    "INTJ": "INTJ",
    "CCONJ": "UCP",
}
# A participle modifying a noun ("transmitted" in "a paternally transmitted
# dystrophy") heads an adjective phrase, not a verb phrase.
ADJECTIVAL_DEPS = frozenset({"amod", "acomp"})


class Context(NamedTuple):
    indices: List[List[int]]
    labels: List[List[str]]


class Constituent(NamedTuple):
    start: int  # first token (doc index)
    end: int  # one past the last token
    label: str


class MissingAnnotation(ValueError):
    pass


def phrase_label(token) -> str:
    if token.pos_ in ("VERB", "AUX") and token.dep_ in ADJECTIVAL_DEPS:
        return "ADJP"
    return PHRASE_OF_UPOS.get(token.pos_, "FRAG")


def nearest(indices: Sequence[int], i: int, max_context: int) -> List[int]:
    """Keep at most ``max_context`` indices, the ones closest to ``i``."""
    if max_context <= 0 or len(indices) <= max_context:
        return list(indices)
    kept = sorted(indices, key=lambda k: (abs(k - i), k))[:max_context]
    return sorted(kept)


def pos_context(doc: Doc, window: int = 1, max_context: int = 0) -> Context:
    require_annotation(doc, "pos")
    n = len(doc)
    indices = [list(range(max(0, i - window), min(n, i + window + 1))) for i in range(n)]
    indices = [nearest(ctx, i, max_context) for i, ctx in enumerate(indices)]
    tags = [t.tag_ for t in doc]
    return Context(indices, [[tags[k] for k in ctx] for ctx in indices])


def dependency_context(doc: Doc, max_context: int = 0) -> Context:
    require_annotation(doc, "dep")
    indices, labels = [], []
    deps = [t.dep_.lower() for t in doc]
    for token in doc:
        ctx = {token.i, token.head.i}
        ctx.update(child.i for child in token.children)
        ctx = nearest(sorted(ctx), token.i, max_context)
        indices.append(ctx)
        labels.append([deps[k] for k in ctx])
    return Context(indices, labels)


def dependency_phrases(doc: Doc) -> List[Constituent]:
    """Phrases derived from the dependency parse: every token that has
    dependents heads a phrase spanning its subtree, labelled from its POS."""
    return [
        Constituent(t.left_edge.i, t.right_edge.i + 1, phrase_label(t))
        for t in doc
        if t.n_lefts or t.n_rights
    ]


def benepar_constituents(doc: Doc) -> Optional[List[Constituent]]:
    """benepar's constituents (lowest label of each unary chain), or None when
    no benepar component has parsed the doc."""
    if not Span.has_extension("constituents") or not Span.has_extension("labels"):
        return None
    constituents = []
    try:
        for sent in doc.sents:
            for span in sent._.constituents:
                if span._.labels:
                    constituents.append(Constituent(span.start, span.end, span._.labels[-1]))
    except Exception:  # benepar registered but this doc was not parsed by it
        return None
    return constituents


def constituency_context(
    doc: Doc,
    max_context: int = 0,
    acceptable: Iterable[str] = ACCEPTABLE_PHRASES,
    constituents: Optional[List[Constituent]] = None,
) -> Context:
    if constituents is None:
        constituents = benepar_constituents(doc)
    if constituents is None:
        require_annotation(doc, "syn")
        constituents = dependency_phrases(doc)
    return context_from_constituents(len(doc), constituents, frozenset(acceptable), max_context)


def context_from_constituents(
    n: int, constituents: List[Constituent], acceptable: frozenset, max_context: int = 0
) -> Context:
    """For each word: climb from the word to the first constituent whose label
    is acceptable; its words are the context, each labelled with the smallest
    constituent containing it. A word no acceptable constituent covers takes
    the largest constituent containing it (its sentence), or itself alone."""
    by_size = sorted(constituents, key=lambda c: (c.end - c.start, c.start))
    containing: List[List[Constituent]] = [[] for _ in range(n)]
    for c in by_size:
        for k in range(c.start, c.end):
            containing[k].append(c)
    lowest_label = [spans[0].label if spans else "S" for spans in containing]
    indices, labels = [], []
    for i in range(n):
        spans = containing[i]
        phrase = next((c for c in spans if c.label in acceptable), spans[-1] if spans else None)
        ctx = list(range(phrase.start, phrase.end)) if phrase else [i]
        ctx = nearest(ctx, i, max_context)
        indices.append(ctx)
        labels.append([lowest_label[k] for k in ctx])
    return Context(indices, labels)


def syntax_context(doc: Doc, syntax: str, max_context: int = 0) -> Context:
    if syntax == "pos":
        return pos_context(doc, max_context=max_context)
    if syntax == "syn":
        return constituency_context(doc, max_context=max_context)
    if syntax == "dep":
        return dependency_context(doc, max_context=max_context)
    raise ValueError(f"Unknown syntax type {syntax!r}: use one of {', '.join(SYNTAX_TYPES)}")


REQUIRED = {
    "pos": ("TAG", "part-of-speech tags (token.tag_)", "tagger"),
    "syn": ("DEP", "a dependency parse (token.dep_, token.head) or benepar constituents", "parser"),
    "dep": ("DEP", "a dependency parse (token.dep_, token.head)", "parser"),
}


def require_annotation(doc: Doc, syntax: str) -> None:
    attr, what, component = REQUIRED[syntax]
    if len(doc) and not doc.has_annotation(attr):
        raise MissingAnnotation(
            f"syntax type {syntax!r} needs {what}, but the doc {doc.text[:40]!r} has none. "
            f"Add a '{component}' before the NER component, e.g. "
            f"nlp.add_pipe('{component}', source=spacy.load('en_core_web_sm'), before='cfa_ner') "
            f"(with its tok2vec), or convert the corpus with `bioner-spacy convert --syntax-pipeline`."
        )
    if syntax == "syn" and len(doc) and not doc.has_annotation("POS"):
        raise MissingAnnotation(
            f"syntax type {syntax!r} labels phrases from universal POS (token.pos_), but the doc "
            f"{doc.text[:40]!r} has none. Add 'attribute_ruler' (or a morphologizer) from the "
            f"syntax pipeline before the NER component."
        )

import pytest
import spacy
from spacy.tokens import Doc, Span

from bioner_spacy.syntax.context import (
    ACCEPTABLE_PHRASES,
    Constituent,
    MissingAnnotation,
    constituency_context,
    context_from_constituents,
    dependency_context,
    dependency_phrases,
    nearest,
    pos_context,
    syntax_context,
)

CONGENITAL = 6


def words(doc, indices):
    return [doc[k].text for k in indices]


def test_pos_context_paper_example(paper_doc_stanford):
    ctx = pos_context(paper_doc_stanford)
    assert words(paper_doc_stanford, ctx.indices[CONGENITAL]) == ["transmitted", "congenital", "myotonic"]
    assert ctx.labels[CONGENITAL] == ["VBN", "JJ", "JJ"]
    # sentence edges have one neighbour only
    assert ctx.indices[0] == [0, 1] and ctx.indices[8] == [7, 8]


def test_dependency_context_paper_example(paper_doc_stanford):
    ctx = dependency_context(paper_doc_stanford)
    assert words(paper_doc_stanford, ctx.indices[CONGENITAL]) == ["congenital", "dystrophy"]
    assert ctx.labels[CONGENITAL] == ["amod", "root"]
    # "transmitted" has one dependent, "paternally", and its governor
    assert words(paper_doc_stanford, ctx.indices[5]) == ["paternally", "transmitted", "dystrophy"]
    assert ctx.labels[5] == ["advmod", "amod", "root"]
    # the root: itself and its six dependents
    assert ctx.indices[8] == [1, 2, 3, 5, 6, 7, 8]


def test_constituency_context_from_dependency_phrases(paper_doc_spacy):
    ctx = constituency_context(paper_doc_spacy)
    assert words(paper_doc_spacy, ctx.indices[CONGENITAL]) == [
        "a", "paternally", "transmitted", "congenital", "myotonic", "dystrophy",
    ]
    assert ctx.labels[CONGENITAL] == ["NP", "ADJP", "ADJP", "NP", "NP", "NP"]
    # "paternally" climbs to the participle phrase "paternally transmitted"
    assert words(paper_doc_spacy, ctx.indices[4]) == ["paternally", "transmitted"]
    # the root verb's phrase is the whole sentence
    assert ctx.indices[2] == list(range(9))


def test_dependency_phrases_are_subtrees(paper_doc_spacy):
    assert sorted(dependency_phrases(paper_doc_spacy)) == [
        Constituent(0, 2, "NP"),
        Constituent(0, 9, "VP"),
        Constituent(3, 9, "NP"),
        Constituent(4, 6, "ADJP"),
    ]


def test_constituency_context_from_real_constituents():
    """Fig. 4b's constituency tree, given as benepar would give it."""
    tree = [
        Constituent(0, 9, "S"),
        Constituent(0, 2, "NP"),
        Constituent(2, 9, "VP"),
        Constituent(3, 9, "NP"),
        Constituent(4, 6, "ADJP"),
    ]
    ctx = context_from_constituents(9, tree, ACCEPTABLE_PHRASES)
    assert ctx.indices[CONGENITAL] == [3, 4, 5, 6, 7, 8]
    assert ctx.labels[CONGENITAL] == ["NP", "ADJP", "ADJP", "NP", "NP", "NP"]
    # "is" sits directly under VP, which is acceptable
    assert ctx.indices[2] == list(range(2, 9))


def test_unacceptable_phrases_are_climbed_over():
    tree = [Constituent(0, 4, "S"), Constituent(1, 3, "FRAG")]
    ctx = context_from_constituents(4, tree, frozenset({"NP"}))
    # no acceptable phrase: the largest constituent (the sentence) is used
    assert ctx.indices[1] == [0, 1, 2, 3]
    assert ctx.labels[1] == ["S", "FRAG", "FRAG", "S"]


def test_max_context_keeps_nearest():
    assert nearest(list(range(10)), 7, 3) == [6, 7, 8]
    assert nearest(list(range(10)), 0, 2) == [0, 1]
    assert nearest([1, 2], 1, 0) == [1, 2]


def test_every_token_is_in_its_own_context(paper_doc_spacy):
    for syntax in ("pos", "syn", "dep"):
        ctx = syntax_context(paper_doc_spacy, syntax, max_context=4)
        for i, (indices, labels) in enumerate(zip(ctx.indices, ctx.labels)):
            assert i in indices, (syntax, i)
            assert len(indices) == len(labels) <= 4
            assert indices == sorted(indices)


@pytest.mark.parametrize("syntax,component", [("pos", "tagger"), ("dep", "parser"), ("syn", "parser")])
def test_missing_annotation_names_the_component(syntax, component):
    doc = Doc(spacy.blank("en").vocab, words=["no", "parse", "here"])
    with pytest.raises(MissingAnnotation, match=f"Add a '{component}'"):
        syntax_context(doc, syntax)


def test_unknown_syntax_type(paper_doc_spacy):
    with pytest.raises(ValueError, match="'constituency'"):
        syntax_context(paper_doc_spacy, "constituency")


def test_real_parser_on_paper_sentence(syntax_nlp):
    doc = syntax_nlp("This case is a paternally transmitted congenital myotonic dystrophy")
    assert words(doc, pos_context(doc).indices[CONGENITAL]) == ["transmitted", "congenital", "myotonic"]
    assert "congenital" in words(doc, constituency_context(doc).indices[CONGENITAL])


def test_benepar_constituents_are_used_when_present(paper_doc_spacy):
    """With benepar's Span extensions on the doc, its constituents replace the
    phrases derived from the dependency parse."""
    tree = {(0, 9): ("S",), (0, 2): ("NP",), (2, 9): ("VP",), (3, 9): ("NP",), (4, 6): ("ADJP",)}

    def constituents(span):
        return [span.doc[s:e] for s, e in sorted(tree, key=lambda c: (c[0], -c[1]))]

    Span.set_extension("constituents", getter=constituents)
    Span.set_extension("labels", getter=lambda span: tree.get((span.start, span.end), ()))
    try:
        ctx = constituency_context(paper_doc_spacy)
    finally:
        Span.remove_extension("constituents")
        Span.remove_extension("labels")
    # benepar's VP (2, 9) is the phrase of "is"; from the parse it was the whole sentence
    assert ctx.indices[2] == list(range(2, 9))
    assert ctx.labels[CONGENITAL] == ["NP", "ADJP", "ADJP", "NP", "NP", "NP"]

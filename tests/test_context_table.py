"""The batched context table equals the padded form of the token-by-token
definitions in syntax/context.py, for every syntax type and context limit."""
import numpy
import pytest
from hypothesis import given, settings, strategies as st
from spacy.tokens import Doc

from bioner_spacy.syntax.context import syntax_context
from bioner_spacy.syntax.context_table import UNKNOWN_LABEL, context_table

from .conftest import PAPER_WORDS

TEXTS = [
    "Treatment with cisplatin caused renal failure in 3 of 12 patients.",
    "This case is a paternally transmitted congenital myotonic dystrophy.",
    "Metformin reduced hepatic glucose production, whereas rosiglitazone increased the risk "
    "of congestive heart failure. Both drugs were given orally.",
    "BRCA1",
    "The p53 protein (encoded by TP53) binds DNA and activates transcription of p21, "
    "which arrests the cell cycle at G1; loss of p53 function is common in tumours.",
]


def reference_table(docs, syntax, max_context, label_ids):
    """The padded arrays built from syntax_context, one token at a time."""
    rows, offset = [], 0
    for doc in docs:
        ctx = syntax_context(doc, syntax, max_context=max_context)
        for indices, labels in zip(ctx.indices, ctx.labels):
            rows.append(([offset + k for k in indices], [label_ids.get(l, UNKNOWN_LABEL) for l in labels]))
        offset += len(doc)
    m = max((len(r[0]) for r in rows), default=1)
    index = numpy.repeat(numpy.arange(len(rows), dtype="int32")[:, None], m, axis=1)
    label = numpy.zeros((len(rows), m), dtype="int32")
    mask = numpy.zeros((len(rows), m), dtype="bool")
    for row, (indices, labels) in enumerate(rows):
        index[row, : len(indices)] = indices
        label[row, : len(labels)] = labels
        mask[row, : len(indices)] = True
    return index, label, mask


@pytest.fixture(scope="module")
def parsed(syntax_nlp):
    return list(syntax_nlp.pipe(TEXTS))


@pytest.mark.parametrize("syntax", ["pos", "syn", "dep"])
@pytest.mark.parametrize("max_context", [0, 1, 2, 4])
def test_table_equals_token_by_token_contexts(parsed, syntax, max_context):
    # a label inventory missing some labels: those map to UNKNOWN_LABEL in both
    seen = sorted({l for doc in parsed for ls in syntax_context(doc, syntax).labels for l in ls})
    label_ids = {label: i + 1 for i, label in enumerate(seen[::2])}
    got = context_table(parsed, syntax, max_context, label_ids)
    want = reference_table(parsed, syntax, max_context, label_ids)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        numpy.testing.assert_array_equal(g, w)


def test_dependency_table_by_hand(paper_doc_stanford):
    # 'dystrophy' (8) is the root: its context is itself and its dependents 1, 2, 3, 5, 6, 7
    labels = {"det": 1, "nsubj": 2, "cop": 3, "advmod": 4, "amod": 5, "root": 6}
    index, label, mask = context_table([paper_doc_stanford], "dep", 0, labels)
    assert index[8][mask[8]].tolist() == [1, 2, 3, 5, 6, 7, 8]
    assert label[8][mask[8]].tolist() == [2, 3, 1, 5, 5, 5, 6]
    # 'paternally' (4): itself and its governor 'transmitted' (5); padding points at itself
    assert index[4].tolist()[:2] == [4, 5] and mask[4].sum() == 2
    assert set(index[4][~mask[4]].tolist()) == {4}
    # at most 2 per token: 'dystrophy' keeps the nearest, 7 and itself
    index, _, mask = context_table([paper_doc_stanford], "dep", 2, labels)
    assert index[8][mask[8]].tolist() == [7, 8]


@settings(max_examples=40, deadline=None)
@given(
    parents=st.lists(st.floats(min_value=0, max_value=1, exclude_max=True), min_size=1, max_size=8),
    max_context=st.integers(min_value=0, max_value=3),
    n_docs=st.integers(min_value=1, max_value=3),
)
def test_dependency_table_on_random_trees(parents, max_context, n_docs):
    """Random forests: each token's head is itself (a root) or an earlier token."""
    from spacy.vocab import Vocab

    n = len(parents)
    heads = [int(p * (i + 1)) for i, p in enumerate(parents)]
    vocab = Vocab()
    docs = [
        Doc(vocab, words=PAPER_WORDS[:n] if n <= len(PAPER_WORDS) else ["w"] * n,
            heads=heads, deps=["dep" if h != i else "ROOT" for i, h in enumerate(heads)])
        for _ in range(n_docs)
    ]
    label_ids = {"dep": 1, "root": 2}
    for g, w in zip(context_table(docs, "dep", max_context, label_ids),
                    reference_table(docs, "dep", max_context, label_ids)):
        numpy.testing.assert_array_equal(g, w)


def test_empty_batch_and_empty_doc(syntax_nlp):
    index, label, mask = context_table([], "dep", 0, {})
    assert index.shape == (0, 1) and mask.shape == (0, 1)
    docs = list(syntax_nlp.pipe(["", "Aspirin helps."]))
    index, label, mask = context_table(docs, "pos", 0, {})
    assert index.shape[0] == 3 and (label == UNKNOWN_LABEL).all()
    assert index[0][mask[0]].tolist() == [0, 1]


def test_width_buckets_partition_the_rows(parsed):
    from bioner_spacy.syntax.context_table import width_buckets

    index, label, mask = context_table(parsed, "dep", 0, {})
    buckets = width_buckets(mask)
    rows = numpy.concatenate([r for r, _ in buckets])
    assert sorted(rows.tolist()) == list(range(len(mask)))
    m = mask.shape[1]
    for r, width in buckets:
        counts = mask[r].sum(axis=1)
        assert (counts <= width).all() and not mask[r, width:].any()
        # the smallest power of two that holds the row (or the table's width)
        assert width == m or (width & (width - 1) == 0 and (counts > width // 2).any())
    assert [w for _, w in width_buckets(numpy.ones((3, 5), dtype=bool))] == [5]
    assert [w for _, w in width_buckets(numpy.array([[1, 0, 0], [1, 1, 0]], dtype=bool))] == [1, 2]

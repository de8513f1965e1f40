import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner_spacy.decoding import allowed_transitions, bio_to_spans, spans_to_bio, viterbi, viterbi_batch, viterbi_bio, viterbi_over

TAGS = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]


def is_valid_iob2(tags):
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            return False
        previous = tag
    return True


def test_allowed_transitions():
    allowed = allowed_transitions(TAGS)
    assert allowed[1, 2] and allowed[2, 2]  # B-C -> I-C, I-C -> I-C
    assert not allowed[0, 2]  # O -> I-C
    assert not allowed[3, 2]  # B-D -> I-C
    assert not allowed[len(TAGS), 2]  # start -> I-C
    assert allowed[0].tolist() == [True, True, False, True, False]


def test_viterbi_repairs_an_orphan_inside_tag():
    # greedy argmax would read O I-C I-C; the constrained path opens with B-C
    probs = numpy.array([[0.9, 0.05, 0.01, 0.02, 0.02], [0.1, 0.4, 0.45, 0.0, 0.05], [0.1, 0.1, 0.8, 0.0, 0.0]])
    path = [TAGS[t] for t in viterbi_bio(numpy.log(probs + 1e-12), allowed_transitions(TAGS))]
    assert path == ["O", "B-Chemical", "I-Chemical"]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 12).flatmap(lambda n: st.lists(st.lists(st.floats(-20, 0), min_size=5, max_size=5), min_size=n, max_size=n)))
def test_viterbi_is_always_valid_and_optimal_among_valid(scores):
    log_probs = numpy.array(scores, dtype="float64").reshape((-1, len(TAGS)))
    path = viterbi_bio(log_probs, allowed_transitions(TAGS))
    tags = [TAGS[t] for t in path]
    assert len(tags) == len(scores)
    assert is_valid_iob2(tags)
    # no valid single-tag change scores higher
    best = sum(log_probs[i, t] for i, t in enumerate(path))
    for i in range(len(path)):
        for t in range(len(TAGS)):
            alternative = list(path)
            alternative[i] = t
            if is_valid_iob2([TAGS[a] for a in alternative]):
                assert sum(log_probs[j, a] for j, a in enumerate(alternative)) <= best + 1e-9


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 9), min_size=1, max_size=6),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_batched_viterbi_finds_each_sentences_path(lengths, seed, coarse):
    """Same paths as one search per sentence, empty sentences and ties
    included (coarse scores: few distinct values, so ties are common)."""
    rng = numpy.random.default_rng(seed)
    T = len(TAGS)
    draw = (lambda *shape: rng.integers(-3, 1, size=shape).astype("float64")) if coarse else (lambda *shape: rng.normal(size=shape))
    Es = [draw(n, T).astype("float32") for n in lengths]
    A = numpy.where(allowed_transitions(TAGS)[:T], draw(T, T), -numpy.inf)
    start, end = draw(T), draw(T)
    assert viterbi_batch(Es, A, start, end) == [viterbi(E, A, start, end) for E in Es]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 8), min_size=1, max_size=4), st.integers(0, 2**31 - 1),
       st.lists(st.booleans(), min_size=len(TAGS), max_size=len(TAGS)))
def test_viterbi_over_kept_tags_is_the_search_with_the_others_forbidden(lengths, seed, kept):
    """Searching the kept tags alone gives the full search's paths when the
    other tags score -inf, in the full tag ids."""
    kept[0] = True  # O: a path must exist
    keep = numpy.flatnonzero(kept)
    rng = numpy.random.default_rng(seed)
    T = len(TAGS)
    Es = [rng.normal(size=(n, T)) for n in lengths]
    A = numpy.where(allowed_transitions(TAGS)[:T], rng.normal(size=(T, T)), -numpy.inf)
    start, end = rng.normal(size=T), rng.normal(size=T)
    masked = [numpy.where(kept, E, -numpy.inf) for E in Es]
    paths = viterbi_over([E[:, keep] for E in Es], A, start, end, keep)
    assert paths == [viterbi(E, A, start, end) for E in masked]
    assert all(set(path) <= set(keep.tolist()) for path in paths)


def test_batched_viterbi_of_nothing():
    A = numpy.zeros((2, 2))
    assert viterbi_batch([], A, numpy.zeros(2), numpy.zeros(2)) == []
    assert viterbi_batch([numpy.zeros((0, 2))], A, numpy.zeros(2), numpy.zeros(2)) == [[]]


@given(st.lists(st.sampled_from(TAGS), max_size=20))
def test_bio_spans_round_trip(tags):
    spans = bio_to_spans(tags)
    # every span is non-empty, ordered, and non-overlapping
    assert all(s < e for s, e, _ in spans)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))
    assert bio_to_spans(spans_to_bio(len(tags), spans)) == spans
    if is_valid_iob2(tags):
        assert spans_to_bio(len(tags), spans) == tags


def test_bio_to_spans_exact():
    assert bio_to_spans(["B-C", "I-C", "O", "I-D", "B-C", "B-C"]) == [(0, 2, "C"), (3, 4, "D"), (4, 5, "C"), (5, 6, "C")]

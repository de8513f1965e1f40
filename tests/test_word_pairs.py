"""The word-pair relation scheme: grids encode entities and decode back."""
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner_spacy.word_pairs import (
    NNW,
    NONE,
    best_relations,
    decode_relations,
    encode_grid,
    entity_scores,
    fragments,
    words_of,
)

TYPES = ["Chemical", "Disease", "Gene"]


def test_paper_example_grid():
    # seed 002, Fig. 1: "CD - 832" is one Chemical, "calcium" a one-word one
    words = "Effects of a new calcium antagonist , CD - 832".split()
    entities = [((4,), "Chemical"), ((7, 8, 9), "Chemical")]
    grid = encode_grid(len(words), entities, TYPES)
    assert grid[7, 8] == NNW and grid[8, 9] == NNW  # CD -> -, - -> 832
    assert grid[9, 7] == 2 and grid[4, 4] == 2  # THW-Chemical: 832 -> CD, calcium -> calcium
    assert (grid > 0).sum() == 4
    assert decode_relations(grid, TYPES) == sorted(entities)


def test_shared_word_discontinuous_entities():
    # "breast and ovarian cancer": {breast, cancer} and {ovarian, cancer}
    entities = [((0, 3), "Disease"), ((2, 3), "Disease"), ((2,), "Gene")]
    assert decode_relations(encode_grid(4, entities, TYPES), TYPES) == sorted(entities)


def test_chained_edges_decode_an_extra_path():
    # the documented limit: {0,1,2,5} and {1,3,5} of one type share word 1,
    # so their edges chain into the paths 0-1-3-5 and 1-2-5, decoded too
    entities = [((0, 1, 2, 5), "Gene"), ((1, 3, 5), "Gene")]
    decoded = decode_relations(encode_grid(6, entities, TYPES), TYPES)
    assert set(entities) < set(decoded)
    assert set(decoded) - set(entities) == {((0, 1, 3, 5), "Gene"), ((1, 2, 5), "Gene")}


def test_invalid_entities_are_refused():
    with pytest.raises(ValueError, match="increasing"):
        encode_grid(3, [((2, 1), "Gene")], TYPES)
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        encode_grid(3, [((1, 3), "Gene")], TYPES)
    with pytest.raises(ValueError, match="'Virus' is not one of"):
        encode_grid(3, [((1,), "Virus")], TYPES)


def test_fragments_and_words_are_inverse():
    assert fragments((0, 1, 2, 5, 7, 8)) == [(0, 3), (5, 6), (7, 9)]
    assert words_of([(0, 3), (5, 6), (7, 9)]) == (0, 1, 2, 5, 7, 8)


@st.composite
def entity_sets(draw):
    """Flat, nested and overlapping contiguous entities, plus discontinuous
    ones whose words no other entity uses (what the scheme can hold exactly:
    see bioner_spacy.word_pairs)."""
    n = draw(st.integers(1, 14))
    contiguous = {}
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, n - 1))
        end = draw(st.integers(start + 1, n))
        # one type per (head, tail): a cell holds one relation
        contiguous.setdefault((start, end - 1), (tuple(range(start, end)), draw(st.sampled_from(TYPES))))
    used = {w for words, _ in contiguous.values() for w in words}
    free = [w for w in range(n) if w not in used]
    discontinuous = []
    while len(free) >= 2 and draw(st.booleans()):
        size = draw(st.integers(2, min(4, len(free))))
        words = tuple(sorted(draw(st.permutations(free))[:size]))
        free = [w for w in free if w not in words]
        discontinuous.append((words, draw(st.sampled_from(TYPES))))
    return n, sorted(set(contiguous.values()) | set(discontinuous))


@settings(max_examples=300, deadline=None)
@given(entity_sets())
def test_round_trip_of_random_entity_sets(case):
    n, entities = case
    assert decode_relations(encode_grid(n, entities, TYPES), TYPES) == entities


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 9), st.data())
def test_every_entity_is_decoded_whatever_the_set(n, data):
    # any set (words shared freely): every entity comes back; extra paths may too
    entities = {}
    for _ in range(data.draw(st.integers(1, 5))):
        words = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=n))))
        entities.setdefault((words[0], words[-1]), (words, data.draw(st.sampled_from(TYPES))))
    decoded = decode_relations(encode_grid(n, entities.values(), TYPES), TYPES, max_paths=1000)
    assert set(entities.values()) <= set(decoded)


def test_best_relations_respects_regions_and_dataset_types():
    probs = numpy.zeros((2, 2, 5))
    probs[0, 1] = [0.1, 0.2, 0.7, 0.0, 0.0]  # upper: THW is not allowed there -> NNW
    probs[1, 0] = [0.05, 0.6, 0.35, 0.0, 0.0]  # lower: NNW is not allowed there -> THW-Chemical
    probs[0, 0] = [0.2, 0.0, 0.0, 0.1, 0.7]  # Gene masked out -> THW-Disease loses to None
    probs[1, 1] = [0.4, 0.0, 0.0, 0.6, 0.0]
    allowed = numpy.array([True, True, True, True, False])
    assert best_relations(probs, allowed).tolist() == [[NONE, NNW], [2, 3]]


def test_entity_scores_are_the_means_of_their_cells():
    probs = numpy.zeros((3, 3, 5))
    probs[2, 0, 2] = 0.9
    probs[0, 1, NNW] = 0.6
    probs[1, 2, NNW] = 0.3
    probs[1, 1, 4] = 0.5
    probs[2, 0, 3] = 0.2
    entities = [((0, 1, 2), "Chemical"), ((1,), "Gene"), ((0, 2), "Disease")]
    assert entity_scores(probs, entities, TYPES).tolist() == pytest.approx([0.6, 0.5, (0.2 + 0.0) / 2])
    assert entity_scores(probs, [], TYPES).shape == (0,)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_entity_scores_match_each_entity_alone(n, seed):
    """The one gather gives every entity the mean of its own cells, whatever
    the other entities of the grid."""
    rng = numpy.random.default_rng(seed)
    probs = rng.random((n, n, 2 + len(TYPES)))
    entities = [
        (tuple(sorted(rng.choice(n, size=rng.integers(1, n + 1), replace=False).tolist())), TYPES[rng.integers(len(TYPES))])
        for _ in range(rng.integers(0, 6))
    ]
    alone = [
        numpy.mean([probs[w[-1], w[0], 2 + TYPES.index(t)]] + [probs[a, b, NNW] for a, b in zip(w, w[1:])])
        for w, t in entities
    ]
    assert entity_scores(probs, entities, TYPES).tolist() == pytest.approx(alone)


def test_decoding_never_walks_dead_ends():
    # NNW between every pair of the first 39 words, none into the tail: 2^38
    # dead-end paths from the head, and no entity
    n = 40
    grid = numpy.triu(numpy.ones((n, n), dtype="int32"), k=1)
    grid[:, n - 1] = NONE
    grid[n - 1, 0] = 2
    assert decode_relations(grid, TYPES) == []
    # with edges into the tail too, exactly max_paths paths come back
    grid[:, n - 1] = NNW
    grid[n - 1, n - 1] = NONE
    grid[n - 1, 0] = 2
    paths = decode_relations(grid, TYPES, max_paths=5)
    assert len(paths) == 5 and all(p[0][0] == 0 and p[0][-1] == n - 1 for p in paths)

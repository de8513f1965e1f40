"""bioner.batch_by_dataset.v1: every batch holds one dataset's examples; the
"alternate" mode takes the datasets in turn (seed 001), the "random" mode
gives each batch once in a random order (seed 004)."""
from collections import Counter

import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import registry

from bioner_spacy.corpus.batching import create_dataset_batcher


def docs(vocab, name, n):
    out = []
    for i in range(n):
        doc = Doc(vocab, words=[f"{name}{i}"])
        doc._.dataset = name
        out.append(doc)
    return out


@pytest.fixture
def corpus():
    vocab = spacy.blank("en").vocab
    return docs(vocab, "a", 7) + docs(vocab, "b", 2)  # a: 4 batches of 2; b: 1


def two_per_batch(items):
    items = list(items)
    return [items[i:i + 2] for i in range(0, len(items), 2)]


def test_alternate_takes_the_datasets_in_turn(corpus):
    batches = list(create_dataset_batcher(two_per_batch, "alternate")(corpus))
    names = [{doc._.dataset for doc in batch} for batch in batches]
    assert names == [{"a"}, {"b"}] * 4  # until a's four batches are given, b recycled
    a_docs = [doc[0].text for batch in batches[::2] for doc in batch]
    assert a_docs == [f"a{i}" for i in range(7)]  # every example of the longest dataset once, in order
    b_counts = Counter(doc[0].text for batch in batches[1::2] for doc in batch)
    assert b_counts == {"b0": 4, "b1": 4}


def test_random_gives_every_batch_once(corpus):
    batcher = create_dataset_batcher(two_per_batch, "random", seed=3)
    epochs = [list(batcher(corpus)) for _ in range(4)]
    for batches in epochs:
        assert all(len({doc._.dataset for doc in batch}) == 1 for batch in batches)
        assert sorted(doc[0].text for batch in batches for doc in batch) == sorted(doc[0].text for doc in corpus)
    # the position of b's batch varies from epoch to epoch
    assert len({[b[0]._.dataset for b in batches].index("b") for batches in epochs}) > 1


def test_registered_with_a_spacy_batcher_inside(corpus):
    make = registry.batchers.get("bioner.batch_by_dataset.v1")
    inner = registry.batchers.get("spacy.batch_by_sequence.v1")(size=3)
    batches = list(make(inner, mode="alternate")(corpus))
    assert [len(b) for b in batches] == [3, 2, 3, 2, 1, 2]


def test_errors(corpus):
    with pytest.raises(ValueError, match="unknown mode 'turns'"):
        create_dataset_batcher(two_per_batch, "turns")
    corpus[0]._.dataset = None
    with pytest.raises(ValueError, match="has no doc._.dataset"):
        list(create_dataset_batcher(two_per_batch)(corpus))

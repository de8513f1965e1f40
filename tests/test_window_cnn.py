"""Seed 004's window CNN: frozen vectors, filters of whole words at every
window position without pooling, checked by hand and against finite
differences; and the transitions seen in training as decoding constraints."""
import numpy
import pytest
import spacy
from thinc.api import fix_random_seed
from spacy.tokens import Doc
from spacy.vectors import Vectors
from spacy.training import Example

from bioner_spacy.corpus.readers import without_entities
from bioner_spacy.ml.encoders.window_cnn import WindowCNN, filters_at, frozen_vectors
from bioner_spacy.pipeline.cfa_ner import constraints_of, observed_transitions

from .gradients import numeric_gradient

WORDS = "aspirin reduced the fever of the patients".split()


def vector_nlp(width=4):
    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for word in WORDS + ["lithium", "caused", "tremor", "."]:
        nlp.vocab.set_vector(word, rng.normal(size=width).astype("float32"))
    return nlp


def test_filters_at_every_position_by_hand():
    """n = 1 (3-word windows), width 2: two positions, each ReLU(F [v_p; v_p+1] + c)."""
    d, layer = 2, filters_at(1, 2, 3)
    X = numpy.arange(12, dtype="float32").reshape(2, 3 * d) / 10 - 0.4
    layer.initialize(X=X)
    relu = layer.layers[0]
    F, c = relu.get_param("W"), relu.get_param("b")
    Y = layer.predict(X)
    assert Y.shape == (2, 2 * 3)
    for p in range(2):
        expected = numpy.maximum(X[:, p * d:(p + 2) * d] @ F.T + c, 0)
        numpy.testing.assert_allclose(Y[:, p * 3:(p + 1) * 3], expected, rtol=1e-6)


def test_positions_backward_matches_finite_differences():
    # ReLU has a kink at 0: unseeded weights can put a pre-activation within
    # the step of it, so the weights are seeded.
    fix_random_seed(0)
    layer = filters_at(2, 3, 4)
    rng = numpy.random.default_rng(1)
    X = rng.normal(size=(3, 5 * 2)).astype("float32")
    layer.initialize(X=X)
    dY = rng.normal(size=(3, 3 * 4)).astype("float32")

    def loss():
        return float((layer.predict(X).astype("float64") * dY).sum())

    _, backprop = layer.begin_update(X)
    numpy.testing.assert_allclose(backprop(dY), numeric_gradient(loss, X, eps=1e-3), rtol=1e-2, atol=2e-3)


def test_window_cnn_reads_frozen_vectors_and_sees_three_words_each_side():
    nlp = vector_nlp()
    model = WindowCNN(window=3, filters=5, widths=[3, 4, 5], hidden=6, dropout=0.0)
    doc = nlp.make_doc(" ".join(WORDS))
    model.initialize(X=[doc])
    (H,) = model.predict([doc])
    assert H.shape == (7, 6) and model.get_dim("nO") == 6
    # frozen: the vectors are inputs, not weights; no gradient goes back to them
    vectors = model.layers[0]
    assert vectors.name == "frozen_vectors" and not vectors.param_names
    _, backprop_vectors = vectors.begin_update([doc])
    assert backprop_vectors([numpy.ones((7, 4), dtype="float32")]) == []
    # token 0's window is words 0..3 (and padding): changing word 4 leaves it alone, word 3 does not
    far = nlp.make_doc("aspirin reduced the fever lithium the patients")
    near = nlp.make_doc("aspirin reduced the lithium of the patients")
    numpy.testing.assert_allclose(model.predict([far])[0][0], H[0], rtol=1e-6)
    assert not numpy.allclose(model.predict([near])[0][0], H[0])


def test_vectors_are_read_by_their_own_attribute():
    """Vectors built on LOWER (as the domain floret vectors are): "Aspirin"
    reads the row of "aspirin", as spaCy's StaticVectors would."""
    nlp = spacy.blank("en")
    rows = numpy.arange(8, dtype="float32").reshape(2, 4)
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=rows, keys=["aspirin", "fever"], attr="LOWER")
    (H,), _ = frozen_vectors()([nlp.make_doc("Aspirin FEVER")], False)
    numpy.testing.assert_array_equal(H, rows)


def test_window_cnn_needs_vectors():
    nlp = spacy.blank("en")
    model = WindowCNN(window=1, filters=2, widths=[2], hidden=3)
    with pytest.raises(ValueError, match="reads static word vectors, and the vocab has none"):
        model.initialize(X=[nlp.make_doc("no vectors")])
    with pytest.raises(ValueError, match=r"widths \[5\] must fit the 3-word window"):
        WindowCNN(window=1, widths=[5])


def test_observed_transitions_by_hand():
    tags = ("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease")
    observed = observed_transitions([["O", "B-Chemical", "O"], ["B-Disease", "I-Disease", "O", "B-Chemical"]])
    assert observed == ((("B-Chemical", "O"), ("B-Disease", "I-Disease"), ("I-Disease", "O"), ("O", "B-Chemical")),
                        ("B-Disease", "O"), ("B-Chemical", "O"))
    allowed, start_ok, end_ok = constraints_of(tags, observed)
    assert {(tags[a], tags[b]) for a, b in zip(*numpy.nonzero(allowed))} == set(observed[0])
    assert [tags[i] for i in numpy.nonzero(start_ok)[0]] == ["O", "B-Disease"]
    assert [tags[i] for i in numpy.nonzero(end_ok)[0]] == ["O", "B-Chemical"]
    # the structural IOB2 rule still holds: an observed ill-formed pair is not allowed
    allowed, _, _ = constraints_of(tags, ((("O", "I-Chemical"),), ("O",), ("O",)))
    assert not allowed.any()


def test_observed_constraints_shape_decoding():
    """Trained only on one-word chemicals, the model can never emit B-Chemical
    I-Chemical: every decoded chemical is one word long, even where the
    softmax prefers I-Chemical."""
    nlp = vector_nlp()
    nlp.add_pipe("cfa_ner", config={"constraints": "observed", "model": {"syntax": "none", "tok2vec": {
        "@architectures": "bioner.WindowCNN.v1", "window": 1, "filters": 4, "widths": [2], "hidden": 8, "dropout": 0.0}}})
    gold = Doc(nlp.vocab, words=WORDS, ents=["B-Chemical"] + ["O"] * 6)
    nlp.initialize(lambda: [Example(without_entities(gold), gold)])
    ner = nlp.get_pipe("cfa_ner")
    assert ner.cfg["observed_transitions"]["pairs"] == [["B-Chemical", "O"], ["O", "O"]]
    scores = numpy.full((2, len(ner.tags)), 0.01, dtype="float32")
    scores[0, ner.tags.index("B-Chemical")] = 0.9
    scores[1, ner.tags.index("I-Chemical")] = 0.9  # the softmax's choice, never seen after B-Chemical
    doc = nlp.make_doc("lithium caused")
    assert ner.decode(doc, scores, None) == [(0, 1, "Chemical")]
    loaded = spacy.blank("en", vocab=nlp.vocab).from_config(nlp.config).from_bytes(nlp.to_bytes())
    assert loaded.get_pipe("cfa_ner").decode(doc, scores, None) == [(0, 1, "Chemical")]
    with pytest.raises(ValueError, match="unknown constraints 'seen'"):
        spacy.blank("en").add_pipe("cfa_ner", config={"constraints": "seen"})

"""spaCy's BiLSTM encoder at inference over packed sequences
(ml/encoders/packed_lstm.py): each doc's vectors are those of the doc alone,
in any batch and any order; other encoders run as they are."""
import numpy
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.util import registry
from thinc.api import NumpyOps, chain, with_array
from thinc.layers import Relu

from bioner_spacy.ml.encoders.packed_lstm import packable_lstm, predict_encoder, predict_packed

WIDTH = 8


def bilstm(depth=1, dropout=0.0):
    encoder = registry.resolve({"e": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": WIDTH,
                                      "depth": depth, "dropout": dropout}})["e"]
    encoder.initialize(X=[numpy.zeros((3, WIDTH), dtype="f")])
    return encoder


def rows(lengths, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.normal(size=(n, WIDTH)).astype("f") for n in lengths]


def alone(encoder, X):
    return [encoder.predict([x])[0] if len(x) else numpy.zeros((0, WIDTH), dtype="f") for x in X]


def test_the_lstm_is_found_in_spacys_bilstm_encoder_only():
    shim = packable_lstm(bilstm())
    assert isinstance(shim._model, torch.nn.LSTM) and shim._model.bidirectional
    assert packable_lstm(bilstm(depth=2)) is not None
    cnn = registry.resolve({"e": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": WIDTH,
                                  "window_size": 1, "maxout_pieces": 2, "depth": 1}})["e"]
    assert packable_lstm(cnn) is None
    # anything around the LSTM: not packed (it would be skipped)
    assert packable_lstm(chain(bilstm(), with_array(Relu(WIDTH, WIDTH)))) is None


def test_a_doc_gets_its_own_vectors_in_a_batch_of_longer_docs():
    encoder = bilstm()
    X = rows([2, 9, 5, 0, 1])
    expected = alone(encoder, X)
    got = predict_encoder(encoder, X)
    assert [g.shape for g in got] == [(n, WIDTH) for n in (2, 9, 5, 0, 1)]
    for g, e in zip(got, expected):
        numpy.testing.assert_allclose(g, e, rtol=0, atol=1e-6)
    # why: spaCy's padded pass starts a short doc's backward direction in the padding
    padded = encoder.predict([x for x in X if len(x)])
    assert not numpy.allclose(padded[0], expected[0], atol=1e-4)
    numpy.testing.assert_allclose(padded[1], expected[1], rtol=0, atol=1e-6)  # the longest doc has no padding


def test_the_outputs_are_torchs_lstm_over_each_doc():
    encoder = bilstm()
    lstm = packable_lstm(encoder)._model
    X = rows([4, 7])
    got = predict_encoder(encoder, X)
    with torch.no_grad():
        for x, g in zip(X, got):
            y, _ = lstm(torch.from_numpy(x)[:, None, :])  # (T, 1, width): one doc, time-major
            numpy.testing.assert_allclose(g, y[:, 0].numpy(), rtol=0, atol=1e-6)


def test_dropout_between_layers_is_off_and_the_mode_is_restored():
    encoder = bilstm(depth=2, dropout=0.5)
    lstm = packable_lstm(encoder)._model
    lstm.train()
    X = rows([6, 3])
    first = predict_encoder(encoder, X)
    second = predict_encoder(encoder, X)
    for a, b, e in zip(first, second, alone(encoder, X)):
        numpy.testing.assert_array_equal(a, b)
        numpy.testing.assert_allclose(a, e, rtol=0, atol=1e-6)
    assert lstm.training


def test_a_batch_of_empty_docs():
    encoder = bilstm()
    got = predict_packed(packable_lstm(encoder), rows([0, 0]), NumpyOps())
    assert [g.shape for g in got] == [(0, WIDTH), (0, WIDTH)]


ENCODER = bilstm()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=12), min_size=1, max_size=7), st.randoms(use_true_random=False))
def test_any_batch_in_any_order(lengths, random):
    X = rows(lengths, seed=sum(lengths))
    order = list(range(len(X)))
    random.shuffle(order)
    got = predict_encoder(ENCODER, X)
    shuffled = predict_encoder(ENCODER, [X[i] for i in order])
    for k, i in enumerate(order):
        numpy.testing.assert_allclose(shuffled[k], got[i], rtol=0, atol=1e-6)
    for g, e in zip(got, alone(ENCODER, X)):
        numpy.testing.assert_allclose(g, e, rtol=0, atol=1e-6)


@pytest.mark.parametrize("depth", [1, 2])
def test_the_tok2vec_gives_a_doc_the_same_vectors_in_any_batch(depth):
    import spacy

    from bioner_spacy.ml.encoders.distinct_tokens import predict_tok2vec

    nlp = spacy.blank("en")
    tok2vec = registry.resolve({"t": {
        "@architectures": "spacy.Tok2Vec.v2",
        "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": WIDTH, "attrs": ["NORM", "SHAPE"],
                  "rows": [50, 20], "include_static_vectors": False},
        "encode": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": WIDTH, "depth": depth, "dropout": 0.0},
    }})["t"]
    docs = [nlp.make_doc(t) for t in ["Cisplatin induced renal failure .",
                                      "The dose was 5 mg of cisplatin given twice daily for a week .", "IL-2 ."]]
    tok2vec.initialize(X=docs)
    for doc, got in zip(docs, predict_tok2vec(tok2vec, docs)):
        numpy.testing.assert_allclose(got, tok2vec.predict([doc])[0], rtol=0, atol=1e-6)


def test_the_grid_tagger_scores_a_sentence_the_same_in_any_batch():
    """grid_ner over a BiLSTM tok2vec: a sentence's relation scores do not
    depend on the sentences beside it (its own BiLSTM packs too)."""
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    tok2vec = {"@architectures": "spacy.Tok2Vec.v2",
               "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": WIDTH, "attrs": ["NORM", "SHAPE"],
                         "rows": [50, 20], "include_static_vectors": False},
               "encode": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": WIDTH, "depth": 1,
                          "dropout": 0.0}}
    ner = nlp.add_pipe("grid_ner", config={"model": {"@architectures": "bioner.GridTagger.v1", "tok2vec": tok2vec,
                                                     "hidden": 8, "channels": 4}})
    docs = [nlp.make_doc(t) for t in ["Cisplatin induced renal failure .", "IL-2 .",
                                      "The dose was 5 mg of cisplatin given twice daily for a week ."]]
    nlp.initialize(lambda: [Example.from_dict(docs[0], {"entities": [(0, 9, "Chemical")]})])
    (segments, grids) = ner.model.predict(docs)
    for doc, grid in zip(docs, grids):
        (_, (alone,)) = ner.model.predict([doc])
        numpy.testing.assert_allclose(grid, alone, rtol=0, atol=1e-5)

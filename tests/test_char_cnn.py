"""The character CNN (bioner.CharCNN.v1) against its equations on a
hand-built example, and seed 001's STM (word vectors + characters -> BiLSTM
-> CRF) learning a tiny corpus."""
import numpy
import pytest
import spacy
from spacy.util import load_model_from_config
from thinc.api import Config, fix_random_seed

from bioner_spacy.ml.encoders.char_cnn import CharCNN, HashCharEmbed, WordCharEmbed

from .conftest import REPO
from .test_cfa_ner import SENTENCES, examples, toy_docs, train_config


def char_cnn(**kwargs):
    model = CharCNN(**kwargs)
    nlp = spacy.blank("en")
    model.initialize(X=[nlp("a b")])
    return model, nlp


def test_token_vector_is_the_max_of_its_character_windows():
    model, nlp = char_cnn(filters=2, char_width=3, window=1, rows=50)
    _, embed, _, linear, _ = model.layers[0].layers
    table = embed.layers[0]  # HashEmbed inside with_array
    W, b = linear.layers[0].get_param("W"), linear.layers[0].get_param("b")
    chars = table.predict(numpy.array([[ord("a")], [ord("b")]], dtype="uint64"))
    zero = numpy.zeros(3, dtype="float32")
    # windows of 'ab': [0; a; b] and [a; b; 0]
    z = [W @ numpy.concatenate([zero, chars[0], chars[1]]) + b, W @ numpy.concatenate([chars[0], chars[1], zero]) + b]
    expected = numpy.maximum(z[0], z[1])
    out = model.predict([nlp("ab")])
    assert out.lengths.tolist() == [1]
    numpy.testing.assert_allclose(out.data[0], expected, rtol=1e-5, atol=1e-6)


def test_a_token_is_read_from_its_own_characters_only():
    model, nlp = char_cnn()
    alone = model.predict([nlp("cat")]).data[0]
    in_context = model.predict([nlp("the cat sat"), nlp("x")])
    assert in_context.lengths.tolist() == [3, 1]
    numpy.testing.assert_array_equal(in_context.data[1], alone)
    long_a, longer_a = model.predict([nlp("a" * 30), nlp("a" * 50)]).data
    numpy.testing.assert_array_equal(long_a, longer_a)  # read up to max_chars


def test_gradient_matches_finite_differences():
    # The max over character windows has kinks: a step that moves a window's
    # score past the winner's changes which window the difference reads. An
    # unseeded table, or a hashing seeded by the layer's id (which depends on
    # the tests run before), can put two windows within a step of each other,
    # so both are seeded and the steps are checked clear of every kink.
    fix_random_seed(0)
    model, nlp = char_cnn(filters=3, char_width=4, rows=40, seed=11)
    docs = [nlp("ab cde"), nlp("f")]
    weights = numpy.random.default_rng(0).normal(size=(3, 3)).astype("float32")
    linear = model.layers[0].layers[3].layers[0]
    W = linear.get_param("W")

    def loss():
        return float((model.predict(docs).data * weights).sum())

    Y, backprop = model.begin_update(docs)
    backprop(type(Y)(weights.copy(), Y.lengths))
    grad = linear.get_grad("W").copy()
    eps = 1e-3
    # clear of every kink: a step moves a window's score by at most eps * |input|,
    # less than half the gap between each token's best window and its runner-up
    characters, embed, window, convolve, _ = model.layers[0].layers
    inputs = window.predict(embed.predict(characters.predict(docs)))
    scores = convolve.predict(inputs)
    for token in numpy.split(scores.data, numpy.cumsum(scores.lengths)[:-1]):
        if len(token) > 1:
            runner_up, best = numpy.sort(token, axis=0)[-2:]
            assert (best - runner_up).min() > 2 * eps * numpy.abs(inputs.data).max()
    for index in [(0, 0), (1, 5), (2, 11)]:
        W[index] += eps
        up = loss()
        W[index] -= 2 * eps
        down = loss()
        W[index] += eps
        assert grad[index] == pytest.approx((up - down) / (2 * eps), rel=1e-2, abs=1e-3)


def test_word_char_embed_width_and_errors():
    with pytest.raises(ValueError, match=r"width \(30\) must exceed the character CNN's filters \(30\)"):
        WordCharEmbed(30, CharCNN(filters=30))
    assert WordCharEmbed(128, CharCNN()).get_dim("nO") == 128


def stm_pipeline(vectors_dir):
    """configs/stm_crf.cfg over a table of random vectors for the toy words
    (its paths.vectors, as `spacy project run vectors` gives the real one)."""
    table = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for text, _ in SENTENCES:
        for word in text.split():
            table.vocab.set_vector(word, rng.normal(size=16).astype("float32"))
    table.to_disk(vectors_dir)
    config = Config().from_disk(REPO / "configs" / "stm_crf.cfg", interpolate=False)
    config["paths"]["vectors"] = str(vectors_dir)
    return load_model_from_config(config, auto_fill=True, validate=True)


def test_stm_config_learns_a_tiny_corpus_with_its_crf(tmp_path):
    nlp = stm_pipeline(tmp_path / "vectors")
    ner = nlp.get_pipe("cfa_ner")
    assert ner.syntax == "none" and ner.crf_of(None) is not None
    train_examples = examples(toy_docs(nlp.vocab))
    numpy.random.seed(0)
    nlp.initialize(lambda: train_examples)
    for _ in range(80):
        nlp.update(train_examples, drop=0.0)
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0


def test_hash_char_embed_is_the_hash_features_then_the_character_features():
    model = HashCharEmbed(12, ["NORM", "PREFIX", "SUFFIX", "SHAPE"], [50, 20, 20, 20], False, CharCNN(filters=5, rows=40))
    nlp = spacy.blank("en")
    docs = [nlp("Lithium carbonate"), nlp("x")]
    model.initialize(X=docs)
    hashed, chars = model.layers[0].layers
    out = model.predict(docs)
    assert [o.shape for o in out] == [(2, 12), (1, 12)] and model.get_dim("nO") == 12
    numpy.testing.assert_array_equal(numpy.vstack(out), numpy.hstack([hashed.predict(docs).data, chars.predict(docs).data]))
    with pytest.raises(ValueError, match=r"width \(30\) must exceed the character CNN's filters \(30\)"):
        HashCharEmbed(30, ["NORM"], [10], False, CharCNN(filters=30))


def test_hash_char_embed_trains_both_of_its_parts():
    from thinc.api import SGD

    model = HashCharEmbed(12, ["NORM", "SHAPE"], [50, 20], False, CharCNN(filters=5, rows=40))
    nlp = spacy.blank("en")
    docs = [nlp("Lithium carbonate"), nlp("x")]
    model.initialize(X=docs)
    hashed, chars = model.layers[0].layers
    leaves = {"hash": [layer for layer in hashed.walk() if layer.name == "hashembed"][0],
              "char": [layer for layer in chars.walk() if layer.name == "linear"][0]}
    before = {name: layer.get_param(name_of(layer)).copy() for name, layer in leaves.items()}
    Y, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(y) for y in Y])
    model.finish_update(SGD(0.1))
    for name, layer in leaves.items():
        assert not numpy.array_equal(layer.get_param(name_of(layer)), before[name]), name


def name_of(layer):
    return "E" if layer.name == "hashembed" else "W"


def test_bilstm_with_characters_beside_the_affixes_learns_and_round_trips(syntax_nlp, tmp_path):
    from spacy.util import load_config

    config = load_config(REPO / "configs" / "cfa_bilstm.cfg")
    embed = config["components"]["cfa_ner"]["model"]["tok2vec"]["embed"]
    config["components"]["cfa_ner"]["model"]["tok2vec"]["embed"] = {
        **embed, "@architectures": "bioner.HashCharEmbed.v1",
        "char_cnn": {"@architectures": "bioner.CharCNN.v1", "filters": 30}}
    nlp, train_examples = train_config(config, syntax_nlp)
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0
    docs = [eg.predicted for eg in train_examples]
    before = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(d.copy() for d in docs)]
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe(d.copy() for d in docs)] == before
    # the same token vectors, the character CNN's part included (the toy corpus needs no characters)
    vectors = [nlp_.get_pipe("cfa_ner").model.get_ref("tok2vec").predict(docs) for nlp_ in (nlp, loaded)]
    for saved, read in zip(*vectors):
        numpy.testing.assert_array_equal(saved, read)

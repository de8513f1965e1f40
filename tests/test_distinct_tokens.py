"""Inference embeds each distinct token once (ml/encoders/distinct_tokens.py):
the same vectors as spaCy's own forward pass of each doc alone (a BiLSTM
encoder runs over each doc as if alone: ml/encoders/packed_lstm.py), for
every embedding spaCy ships, with token-level NORMs, and the fallback where
it cannot apply."""
import numpy
import pytest
import spacy
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from spacy.attrs import NORM, ORTH
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model

from bioner_spacy.ml.encoders.distinct_tokens import (
    EmbeddingCache,
    embed_distinct_tokens,
    predict_tok2vec,
    tok2vec_forward,
    token_key_attrs,
)

WORDS = ["Cisplatin", "cisplatin", "induced", "renal", "failure", ".", "the", "The", "of", "0.5", "mg", "IL-2"]


def vocab_with_vectors():
    nlp = spacy.blank("en")
    rng = numpy.random.default_rng(0)
    for word in ["cisplatin", "renal", "failure", "the"]:
        nlp.vocab.set_vector(word, rng.normal(size=8).astype("f"))
    return nlp.vocab


def multi_hash_embed(attrs=("NORM", "PREFIX", "SUFFIX", "SHAPE"), static=True):
    return registry.resolve({"e": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": list(attrs),
                                   "rows": [50] * len(attrs), "include_static_vectors": static}})["e"]


def tok2vec_over(embed, encode="bilstm"):
    encoders = {
        "bilstm": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": 16, "depth": 1, "dropout": 0.0},
        "cnn": {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": 16, "window_size": 1, "maxout_pieces": 2,
                "depth": 2},
    }
    encoder = registry.resolve({"e": encoders[encode]})["e"]
    return registry.resolve({"t": {"@architectures": "spacy.Tok2Vec.v2", "embed": embed, "encode": encoder}})["t"]


def docs_of(vocab, sentences, norms=None):
    docs = [Doc(vocab, words=words) for words in sentences]
    for (d, i), norm in (norms or {}).items():
        docs[d][i].norm_ = norm
    return docs


def initialized(tok2vec, docs):
    tok2vec.initialize(X=docs)
    return tok2vec


def each_alone(tok2vec, docs):
    """spaCy's own forward pass of each doc in a batch of its own."""
    width = tok2vec.get_dim("nO")
    return [tok2vec.predict([doc])[0] if len(doc) else numpy.zeros((0, width), dtype="f") for doc in docs]


@pytest.mark.parametrize("encode", ["bilstm", "cnn"])
@pytest.mark.parametrize("embed", ["hash+vectors", "hash", "characters", "hash+vectors+char_cnn"])
def test_same_vectors_as_the_whole_tok2vec(embed, encode):
    vocab = vocab_with_vectors()
    if embed == "characters":
        layer = registry.resolve({"e": {"@architectures": "spacy.CharacterEmbed.v2", "width": 16, "rows": 50,
                                        "nM": 8, "nC": 4, "include_static_vectors": True}})["e"]
    elif embed == "hash+vectors+char_cnn":
        layer = registry.resolve({"e": {"@architectures": "bioner.HashCharEmbed.v1", "width": 16,
                                        "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"], "rows": [50, 20, 20, 20],
                                        "include_static_vectors": True,
                                        "char_cnn": {"@architectures": "bioner.CharCNN.v1", "filters": 5}}})["e"]
    else:
        layer = multi_hash_embed(static=embed == "hash+vectors")
    sentences = [WORDS[:6], WORDS[6:] + WORDS[:3], WORDS[:6], ["renal"]]
    # one 'cisplatin' whose NORM is its own: not the same token as the other 'cisplatin's
    docs = docs_of(vocab, sentences, norms={(2, 1): "platinum"})
    tok2vec = initialized(tok2vec_over(layer, encode), docs)
    assert token_key_attrs(tok2vec.get_ref("embed")) == [ORTH, NORM]
    expected = each_alone(tok2vec, docs)
    got = predict_tok2vec(tok2vec, docs)
    assert [g.shape for g in got] == [e.shape for e in expected]
    for g, e in zip(got, expected):
        numpy.testing.assert_allclose(g, e, rtol=0, atol=1e-6)


def test_the_norm_is_part_of_the_token():
    vocab = vocab_with_vectors()
    docs = docs_of(vocab, [["cisplatin", "cisplatin"]], norms={(0, 1): "platinum"})
    tok2vec = initialized(tok2vec_over(multi_hash_embed(static=False), "cnn"), docs)
    (rows,) = embed_distinct_tokens(tok2vec.get_ref("embed"), docs)
    assert not numpy.allclose(rows[0], rows[1])
    numpy.testing.assert_allclose(rows, tok2vec.get_ref("embed").predict(docs)[0], rtol=0, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.lists(st.sampled_from(WORDS), min_size=0, max_size=12), min_size=1, max_size=6))
def test_any_batch_of_repeated_words(sentences):
    assume(any(sentences))  # spaCy's static vectors fail on a batch of empty docs, as they are
    tok2vec = TOK2VEC
    docs = docs_of(tok2vec.attrs["vocab"], sentences)
    got = predict_tok2vec(tok2vec, docs)
    assert len(got) == len(docs)
    for got_rows, expected in zip(got, each_alone(tok2vec, docs)):
        numpy.testing.assert_allclose(got_rows, expected, rtol=0, atol=1e-6)


def _tok2vec_for_the_property_test():
    vocab = vocab_with_vectors()
    tok2vec = initialized(tok2vec_over(multi_hash_embed(), "bilstm"), docs_of(vocab, [WORDS]))
    tok2vec.attrs["vocab"] = vocab
    return tok2vec


TOK2VEC = _tok2vec_for_the_property_test()


def test_embeddings_reading_other_columns_or_unknown_layers_run_as_they_are():
    assert token_key_attrs(multi_hash_embed(attrs=("NORM", "TAG"), static=False)) is None
    assert token_key_attrs(multi_hash_embed(attrs=("LOWER", "SHAPE", "IS_DIGIT"), static=False)) == [ORTH, NORM]
    strange = Model("reads_the_sentence", lambda model, docs, is_train: (None, None))
    assert token_key_attrs(strange) is None
    # a window over the tokens outside the character CNN reads context
    from thinc.api import chain, expand_window, with_array
    assert token_key_attrs(chain(multi_hash_embed(static=False), with_array(expand_window(1)))) is None
    vocab = vocab_with_vectors()
    docs = docs_of(vocab, [WORDS[:4], WORDS[:4]])
    tok2vec = initialized(tok2vec_over(multi_hash_embed(attrs=("NORM", "TAG"), static=False), "cnn"), docs)
    for got, expected in zip(predict_tok2vec(tok2vec, docs), tok2vec.predict(docs)):
        numpy.testing.assert_array_equal(got, expected)


def test_training_keeps_every_occurrence_and_inference_has_no_backprop():
    vocab = vocab_with_vectors()
    docs = docs_of(vocab, [WORDS[:5], WORDS[:5]])
    tok2vec = initialized(tok2vec_over(multi_hash_embed(), "cnn"), docs)
    H, backprop = tok2vec_forward(tok2vec, docs, is_train=True)
    backprop([h * 0 + 1 for h in H])  # spaCy's own backward pass
    H, backprop = tok2vec_forward(tok2vec, docs, is_train=False)
    with pytest.raises(ValueError, match="is_train=False"):
        backprop(H)


def test_a_cache_embeds_each_token_once_across_batches():
    vocab = vocab_with_vectors()
    batches = [docs_of(vocab, [WORDS[:6], WORDS[:3]]), docs_of(vocab, [WORDS[3:9]]), docs_of(vocab, [WORDS])]
    tok2vec = initialized(tok2vec_over(multi_hash_embed(), "bilstm"), batches[0])
    embed = tok2vec.get_ref("embed")
    cache = EmbeddingCache()
    for batch in batches:
        for got, expected in zip(embed_distinct_tokens(embed, batch, cache), embed.predict(batch)):
            numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    assert cache.computed == len(set(WORDS))  # every word embedded once over the three batches
    # full: it starts again empty, and the rows stay right
    small = EmbeddingCache(max_rows=4)
    for batch in batches:
        for got, expected in zip(embed_distinct_tokens(embed, batch, small), embed.predict(batch)):
            numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
        assert len(small.table(embed)) <= max(4, len({t.orth for d in batch for t in d}))


def test_the_component_keeps_rows_within_a_stream_and_drops_them_when_weights_change(pipeline_dir):
    from spacy.training import Example

    nlp = spacy.load(pipeline_dir)
    ner = nlp.get_pipe("cfa_ner")
    texts = ["Cisplatin caused renal failure.", "Renal failure after cisplatin.", "Cisplatin again.",
             "Failure of the kidney after cisplatin."]
    docs = list(nlp.pipe(texts, disable=["cfa_ner"]))
    batches = [docs[:2], docs[2:]]
    expected = [ner.predict(batch) for batch in batches]  # no cache in use
    with ner.embedding_cache.in_use():
        got = [ner.predict(batch) for batch in batches]
    for g, e in zip(got, expected):
        for a, b in zip(g, e):
            numpy.testing.assert_array_equal(a, b)
    distinct = {(t.orth, t.norm) for doc in docs for t in doc}
    assert ner.embedding_cache.computed == len(distinct) < sum(len(d) for d in docs)
    # a pipe() stream starts from an empty cache and fills it as it goes
    list(ner.pipe([d.copy() for d in docs], batch_size=2))
    assert ner.embedding_cache.computed == len(distinct)
    # an update (weights change) empties it, as does use_params
    example = Example.from_dict(nlp.make_doc(texts[0]), {"entities": [(0, 9, "Chemical")]})
    nlp.update([Example(nlp(texts[0]), example.reference)], sgd=nlp.create_optimizer())
    assert ner.embedding_cache.computed == 0 and not any(ner.embedding_cache.rows.values())
    list(ner.pipe([d.copy() for d in docs], batch_size=2))
    assert ner.embedding_cache.computed == len(distinct)
    with nlp.use_params({(0, "no such parameter"): None}):  # as spaCy's training evaluates with averages
        assert ner.embedding_cache.computed == 0
        list(ner.pipe([d.copy() for d in docs], batch_size=2))
    assert ner.embedding_cache.computed == 0

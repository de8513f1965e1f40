"""Dataset tag tokens in the encoder input (the multi-task issue, first part)."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from thinc.api import Config

from bioner_spacy.ml.multitask.dataset_tags import tag_words, tagged_doc

ENCODERS = {
    "cnn": """
[model]
@architectures = "bioner.DatasetTagTok2Vec.v1"
tags = "DN"
[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"
[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 16
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [500, 100, 100, 100]
include_static_vectors = false
[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 16
depth = 2
window_size = 1
maxout_pieces = 2
""",
}
ENCODERS["bilstm"] = ENCODERS["cnn"].split("[model.tok2vec.encode]")[0] + """[model.tok2vec.encode]
@architectures = "spacy.TorchBiLSTMEncoder.v1"
width = 16
depth = 1
dropout = 0.0
"""


def build(kind):
    return spacy.registry.resolve(Config().from_str(ENCODERS[kind]))["model"]


def sentence(vocab, dataset, n=30):
    doc = Doc(vocab, words=[f"w{i}" for i in range(n)])
    doc._.dataset = dataset
    return doc


def test_tag_variants():
    assert tag_words("BC5CDR-chem", "DN") == (["<BC5CDR-chem>"], ["</BC5CDR-chem>"])
    assert tag_words("BC5CDR-chem", "DN-begin") == (["<BC5CDR-chem>"], [])
    assert tag_words("BC5CDR-chem", "none") == ([], [])
    assert tag_words(None, "DN") == ([], [])
    with pytest.raises(ValueError, match="'TN-X'"):
        tag_words("X", "TN-X")


def test_tagged_doc_leaves_the_original_alone():
    vocab = spacy.blank("en").vocab
    doc = sentence(vocab, "NCBI-disease", n=3)
    tagged, before, after = tagged_doc(doc, "DN")
    assert [t.text for t in tagged] == ["<NCBI-disease>", "w0", "w1", "w2", "</NCBI-disease>"]
    assert (before, after) == (1, 1)
    assert doc.text == "w0 w1 w2 " and len(doc) == 3


@pytest.mark.parametrize("kind", ["cnn", "bilstm"])
def test_tags_are_dropped_from_the_output_and_gradient(kind):
    if kind == "bilstm":
        pytest.importorskip("torch")
    vocab = spacy.blank("en").vocab
    model = build(kind)
    docs = [sentence(vocab, "BC5CDR-chem", 5), sentence(vocab, None, 4)]
    model.initialize(X=docs)
    H, backprop = model.begin_update(docs)
    assert [h.shape for h in H] == [(5, 16), (4, 16)]
    backprop([numpy.ones_like(h) for h in H])  # shapes must line up through the tags


def test_bilstm_tag_reaches_the_middle_token():
    pytest.importorskip("torch")
    vocab = spacy.blank("en").vocab
    model = build("bilstm")
    model.initialize(X=[sentence(vocab, "BC5CDR-chem"), sentence(vocab, "NCBI-disease")])
    (a,) = model.predict([sentence(vocab, "BC5CDR-chem")])
    (b,) = model.predict([sentence(vocab, "NCBI-disease")])
    assert a.shape == (30, 16)
    assert not numpy.allclose(a[15], b[15])


def test_cnn_tag_does_not_reach_the_middle_token():
    """Why the multi-task configs need an encoder that sees the whole
    sentence: a 2-layer window-1 CNN reaches 2 tokens from a tag."""
    vocab = spacy.blank("en").vocab
    model = build("cnn")
    model.initialize(X=[sentence(vocab, "BC5CDR-chem")])
    (a,) = model.predict([sentence(vocab, "BC5CDR-chem")])
    (b,) = model.predict([sentence(vocab, "NCBI-disease")])
    numpy.testing.assert_array_equal(a[15], b[15])
    assert not numpy.allclose(a[0], b[0])


def test_cfa_ner_learns_over_a_tagged_encoder(syntax_nlp):
    from .test_cfa_ner import examples, gold_docs

    tok2vec = Config().from_str(ENCODERS["cnn"])["model"]
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    nlp.add_pipe("cfa_ner", config={"model": {"@architectures": "bioner.CFATagger.v1", "syntax": "dep", "tok2vec": tok2vec}})
    train_examples = examples(gold_docs(syntax_nlp))  # every doc has dataset "toy"
    nlp.initialize(lambda: train_examples)
    for _ in range(80):
        nlp.update(train_examples, drop=0.0)
    predicted = list(nlp.pipe(eg.predicted for eg in train_examples))
    assert all("<toy>" not in [t.text for t in d] for d in predicted)
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0

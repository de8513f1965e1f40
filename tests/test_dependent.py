"""Seed 004's dependent multi-task model: GENIA-pos read as tagged docs, and
the NER encoder joined by a POS tagger's frozen encoder, read from the
trained tagger at initialisation and never updated."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from bioner_spacy.corpus.errors import CorpusFormatError
from bioner_spacy.corpus.iob import pos_to_docs
from bioner_spacy.corpus.readers import without_entities

from .test_window_cnn import WORDS, vector_nlp

WINDOW_CNN = {"@architectures": "bioner.WindowCNN.v1", "window": 1, "filters": 4, "widths": [2], "hidden": 6,
              "dropout": 0.0}


def test_pos_file_read_by_hand(tmp_path):
    path = tmp_path / "pos.tsv"
    path.write_text("IL-2\tNN\ngene\tNN\nexpression\tNN\n\nIt\tPRP\nbinds\tVBZ\n")
    docs = list(pos_to_docs(spacy.blank("en").vocab, path))
    assert [[(t.text, t.tag_) for t in doc] for doc in docs] == [
        [("IL-2", "NN"), ("gene", "NN"), ("expression", "NN")], [("It", "PRP"), ("binds", "VBZ")]]
    assert len(list(pos_to_docs(spacy.blank("en").vocab, path, limit=1))) == 1
    path.write_text("IL-2\tNN\ngene\tNN\tB-GENE\n")
    with pytest.raises(CorpusFormatError, match=r"pos.tsv:2: expected 2 columns"):
        list(pos_to_docs(spacy.blank("en").vocab, path))


def pos_tagger(nlp, folder):
    """A window-CNN tagger trained a little on WORDS, saved to ``folder``."""
    tagger = spacy.blank("en", vocab=nlp.vocab)
    tagger.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2", "tok2vec": WINDOW_CNN}})
    gold = Doc(nlp.vocab, words=WORDS, tags=["NN", "VBD", "DT", "NN", "IN", "DT", "NNS"])
    examples = [Example(Doc(nlp.vocab, words=WORDS), gold)]
    tagger.initialize(lambda: examples)
    for _ in range(5):
        tagger.update(examples)
    tagger.to_disk(folder)
    return tagger


def weights(layer):
    return [node.get_param(p).copy() for node in layer.walk() for p in node.param_names if node.has_param(p)]


def test_auxiliary_encoder_is_read_from_the_tagger_and_frozen(tmp_path):
    nlp = vector_nlp()
    tagger = pos_tagger(nlp, tmp_path / "pos")
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "none", "tok2vec": {
        "@architectures": "bioner.DependentTok2Vec.v1", "source": str(tmp_path / "pos"), "component": "tagger",
        "main": WINDOW_CNN, "auxiliary": WINDOW_CNN}}})
    gold = Doc(nlp.vocab, words=WORDS, ents=["B-Chemical"] + ["O"] * 6)
    examples = [Example(without_entities(gold), gold)]
    nlp.initialize(lambda: examples)
    model = nlp.get_pipe("cfa_ner").model
    frozen = next(node for node in model.walk() if node.name == "frozen_auxiliary")
    trained = weights(tagger.get_pipe("tagger").model.get_ref("tok2vec"))
    for a, b in zip(weights(frozen), trained):
        numpy.testing.assert_array_equal(a, b)
    assert model.get_ref("tok2vec").get_dim("nO") == 12  # [h^NER ; h^POS]
    main = model.get_ref("tok2vec").layers[0]
    before = weights(main)
    for _ in range(3):
        nlp.update(examples)
    assert any(not numpy.array_equal(a, b) for a, b in zip(before, weights(main)))
    for a, b in zip(weights(frozen), trained):
        numpy.testing.assert_array_equal(a, b)
    # saved with the NER: loading does not read the tagger again
    nlp.to_disk(tmp_path / "ner")
    (tmp_path / "pos" / "tagger" / "model").unlink()
    loaded = spacy.load(tmp_path / "ner")
    doc = nlp.make_doc("lithium reduced the fever")
    numpy.testing.assert_array_equal(nlp.get_pipe("cfa_ner").predict([doc])[0], loaded.get_pipe("cfa_ner").predict([doc])[0])


def test_missing_auxiliary_model_is_named(tmp_path):
    nlp = vector_nlp()
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "none", "tok2vec": {
        "@architectures": "bioner.DependentTok2Vec.v1", "source": str(tmp_path / "nowhere"),
        "main": WINDOW_CNN, "auxiliary": WINDOW_CNN}}})
    gold = Doc(nlp.vocab, words=WORDS, ents=["B-Chemical"] + ["O"] * 6)
    with pytest.raises(ValueError, match=r"cannot read the auxiliary model from '.*nowhere'.*pos-tagger"):
        nlp.initialize(lambda: [Example(without_entities(gold), gold)])

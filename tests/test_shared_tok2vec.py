"""bioner.SharedTok2Vec.v1: the NER reads the syntax pipeline's tok2vec
(frozen) instead of a tok2vec of its own; `assemble` keeps that tok2vec once
and the assembled pipeline predicts what the trained one did."""
import numpy
import pytest
import spacy
from spacy.training import Example

from bioner_spacy.corpus.readers import without_entities

from .conftest import SYNTAX_PIPELINE
from .test_cli import cli

SHARED = {
    "@architectures": "bioner.SharedTok2Vec.v1",
    "width": 16,
    "listener": {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "tok2vec"},
    "embed": {"@architectures": "spacy.MultiHashEmbed.v2", "width": 16, "attrs": ["NORM"], "rows": [500],
              "include_static_vectors": False},
    "encode": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": 16, "depth": 1, "dropout": 0.0},
}
TEXTS = ["Cisplatin caused renal failure in two patients .", "Aspirin relieved the headache quickly .",
         "Treatment with doxorubicin was stopped ."]
CHEMICALS = [(0, 1), (0, 1), (2, 3)]


def params(model):
    return [node.get_param(p).copy() for node in model.walk() for p in node.param_names if node.has_param(p)]


@pytest.fixture(scope="module")
def trained(syntax_nlp, tmp_path_factory):
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    nlp.add_pipe("tok2vec", source=syntax_nlp)
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "dep", "tok2vec": SHARED}})
    examples = []
    for doc, (start, end) in zip(syntax_nlp.pipe(TEXTS), CHEMICALS):
        gold = doc.copy()
        gold.set_ents([spacy.tokens.Span(gold, start, end, "Chemical")])
        gold._.dataset = None
        examples.append(Example(without_entities(gold), gold))
    with nlp.select_pipes(enable=["cfa_ner"]):  # as `spacy train` leaves a frozen, sourced component alone
        nlp.initialize(lambda: examples)
    before = params(syntax_nlp.get_pipe("tok2vec").model)
    optimizer = nlp.create_optimizer()
    for _ in range(150):
        nlp.update(examples, sgd=optimizer, exclude=["tok2vec"], annotates=["tok2vec"])
    path = tmp_path_factory.mktemp("shared") / "model"
    nlp.to_disk(path)
    return nlp, examples, before, path


def test_the_syntax_tok2vec_is_read_and_left_unchanged(trained, syntax_nlp):
    nlp, examples, before, _ = trained
    for old, new in zip(before, params(nlp.get_pipe("tok2vec").model)):
        numpy.testing.assert_array_equal(old, new)
    assert nlp.get_pipe("tok2vec").listening_components == ["cfa_ner"]
    # the listener hands the NER exactly the syntax tok2vec's vectors
    listener = nlp.get_pipe("cfa_ner").model.get_ref("tok2vec").get_ref("listener")
    doc = nlp.get_pipe("tok2vec")(nlp.make_doc(TEXTS[0]))
    numpy.testing.assert_array_equal(listener.predict([doc])[0], syntax_nlp.get_pipe("tok2vec")(nlp.make_doc(TEXTS[0])).tensor)
    # and the NER learned the three sentences through it
    predicted = [nlp(without_entities(eg.reference)) for eg in examples]
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in predicted] == [
        [(s, e, "Chemical")] for s, e in CHEMICALS]


def test_assemble_keeps_one_tok2vec_and_the_same_predictions(trained, tmp_path):
    nlp, examples, _, path = trained
    out = tmp_path / "full"
    cli("assemble", path, out, "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    full = spacy.load(out)
    assert full.pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "cfa_ner"]
    assert sorted(full.get_pipe("tok2vec").listening_components) == ["cfa_ner", "parser", "tagger"]
    for text, eg in zip(TEXTS, examples):
        expected = nlp(without_entities(eg.reference))
        assert [(e.start, e.end, e.label_) for e in full(text).ents] == [(e.start, e.end, e.label_) for e in expected.ents]


def test_assemble_refuses_another_syntax_tok2vec(trained, tmp_path):
    nlp, _, _, path = trained
    changed = spacy.load(path)
    tok2vec = changed.get_pipe("tok2vec").model
    node = next(n for n in tok2vec.walk() if n.has_param("W") and n.get_param("W") is not None)
    node.set_param("W", node.get_param("W") + 0.01)
    changed.to_disk(tmp_path / "changed")
    result = cli("assemble", tmp_path / "changed", tmp_path / "full", "--syntax-pipeline", SYNTAX_PIPELINE)
    assert result.returncode == 1
    assert "cfa_ner listen to 'tok2vec', but the syntax pipeline's 'tok2vec' has other weights" in result.stderr
    assert not (tmp_path / "full").exists()


def test_assemble_with_the_senter_alone_refuses_a_component_that_reads_syntax(trained, tmp_path):
    _, _, _, path = trained
    result = cli("assemble", path, tmp_path / "lean", "--syntax-pipeline", SYNTAX_PIPELINE, "--sentences", "senter")
    assert result.returncode == 1
    assert "--sentences senter leaves out the tagger and parser, which cfa_ner (cfa_ner) may read" in result.stderr
    assert not (tmp_path / "lean").exists()
    # the default ("auto") keeps the whole syntax pipeline for it (test_assemble_keeps_one_tok2vec_...)

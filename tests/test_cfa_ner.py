import json
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from bioner_spacy.decoding import spans_to_bio
from bioner_spacy.scoring import score_seqeval
from bioner_spacy.syntax.context import MissingAnnotation
from bioner_spacy.syntax.pipeline import annotate

SENTENCES = [
    ("Aspirin reduced the fever of the patients .", [(0, 1, "Chemical")]),
    ("Treatment with cisplatin caused renal failure .", [(2, 3, "Chemical"), (4, 6, "Disease")]),
    ("Patients given lithium carbonate developed tremor .", [(2, 4, "Chemical"), (5, 6, "Disease")]),
    ("No headache was seen after caffeine .", [(1, 2, "Disease"), (5, 6, "Chemical")]),
    ("The rats received high doses of morphine .", [(6, 7, "Chemical")]),
    ("Acute hepatitis followed the use of halothane .", [(0, 2, "Disease"), (6, 7, "Chemical")]),
]


def toy_docs(vocab):
    """SENTENCES as gold docs of dataset "toy" (no syntax)."""
    docs = []
    for text, ents in SENTENCES:
        words = text.split()
        doc = Doc(vocab, words=words, ents=spans_to_bio(len(words), ents))
        doc._.dataset = "toy"
        docs.append(doc)
    return docs


def gold_docs(syntax_nlp):
    return list(annotate(syntax_nlp, toy_docs(syntax_nlp.vocab)))


def examples(docs):
    from bioner_spacy.corpus.readers import without_entities

    return [Example(without_entities(doc), doc) for doc in docs]


def train(syntax_nlp, syntax="dep", steps=60, output="softmax"):
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": syntax, "output": output}})
    train_examples = examples(gold_docs(syntax_nlp))
    numpy.random.seed(0)
    nlp.initialize(lambda: train_examples)
    for _ in range(steps):
        nlp.update(train_examples, drop=0.0)
    return nlp, train_examples


def test_factory_found_through_entry_points_without_import():
    code = (
        "import spacy, sys\n"
        "nlp = spacy.blank('en'); nlp.add_pipe('cfa_ner')\n"
        "assert 'bioner_spacy' in sys.modules\n"
        "print(nlp.pipe_names, nlp.get_pipe('cfa_ner').syntax)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['cfa_ner'] dep"


# Modules that need torch by their nature; every other entry point must load
# without it, since spaCy imports every factory's module whenever it makes a
# Language (the packaged CPU pipeline installs no torch).
NEEDS_TORCH = {"bioner.PrefixTransformerModel.v1"}


def test_entry_points_load_without_torch():
    code = (
        "import importlib.abc, json, sys\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('torch', 'transformers', 'spacy_transformers'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
        "from importlib.metadata import distribution\n"
        "failed = {}\n"
        "for ep in distribution('bioner-spacy').entry_points:\n"
        "    try:\n"
        "        ep.load()\n"
        "    except ImportError as e:\n"
        "        failed[ep.name] = str(e)\n"
        "print(json.dumps(failed))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    failed = json.loads(out.stdout)
    assert set(failed) == NEEDS_TORCH, failed


@pytest.mark.parametrize("syntax", ["pos", "syn", "dep", "none"])
def test_overfits_tiny_corpus(syntax_nlp, syntax):
    nlp, train_examples = train(syntax_nlp, syntax)
    scores = nlp.evaluate(train_examples)
    assert scores["seqeval_f"] == 1.0
    assert set(scores["seqeval_per_type"]) == {"Chemical", "Disease"}
    assert nlp.get_pipe("cfa_ner").labels == ("Chemical", "Disease")


def test_round_trip_gives_identical_predictions(syntax_nlp, tmp_path):
    nlp, train_examples = train(syntax_nlp, "syn", steps=10)
    docs = [eg.predicted for eg in train_examples]
    before = nlp.get_pipe("cfa_ner").predict(docs)
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    after = loaded.get_pipe("cfa_ner").predict([Doc(loaded.vocab).from_bytes(d.to_bytes()) for d in docs])
    for a, b in zip(before, after):
        numpy.testing.assert_array_equal(a, b)
    assert loaded.get_pipe("cfa_ner").model.get_ref("attention").attrs["labels"] == (
        nlp.get_pipe("cfa_ner").model.get_ref("attention").attrs["labels"]
    )
    # and through bytes
    reloaded = spacy.blank("en").from_config(nlp.config)
    reloaded.from_bytes(nlp.to_bytes())
    numpy.testing.assert_array_equal(reloaded.get_pipe("cfa_ner").predict(docs)[0], before[0])


def test_plain_head_is_encoder_then_softmax_and_round_trips(syntax_nlp, tmp_path):
    """syntax "none": no attention, the output layer reads h_i directly
    (its input width is the encoder's), and it needs no parse."""
    nlp, train_examples = train(syntax_nlp, "none", steps=10)
    pipe = nlp.get_pipe("cfa_ner")
    assert pipe.syntax == "none" and not pipe.model.has_ref("attention")
    assert pipe.model.get_ref("output_layer").get_dim("nI") == pipe.model.get_ref("tok2vec").get_dim("nO")
    docs = [eg.predicted for eg in train_examples]
    before = pipe.predict(docs)
    nlp.to_disk(tmp_path / "plain")
    loaded = spacy.load(tmp_path / "plain")
    assert loaded.get_pipe("cfa_ner").syntax == "none"
    after = loaded.get_pipe("cfa_ner").predict([Doc(loaded.vocab).from_bytes(d.to_bytes()) for d in docs])
    for a, b in zip(before, after):
        numpy.testing.assert_array_equal(a, b)
    unparsed = loaded.make_doc("Aspirin reduced the fever .")
    assert len(loaded(unparsed)) == 5


def test_unknown_syntax_names_the_choices(syntax_nlp):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="'none'"):
        nlp.add_pipe("cfa_ner", config={"model": {"syntax": "constituency"}})


def test_doc_without_parse_gets_a_clear_error(syntax_nlp):
    nlp, _ = train(syntax_nlp, "dep", steps=1)
    with pytest.raises(MissingAnnotation, match="Add a 'parser'"):
        nlp("Aspirin reduced the fever .")


def test_pipeline_with_syntax_components_tags_raw_text(syntax_nlp, tmp_path):
    nlp, _ = train(syntax_nlp, "dep", steps=60)
    nlp.to_disk(tmp_path / "ner")
    from bioner_spacy.syntax.pipeline import load_syntax_pipeline

    from .conftest import SYNTAX_PIPELINE

    full = load_syntax_pipeline(SYNTAX_PIPELINE)  # a fresh copy: the fixture is shared
    full.add_pipe("cfa_ner", source=spacy.load(tmp_path / "ner"))
    doc = full("Treatment with cisplatin caused renal failure.")
    assert [(e.text, e.label_) for e in doc.ents] == [("cisplatin", "Chemical"), ("renal failure", "Disease")]
    # empty and whitespace-only input
    assert list(full("").ents) == [] and list(full("   ").ents) == []


def test_seqeval_agrees_with_spacy_ents_f(syntax_nlp):
    nlp, train_examples = train(syntax_nlp, "dep", steps=3)  # a weak model: errors of every kind
    predicted = list(nlp.pipe(eg.predicted for eg in train_examples))
    egs = [Example(p, eg.reference) for p, eg in zip(predicted, train_examples)]
    ours = score_seqeval(egs)
    theirs = spacy.scorer.Scorer.score_spans(egs, "ents")
    assert ours["seqeval_f"] == pytest.approx(theirs["ents_f"])
    assert ours["seqeval_p"] == pytest.approx(theirs["ents_p"])
    assert ours["seqeval_r"] == pytest.approx(theirs["ents_r"])


def test_seqeval_hand_checked(syntax_nlp):
    vocab = syntax_nlp.vocab
    gold = Doc(vocab, words="a b c d e".split(), ents=["B-X", "I-X", "O", "B-Y", "O"])
    pred = Doc(vocab, words="a b c d e".split(), ents=["B-X", "O", "O", "B-Y", "O"])
    scores = score_seqeval([Example(pred, gold)])
    # X predicted with the wrong end: strict matching counts it wrong
    assert scores["seqeval_p"] == 0.5 and scores["seqeval_r"] == 0.5
    assert scores["seqeval_per_type"]["X"]["f"] == 0.0
    assert scores["seqeval_per_type"]["Y"]["f"] == 1.0


def train_config(config, syntax_nlp, steps=60):
    """The pipeline of ``config`` trained on the toy corpus (with syntax) for
    ``steps`` updates of Adam at 0.001, without dropout."""
    pytest.importorskip("torch")
    from spacy.util import load_model_from_config
    from thinc.api import Adam

    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    train_examples = examples(gold_docs(syntax_nlp))
    nlp.initialize(lambda: train_examples)
    optimizer = Adam(0.001)
    for _ in range(steps):
        nlp.update(train_examples, sgd=optimizer, drop=0.0)
    return nlp, train_examples


def test_bilstm_config_learns(syntax_nlp):
    from spacy.util import load_config

    from .conftest import REPO

    nlp, train_examples = train_config(load_config(REPO / "configs" / "cfa_bilstm.cfg"), syntax_nlp)
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0


@pytest.mark.parametrize("syntax", ["dep", "none"])
def test_crf_output_overfits_tiny_corpus_and_learns_transitions(syntax_nlp, syntax):
    nlp, train_examples = train(syntax_nlp, syntax, output="crf")
    ner = nlp.get_pipe("cfa_ner")
    assert ner.crf_of(None) is not None and ner.model.get_ref("output_layer").name == "linear"
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0
    tags = ner.tags  # O, B-Chemical, I-Chemical, B-Disease, I-Disease
    A = ner.model.ops.to_numpy(ner.crf_of(None).get_param("transitions"))
    # seen in training (B-Disease -> I-Disease) beats never seen (B-Chemical -> B-Disease)
    assert A[tags.index("B-Disease"), tags.index("I-Disease")] > A[tags.index("B-Chemical"), tags.index("B-Disease")]
    # forbidden transitions get no gradient: they stay at their initial 0
    assert A[tags.index("O"), tags.index("I-Chemical")] == 0.0


def test_crf_round_trip_gives_identical_entities(syntax_nlp, tmp_path):
    nlp, train_examples = train(syntax_nlp, "dep", steps=15, output="crf")
    docs = [eg.predicted for eg in train_examples]
    before = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(d.copy() for d in docs)]
    transitions = nlp.get_pipe("cfa_ner").crf_of(None).get_param("transitions").copy()
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    after = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe(d.copy() for d in docs)]
    assert after == before
    numpy.testing.assert_array_equal(loaded.get_pipe("cfa_ner").crf_of(None).get_param("transitions"), transitions)


@pytest.mark.parametrize("attention", ["kvmn", "twa"])
def test_attention_baselines_overfit_and_round_trip(syntax_nlp, attention, tmp_path):
    """Seed 000's baselines in place of CFA, over the same dependency context."""
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "dep", "attention": attention}})
    train_examples = examples(gold_docs(syntax_nlp))
    nlp.initialize(lambda: train_examples)
    for _ in range(60):
        nlp.update(train_examples, drop=0.0)
    assert nlp.evaluate(train_examples)["seqeval_f"] == 1.0
    layer = nlp.get_pipe("cfa_ner").model.get_ref("attention")
    assert layer.name == f"{attention}_attention" and "nsubj" in layer.attrs["labels"]
    docs = [eg.predicted for eg in train_examples]
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model")
    for a, b in zip(nlp.get_pipe("cfa_ner").predict(docs), loaded.get_pipe("cfa_ner").predict(docs)):
        numpy.testing.assert_array_equal(a, b)


def test_unknown_attention_names_the_choices():
    with pytest.raises(ValueError, match="Unknown attention 'memory': use one of cfa, kvmn, twa"):
        spacy.blank("en").add_pipe("cfa_ner", config={"model": {"attention": "memory"}})


def test_unknown_output_names_the_choices(syntax_nlp):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="Unknown output 'crf2': use one of softmax, crf"):
        nlp.add_pipe("cfa_ner", config={"model": {"output": "crf2"}})


def test_learn_rate_scale_multiplies_the_step(syntax_nlp):
    """With plain SGD (no L2, no clipping), one update of a component with
    learn_rate_scale 2.5 moves every weight 2.5 times as far as with 1, from
    the same weights."""
    from thinc.api import SGD

    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "none"}, "learn_rate_scale": 2.5})
    pipe = nlp.get_pipe("cfa_ner")
    assert pipe.learn_rate_scale == 2.5
    train_examples = examples(gold_docs(syntax_nlp))
    nlp.initialize(lambda: train_examples)
    nlp.update(train_examples[:1], drop=0.0)  # a first step, so the softmax layer passes gradient back
    start = pipe.model.to_bytes()

    def move(scale):
        pipe.model.from_bytes(start)
        pipe.learn_rate_scale = scale
        before = [node.get_param(name).copy() for node in pipe.model.walk() for name in node.param_names]
        nlp.update(train_examples, drop=0.0, sgd=SGD(0.01, L2=0.0, grad_clip=0.0))
        after = [node.get_param(name) for node in pipe.model.walk() for name in node.param_names]
        return numpy.concatenate([(a - b).ravel() for a, b in zip(after, before)])

    plain, scaled = move(1.0), move(2.5)
    assert numpy.abs(plain).max() > 0
    numpy.testing.assert_allclose(scaled, 2.5 * plain, rtol=1e-4, atol=1e-6)  # float32 weights minus float32 weights
    with pytest.raises(ValueError, match=r"\[cfa_ner\] learn_rate_scale must be a positive number, not 0"):
        spacy.blank("en").add_pipe("cfa_ner", config={"learn_rate_scale": 0})

"""Seed 003's MRC auxiliary task: the span loss and Eqs. 3-4 by hand, the
queries and MRC inputs built for a sentence, and configs/cfa_trf_mrc.cfg over
the tiny BERT: the auxiliary gradient reaches the shared transformer within
the same update, the span head learns, the component does nothing at
inference, and the pipeline round-trips."""
import math
import os

import numpy
import pytest
import spacy
from spacy.util import load_config, load_model_from_config
from thinc.api import Adam, NumpyOps

from .conftest import REPO
from .test_cfa_ner import SENTENCES, examples, gold_docs
from .tiny_bert import build_tiny_bert

pytest.importorskip("spacy_transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import bioner_spacy.pipeline.mrc_auxiliary  # noqa: E402,F401  (registered by entry point when installed)
from bioner_spacy.ml.multitask.mrc import span_loss, start_end_positions  # noqa: E402
from bioner_spacy.pipeline.mrc_auxiliary import load_queries  # noqa: E402


def test_span_loss_by_hand():
    """Two passages of 1 and 2 tokens (3 tokens in all). Logits (start no,
    start yes, end no, end yes); a row (0, 0) is p = 1/2 either way, a row
    (0, log 3) says yes with p = 3/4."""
    ops = NumpyOps()
    log3 = math.log(3)
    logits = [numpy.array([[0, log3, 0, 0]], dtype="f"), numpy.array([[0, 0, 0, log3], [0, 0, 0, 0]], dtype="f")]
    starts = [numpy.array([1]), numpy.array([0, 0])]
    ends = [numpy.array([1]), numpy.array([1, 0])]
    loss, grads = span_loss(ops, logits, starts, ends)
    # start: -log(3/4) - log(1/2) - log(1/2); end: -log(1/2) - log(3/4) - log(1/2); each over 3 tokens
    expected = 2 * (-math.log(0.75) - 2 * math.log(0.5)) / 3
    assert loss == pytest.approx(expected, rel=1e-6)
    # gradient: (p - gold) / 3 per pair. First token: start p = (1/4, 3/4), gold (0, 1);
    # end p = (1/2, 1/2), gold (0, 1). Last token: p = (1/2, 1/2) twice, gold (1, 0) twice
    numpy.testing.assert_allclose(grads[0][0], numpy.array([0.25, -0.25, 0.5, -0.5]) / 3, atol=1e-6)
    numpy.testing.assert_allclose(grads[1][1], numpy.array([-0.5, 0.5, -0.5, 0.5]) / 3, atol=1e-6)
    assert start_end_positions(ops, logits[1]) == (set(), {0})
    assert start_end_positions(ops, numpy.array([[0, 1, 1, 0], [2, 1, 0, 3]], dtype="f")) == ({0}, {1})


def mrc_pipeline(tmp_path, syntax_nlp, query="annotation", weight=1.0, pipeline=None, syntax="dep"):
    bert = tmp_path / "tiny-bert"
    if not bert.exists():
        build_tiny_bert(bert)
    overrides = {"components.transformer.model.name": str(bert), "bioner.syntax": syntax,
                 "components.mrc_auxiliary.query": query, "components.mrc_auxiliary.weight": weight,
                 "system.gpu_allocator": None}
    if pipeline:
        overrides["nlp.pipeline"] = pipeline
    config = load_config(REPO / "configs" / "cfa_trf_mrc.cfg", overrides=overrides)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    train_examples = examples(gold_docs(syntax_nlp))
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: train_examples)
    return nlp, train_examples


def test_queries_and_inputs(tmp_path, syntax_nlp):
    nlp, train_examples = mrc_pipeline(tmp_path, syntax_nlp, query="dictionary")
    mrc = nlp.get_pipe("mrc_auxiliary")
    assert mrc.cfg["labels"] == {"toy": ["Chemical", "Disease"]}
    # dictionary names come from the training entities only
    assert mrc.cfg["names"]["Disease"] == ["Acute hepatitis", "headache", "renal failure", "tremor"]
    words = mrc.query_words("Disease", "dictionary")
    assert words[:3] == ["Find", "entities", "such"]
    named = " ".join(words[4:])
    assert sum(name in named for name in mrc.cfg["names"]["Disease"]) == 3
    assert mrc.query_words("Disease", "none") == []
    assert mrc.query_words("Cell_type_X", "annotation")[:6] == ["Mark", "every", "mention", "of", "a", "cell"]
    assert mrc.query_words("Chemical", "wikipedia")[:3] == ["A", "chemical", "is"]
    # the second sentence, asked about each of its types in turn
    eg = train_examples[1]
    mrc.rng.seed(1)
    docs, offsets, starts, ends = mrc.mrc_inputs([eg] * 8, "[SEP]")
    passage = "Treatment with cisplatin caused renal failure .".split()
    for doc, offset, start, end in zip(docs, offsets, starts, ends):
        words = [t.text for t in doc]
        assert words[offset - 1] == "[SEP]" and words[offset:] == passage
        if start[2]:  # asked about Chemical: cisplatin
            assert start.tolist() == [0, 0, 1, 0, 0, 0, 0] and end.tolist() == [0, 0, 1, 0, 0, 0, 0]
        else:  # Disease: renal failure
            assert start.tolist() == [0, 0, 0, 0, 1, 0, 0] and end.tolist() == [0, 0, 0, 0, 0, 1, 0]
    assert {int(s[2]) for s in starts} == {0, 1}  # both types drawn
    with pytest.raises(ValueError, match="query must be one of annotation, wikipedia, dictionary, none, random, not 'faq'"):
        mrc_pipeline(tmp_path, syntax_nlp, query="faq")
    bad = tmp_path / "queries.json"
    bad.write_text('{"annotation": {"_default": "Find {what}."}, "wikipedia": {"_default": "x"}, '
                   '"dictionary": {"_default": "{names}"}}')
    with pytest.raises(ValueError, match=r"query annotation/_default 'Find \{what\}.': only \{name\} and \{names\}"):
        load_queries(str(bad))


def test_auxiliary_gradient_reaches_the_shared_transformer(tmp_path, syntax_nlp):
    """From the same start, three updates with weight 0 and with weight 1
    leave different transformer weights; the span head's loss falls in
    training. (spaCy applies a shared transformer's gradient at its next
    update, and the NER softmax starts from zero weights, so the NER head's
    first gradient reaches the transformer at the third update.)"""
    def three_updates(weight):
        nlp, train_examples = mrc_pipeline(tmp_path, syntax_nlp, weight=weight)
        trf = nlp.get_pipe("transformer").model.transformer
        before = trf.embeddings.word_embeddings.weight.detach().numpy().copy()
        optimizer = Adam(0.001)
        for _ in range(3):
            nlp.update(train_examples, sgd=optimizer, drop=0.0)
        return before, trf.embeddings.word_embeddings.weight.detach().numpy().copy()

    start_0, after_0 = three_updates(0.0)
    numpy.testing.assert_array_equal(three_updates(0.0)[1], after_0)  # the runs are deterministic
    start_1, after_1 = three_updates(1.0)
    numpy.testing.assert_array_equal(start_0, start_1)
    assert not numpy.array_equal(start_0, after_0)
    assert numpy.abs(after_1 - after_0).max() > 1e-4
    nlp, train_examples = mrc_pipeline(tmp_path, syntax_nlp)
    optimizer = Adam(0.003)
    mrc_losses = []
    for _ in range(25):
        losses = {}
        nlp.update(train_examples, sgd=optimizer, drop=0.0, losses=losses)
        mrc_losses.append(losses["mrc_auxiliary"])
    assert mrc_losses[-1] < mrc_losses[0] / 3


def test_order_is_checked(tmp_path, syntax_nlp):
    with pytest.raises(ValueError, match="must come after 'transformer' in the pipeline"):
        mrc_pipeline(tmp_path, syntax_nlp, pipeline=["mrc_auxiliary", "transformer", "cfa_ner"])


def test_nothing_runs_at_inference_and_the_pipeline_round_trips(tmp_path, syntax_nlp):
    """Seed 003's set-up (a softmax NER head, syntax none) tags raw text."""
    nlp, train_examples = mrc_pipeline(tmp_path, syntax_nlp, query="random", syntax="none")
    optimizer = Adam(0.001)
    for _ in range(3):
        nlp.update(train_examples, sgd=optimizer)
    texts = [text for text, _ in SENTENCES]
    tagged = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    assert loaded.get_pipe("mrc_auxiliary").cfg == nlp.get_pipe("mrc_auxiliary").cfg
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe(texts)] == tagged
    head = nlp.get_pipe("mrc_auxiliary").model
    again = loaded.get_pipe("mrc_auxiliary").model
    for a, b in zip(head.walk(), again.walk()):
        for name in a.param_names:
            numpy.testing.assert_array_equal(a.get_param(name), b.get_param(name))
    # a pickled copy (nlp.pipe in several processes) annotates; it cannot train
    import pickle

    copy = pickle.loads(pickle.dumps(loaded.get_pipe("mrc_auxiliary")))
    assert copy(loaded.make_doc("x")).text == "x"
    with pytest.raises(ValueError, match="pickled without its pipeline"):
        copy.update(train_examples)
    # the component adds nothing at inference: without it, the same entities
    loaded.remove_pipe("mrc_auxiliary")
    assert [[(e.start, e.end, e.label_) for e in doc.ents] for doc in loaded.pipe(texts)] == tagged

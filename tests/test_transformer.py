"""configs/cfa_trf.cfg with a tiny local BERT in place of BioBERT."""
import os

import numpy
import pytest
import spacy
from spacy.util import load_config, load_model_from_config
from thinc.api import Adam

from .conftest import REPO
from .test_cfa_ner import examples, gold_docs
from .tiny_bert import build_tiny_bert

pytest.importorskip("spacy_transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def test_trf_config_trains_and_round_trips(tmp_path, syntax_nlp):
    bert = build_tiny_bert(tmp_path / "tiny-bert")
    config = load_config(
        REPO / "configs" / "cfa_trf.cfg",
        overrides={"components.transformer.model.name": str(bert), "bioner.syntax": "dep"},
    )
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    train_examples = examples(gold_docs(syntax_nlp))
    nlp.initialize(lambda: train_examples)
    ner = nlp.get_pipe("cfa_ner")
    assert ner.model.get_ref("attention").get_dim("nI") == 32  # d1 read off the transformer
    optimizer = Adam(0.001)  # the config's warmup schedule only moves inside `spacy train`
    losses = []
    for _ in range(25):
        step = {}
        nlp.update(train_examples, sgd=optimizer, losses=step)
        losses.append(step["cfa_ner"])
    assert losses[-1] < losses[0] / 2
    docs = list(nlp.pipe(eg.predicted for eg in train_examples))
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    again = list(loaded.pipe(eg.predicted for eg in train_examples))
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in docs] == [
        [(e.start, e.end, e.label_) for e in d.ents] for d in again
    ]
    a = nlp.get_pipe("cfa_ner").predict([eg.predicted for eg in train_examples])
    b = loaded.get_pipe("cfa_ner").predict([eg.predicted for eg in train_examples])
    numpy.testing.assert_allclose(a[0], b[0], rtol=1e-5, atol=1e-6)

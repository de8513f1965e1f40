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


def test_dataset_tags_are_added_word_pieces_of_the_transformer(tmp_path, syntax_nlp):
    """configs/cfa_mtm_trf.cfg: the tags are one special token each inside the
    transformer input, change every token's encoding, and survive saving."""
    from spacy.tokens import Doc

    from .test_multitask import style_docs

    bert = build_tiny_bert(tmp_path / "tiny-bert")
    config = load_config(
        REPO / "configs" / "cfa_mtm_trf.cfg",
        overrides={"components.cfa_ner.model.tok2vec.tok2vec.name": str(bert)},
    )
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    train_examples = examples(style_docs(syntax_nlp))
    nlp.initialize(lambda: train_examples)
    ner = nlp.get_pipe("cfa_ner")
    trf = next(n for n in ner.model.walk() if type(n).__name__ == "TransformerModel")
    assert trf.tokenizer.tokenize("<full> fever </head>") == ["<full>", "fever", "</head>"]
    assert trf.transformer.get_input_embeddings().weight.shape[0] == len(trf.tokenizer)

    def middle(dataset):
        doc = Doc(nlp.vocab, words=["fever"] * 31)
        doc._.dataset = dataset
        return ner.model.get_ref("tok2vec").predict([doc])[0][15]

    assert not numpy.allclose(middle("full"), middle("head"))
    optimizer = Adam(0.001)
    for _ in range(3):
        nlp.update(train_examples, sgd=optimizer)
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    docs = [eg.predicted for eg in train_examples]
    a = ner.predict(docs)
    b = loaded.get_pipe("cfa_ner").predict(docs)
    for x, y in zip(a, b):
        numpy.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    tagged = list(loaded.pipe(docs))
    assert all(d.text == eg.predicted.text for d, eg in zip(tagged, train_examples))

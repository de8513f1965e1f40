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


def test_grid_trf_config_reads_a_sentence_longer_than_the_window(tmp_path):
    """configs/grid_trf.cfg over the tiny BERT with a window of 8 word pieces
    (stride 6): a 19-word sentence is read in overlapping windows, every word
    gets a vector, the grid learns an entity at the sentence's end, and the
    pipeline round-trips with the same predictions."""
    from .test_grid_ner import examples_of, gold_doc

    bert = build_tiny_bert(tmp_path / "tiny-bert")
    config = load_config(REPO / "configs" / "grid_trf.cfg", overrides={
        "components.transformer.model.name": str(bert),
        "components.transformer.model.get_spans.window": 8,
        "components.transformer.model.get_spans.stride": 6,
        "components.grid_ner.model.hidden": 32,
        "components.grid_ner.model.channels": 16,
        "components.grid_ner.model.dropout": 0.0,
        "system.gpu_allocator": None,
        # a plain Adam(0.003) below, not the config's 5e-5 schedule: at the
        # config's 20 x scale the grid would step at 0.06 and not settle
        "components.grid_ner.learn_rate_scale": 1.0,
        # no dropout inside BERT either, so training sees what prediction sees
        "components.transformer.model.transformer_config.hidden_dropout_prob": 0.0,
        "components.transformer.model.transformer_config.attention_probs_dropout_prob": 0.0,
    })
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    assert config["components"]["grid_ner"]["model"]["hidden"] == 32
    long_words = ("The patients of the second group were given high doses of morphine and "
                  "then developed acute renal failure .").split()
    sentences = [
        (long_words, [([(11, 12)], "Chemical"), ([(15, 18)], "Disease")]),
        ("Treatment with cisplatin caused renal failure .".split(), [([(2, 3)], "Chemical"), ([(4, 6)], "Disease")]),
        ("No headache was seen .".split(), [([(1, 2)], "Disease")]),
    ]
    examples = examples_of(nlp, [gold_doc(nlp, words, ents) for words, ents in sentences])
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: examples)
    # every word of the long sentence has its own (non-zero) transformer vector
    doc = nlp.get_pipe("transformer")(nlp.make_doc(" ".join(long_words)))
    assert doc._.trf_data.tensors[0].shape[0] > 1  # more than one window of word pieces
    vectors = nlp.get_pipe("grid_ner").model.get_ref("tok2vec").predict([doc])[0]
    assert vectors.shape[0] == len(long_words) and (abs(vectors).sum(axis=1) > 0).all()
    optimizer = Adam(0.003)
    for _ in range(200):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    predicted = [nlp(" ".join(words)) for words, _ in sentences]
    assert [(e.start, e.end, e.label_) for e in predicted[0].ents] == [(11, 12, "Chemical"), (15, 18, "Disease")]
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    again = [loaded(" ".join(words)) for words, _ in sentences]
    assert [[(e.start, e.end, e.label_) for e in d.ents] for d in predicted] == [
        [(e.start, e.end, e.label_) for e in d.ents] for d in again]

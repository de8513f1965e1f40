"""Fully shared multi-task learning: tag variants, datasets known to cfa_ner,
the tag choosing the annotation style, restricted decoding and loss, the
"all" mode, per-dataset scoring and the multi-corpus reader."""
import json

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Adam, Config

from bioner_spacy.corpus.readers import corpus_shares, create_multi_corpus, without_entities
from bioner_spacy.ml.multitask.dataset_tags import tag_words, tagged_doc
from bioner_spacy.scoring import scores_by_dataset
from bioner_spacy.syntax.pipeline import annotate

from .test_cfa_ner import SENTENCES

MTM_MODEL = """
[model]
@architectures = "bioner.CFATagger.v1"
syntax = "dep"
[model.tok2vec]
@architectures = "bioner.DatasetTagTok2Vec.v1"
tags = "DN"
[model.tok2vec.tok2vec]
@architectures = "spacy.Tok2Vec.v2"
[model.tok2vec.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 32
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [1000, 200, 200, 200]
include_static_vectors = false
[model.tok2vec.tok2vec.encode]
@architectures = "spacy.TorchBiLSTMEncoder.v1"
width = 32
depth = 1
dropout = 0.0
"""


def test_type_name_variants():
    # seed 000's four type names: corpora of one kind share their tag
    assert tag_words("linnaeus", "TN", ["Species"]) == (["<species>"], ["</species>"])
    assert tag_words("BioNLP11ID-species", "TN", ["Organism"]) == (["<species>"], ["</species>"])
    assert tag_words("BC2GM", "TN", ["GENE"]) == tag_words("Ex-PTM", "TN", ["Protein"]) == (
        ["<gene/protein>"], ["</gene/protein>"])
    assert tag_words("BC5CDR", "TN", ["Disease", "Chemical"]) == (["<chemical+disease>"], ["</chemical+disease>"])
    assert tag_words("JNLPBA", "TN", ["DNA", "RNA", "cell_line", "protein"]) == (
        ["<cell_line+gene/protein>"], ["</cell_line+gene/protein>"])  # a type outside the four keeps its label
    assert tag_words("linnaeus", "TN+DN", ["Species"]) == (
        ["<species>", "<linnaeus>"], ["</linnaeus>", "</species>"])
    with pytest.raises(ValueError, match="entity types of dataset 'linnaeus'"):
        tag_words("linnaeus", "TN", None)
    assert tag_words("empty", "TN", []) == (["<O>"], ["</O>"])  # a corpus without entities


def test_tagged_doc_with_type_names():
    vocab = spacy.blank("en").vocab
    doc = Doc(vocab, words=["a", "b"])
    doc._.dataset = "NCBI-disease"
    tagged, before, after = tagged_doc(doc, "TN+DN", {"NCBI-disease": ["Disease"]})
    assert [t.text for t in tagged] == ["<disease>", "<NCBI-disease>", "a", "b", "</NCBI-disease>", "</disease>"]
    assert (before, after) == (2, 2)


def style_docs(syntax_nlp):
    """Two corpora of one type, two annotation styles: "full" marks whole
    disease mentions, "head" only their last word. Only a tag can tell the
    model which style to follow."""
    docs = []
    for dataset in ("full", "head"):
        for text, ents in SENTENCES:
            words = text.split()
            tags = ["O"] * len(words)
            for start, end, label in ents:
                if label != "Disease":
                    continue
                if dataset == "head":
                    start = end - 1
                tags[start] = "B-Disease"
                for i in range(start + 1, end):
                    tags[i] = "I-Disease"
            doc = Doc(syntax_nlp.vocab, words=words, ents=tags)
            doc._.dataset = dataset
            docs.append(doc)
    return list(annotate(syntax_nlp, docs))


def train_mtm(syntax_nlp, docs, tags="DN", steps=100, **config):
    pytest.importorskip("torch")
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    model = Config().from_str(MTM_MODEL)["model"]
    model["tok2vec"]["tags"] = tags
    nlp.add_pipe("cfa_ner", config={"model": model, **config})
    egs = [Example(without_entities(doc), doc) for doc in docs]
    optimizer = Adam(0.01)
    nlp.initialize(lambda: egs, sgd=optimizer)
    for _ in range(steps):
        nlp.update(egs, sgd=optimizer, drop=0.0)
    return nlp, egs


@pytest.fixture(scope="module")
def style_model(syntax_nlp):
    return train_mtm(syntax_nlp, style_docs(syntax_nlp))


def parsed(nlp, syntax_nlp, text, dataset=None):
    (doc,) = annotate(syntax_nlp, [Doc(nlp.vocab, words=text.split())])
    doc._.dataset = dataset
    return doc


def test_the_tag_picks_the_annotation_style(style_model, syntax_nlp):
    nlp, egs = style_model
    assert nlp.get_pipe("cfa_ner").datasets == {"full": ["Disease"], "head": ["Disease"]}
    scores = nlp.evaluate(egs)
    assert scores["seqeval_per_dataset"]["full"]["f"] == 1.0
    assert scores["seqeval_per_dataset"]["head"]["f"] == 1.0
    assert scores["seqeval_macro_f"] == 1.0
    text = "Treatment with cisplatin caused renal failure ."
    full = nlp(parsed(nlp, syntax_nlp, text, "full"))
    head = nlp(parsed(nlp, syntax_nlp, text, "head"))
    assert [e.text for e in full.ents] == ["renal failure"]
    assert [e.text for e in head.ents] == ["failure"]
    assert full._.dataset == "full" and full.text == text + " "


def test_unknown_and_missing_dataset_errors(style_model, syntax_nlp):
    nlp, _ = style_model
    with pytest.raises(ValueError, match=r"unknown dataset tag 'BC2GM'.*full, head"):
        nlp(parsed(nlp, syntax_nlp, "No headache .", "BC2GM"))
    with pytest.raises(ValueError, match=r"no dataset and the component no default.*full, head"):
        nlp(parsed(nlp, syntax_nlp, "No headache ."))


def test_default_dataset_set_when_loading(style_model, syntax_nlp, tmp_path):
    nlp, _ = style_model
    nlp.to_disk(tmp_path / "mtm")
    loaded = spacy.load(tmp_path / "mtm", config={"components": {"cfa_ner": {"dataset": "head"}}})
    assert loaded.get_pipe("cfa_ner").datasets == nlp.get_pipe("cfa_ner").datasets
    doc = loaded(parsed(loaded, syntax_nlp, "Treatment with cisplatin caused renal failure ."))
    assert doc._.dataset == "head" and [e.text for e in doc.ents] == ["failure"]


def test_all_mode_writes_every_tag_into_spans(style_model, syntax_nlp):
    nlp, _ = style_model
    doc = nlp(parsed(nlp, syntax_nlp, "Treatment with cisplatin caused renal failure .", "all"))
    found = sorted((s.text, s.label_, s._.dataset) for s in doc.spans["bioner"])
    assert found == [("failure", "Disease", "head"), ("renal failure", "Disease", "full")]
    # no preference: the longer span wins the overlap
    assert [(e.text, e._.dataset) for e in doc.ents] == [("renal failure", None)]
    nlp.get_pipe("cfa_ner").preference = ["head"]
    doc = nlp(parsed(nlp, syntax_nlp, "Treatment with cisplatin caused renal failure .", "all"))
    assert [e.text for e in doc.ents] == ["failure"]
    nlp.get_pipe("cfa_ner").preference = []


def chem_and_disease_docs(syntax_nlp):
    """The same sentences twice: corpus "chem" annotates only chemicals, "dis" only diseases."""
    docs = []
    for dataset, keep in (("chem", "Chemical"), ("dis", "Disease")):
        for text, ents in SENTENCES:
            words = text.split()
            tags = ["O"] * len(words)
            for start, end, label in ents:
                if label == keep:
                    tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
            doc = Doc(syntax_nlp.vocab, words=words, ents=tags)
            doc._.dataset = dataset
            docs.append(doc)
    return list(annotate(syntax_nlp, docs))


def test_decoding_only_emits_the_datasets_types(syntax_nlp):
    """Each tag yields only its own corpus's type."""
    nlp, egs = train_mtm(syntax_nlp, chem_and_disease_docs(syntax_nlp), steps=60)
    ner = nlp.get_pipe("cfa_ner")
    assert ner.datasets == {"chem": ["Chemical"], "dis": ["Disease"]}
    assert ner.tag_mask("chem").tolist() == [tag in ("O", "B-Chemical", "I-Chemical") for tag in ner.tags]
    for dataset, label in (("chem", "Chemical"), ("dis", "Disease")):
        doc = nlp(parsed(nlp, syntax_nlp, "Acute hepatitis followed the use of halothane .", dataset))
        assert {e.label_ for e in doc.ents} == {label}
    assert nlp.evaluate(egs)["seqeval_macro_f"] == 1.0


def test_fully_shared_output_learns_from_the_tag_alone(syntax_nlp):
    """typed = false (seed 000's DM output): one B/I/O label set for both
    corpora, no restriction; only the tag says whether chemicals or diseases
    are wanted, and a span takes its corpus's one type."""
    nlp, egs = train_mtm(syntax_nlp, chem_and_disease_docs(syntax_nlp), steps=80, typed=False, restrict_loss=False)
    ner = nlp.get_pipe("cfa_ner")
    assert ner.tags == ["O", "B-ENTITY", "I-ENTITY"] and ner.labels == ("Chemical", "Disease")
    assert ner.tag_mask("chem").all()
    text = "Acute hepatitis followed the use of halothane ."
    assert [(e.text, e.label_) for e in nlp(parsed(nlp, syntax_nlp, text, "chem")).ents] == [("halothane", "Chemical")]
    assert [(e.text, e.label_) for e in nlp(parsed(nlp, syntax_nlp, text, "dis")).ents] == [("Acute hepatitis", "Disease")]
    assert nlp.evaluate(egs)["seqeval_macro_f"] == 1.0
    doc = nlp(parsed(nlp, syntax_nlp, text, "all"))
    assert sorted((s.text, s.label_, s._.dataset) for s in doc.spans["bioner"]) == [
        ("Acute hepatitis", "Disease", "dis"), ("halothane", "Chemical", "chem")]


def test_evaluate_scores_an_untyped_pipeline_on_spans(syntax_nlp, tmp_path):
    """`evaluate` finds an untyped entity recogniser by itself and refuses to
    score it --typed; on a corpus of several types (gold Chemical and Disease
    in one dataset) it compares spans alone."""
    from .test_cli import cli

    docs = chem_and_disease_docs(syntax_nlp)
    nlp, egs = train_mtm(syntax_nlp, docs, steps=80, typed=False, restrict_loss=False)
    nlp.to_disk(tmp_path / "dm")
    both = []
    for text, ents in SENTENCES:  # one dataset with both types
        words = text.split()
        tags = ["O"] * len(words)
        for start, end, label in ents:
            tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
        both.append(Doc(syntax_nlp.vocab, words=words, ents=tags))
        both[-1]._.dataset = "chem"
    DocBin(store_user_data=True, docs=list(annotate(syntax_nlp, both))).to_disk(tmp_path / "both.spacy")
    refused = cli("evaluate", tmp_path / "dm", tmp_path / "both.spacy", "--stored-syntax", "--typed")
    assert refused.returncode == 1 and "its entity recogniser is untyped" in refused.stderr and "--untyped" in refused.stderr
    cli("evaluate", tmp_path / "dm", tmp_path / "both.spacy", "--stored-syntax", "--output", tmp_path / "s.json", check=True)
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["scoring"] == "untyped" and scores["pipeline_untyped"] is True
    assert scores["seqeval_untyped_datasets"] == ["chem"] and list(scores["seqeval_per_type"]) == ["ENTITY"]


@pytest.mark.parametrize("restrict", [True, False])
def test_restricted_loss_hand_checked(restrict):
    """Union of types {Chemical, Disease}; a "chem" doc, uniform scores over
    the 5 tags. Restricted, the softmax is renormalised over O, B-/I-Chemical
    (1/3 each) and the Disease tags get no gradient."""
    from bioner_spacy.pipeline.cfa_ner import CFANER, DEFAULT_MODEL

    nlp = spacy.blank("en")
    model = spacy.registry.resolve({"model": DEFAULT_MODEL})["model"]
    ner = CFANER(nlp.vocab, model, restrict_loss=restrict)
    ner.cfg = {"labels": ["Chemical", "Disease"], "datasets": {"chem": ["Chemical"], "dis": ["Disease"]}}
    assert ner.tags == ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    gold = Doc(nlp.vocab, words=["aspirin", "helps"], ents=["B-Chemical", "O"])
    gold._.dataset = "chem"
    probs = numpy.full((2, 5), 0.2, dtype="float32")
    loss, (d,) = ner.get_loss([Example(without_entities(gold), gold)], [probs])
    third = 1 / 3
    if restrict:
        expected = [[third, -2 * third, third, 0, 0], [-2 * third, third, third, 0, 0]]
        assert loss == pytest.approx(2 * numpy.log(3), rel=1e-5)
    else:
        expected = [[0.2, -0.8, 0.2, 0.2, 0.2], [-0.8, 0.2, 0.2, 0.2, 0.2]]
        assert loss == pytest.approx(2 * numpy.log(5), rel=1e-5)
    numpy.testing.assert_allclose(d, expected, rtol=1e-5)


def test_type_name_tags_round_trip(syntax_nlp, tmp_path):
    nlp, egs = train_mtm(syntax_nlp, style_docs(syntax_nlp)[:6], tags="TN", steps=5)
    nlp.to_disk(tmp_path / "tn")
    loaded = spacy.load(tmp_path / "tn")
    layer = next(n for n in loaded.get_pipe("cfa_ner").model.walk() if n.name == "dataset_tags")
    assert layer.attrs["tags"] == "TN" and layer.attrs["dataset_types"] == {"full": ["Disease"]}
    docs = [eg.predicted for eg in egs]
    before = nlp.get_pipe("cfa_ner").predict(docs)
    after = loaded.get_pipe("cfa_ner").predict([Doc(loaded.vocab).from_bytes(d.to_bytes()) for d in docs])
    for a, b in zip(before, after):
        numpy.testing.assert_array_equal(a, b)


def test_all_on_a_model_without_datasets(syntax_nlp):
    """A model trained on docs without ``doc._.dataset``: "all" is a plain run."""
    docs = style_docs(syntax_nlp)[:6]
    for doc in docs:
        doc._.dataset = None
    nlp, egs = train_mtm(syntax_nlp, docs, tags="none", steps=60)
    assert nlp.get_pipe("cfa_ner").datasets == {}
    doc = nlp(parsed(nlp, syntax_nlp, "Treatment with cisplatin caused renal failure .", "all"))
    assert [e.text for e in doc.ents] == ["renal failure"]


def test_scores_by_dataset_hand_checked():
    items = [
        ("A", ["B-X", "O"], ["B-X", "O"]),
        ("A", ["B-X", "I-X"], ["B-X", "O"]),  # wrong end: A has P = R = 1/2
        ("B", ["O", "B-Y"], ["O", "B-Y"]),  # B perfect
    ]
    scores = scores_by_dataset(items)
    assert scores["seqeval_per_dataset"]["A"]["f"] == pytest.approx(0.5)
    assert scores["seqeval_per_dataset"]["B"]["f"] == pytest.approx(1.0)
    assert scores["seqeval_macro_f"] == pytest.approx(0.75)
    assert scores["seqeval_f"] == pytest.approx(2 / 3)  # micro: 2 of 3 right, both ways
    # a dataset without gold entities has no F1 to average
    scores = scores_by_dataset(items + [("C", ["O"], ["O"])])
    assert scores["seqeval_macro_f"] == pytest.approx(0.75) and "C" in scores["seqeval_per_dataset"]


def test_untyped_scoring_compares_spans_alone():
    """Gold with two types, predictions with one label: typed, only the span
    whose type happens to match counts; untyped, spans alone (a wrong
    boundary still misses)."""
    items = [("J", ["B-DNA", "I-DNA", "O", "B-RNA"], ["B-ENTITY", "I-ENTITY", "O", "B-ENTITY"]),
             ("J", ["B-DNA", "O", "B-DNA", "I-DNA"], ["B-DNA", "O", "B-ENTITY", "O"])]
    typed = scores_by_dataset(items)
    assert typed["seqeval_f"] == pytest.approx(2 * (1 / 4) * (1 / 4) / (1 / 2))  # 1 of 4 right, both ways
    untyped = scores_by_dataset(items, untyped=True)
    assert untyped["seqeval_p"] == pytest.approx(3 / 4) and untyped["seqeval_r"] == pytest.approx(3 / 4)
    assert list(untyped["seqeval_per_type"]) == ["ENTITY"] and untyped["seqeval_untyped_datasets"] == ["J"]
    # a corpus whose gold and predictions name one type scores the same either way, under its type's name
    single = ("N", ["B-Disease", "I-Disease", "O"], ["B-Disease", "O", "O"])
    both = scores_by_dataset(items + [single], untyped=True)
    assert both["seqeval_untyped_datasets"] == ["J"] and list(both["seqeval_per_dataset"]["N"]["per_type"]) == ["Disease"]
    assert both["seqeval_per_dataset"]["N"] == scores_by_dataset([single])["seqeval_per_dataset"]["N"]
    assert both["seqeval_per_dataset"]["J"] == untyped["seqeval_per_dataset"]["J"]


@pytest.mark.parametrize("typed", [True, False])
def test_an_untyped_model_is_scored_on_spans(typed):
    """cfa_ner with typed = false scores its ENTITY spans against a corpus of
    several types by their spans; a typed one by span and type."""
    from bioner_spacy.pipeline.cfa_ner import CFANER, DEFAULT_MODEL

    nlp = spacy.blank("en")
    ner = CFANER(nlp.vocab, spacy.registry.resolve({"model": DEFAULT_MODEL})["model"], typed=typed)
    words = ["IL-2", "mRNA", "in", "T", "cells"]
    gold = Doc(nlp.vocab, words=words, ents=["B-RNA", "I-RNA", "O", "B-cell_type", "I-cell_type"])
    predicted = Doc(nlp.vocab, words=words, ents=["B-ENTITY", "I-ENTITY", "O", "B-ENTITY", "I-ENTITY"])
    assert ner.score([Example(predicted, gold)])["seqeval_f"] == (0.0 if typed else 1.0)


def test_corpus_shares():
    assert corpus_shares({"a": 900, "b": 100}, 1.0) == {"a": 900, "b": 100}
    flat = corpus_shares({"a": 900, "b": 100}, 1e6)
    assert flat == {"a": 500, "b": 500}
    assert corpus_shares({"a": 900, "b": 100}, 2.0) == {"a": 750, "b": 250}
    with pytest.raises(ValueError, match="temperature"):
        corpus_shares({"a": 1}, 0)


def test_multi_corpus_reader(tmp_path):
    nlp = spacy.blank("en")
    for name, n in (("A", 6), ("B", 2)):
        docbin = DocBin(store_user_data=True)
        for i in range(n):
            doc = Doc(nlp.vocab, words=[f"{name}{i}", "x"], ents=["B-T", "O"])
            doc._.dataset = name
            docbin.add(doc)
        (tmp_path / name).mkdir()
        docbin.to_disk(tmp_path / name / "train.spacy")
    egs = list(create_multi_corpus(tmp_path, ["A", "B"], "train")(nlp))
    assert [eg.reference._.dataset for eg in egs] == ["A"] * 6 + ["B"] * 2
    assert all(eg.predicted._.dataset == eg.reference._.dataset and not eg.predicted.ents for eg in egs)
    assert len(list(create_multi_corpus(tmp_path, ["A", "B"], "train", limit=1)(nlp))) == 2
    flat = list(create_multi_corpus(tmp_path, ["A", "B"], "train", temperature=1e6)(nlp))
    assert [eg.reference._.dataset for eg in flat].count("B") == 4  # each of B's two docs twice
    with pytest.raises(ValueError, match="must be a non-empty list of names, got '\\[A\\]'"):
        create_multi_corpus(tmp_path, "[A]", "train")
    with pytest.raises(FileNotFoundError, match="C/train.spacy"):
        list(create_multi_corpus(tmp_path, ["A", "C"], "train")(nlp))


def test_assemble_and_evaluate_per_dataset(style_model, syntax_nlp, tmp_path):
    """`assemble --dataset` sets the default tag; `evaluate` on two corpora
    scores each with its own tag."""
    from .test_cli import cli

    nlp, egs = style_model
    nlp.to_disk(tmp_path / "trained")
    bad = cli("assemble", tmp_path / "trained", tmp_path / "bad", "--syntax-pipeline", "none", "--dataset", "BC2GM")
    assert bad.returncode == 1 and "unknown dataset tag 'BC2GM'" in bad.stderr and "full, head" in bad.stderr
    assert not (tmp_path / "bad").exists()
    cli("assemble", tmp_path / "trained", tmp_path / "mtm", "--syntax-pipeline", "none", "--dataset", "head", check=True)
    assert spacy.load(tmp_path / "mtm").get_pipe("cfa_ner").default_dataset == "head"
    for dataset in ("full", "head"):
        docbin = DocBin(store_user_data=True, docs=[eg.reference for eg in egs if eg.reference._.dataset == dataset])
        docbin.to_disk(tmp_path / f"{dataset}.spacy")
    result = cli("evaluate", tmp_path / "mtm", tmp_path / "full.spacy", tmp_path / "head.spacy", "--stored-syntax",
                 "--output", tmp_path / "scores.json", check=True)
    assert "[full] P 1.0000 R 1.0000 F1 1.0000" in result.stdout
    assert "[head] P 1.0000 R 1.0000 F1 1.0000" in result.stdout
    assert "macro F1 over 2 datasets: 1.0000" in result.stdout
    assert json.loads((tmp_path / "scores.json").read_text())["scoring"] == "typed"
    # spans alone, on request: each corpus here names one type, so nothing scores differently
    result = cli("evaluate", tmp_path / "mtm", tmp_path / "full.spacy", "--stored-syntax", "--untyped",
                 "--output", tmp_path / "spans.json", check=True)
    assert ("scored on entity spans alone, types not compared, where gold and predictions name several types: "
            "none (no corpus here names more than one type)\n") in result.stdout
    spans = json.loads((tmp_path / "spans.json").read_text())
    assert spans["scoring"] == "untyped" and spans["seqeval_untyped_datasets"] == [] and spans["seqeval_f"] == 1.0

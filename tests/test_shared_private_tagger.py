"""Seed 001's multi-task models inside ``cfa_ner``: FS, SP, ADV and CS-MTM
route each doc to its dataset's output (and private BiLSTM), learn two
annotation styles of the same sentences, round-trip, and keep each
dataset's private BiLSTM to its own docs except where CS-MTM exchanges them."""
import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam, Config

from bioner_spacy.corpus.readers import without_entities
from bioner_spacy.ml.multitask.shared_private import difference_loss
from bioner_spacy.ml.multitask.shared_private_tagger import build_shared_private_tagger

from .test_multitask import parsed, style_docs

pytest.importorskip("torch")

MODEL = """
[model]
@architectures = "bioner.SharedPrivateTagger.v1"
datasets = ["full", "head"]
sharing = "cross"
output = "crf"
adversarial_weight = 0.01
difference_weight = 0.001
width = 32
[model.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 32
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [1000, 200, 200, 200]
include_static_vectors = false
[model.encoders]
@architectures = "bioner.BiLSTMEncoders.v1"
width = 32
depth = 1
dropout = 0.0
"""
TEXT = "Treatment with cisplatin caused renal failure ."


def make_nlp(syntax_nlp, docs, **model_settings):
    nlp = spacy.blank("en", vocab=syntax_nlp.vocab)
    model = Config().from_str(MODEL)["model"]
    model.update(model_settings)
    nlp.add_pipe("cfa_ner", config={"model": model})
    egs = [Example(without_entities(doc), doc) for doc in docs]
    optimizer = Adam(0.01)
    nlp.initialize(lambda: egs, sgd=optimizer)
    return nlp, egs, optimizer


def params(layer):
    """Copies of every weight inside ``layer``, Thinc's and PyTorch's."""
    out = []
    for node in layer.walk():
        out += [node.get_param(n).copy() for n in node.param_names if node.has_param(n)]
        out += [p.detach().cpu().numpy().copy() for shim in node.shims for p in shim._model.parameters()]
    return out


@pytest.fixture(scope="module")
def trained(syntax_nlp):
    """Each sharing mode trained on two annotation styles of the same sentences."""
    models = {}
    for sharing in ("full", "private", "adversarial", "cross"):
        nlp, egs, optimizer = make_nlp(syntax_nlp, style_docs(syntax_nlp), sharing=sharing)
        for _ in range(60):
            losses = nlp.update(egs, sgd=optimizer, drop=0.0)
        models[sharing] = (nlp, egs, losses)
    return models


@pytest.mark.parametrize("sharing", ["full", "private", "adversarial", "cross"])
def test_each_dataset_keeps_its_own_style(trained, syntax_nlp, sharing):
    nlp, egs, _ = trained[sharing]
    scores = nlp.evaluate(egs)
    assert scores["seqeval_per_dataset"]["full"]["f"] == 1.0
    assert scores["seqeval_per_dataset"]["head"]["f"] == 1.0
    assert [e.text for e in nlp(parsed(nlp, syntax_nlp, TEXT, "full")).ents] == ["renal failure"]
    assert [e.text for e in nlp(parsed(nlp, syntax_nlp, TEXT, "head")).ents] == ["failure"]
    doc = nlp(parsed(nlp, syntax_nlp, TEXT, "all"))
    assert sorted((s.text, s._.dataset) for s in doc.spans["bioner"]) == [("failure", "head"), ("renal failure", "full")]


def test_layers_of_each_mode():
    names = {}
    for sharing in ("full", "private", "adversarial", "cross"):
        config = Config().from_str(MODEL.replace('sharing = "cross"', f'sharing = "{sharing}"'))
        names[sharing] = sorted(spacy.registry.resolve(config)["model"].ref_names)
    outputs = ["crf:full", "crf:head", "embed", "output_layer:full", "output_layer:head", "shared"]
    assert names["full"] == outputs
    assert names["private"] == sorted(outputs + ["private:full", "private:head"])
    assert names["adversarial"] == sorted(outputs + ["private:full", "private:head", "discriminator"])
    assert names["cross"] == sorted(outputs + ["private:full", "private:head", "gate:full", "gate:head"])


def test_round_trip_gives_identical_predictions(trained, syntax_nlp, tmp_path):
    nlp, egs, _ = trained["cross"]
    nlp.to_disk(tmp_path / "cs")
    loaded = spacy.load(tmp_path / "cs")
    for dataset in ("full", "head"):
        a = nlp.get_pipe("cfa_ner").predict([parsed(nlp, syntax_nlp, TEXT, dataset)])[0]
        b = loaded.get_pipe("cfa_ner").predict([parsed(loaded, syntax_nlp, TEXT, dataset)])[0]
        numpy.testing.assert_array_equal(a, b)
    crf = loaded.get_pipe("cfa_ner").model.get_ref("crf:head")
    numpy.testing.assert_array_equal(crf.get_param("transitions"),
                                     nlp.get_pipe("cfa_ner").model.get_ref("crf:head").get_param("transitions"))


@pytest.mark.parametrize("sharing,touched", [("private", False), ("adversarial", False), ("cross", True)])
def test_other_datasets_private_bilstm_only_learns_in_cross_sharing(syntax_nlp, sharing, touched):
    docs = style_docs(syntax_nlp)
    nlp, egs, optimizer = make_nlp(syntax_nlp, docs, sharing=sharing)
    model = nlp.get_pipe("cfa_ner").model
    before = {name: params(model.get_ref(name)) for name in ("private:full", "private:head", "output_layer:head")}
    only_full = [eg for eg in egs if eg.reference._.dataset == "full"]
    nlp.update(only_full, sgd=optimizer, drop=0.0)
    changed = {name: any(not numpy.array_equal(a, b) for a, b in zip(old, params(model.get_ref(name))))
               for name, old in before.items()}
    assert changed["private:full"]
    assert changed["private:head"] is touched
    assert not changed["output_layer:head"]


def test_adversarial_losses_hand_checked(syntax_nlp):
    """β L_diff from the model's own S and P; α L_adv = -α Σ log D(s_T)[d]."""
    docs = style_docs(syntax_nlp)[:2] + style_docs(syntax_nlp)[-2:]
    nlp, egs, _ = make_nlp(syntax_nlp, docs, sharing="adversarial", adversarial_weight=0.5, difference_weight=0.25)
    model = nlp.get_pipe("cfa_ner").model
    predicted = [eg.predicted for eg in egs]
    model.begin_update(predicted)
    got = dict(model.attrs["aux_losses"])
    # each BiLSTM over the docs it reads in the model (padding makes a batch's
    # outputs differ slightly from one doc's alone)
    E = model.get_ref("embed").predict(predicted)
    S = model.get_ref("shared").predict(E)
    P = {}
    for name in ("full", "head"):
        rows = [i for i, doc in enumerate(predicted) if doc._.dataset == name]
        P.update(zip(rows, model.get_ref(f"private:{name}").predict([E[i] for i in rows])))
    want_diff, want_adv = 0.0, 0.0
    for i, (doc, s) in enumerate(zip(predicted, S)):
        want_diff += difference_loss(s, P[i])[0]
        probs = model.get_ref("discriminator").predict(s[-1:])
        want_adv -= numpy.log(probs[0, ["full", "head"].index(doc._.dataset)])
    assert got["difference"] == pytest.approx(0.25 * want_diff, rel=1e-4)
    assert got["adversarial"] == pytest.approx(0.5 * want_adv, rel=1e-4)
    losses = nlp.update(egs, sgd=Adam(0.001))
    assert losses["cfa_ner_adversarial"] > 0 and losses["cfa_ner_difference"] > 0


def test_configuration_errors(syntax_nlp):
    embed = spacy.registry.resolve(Config().from_str(MODEL))["model"].get_ref("embed")
    maker = spacy.registry.architectures.get("bioner.BiLSTMEncoders.v1")(32)
    with pytest.raises(ValueError, match="two datasets.*got 3"):
        build_shared_private_tagger(embed, maker, ["a", "b", "c"], sharing="cross", width=32)
    with pytest.raises(ValueError, match="Unknown sharing 'shared'"):
        build_shared_private_tagger(embed, maker, ["a", "b"], sharing="shared", width=32)
    with pytest.raises(ValueError, match="distinct names"):
        build_shared_private_tagger(embed, maker, ["a", "a"], sharing="full", width=32)
    with pytest.raises(ValueError, match=r"outputs for the datasets \['BC2GM', 'full'\].*\['full', 'head'\]"):
        make_nlp(syntax_nlp, style_docs(syntax_nlp), datasets=["full", "BC2GM"])


def test_a_doc_of_another_dataset_is_refused(trained, syntax_nlp):
    nlp, _, _ = trained["full"]
    with pytest.raises(ValueError, match=r"unknown dataset tag 'BC2GM'.*full, head"):
        nlp(parsed(nlp, syntax_nlp, TEXT, "BC2GM"))


def test_reported_losses(trained):
    _, _, losses = trained["adversarial"]
    assert set(losses) == {"cfa_ner", "cfa_ner_adversarial", "cfa_ner_difference"}
    _, _, losses = trained["cross"]
    assert set(losses) == {"cfa_ner"}


def test_multi_output_model_without_encoders(syntax_nlp):
    """Seed 004's MO-MTM shape: the embedding layer shared, one softmax per
    dataset, no BiLSTM (encoders = null); other sharings need the encoders."""
    nlp, egs, optimizer = make_nlp(syntax_nlp, style_docs(syntax_nlp), sharing="full", output="softmax", encoders=None)
    model = nlp.get_pipe("cfa_ner").model
    assert model.get_ref("shared").name == "noop" and model.get_ref("output_layer:head").name == "softmax"
    assert not nlp.get_pipe("cfa_ner").uses_crf
    for _ in range(80):
        nlp.update(egs, sgd=optimizer, drop=0.0)
    # hash embeddings alone see no context: each style is learned word by word
    assert [e.text for e in nlp(parsed(nlp, syntax_nlp, TEXT, "head")).ents] == ["failure"]
    with pytest.raises(ValueError, match="sharing 'cross' needs encoders"):
        make_nlp(syntax_nlp, style_docs(syntax_nlp), sharing="cross", encoders=None)

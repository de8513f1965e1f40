"""Seed 000's baselines for attending over syntax, KVMN and two-way
attention, against their equations (written out in each module) on the
paper's example sentence, and their backward passes against finite
differences."""
import numpy
import pytest

from bioner_spacy.ml.attention.cfa import set_syntax_labels
from bioner_spacy.ml.attention.context_memory import word_rows
from bioner_spacy.ml.attention.kvmn import KeyValueMemory
from bioner_spacy.ml.attention.twa import TwoWayAttention

from .gradients import numeric_gradient

D1, ROWS = 6, 7
LAYERS = {"kvmn": KeyValueMemory, "twa": TwoWayAttention}


def make(kind, doc):
    model = LAYERS[kind](D1, "dep", max_context=0, rows=ROWS)
    set_syntax_labels(model, ["amod", "root", "det", "nsubj", "cop", "advmod"])
    model.initialize()
    rng = numpy.random.default_rng(0)
    for name in ("W", "L"):
        model.set_param(name, rng.normal(size=model.get_param(name).shape).astype("float32"))
    H = rng.normal(size=(len(doc), D1)).astype("float32")
    return model, H


def softmax(x):
    e = numpy.exp(x - x.max())
    return e / e.sum()


def congenital_context(model, doc):
    """Token 6, "congenital": context words [congenital (6), dystrophy (8)], labels [amod, root]."""
    rows = word_rows([doc], ROWS)
    W, L, labels = model.get_param("W"), model.get_param("L"), model.attrs["labels"]
    return [W[rows[6]], W[rows[8]]], [L[labels.index("amod") + 1], L[labels.index("root") + 1]]


def test_kvmn_matches_its_equations(paper_doc_stanford):
    model, H = make("kvmn", paper_doc_stanford)
    (O,) = model.predict(([paper_doc_stanford], [H]))
    assert O.shape == (9, 2 * D1)
    keys, values = congenital_context(model, paper_doc_stanford)
    p = softmax(numpy.array([H[6] @ k for k in keys]))  # p_ij = softmax(h_i . k_ij)
    expected = numpy.concatenate([p[0] * values[0] + p[1] * values[1], H[6]])  # o_i = [sum p_ij v_ij ; h_i]
    numpy.testing.assert_allclose(O[6], expected, rtol=1e-4, atol=1e-5)


def test_twa_matches_its_equations(paper_doc_stanford):
    model, H = make("twa", paper_doc_stanford)
    (O,) = model.predict(([paper_doc_stanford], [H]))
    assert O.shape == (9, 3 * D1)
    words, labels = congenital_context(model, paper_doc_stanford)
    a_c = softmax(numpy.array([H[6] @ c for c in words]))
    a_g = softmax(numpy.array([H[6] @ g for g in labels]))
    expected = numpy.concatenate([a_c[0] * words[0] + a_c[1] * words[1], a_g[0] * labels[0] + a_g[1] * labels[1], H[6]])
    numpy.testing.assert_allclose(O[6], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["kvmn", "twa"])
def test_gradients_match_finite_differences(paper_doc_stanford, kind):
    model, H = make(kind, paper_doc_stanford)
    model.set_param("W", model.get_param("W").astype("float64"))
    model.set_param("L", model.get_param("L").astype("float64"))
    H = H.astype("float64")
    dO = numpy.random.default_rng(1).normal(size=(9, model.get_dim("nO")))
    docs = [paper_doc_stanford]

    def loss():
        (O,) = model.predict((docs, [H]))
        return float((O * dO).sum())

    for name in ("W", "L"):
        model.set_grad(name, numpy.zeros_like(model.get_param(name)))
    _, backprop = model.begin_update((docs, [H]))
    _, (dH,) = backprop([dO])
    numpy.testing.assert_allclose(dH, numeric_gradient(loss, H), rtol=1e-4, atol=1e-6)
    for name in ("W", "L"):
        numpy.testing.assert_allclose(model.get_grad(name), numeric_gradient(loss, model.get_param(name)),
                                      rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("kind", ["kvmn", "twa"])
def test_padding_does_not_leak(paper_doc_stanford, kind):
    """A token's output depends only on its own context words and h_i."""
    model, H = make(kind, paper_doc_stanford)
    (O1,) = model.predict(([paper_doc_stanford], [H]))
    H2 = H.copy()
    H2[0] += 5.0  # "This" (0) only changes its own query
    (O2,) = model.predict(([paper_doc_stanford], [H2]))
    numpy.testing.assert_allclose(numpy.delete(O1, 0, axis=0), numpy.delete(O2, 0, axis=0), rtol=1e-6)
    assert not numpy.allclose(O1[0], O2[0])


@pytest.mark.parametrize("kind", ["kvmn", "twa"])
def test_tables_start_random_so_the_head_can_learn(paper_doc_stanford, kind):
    """A zero table would give a_i = 0 for ever behind a zero-initialised
    softmax: the head would train exactly as the plain one."""
    model = LAYERS[kind](D1, "dep", max_context=0, rows=ROWS)
    set_syntax_labels(model, ["amod", "root"])
    model.initialize()
    for name in ("W", "L"):
        table = model.get_param(name)
        assert table.std() == pytest.approx(1 / numpy.sqrt(D1), rel=0.5)
    H = numpy.random.default_rng(4).normal(size=(9, D1)).astype("float32")
    (O,) = model.predict(([paper_doc_stanford], [H]))
    assert numpy.abs(O[:, :-D1]).min() > 0  # every attended part is non-zero

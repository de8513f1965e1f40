"""The CFA layer against the paper's equations and finite differences."""
import numpy
import pytest

from bioner_spacy.ml.attention.cfa import CombinedFeatureAttention, set_syntax_labels

D1, D2 = 6, 4


@pytest.fixture
def layer(paper_doc_stanford):
    model = CombinedFeatureAttention(D1, D2, "dep", max_context=0)
    set_syntax_labels(model, ["amod", "root", "det", "nsubj", "cop", "advmod"])
    model.initialize()
    rng = numpy.random.default_rng(0)
    for name in ("W_s", "W_l", "b", "L"):
        model.set_param(name, rng.normal(size=model.get_param(name).shape).astype("float32"))
    H = rng.normal(size=(len(paper_doc_stanford), D1)).astype("float32")
    return model, [paper_doc_stanford], [H]


def test_output_matches_equations_for_congenital(layer):
    model, docs, (H,) = layer
    (O,) = model.predict((docs, [H]))
    assert O.shape == (9, 2 * D1)
    W_s, W_l, b, L = (model.get_param(n) for n in ("W_s", "W_l", "b", "L"))
    labels = model.attrs["labels"]
    # congenital (6): context [congenital, dystrophy] with labels [amod, root]
    rows = [L[labels.index("amod") + 1], L[labels.index("root") + 1]]
    e = [W_s @ H[k] + W_l @ row + b for k, row in zip([6, 8], rows)]  # e_ij = W_e[h_k; l_ij] + b
    s = numpy.array([H[6] @ e_j / numpy.sqrt(D1) for e_j in e])
    a = numpy.exp(s - s.max()) / numpy.exp(s - s.max()).sum()
    expected = numpy.concatenate([a[0] * e[0] + a[1] * e[1], H[6]])  # o_i = [sum a_ij e_ij ; h_i]
    numpy.testing.assert_allclose(O[6], expected, rtol=1e-4, atol=1e-5)


def test_unseen_labels_share_the_reserved_row(paper_doc_stanford):
    model = CombinedFeatureAttention(D1, D2, "dep", max_context=0)
    set_syntax_labels(model, ["amod"])  # "root", "det", ... are unseen: row 0
    model.initialize()
    assert model.get_param("L").shape == (2, D2)
    H = numpy.random.default_rng(3).normal(size=(9, D1)).astype("float32")
    (O1,) = model.predict(([paper_doc_stanford], [H]))
    L = model.get_param("L").copy()
    L[0] += 1.0  # moving the unknown row changes tokens whose context has unseen labels only
    model.set_param("L", L)
    (O2,) = model.predict(([paper_doc_stanford], [H]))
    assert not numpy.allclose(O1[0], O2[0])  # "This": [This/det, case/nsubj]


def test_gradients_match_finite_differences(layer):
    model, docs, (H,) = layer
    rng = numpy.random.default_rng(1)
    dO = rng.normal(size=(9, 2 * D1)).astype("float32")

    def loss_of(H_, params=None):
        if params:
            for name, value in params.items():
                model.set_param(name, value)
        (O,) = model.predict((docs, [H_]))
        return float((O.astype("float64") * dO).sum())

    for name in ("W_s", "W_l", "b", "L"):
        model.set_grad(name, numpy.zeros_like(model.get_param(name)))
    (O,), backprop = model.begin_update((docs, [H]))
    _, (dH,) = backprop([dO])
    eps = 1e-2
    H64 = H.astype("float64")
    for i, j in [(6, 0), (8, 3), (2, 5)]:
        plus, minus = H64.copy(), H64.copy()
        plus[i, j] += eps
        minus[i, j] -= eps
        numeric = (loss_of(plus.astype("float32")) - loss_of(minus.astype("float32"))) / (2 * eps)
        assert dH[i, j] == pytest.approx(numeric, rel=2e-2, abs=2e-2)
    for name, index in [("W_s", (1, 2)), ("W_l", (0, 3)), ("b", (4,)), ("L", (1, 2))]:
        value = model.get_param(name).copy()
        analytic = model.get_grad(name)[index]
        plus, minus = value.copy(), value.copy()
        plus[index] += eps
        minus[index] -= eps
        numeric = (loss_of(H, {name: plus}) - loss_of(H, {name: minus})) / (2 * eps)
        model.set_param(name, value)
        assert analytic == pytest.approx(numeric, rel=2e-2, abs=2e-2), name


def test_padding_does_not_leak(paper_doc_stanford):
    """A token's output depends only on its own context words."""
    model = CombinedFeatureAttention(D1, D2, "dep", max_context=0)
    set_syntax_labels(model, ["amod", "root"])
    model.initialize()
    H = numpy.random.default_rng(2).normal(size=(9, D1)).astype("float32")
    (O1,) = model.predict(([paper_doc_stanford], [H]))
    H2 = H.copy()
    H2[0] += 5.0  # "This" is not in the context of "myotonic" (7): [myotonic, dystrophy]
    (O2,) = model.predict(([paper_doc_stanford], [H2]))
    numpy.testing.assert_allclose(O1[7], O2[7], rtol=1e-5)
    assert not numpy.allclose(O1[1], O2[1])  # "case" governs "This"

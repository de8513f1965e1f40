"""The layers of seed 001's multi-task models against finite differences:
the difference loss and gradient reversal (ADV-MTM), the gated interaction
unit (CS-MTM)."""
import numpy
import pytest

from bioner_spacy.ml.multitask.cross_sharing import GatedInteraction
from bioner_spacy.ml.multitask.shared_private import GradientReversal, difference_loss

from .gradients import numeric_gradient

def test_difference_loss_by_hand_and_by_finite_differences():
    # orthogonal columns: S^T P = 0, nothing to push apart
    S = numpy.array([[1.0, 0.0], [0.0, 0.0]])
    P = numpy.array([[0.0], [2.0]])
    assert difference_loss(S, P)[0] == 0.0
    # S^T P = [[2], [0]] -> ||.||^2 = 4
    assert difference_loss(S, numpy.array([[2.0], [0.0]]))[0] == 4.0
    rng = numpy.random.default_rng(0)
    S, P = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    _, dS, dP = difference_loss(S, P)
    numpy.testing.assert_allclose(dS, numeric_gradient(lambda: difference_loss(S, P)[0], S), rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(dP, numeric_gradient(lambda: difference_loss(S, P)[0], P), rtol=1e-5, atol=1e-6)


def test_gradient_reversal_is_identity_forward_and_negated_backward():
    rng = numpy.random.default_rng(1)
    X, R = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    layer = GradientReversal(weight=0.5)
    Y, backprop = layer(X, is_train=True)
    assert Y is X
    # the gradient of sum(Y * R) with respect to X is R; reversed and scaled: -0.5 R
    through = numeric_gradient(lambda: float((layer.predict(X) * R).sum()), X)
    numpy.testing.assert_allclose(backprop(R), -0.5 * through, rtol=1e-6)


def test_gated_interaction_by_hand():
    layer = GatedInteraction(2)
    layer.initialize()
    layer.set_param("W", numpy.zeros((2, 2), dtype="float32"))
    layer.set_param("b", numpy.array([0.0, 100.0], dtype="float32"))
    # σ(0) = 0.5 halves the first feature; σ(100) = 1 keeps the second
    G = layer.predict((numpy.array([[4.0, 3.0]], dtype="float32"), numpy.array([[7.0, -7.0]], dtype="float32")))
    numpy.testing.assert_allclose(G, [[2.0, 3.0]])


def test_gated_interaction_gradients_match_finite_differences():
    rng = numpy.random.default_rng(2)
    layer = GatedInteraction()
    P_self, P_other, R = rng.normal(size=(5, 3)), rng.normal(size=(5, 4)), rng.normal(size=(5, 3))
    layer.initialize(X=(P_self, P_other))
    assert layer.get_param("W").shape == (3, 4)
    W = layer.get_param("W").astype("float64")
    b = rng.normal(size=3)
    layer.set_param("W", W)
    layer.set_param("b", b)

    def loss():
        return float((layer.predict((P_self, P_other)) * R).sum())

    _, backprop = layer.begin_update((P_self, P_other))
    d_self, d_other = backprop(R)
    numpy.testing.assert_allclose(d_self, numeric_gradient(loss, P_self), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(d_other, numeric_gradient(loss, P_other), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(layer.get_grad("W"), numeric_gradient(loss, layer.get_param("W")), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(layer.get_grad("b"), numeric_gradient(loss, layer.get_param("b")), rtol=1e-5, atol=1e-7)


def test_gated_interaction_needs_its_widths():
    with pytest.raises(ValueError):
        GatedInteraction().initialize()

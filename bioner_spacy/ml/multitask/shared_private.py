"""The two extra losses of seed 001's adversarial shared-private model
(ADV-MTM, after Liu et al. 2017), as pieces a multi-task encoder composes.

Difference loss (seed 001, Eq. 14), for the shared features S (n x d_s) and
one dataset's private features P (n x d_p) of the same n tokens:

    L_diff = || S^T P ||_F^2
    d L_diff / d S = 2 P (S^T P)^T,    d L_diff / d P = 2 S (S^T P)

Gradient reversal (Ganin and Lempitsky 2015), in front of the dataset
discriminator D(s) = softmax(W s + b) (Eq. 15): the identity going forward,
-weight times the gradient going back, so that minimising the
discriminator's loss trains the shared encoder to confuse it (Eq. 16).
"""
from typing import Tuple

from thinc.api import Model
from thinc.types import Floats2d


def difference_loss(S: Floats2d, P: Floats2d) -> Tuple[float, Floats2d, Floats2d]:
    """L_diff of shared S and private P (rows: the same tokens), with its
    gradients with respect to S and P."""
    overlap = S.T @ P  # d_s x d_p
    return float((overlap ** 2).sum()), 2 * P @ overlap.T, 2 * S @ overlap


def GradientReversal(weight: float = 1.0) -> Model[Floats2d, Floats2d]:
    """Identity forward; the gradient times -weight backward."""
    return Model("gradient_reversal", reversal_forward, attrs={"weight": weight})


def reversal_forward(model: Model, X: Floats2d, is_train: bool):
    weight = model.attrs["weight"]

    def backprop(dY: Floats2d) -> Floats2d:
        return -weight * dY

    return X, backprop

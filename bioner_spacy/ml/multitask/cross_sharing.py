"""The gated interaction unit of seed 001's cross-sharing multi-task model
(CS-MTM, Eqs. 18-19): the private features of one dataset's BiLSTM, P_self,
gated by those of the other dataset's, P_other, for the same tokens:

    G = P_self ⊙ σ(W P_other + b)

and the gradients its backward pass returns, with Z = P_other W^T + b
(rows are tokens):

    dP_self  = dG ⊙ σ(Z)
    dZ       = dG ⊙ P_self ⊙ σ(Z) (1 - σ(Z))
    dW = dZ^T P_other,  db = Σ_rows dZ,  dP_other = dZ W
"""
from typing import Optional, Tuple

from thinc.api import Model, glorot_uniform_init
from thinc.types import Floats2d


def GatedInteraction(width: Optional[int] = None) -> Model[Tuple[Floats2d, Floats2d], Floats2d]:
    """W_{other -> self} (width x width) and b: one per direction, so a
    two-dataset model has two of these units."""
    return Model("gated_interaction", gate_forward, init=gate_init, dims={"nO": width, "nI": width},
                 params={"W": None, "b": None})


def gate_init(model: Model, X=None, Y=None) -> Model:
    if X is not None and not model.has_dim("nI"):
        model.set_dim("nI", X[1].shape[1])
        model.set_dim("nO", X[0].shape[1])
    model.set_param("W", glorot_uniform_init(model.ops, (model.get_dim("nO"), model.get_dim("nI"))))
    model.set_param("b", model.ops.alloc1f(model.get_dim("nO")))
    return model


def gate_forward(model: Model, X: Tuple[Floats2d, Floats2d], is_train: bool):
    P_self, P_other = X
    W, b = model.get_param("W"), model.get_param("b")
    gate = model.ops.sigmoid(P_other @ W.T + b)
    G = P_self * gate

    def backprop(dG: Floats2d) -> Tuple[Floats2d, Floats2d]:
        dZ = dG * P_self * gate * (1 - gate)
        model.inc_grad("W", dZ.T @ P_other)
        model.inc_grad("b", dZ.sum(axis=0))
        return dG * gate, dZ @ W

    return G, backprop

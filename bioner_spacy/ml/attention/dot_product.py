"""One masked dot-product attention step and its backward pass, shared by
CFA and the baselines (KVMN, two-way attention): for each token i with its
context slots j (a mask marks the real ones),

    p_ij  = softmax_j(scale * h_i . k_ij),   out_i = sum_j p_ij v_ij

written over ``ops.xp`` so it runs on numpy and cupy alike.
"""
from typing import Callable, Tuple

from thinc.types import Floats2d, Floats3d


def attend(ops, H: Floats2d, K: Floats3d, V: Floats3d, mask, scale: float = 1.0) -> Tuple[Floats2d, Callable]:
    """out (N, d) from queries H (N, d), keys K and values V (N, m, d) over
    the masked slots; the backward pass maps d out to (dH, dK, dV)."""
    xp = ops.xp
    scores = xp.where(mask, xp.matmul(K, H[:, :, None])[:, :, 0] * scale, -1e9)
    P = ops.softmax(scores, axis=1) * mask
    out = xp.matmul(P[:, None, :], V)[:, 0, :]

    def backprop(d_out: Floats2d) -> Tuple[Floats2d, Floats3d, Floats3d]:
        dV = P[:, :, None] * d_out[:, None, :]
        dP = xp.matmul(V, d_out[:, :, None])[:, :, 0]
        dS = P * (dP - (P * dP).sum(axis=1, keepdims=True)) * scale
        dH = xp.matmul(dS[:, None, :], K)[:, 0, :]
        dK = dS[:, :, None] * H[:, None, :]
        return dH, dK, dV

    return out, backprop

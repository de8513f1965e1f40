"""The output a tagger puts over its per-token features: a softmax over the
tags (decoded by constrained Viterbi over its log-probabilities), or a linear
layer of tag scores with a linear-chain CRF over them (``crf.py``)."""
from typing import Optional, Tuple

from thinc.api import Linear, Model, Softmax_v2

from .crf import CRF

OUTPUTS = ("softmax", "crf")


def output_layers(output: str, nO: Optional[int], nI: Optional[int]) -> Tuple[Model, Optional[Model]]:
    """The per-token layer giving each tag's score, and the CRF (or None)."""
    if output == "softmax":
        return Softmax_v2(nO, nI), None
    if output == "crf":
        return Linear(nO, nI), CRF(nO)
    raise ValueError(f"Unknown output {output!r}: use one of {', '.join(OUTPUTS)}")

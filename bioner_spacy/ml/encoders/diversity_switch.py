"""Switching seed 002's attention-diversity loss off for a while, without
importing torch: a component that sends other inputs through a shared,
prefixed encoder (the MRC auxiliary task) does not add the loss for them.

An encoder takes part by having a boolean ``diversity_on`` attribute
(``prefix_transformer.PrefixedEncoder``); encoders without it are left as
they are, so the switch is harmless over any transformer.
"""
from contextlib import contextmanager


@contextmanager
def without_diversity_loss(model):
    """Inside, the encoders under ``model`` (a Thinc model, read through its
    nodes' shims) that have ``diversity_on`` add no diversity loss."""
    encoders = [shim._model for node in model.walk() for shim in node.shims
                if hasattr(getattr(shim, "_model", None), "diversity_on")]
    for encoder in encoders:
        encoder.diversity_on = False
    try:
        yield
    finally:
        for encoder in encoders:
            encoder.diversity_on = True

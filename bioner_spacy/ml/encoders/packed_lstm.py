"""Inference: spaCy's BiLSTM encoder over each doc alone, in one torch call.

spaCy's ``TorchBiLSTMEncoder`` (Thinc's ``PyTorchLSTM``) pads a batch to its
longest doc and runs torch's LSTM over the padding. Two things follow:

- the backward direction of a shorter doc starts in the padding, so a doc's
  vectors, and so its entities, depend on the batch it is in:
  ``nlp(text)`` and ``nlp.pipe([..., text, ...])`` can disagree;
- the LSTM does the work of batch size x longest doc (in batches of 128
  BC5CDR-chem test sentences, 3.5 times the words there are).

At inference the same LSTM runs over a packed sequence instead
(``torch.nn.utils.rnn.pack_sequence``): each direction reads a doc's own
tokens only, so each doc gets the vectors it gets alone, in any batch, for
the work of its words. Training keeps spaCy's padded pass (its gradients and
dropout are spaCy's). An encoder that is not exactly such an LSTM (any other
layer around it) runs as it is.
"""
from typing import List, Optional

from thinc.api import Model, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import convert_rnn_inputs
from thinc.shims import PyTorchShim
from thinc.types import Floats2d


def packable_lstm(encode: Model) -> Optional[PyTorchShim]:
    """The shim of the torch LSTM that ``encode`` is, when ``encode`` is
    ``with_padded`` wrappers around one Thinc RNN wrapper of a time-major
    ``torch.nn.LSTM`` and nothing else; otherwise None. Needs no torch
    where the encoder is not such a wrapper (the CNN pipelines)."""
    layers = list(encode.walk())
    *wrappers, inner = layers
    if not wrappers or any(not layer.name.startswith("with_padded(") or len(layer.layers) != 1 for layer in wrappers):
        return None
    if inner.layers or inner.attrs.get("convert_inputs") is not convert_rnn_inputs or len(inner.shims) != 1:
        return None
    import torch

    shim = inner.shims[0]
    lstm = getattr(shim, "_model", None)
    if not isinstance(lstm, torch.nn.LSTM) or lstm.batch_first:
        return None
    return shim


def predict_packed(shim: PyTorchShim, X: List[Floats2d], ops) -> List[Floats2d]:
    """The LSTM's outputs for each array of X (one doc's rows), each as if
    run alone: one call over the packed sequences, in eval mode."""
    import torch
    from torch.nn.utils.rnn import pack_sequence, pad_packed_sequence

    lstm = shim._model
    width = lstm.hidden_size * (2 if lstm.bidirectional else 1)
    Y: List[Floats2d] = [ops.alloc2f(0, width) for _ in X]
    filled = [i for i, x in enumerate(X) if len(x)]
    if not filled:
        return Y
    was_training = lstm.training
    lstm.eval()
    try:
        with torch.no_grad(), torch.autocast(device_type="cuda", enabled=shim._mixed_precision):
            packed = pack_sequence([xp2torch(X[i], device=shim.device) for i in filled], enforce_sorted=False)
            padded, lengths = pad_packed_sequence(lstm(packed)[0])  # (T, docs, width), the docs in their order
    finally:
        lstm.train(was_training)
    every = torch2xp(padded.float())
    for column, i in enumerate(filled):
        Y[i] = ops.xp.ascontiguousarray(every[: int(lengths[column]), column])
    return Y


def predict_encoder(encode: Model, X: List[Floats2d]) -> List[Floats2d]:
    """``encode.predict(X)``; for spaCy's BiLSTM encoder, each doc's vectors
    as if it ran alone (``predict_packed``)."""
    shim = packable_lstm(encode)
    if shim is None:
        return encode.predict(X)
    return predict_packed(shim, X, encode.ops)

"""The word-pair grid tagger architecture: encoder -> sentences -> word-pair
grid network (``word_pair_grid.WordPairGrid``) -> relation logits per
sentence (seed 002).

Input: docs. Output: ``(segments, grids)``: ``segments[k]`` is
``(doc index, start, end)`` of one sentence (a token range of that doc) and
``grids[k]`` its (n, n, R) relation logits. Grids are built per sentence,
never per document: a doc's sentences are ``doc.sents`` when it has sentence
boundaries (the syntax pipeline's senter or parser sets them), else the whole doc; a
sentence longer than ``max_length`` words is cut into consecutive pieces of
at most ``max_length`` (an entity crossing a cut cannot be found). Sentences
are padded and batched together up to ``max_cells`` grid cells per batch
(a longer sentence goes alone), which bounds peak memory, and a batch
takes a shorter sentence only while its padded cells stay within
``PADDING_LIMIT`` times its sentences' own cells (a grid's cost grows with
the square of its length: filled greedily, batches of BC5CDR-chem test
sentences computed 1.9 times their cells; ``scripts/grid_padding.py``).
The grid network's BiLSTM reads all the sentences of a forward pass in one
packed call, before they are batched (see ``word_pair_grid``).

``inference_dtype = "bfloat16"`` runs the grid network after its BiLSTM in
bfloat16 when predicting (never in training): on bfloat16 copies of the
weights, made for each call (the trained weights stay float32), with the
layer norm's statistics in float32. On CPUs with AMX or AVX-512 BF16 (Intel
Sapphire Rapids and later) and on GPUs it runs faster; elsewhere it is
slower. The logits come back as float32.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch
from thinc.types import Floats2d

from ..encoders.distinct_tokens import tok2vec_forward

Segment = Tuple[int, int, int]
INFERENCE_DTYPES = ("float32", "bfloat16")


@dataclass(frozen=True)
class RunSettings:
    """Settings of how the grid runs, not of what it learnt: they follow the
    config a pipeline is loaded with (Thinc does not save this object with
    the weights, as it does plain attrs)."""

    max_cells: int
    inference_dtype: str


@registry.architectures("bioner.GridTagger.v1")
def build_grid_tagger(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden: int = 128,
    channels: int = 64,
    distance_width: int = 20,
    region_width: int = 20,
    dilations: Sequence[int] = (1, 2, 3),
    dropout: float = 0.2,
    max_length: int = 256,
    max_cells: int = 65536,
    nO: Optional[int] = None,
    inference_dtype: str = "float32",
) -> Model:
    """tok2vec: the encoder (any spaCy tok2vec, transformer or dataset-tag wrapper).
    hidden: width of the grid's own BiLSTM (d_h); channels: the grid channel size (d_g).
    distance_width, region_width: sizes of the distance and region embeddings.
    dilations: one 3x3 convolution per dilation, their outputs concatenated.
    max_length: longest sentence given one grid; longer ones are cut.
    max_cells: grid cells per padded batch (batch size x length^2).
    nO: number of relations, 2 + number of entity types (set at initialisation).
    inference_dtype: "float32", or "bfloat16" (when predicting; see the module).
    """
    if inference_dtype not in INFERENCE_DTYPES:
        raise ValueError(f"bioner.GridTagger.v1: inference_dtype must be one of {', '.join(INFERENCE_DTYPES)}, "
                         f"not {inference_dtype!r}")
    if max_length < 1 or max_cells < 1:
        raise ValueError(f"bioner.GridTagger.v1: max_length and max_cells must be >= 1, got {max_length}, {max_cells}")
    grid_settings = {
        "hidden": hidden,
        "channels": channels,
        "distance_width": distance_width,
        "region_width": region_width,
        "dilations": list(dilations),
        "dropout": dropout,
    }
    return Model(
        "grid_tagger",
        forward,
        init=init,
        layers=[tok2vec],
        refs={"tok2vec": tok2vec},
        dims={"nI": tok2vec.get_dim("nO") if tok2vec.has_dim("nO") else None, "nO": nO},
        attrs={"max_length": max_length, "grid_settings": grid_settings,
               "run": RunSettings(max_cells, inference_dtype)},
    )


def build_grid(model: Model, nI: int, nO: int) -> None:
    """Create the torch grid network of ``model`` for input width nI and nO
    relations (or resize its output layer). Called at initialisation, and
    before loading weights into a freshly built model."""
    from .word_pair_grid import WordPairGrid

    if model.has_ref("grid"):
        model.get_ref("grid").shims[0]._model.resize_output(nO)
    else:
        network = WordPairGrid(nI, nO, **model.attrs["grid_settings"])
        # the network casts itself when predicting (see the module)
        network.inference_dtype = model.attrs["run"].inference_dtype
        wrapper = PyTorchWrapper_v2(network, convert_inputs=convert_grid_inputs, convert_outputs=convert_grid_outputs)
        model.layers.append(wrapper)
        model.set_ref("grid", wrapper)
    model.set_dim("nI", nI, force=True)
    model.set_dim("nO", nO, force=True)


def convert_grid_inputs(model: Model, words_lengths_groups, is_train: bool):
    import torch

    words, lengths, groups = words_lengths_groups
    Xt = xp2torch(words, requires_grad=is_train, device=model.shims[0].device)
    Lt = torch.as_tensor(numpy.asarray(lengths), dtype=torch.long)
    return ArgsKwargs(args=(Xt, Lt, groups), kwargs={}), lambda d: torch2xp(d.args[0])


def convert_grid_outputs(model: Model, inputs_outputs, is_train: bool):
    """Each group's logits as a float32 array (a bfloat16 prediction's logits
    are cast to float32)."""
    _, Ys = inputs_outputs

    def backprop(dYs) -> ArgsKwargs:
        return ArgsKwargs(args=(Ys,), kwargs={"grad_tensors": tuple(xp2torch(dY, device=Y.device) for Y, dY in zip(Ys, dYs))})

    return [torch2xp(Y.float()) for Y in Ys], backprop  # .float() of a float32 tensor is the tensor itself


def sentence_segments(doc: Doc, max_length: int) -> List[Tuple[int, int]]:
    """Token ranges of the doc's sentences, cut to at most max_length."""
    if not len(doc):
        return []
    if doc.has_annotation("SENT_START") or doc.has_annotation("DEP"):
        sentences = [(s.start, s.end) for s in doc.sents]
    else:
        sentences = [(0, len(doc))]
    return [(s, min(s + max_length, end)) for start, end in sentences for s in range(start, end, max_length)]


PADDING_LIMIT = 1.1


def group_segments(lengths: Sequence[int], max_cells: int, padding_limit: float = PADDING_LIMIT) -> List[List[int]]:
    """Batches of segment indices, longest first: each padded batch within
    max_cells cells (a segment longer than that goes alone) and within
    padding_limit times the cells of its own segments."""
    order = sorted(range(len(lengths)), key=lambda k: -lengths[k])
    groups: List[List[int]] = []
    own = 0
    for k in order:
        if groups:
            padded = (len(groups[-1]) + 1) * lengths[groups[-1][0]] ** 2
            if padded <= max_cells and padded <= padding_limit * (own + lengths[k] ** 2):
                groups[-1].append(k)
                own += lengths[k] ** 2
                continue
        groups.append([k])
        own = lengths[k] ** 2
    return groups


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X)
    if not model.has_dim("nI"):
        if tok2vec.has_dim("nO"):
            model.set_dim("nI", tok2vec.get_dim("nO"))
        elif X:
            model.set_dim("nI", tok2vec.predict(X[:1])[0].shape[1])
        else:
            raise ValueError("grid_tagger: the encoder width is unknown; initialise with sample docs")
    if not model.has_dim("nO"):
        raise ValueError("grid_tagger: the number of relations (nO) is unknown; the component sets it at initialisation")
    build_grid(model, model.get_dim("nI"), model.get_dim("nO"))
    return model


def forward(model: Model, docs: List[Doc], is_train: bool):
    ops = model.ops
    tok2vec, grid = model.get_ref("tok2vec"), model.get_ref("grid")
    H, backprop_tok2vec = tok2vec_forward(tok2vec, docs, is_train)
    segments: List[Segment] = [
        (d, start, end) for d, doc in enumerate(docs) for start, end in sentence_segments(doc, model.attrs["max_length"])
    ]
    if not segments:  # empty docs only
        return ([], []), lambda d_grids: backprop_tok2vec([ops.alloc2f(*h.shape) for h in H])
    lengths = [end - start for _, start, end in segments]
    grids: List = [None] * len(segments)
    groups = group_segments(lengths, model.attrs["run"].max_cells)
    Ys, backprop_grid = grid((ops.flatten([H[d][start:end] for d, start, end in segments]), lengths, groups), is_train)
    for group, Y in zip(groups, Ys):
        for row, k in enumerate(group):
            grids[k] = Y[row, : lengths[k], : lengths[k]]

    def backprop(d_grids: List) -> List[Doc]:
        dYs = []
        for group, Y in zip(groups, Ys):
            dY = ops.alloc4f(*Y.shape)
            for row, k in enumerate(group):
                dY[row, : lengths[k], : lengths[k]] = d_grids[k]
            dYs.append(dY)
        dH = [ops.alloc2f(*h.shape) for h in H]
        for (d, start, end), dwords in zip(segments, ops.unflatten(backprop_grid(dYs), lengths)):
            dH[d][start:end] += dwords
        return backprop_tok2vec(dH)

    return (segments, grids), backprop

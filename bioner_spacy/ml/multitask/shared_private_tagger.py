"""Seed 001's multi-task taggers: one embedding layer and one shared BiLSTM for
every dataset, and per dataset its own output layer (and CRF); the four
designs differ in what feeds that output (seed 001, "Methods"):

    full         FS-MTM   V = S                      (shared BiLSTM only)
    private      SP-MTM   V = P_d ⊕ S                (+ the private BiLSTM of the doc's dataset d)
    adversarial  ADV-MTM  V = P_d ⊕ S, and in training L = L_task + α L_adv + β L_diff
    cross        CS-MTM   V = G_d ⊕ S,  G_d = P_d ⊙ σ(W_{o→d} P_o + b_{o→d})   (Eqs. 18-21)

with E the embedding layer's output for a sentence, S = BiLSTM_shared(E),
P_k = BiLSTM_k(E). For a doc of dataset d only P_d is computed (SP, ADV);
CS-MTM computes both private BiLSTMs and gates the doc's own with the
other's (defined for two datasets, o the one that is not d). ADV-MTM's extra
losses (Eqs. 14-17; ``shared_private.py``):

    L_diff = ||S^T P_d||_F^2 per sentence
    L_adv  = -log D(s_T)[d],  D(s) = softmax(W s + b),  s_T = the last row of S,
             with a gradient reversal layer between S and D: D learns to tell
             the datasets apart, the shared BiLSTM learns to hide which it is.

The datasets are named in the config (``datasets``, the corpora trained on);
a doc is routed by ``doc._.dataset``. Every output layer scores the
component's whole tag set; the component restricts each doc to its own
dataset's types in the loss and in decoding, and trains the doc's own CRF.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from spacy.ml.models.tok2vec import BiLSTMEncoder
from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model, Softmax_v2, chain, noop
from thinc.types import Floats2d

from ..output.layers import output_layers
from .cross_sharing import GatedInteraction
from .shared_private import GradientReversal, difference_loss

SHARING = ("full", "private", "adversarial", "cross")
Encoder = Model[List[Floats2d], List[Floats2d]]


@registry.architectures("bioner.BiLSTMEncoders.v1")
def bilstm_encoders(width: int = 128, depth: int = 1, dropout: float = 0.0) -> Callable[[], Encoder]:
    """A maker of fresh BiLSTMs (spaCy's ``TorchBiLSTMEncoder``: ``width``
    in and out), each with its own initial weights: the shared BiLSTM and
    every private one."""
    return lambda: BiLSTMEncoder(width, depth, dropout)


@registry.architectures("bioner.SharedPrivateTagger.v1")
def build_shared_private_tagger(
    embed: Model[List[Doc], List[Floats2d]],
    encoders: Optional[Callable[[], Encoder]],
    datasets: Sequence[str],
    sharing: str = "cross",
    output: str = "crf",
    adversarial_weight: float = 0.01,
    difference_weight: float = 0.001,
    width: int = 128,
    nO: Optional[int] = None,
) -> Model[List[Doc], List[Floats2d]]:
    """embed: the embedding layer (e.g. ``bioner.WordCharEmbed.v1``), ``width`` wide.
    encoders: makes each BiLSTM (``bioner.BiLSTMEncoders.v1``), ``width`` in and out;
        null with sharing "full": the embedding layer is the shared part, S = E
        (seed 004's multi-output model, MO-MTM, over ``bioner.WindowCNN.v1``).
    datasets: the corpora trained on, each with its output layer (and private BiLSTM).
    sharing: "full" (FS-MTM), "private" (SP-MTM), "adversarial" (ADV-MTM), "cross" (CS-MTM).
    output: "crf" (linear + CRF per dataset, seed 001) or "softmax" (one softmax per dataset).
    adversarial_weight, difference_weight: α and β of ADV-MTM (seed 001 grid-searches
        α in {0, 0.1, 0.01}, β in {0, 0.01, 0.001}; the defaults are untuned).
    nO: the number of tags (set by the component at initialisation).
    """
    datasets = list(datasets)
    if sharing not in SHARING:
        raise ValueError(f"Unknown sharing {sharing!r}: use one of {', '.join(SHARING)}")
    if not datasets or len(set(datasets)) != len(datasets) or not all(isinstance(d, str) for d in datasets):
        raise ValueError(f"bioner.SharedPrivateTagger.v1: datasets must be distinct names, got {datasets!r}")
    if sharing == "cross" and len(datasets) != 2:
        raise ValueError(f"sharing 'cross' (CS-MTM, seed 001 Eqs. 18-20) gates two datasets' private BiLSTMs; "
                         f"got {len(datasets)} datasets: {datasets}")
    if encoders is None and sharing != "full":
        raise ValueError(f"sharing {sharing!r} needs encoders (the private BiLSTMs); only 'full' runs without")
    if embed.has_dim("nO") and embed.get_dim("nO") != width:
        raise ValueError(f"bioner.SharedPrivateTagger.v1: width is {width}, but the embedding layer gives "
                         f"{embed.get_dim('nO')}: make them equal")
    shared = encoders() if encoders is not None else noop()
    refs = {"embed": embed, "shared": shared}
    if sharing != "full":
        refs.update({f"private:{d}": encoders() for d in datasets})
    if sharing == "cross":
        refs.update({f"gate:{d}": GatedInteraction(width) for d in datasets})
    if sharing == "adversarial":
        refs["discriminator"] = chain(GradientReversal(1.0), Softmax_v2(len(datasets), width))
    v_width = width if sharing == "full" else 2 * width
    for d in datasets:
        refs[f"output_layer:{d}"], crf = output_layers(output, nO, v_width)
        if crf is not None:
            refs[f"crf:{d}"] = crf
    return Model(
        "shared_private_tagger",
        forward,
        init=init,
        layers=list(refs.values()),
        refs=refs,
        dims={"nO": nO, "width": width},
        attrs={"datasets": datasets, "sharing": sharing, "output": output,
               "adversarial_weight": adversarial_weight, "difference_weight": difference_weight,
               "aux_losses": {}},
    )


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    embed = model.get_ref("embed")
    embed.initialize(X=X)
    E = embed.predict(X) if X else None
    for name in model.ref_names:
        layer = model.get_ref(name)
        if (name == "shared" and layer.name != "noop") or name.startswith("private:"):
            layer.initialize(X=E)
        elif name.startswith("gate:"):
            layer.initialize()
        elif name == "discriminator":
            layer.initialize()
        elif name.partition(":")[0] in ("output_layer", "crf"):
            # the component sets each output's nO (the tag count) before this
            if model.has_dim("nO") and not layer.has_dim("nO"):
                layer.set_dim("nO", model.get_dim("nO"))
            layer.initialize()
            if not model.has_dim("nO"):
                model.set_dim("nO", layer.get_dim("nO"))
    return model


def dataset_rows(model: Model, docs: List[Doc]) -> Dict[str, List[int]]:
    """Which docs (by position) belong to each of the model's datasets."""
    datasets = model.attrs["datasets"]
    rows: Dict[str, List[int]] = {}
    for i, doc in enumerate(docs):
        name = doc._.dataset or (datasets[0] if len(datasets) == 1 else None)
        if name not in datasets:
            raise ValueError(f"shared_private_tagger: doc._.dataset is {doc._.dataset!r}; this model has an output "
                             f"for each of {', '.join(datasets)} (set doc._.dataset, or the component's dataset)")
        rows.setdefault(name, []).append(i)
    return rows


def forward(model: Model, docs: List[Doc], is_train: bool):
    sharing, datasets, width = model.attrs["sharing"], model.attrs["datasets"], model.get_dim("width")
    ops = model.ops
    rows = dataset_rows(model, docs)
    # CS-MTM: the dataset whose private features gate each one's (two datasets)
    other = {d: o for d in datasets for o in datasets if o != d} if sharing == "cross" else {}
    E, backprop_embed = model.get_ref("embed")(docs, is_train)
    S, backprop_shared = model.get_ref("shared")(E, is_train)
    # private features P[d][i] of doc i: of each doc's own dataset (SP, ADV),
    # of both datasets for every doc (CS)
    P: Dict[str, Dict[int, Floats2d]] = {}
    backprop_private = {}
    for d in datasets if sharing != "full" else []:
        idx = list(range(len(docs))) if sharing == "cross" else rows.get(d, [])
        if idx:
            out, backprop_private[d] = model.get_ref(f"private:{d}")([E[i] for i in idx], is_train)
            P[d] = dict(zip(idx, out))

    scores: List[Optional[Floats2d]] = [None] * len(docs)
    callbacks = []
    for d, idx in rows.items():
        lengths = [len(S[i]) for i in idx]
        backprop_gate = None
        if sharing == "full":
            V = ops.flatten([S[i] for i in idx])
        elif sharing == "cross":
            G, backprop_gate = model.get_ref(f"gate:{d}")(
                (ops.flatten([P[d][i] for i in idx]), ops.flatten([P[other[d]][i] for i in idx])), is_train)
            V = ops.xp.hstack((G, ops.flatten([S[i] for i in idx])))
        else:
            V = ops.flatten([ops.xp.hstack((P[d][i], S[i])) for i in idx])
        Y, backprop_out = model.get_ref(f"output_layer:{d}")(V, is_train)
        for i, y in zip(idx, ops.unflatten(Y, lengths)):
            scores[i] = y
        callbacks.append((d, idx, lengths, backprop_out, backprop_gate))

    aux = adversarial_terms(model, S, P, rows) if is_train and sharing == "adversarial" else None
    if is_train:
        model.attrs["aux_losses"] = {} if aux is None else aux[0]

    def backprop(d_scores: List[Floats2d]) -> List:
        dS = [ops.alloc2f(*s.shape) for s in S]
        dP = {d: {i: ops.alloc2f(*p.shape) for i, p in by_doc.items()} for d, by_doc in P.items()}
        for d, idx, lengths, backprop_out, backprop_gate in callbacks:
            dV = backprop_out(ops.flatten([d_scores[i] for i in idx]))
            d_own = ops.unflatten(dV[:, :width], lengths) if sharing != "full" else None
            for k, (i, ds) in enumerate(zip(idx, ops.unflatten(dV[:, -width:], lengths))):
                dS[i] += ds
                if sharing in ("private", "adversarial"):
                    dP[d][i] += d_own[k]
            if sharing == "cross":
                d_self, d_other = backprop_gate(dV[:, :width])
                for i, a, b in zip(idx, ops.unflatten(d_self, lengths), ops.unflatten(d_other, lengths)):
                    dP[d][i] += a
                    dP[other[d]][i] += b
        if aux is not None:
            aux[1](dS, dP)
        dE = list(backprop_shared(dS))
        for d, grads in dP.items():
            idx = list(grads)
            for i, de in zip(idx, backprop_private[d]([grads[i] for i in idx])):
                dE[i] = dE[i] + de
        return backprop_embed(dE)

    return scores, backprop


def adversarial_terms(model: Model, S: List[Floats2d], P: Dict[str, Dict[int, Floats2d]],
                      rows: Dict[str, List[int]]):
    """ADV-MTM's α L_adv and β L_diff over the batch, and a function adding
    their gradients to dS (per doc) and dP (per dataset, per doc)."""
    ops, datasets = model.ops, model.attrs["datasets"]
    alpha, beta = model.attrs["adversarial_weight"], model.attrs["difference_weight"]
    order = [(d, i) for d, idx in rows.items() for i in idx if len(S[i])]
    if not order:
        return {"adversarial": 0.0, "difference": 0.0}, lambda dS, dP: None
    last = ops.xp.vstack([S[i][-1:] for _, i in order])  # s_T of each sentence
    probs, backprop_disc = model.get_ref("discriminator")(last, True)
    rows_at, target = ops.xp.arange(len(order)), ops.asarray([datasets.index(d) for d, _ in order], dtype="i")
    l_adv = float(-ops.xp.log(probs[rows_at, target] + 1e-12).sum())
    diff = [(d, i, *difference_loss(S[i], P[d][i])) for d, i in order]
    l_diff = sum(loss for _, _, loss, _, _ in diff)

    def add_gradients(dS: List[Floats2d], dP: Dict[str, Dict[int, Floats2d]]) -> None:
        d_logits = probs.copy()
        d_logits[rows_at, target] -= 1.0
        d_last = backprop_disc(alpha * d_logits)  # reversed by the gradient reversal layer
        for row, (d, i) in enumerate(order):
            dS[i][-1] += d_last[row]
        for d, i, _, d_s, d_p in diff:
            dS[i] += beta * d_s
            dP[d][i] += beta * d_p

    return {"adversarial": alpha * l_adv, "difference": beta * l_diff}, add_gradients

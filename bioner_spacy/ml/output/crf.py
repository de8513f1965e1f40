"""A linear-chain CRF output layer: the forward algorithm for the loss,
forward-backward for its gradient, Viterbi for decoding (Lafferty et al. 2001;
the output layer of seed 001's BiLSTM-CNN-CRF, after Lample et al. 2016).

For a sentence of n tokens with tag scores E (n x T, the emissions), learned
transition scores A (T x T), start scores s and end scores e (T), a tag path y
scores

    score(y) = s[y_1] + sum_i E[i, y_i] + sum_{i>1} A[y_{i-1}, y_i] + e[y_n]
    log Z    = logsumexp over all paths y of score(y)   (forward algorithm)
    loss     = log Z - log Z_gold

where Z_gold sums only the paths that agree with every known gold tag: the
gold path alone when all are known (log Z_gold = score(gold)), and tokens
without gold (misaligned tokenisation) are summed over instead of guessed.
Its gradient is a difference of marginals, both from forward-backward:

    d loss / d E[i, t] = p(y_i = t) - p_gold(y_i = t)
    d loss / d A[p, c] = sum_i p(y_{i-1} = p, y_i = c) - p_gold(...)
    d loss / d s[t]    = p(y_1 = t) - p_gold(y_1 = t);  e likewise with y_n.

Hard constraints (IOB2 or IOBES: ``decoding.transition_constraints``) and a
dataset's own entity types enter as scores of NEG (exp(NEG) = 0 in float32)
for the forbidden transitions, starts, ends and tags, in training and in
decoding alike: the model learns over the path space it is decoded in.

Why our own and not ``pytorch-crf``: the CNN encoders here are pure Thinc
(no torch), the constraints and the per-dataset masks are ours to apply, and
the partially labelled loss above is not in that package; written over
``ops.xp`` it runs on numpy and cupy alike. It is checked against brute-force
enumeration of every tag sequence (tests/test_crf.py).
"""
from typing import List, Optional, Sequence, Tuple

import numpy
from thinc.api import Model
from thinc.types import Floats2d

from ...decoding import viterbi_over

# the score of a forbidden tag, transition, start or end
NEG = -1e4


def CRF(nO: Optional[int] = None) -> Model[List[Floats2d], List[Floats2d]]:
    """The CRF's parameters (transitions A, start s, end e) over tag scores
    that pass through unchanged: ``crf_loss`` trains them, ``viterbi``
    decodes with them. nO: the number of tags."""
    return Model("crf", forward, init=init, dims={"nO": nO}, params={"transitions": None, "start": None, "end": None})


def init(model: Model, X=None, Y=None) -> Model:
    if not model.has_dim("nO"):
        if not X:
            raise ValueError("crf: the number of tags is unknown; set nO or initialise with sample scores")
        model.set_dim("nO", X[0].shape[1])
    n_tags = model.get_dim("nO")
    model.set_param("transitions", model.ops.alloc2f(n_tags, n_tags))
    model.set_param("start", model.ops.alloc1f(n_tags))
    model.set_param("end", model.ops.alloc1f(n_tags))
    return model


def forward(model: Model, X: List[Floats2d], is_train: bool):
    return X, lambda dY: dY


def logsumexp(xp, x, axis: int):
    top = x.max(axis=axis, keepdims=True)
    return (top + xp.log(xp.exp(x - top).sum(axis=axis, keepdims=True))).squeeze(axis)


def forward_backward(xp, E, lengths, A, start, end) -> Tuple:
    """log Z of each padded sentence of E (B x L x T, already masked), and
    each sentence's marginals: of its tags (B x L x T, zero past its length),
    of its transitions (B x T x T, summed over positions), of its first and
    last tags (B x T)."""
    B, L, T = E.shape
    lengths = xp.asarray(lengths)
    rows = xp.arange(B)
    alpha = xp.empty((L, B, T), dtype=E.dtype)
    alpha[0] = start[None] + E[:, 0]
    for i in range(1, L):
        step = logsumexp(xp, alpha[i - 1][:, :, None] + A[None], axis=1) + E[:, i]
        alpha[i] = xp.where((i < lengths)[:, None], step, alpha[i - 1])
    log_z = logsumexp(xp, alpha[lengths - 1, rows] + end[None], axis=1)
    beta = xp.empty((L, B, T), dtype=E.dtype)
    beta[L - 1] = end[None]
    for i in range(L - 2, -1, -1):
        step = logsumexp(xp, A[None] + (E[:, i + 1] + beta[i + 1])[:, None, :], axis=2)
        beta[i] = xp.where((i < lengths - 1)[:, None], step, end[None])
    inside = xp.arange(L)[:, None] < lengths[None, :]  # (L, B)
    tags = xp.exp(alpha + beta - log_z[None, :, None]) * inside[:, :, None]
    pairs = xp.zeros((B, T, T), dtype=E.dtype)
    for i in range(1, L):
        joint = alpha[i - 1][:, :, None] + A[None] + (E[:, i] + beta[i])[:, None, :] - log_z[:, None, None]
        pairs += xp.exp(joint) * inside[i][:, None, None]
    return log_z, tags.transpose(1, 0, 2), pairs, tags[0], tags[lengths - 1, rows]


def constrained(xp, A, start, end, allowed, start_ok, end_ok):
    """The learned scores with every forbidden transition, start and end at
    NEG (the constraints as arrays of ``xp``)."""
    return xp.where(allowed, A, NEG), xp.where(start_ok, start, NEG), xp.where(end_ok, end, NEG)


def crf_loss(
    model: Model,
    scores: List[Floats2d],
    gold: List[numpy.ndarray],
    tag_masks: List[numpy.ndarray],
    constraints: Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray],
) -> Tuple[float, List[Floats2d]]:
    """Negative log-likelihood of the gold tags (ids, -1 = unknown) of each
    sentence under the CRF; each sentence's tags limited to its mask (T,
    bool: its dataset's own types). Adds the gradients of A, s and e to the
    ``crf`` layer ``model`` and returns the loss and d_scores.

    The sentences are grouped by mask, and each group runs forward-backward
    over its own tags only: a tag outside the mask scores NEG, so its
    marginals and gradients are exactly 0, and leaving it out changes
    nothing but the cost (O(n T^2) in the number of tags T; a multi-task
    model over many corpora has several times more tags than any one corpus)."""
    ops, xp = model.ops, model.ops.xp
    d_scores = [ops.alloc2f(*s.shape) for s in scores]
    groups = {}
    for i, s in enumerate(scores):
        if len(s):
            mask = numpy.asarray(tag_masks[i], dtype=bool)
            groups.setdefault(mask.tobytes(), (mask, []))[1].append(i)
    if not groups:
        return 0.0, d_scores
    allowed, start_ok, end_ok = (numpy.asarray(c, dtype=bool) for c in constraints)
    A, start, end = (model.get_param(name) for name in ("transitions", "start", "end"))
    d_A, d_start, d_end = xp.zeros_like(A), xp.zeros_like(start), xp.zeros_like(end)
    loss = 0.0
    for mask, rows in groups.values():
        tags = numpy.flatnonzero(mask)
        on_device = xp.asarray(tags)
        sub = xp.ix_(on_device, on_device)
        local = local_ids(tags, len(mask))
        part, d_part, (g_A, g_start, g_end) = masked_loss(
            xp, [scores[i][:, on_device] for i in rows], [local[numpy.asarray(gold[i], dtype="int64")] for i in rows],
            (A[sub], start[on_device], end[on_device]),
            (allowed[numpy.ix_(tags, tags)], start_ok[tags], end_ok[tags]))
        loss += part
        d_A[sub] += g_A
        d_start[on_device] += g_start
        d_end[on_device] += g_end
        for i, d in zip(rows, d_part):
            d_scores[i][:, on_device] = d
    model.inc_grad("transitions", d_A)
    model.inc_grad("start", d_start)
    model.inc_grad("end", d_end)
    return loss, d_scores


def local_ids(tags: numpy.ndarray, n_tags: int) -> numpy.ndarray:
    """A lookup from gold tag ids to ids over ``tags`` (the ids a mask keeps),
    indexed by the gold id: -1 stays unknown, and a gold tag outside the mask
    becomes len(tags), a tag no path takes (the sentence is then left out, as
    a forbidden gold path is)."""
    local = numpy.full(n_tags + 1, len(tags), dtype="int64")
    local[tags] = numpy.arange(len(tags))
    local[-1] = -1
    return local


def masked_loss(xp, scores, gold, params, constraints):
    """``crf_loss`` of sentences that share one tag set: the loss, d_scores
    and the gradients of (A, s, e), all over that set's T tags."""
    allowed, start_ok, end_ok = (xp.asarray(c) for c in constraints)
    A, start, end = constrained(xp, *params, allowed, start_ok, end_ok)
    lengths = [len(s) for s in scores]
    B, L, T = len(scores), max(lengths), scores[0].shape[1]
    E = xp.full((B, L, T), NEG, dtype=scores[0].dtype)
    agree = numpy.zeros((B, L, T), dtype=bool)  # the tags each token may take and that agree with its gold tag
    for b, ids in enumerate(gold):
        E[b, : lengths[b]] = scores[b]
        agree[b, : lengths[b]] = True
        known = numpy.flatnonzero(ids >= 0)
        agree[b, known] = False
        inside = ids[known] < T
        agree[b, known[inside], ids[known[inside]]] = True
    gold_E = xp.where(xp.asarray(agree), E, NEG)
    log_z, tags, pairs, first, final = forward_backward(xp, E, lengths, A, start, end)
    gold_z, gold_tags, gold_pairs, gold_first, gold_final = forward_backward(xp, gold_E, lengths, A, start, end)
    # a gold path the constraints or the mask forbid (a corpus error) would swamp the batch: left out
    weight = (gold_z > NEG / 2).astype(E.dtype)
    loss = float(((log_z - gold_z) * weight).sum())
    grads = (((pairs - gold_pairs) * weight[:, None, None]).sum(axis=0) * allowed,
             ((first - gold_first) * weight[:, None]).sum(axis=0) * start_ok,
             ((final - gold_final) * weight[:, None]).sum(axis=0) * end_ok)
    d_E = (tags - gold_tags) * weight[:, None, None]
    return loss, [d_E[b, : lengths[b]] for b in range(B)], grads


def crf_transitions(model: Model, constraints: Sequence[numpy.ndarray]) -> Tuple[numpy.ndarray, ...]:
    """The learned A, s and e as numpy arrays, forbidden ones at NEG: what
    decoding adds to the tag scores (read once per batch of docs)."""
    params = (model.ops.to_numpy(model.get_param(name)) for name in ("transitions", "start", "end"))
    return constrained(numpy, *params, *constraints)


def crf_decode(model: Model, scores: Floats2d, tag_mask: numpy.ndarray,
               constraints: Sequence[numpy.ndarray]) -> List[int]:
    """The best allowed path of one sentence, with the tags outside
    ``tag_mask`` (T, bool) forbidden."""
    keep = numpy.flatnonzero(tag_mask)
    return viterbi_over([model.ops.to_numpy(scores)[:, keep]], *crf_transitions(model, constraints), keep)[0]

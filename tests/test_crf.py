"""The linear-chain CRF (bioner_spacy/ml/output/crf.py) against brute-force
enumeration of every tag sequence, and its gradients against finite
differences."""
import itertools

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from thinc.api import NumpyOps
from thinc.util import gpu_is_available

from bioner_spacy.decoding import transition_constraints, viterbi
from bioner_spacy.ml.output.crf import CRF, crf_decode, crf_loss

from .gradients import numeric_gradient

BIO = ["O", "B-Chem", "I-Chem", "B-Dis", "I-Dis"]
CHEM_ONLY = numpy.array([True, True, True, False, False])
EVERY_TAG = numpy.ones(5, dtype=bool)
IOBES = ["O", "B-Chem", "I-Chem", "E-Chem", "S-Chem"]


def path_score(E, A, start, end, path):
    return start[path[0]] + sum(E[i, t] for i, t in enumerate(path)) + \
        sum(A[p, c] for p, c in zip(path, path[1:])) + end[path[-1]]


def valid(path, tags, mask, constraints, gold=None):
    allowed, start_ok, end_ok = constraints
    return (start_ok[path[0]] and end_ok[path[-1]] and all(allowed[p, c] for p, c in zip(path, path[1:]))
            and all(mask[t] for t in path)
            and (gold is None or all(g < 0 or g == t for g, t in zip(gold, path))))


def brute_force(E, A, start, end, tags, mask, gold=None):
    """log Z over the valid paths (those agreeing with gold where given) and the best one."""
    constraints = transition_constraints(tags)
    paths = [p for p in itertools.product(range(len(tags)), repeat=len(E))
             if valid(p, tags, mask, constraints, gold)]
    scores = numpy.array([path_score(E, A, start, end, p) for p in paths])
    return numpy.logaddexp.reduce(scores), list(paths[int(scores.argmax())])


def crf_layer(tags, rng):
    model = CRF(len(tags))
    model.initialize()
    for name in ("transitions", "start", "end"):
        model.set_param(name, rng.normal(size=model.get_param(name).shape).astype("float32"))
    return model


def test_constraints_iob2_by_hand():
    allowed, start_ok, end_ok = transition_constraints(BIO)
    # I-Chem only after B-Chem or I-Chem; never first; any tag may end
    assert allowed[:, 2].tolist() == [False, True, True, False, False]
    assert allowed[:, 4].tolist() == [False, False, False, True, True]
    assert allowed[:, [0, 1, 3]].all()
    assert start_ok.tolist() == [True, True, False, True, False] and end_ok.all()


def test_constraints_iobes_by_hand():
    allowed, start_ok, end_ok = transition_constraints(IOBES)
    # after B-/I-: only I- or E- of the same type; after O, E-, S-: only O, B-, S-
    assert allowed[1].tolist() == [False, False, True, True, False]
    assert allowed[2].tolist() == [False, False, True, True, False]
    for p in (0, 3, 4):
        assert allowed[p].tolist() == [True, True, False, False, True]
    assert start_ok.tolist() == [True, True, False, False, True]
    assert end_ok.tolist() == [True, False, False, True, True]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), seed=st.integers(0, 10**6), iobes=st.booleans(), partial=st.booleans(),
       only_chem=st.booleans())
def test_loss_and_best_path_match_enumeration(n, seed, iobes, partial, only_chem):
    """loss = log Z - log Z_gold, over the well-formed paths of the doc's own
    types; with unknown gold tokens Z_gold sums their every completion."""
    tags = IOBES if iobes else BIO
    rng = numpy.random.default_rng(seed)
    model = crf_layer(tags, rng)
    E = rng.normal(size=(n, len(tags))).astype("float32") * 2
    mask = numpy.array([True] + [not only_chem or t.endswith("Chem") for t in tags[1:]])
    A, start, end = (model.get_param(k) for k in ("transitions", "start", "end"))
    # a gold path: the best one under other random scores, some tokens unknown
    _, gold = brute_force(rng.normal(size=E.shape), A, start, end, tags, mask)
    gold = numpy.array(gold)
    if partial:
        gold[rng.random(n) < 0.5] = -1
    log_z, best = brute_force(E, A, start, end, tags, mask)
    log_z_gold, _ = brute_force(E, A, start, end, tags, mask, gold)
    loss, _ = crf_loss(model, [E], [gold], [mask], transition_constraints(tags))
    assert loss == pytest.approx(log_z - log_z_gold, abs=1e-3)
    assert crf_decode(model, E, mask, transition_constraints(tags)) == best


# the GPU case runs where CuPy sees a GPU (the device check runs `pytest -m gpu` there); the CPU
# case of the same test keeps its arithmetic checked everywhere else
ON_EACH_DEVICE = [pytest.param("cpu"), pytest.param("gpu", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not gpu_is_available(), reason="no GPU for CuPy")])]


@pytest.mark.parametrize("device", ON_EACH_DEVICE)
def test_a_batch_on_each_device_matches_enumeration(device):
    """Loss, gradients and best paths of a batch of mixed masks on the
    device's ops (CupyOps for the GPU) against brute force, and the gradients
    against the same batch on the CPU."""
    rng = numpy.random.default_rng(11)
    constraints = transition_constraints(BIO)
    on_cpu = crf_layer(BIO, rng)
    on_device = crf_layer(BIO, rng)
    for name in ("transitions", "start", "end"):
        on_device.set_param(name, on_cpu.get_param(name).copy())
    if device == "gpu":
        on_device.to_gpu(0)
    A, start, end = (on_cpu.get_param(k) for k in ("transitions", "start", "end"))
    lengths, masks = (3, 1, 4, 2), [EVERY_TAG, CHEM_ONLY, EVERY_TAG, CHEM_ONLY]
    scores = [rng.normal(size=(n, len(BIO))).astype("float32") * 2 for n in lengths]
    gold = [numpy.array(brute_force(rng.normal(size=s.shape), A, start, end, BIO, m)[1]) for s, m in zip(scores, masks)]
    gold[2][1] = -1
    expected = sum(brute_force(s, A, start, end, BIO, m)[0] - brute_force(s, A, start, end, BIO, m, g)[0]
                   for s, g, m in zip(scores, gold, masks))
    loss, d_scores = crf_loss(on_device, [on_device.ops.asarray2f(s) for s in scores], gold, masks, constraints)
    cpu_loss, cpu_d_scores = crf_loss(on_cpu, scores, gold, masks, constraints)
    assert loss == pytest.approx(expected, abs=1e-3) and loss == pytest.approx(cpu_loss, abs=1e-4)
    for d, cpu_d in zip(d_scores, cpu_d_scores):
        # CUDA's exp and log differ from numpy's in float32's last places
        numpy.testing.assert_allclose(on_device.ops.to_numpy(d), cpu_d, atol=1e-4)
    for name in ("transitions", "start", "end"):
        numpy.testing.assert_allclose(on_device.ops.to_numpy(on_device.get_grad(name)), on_cpu.get_grad(name),
                                      atol=1e-4, err_msg=name)
    for s, m in zip(scores, masks):
        best = brute_force(s, A, start, end, BIO, m)[1]
        assert crf_decode(on_device, on_device.ops.asarray2f(s), m, constraints) == best


def test_gradients_match_finite_differences():
    rng = numpy.random.default_rng(7)
    tags = BIO
    model = crf_layer(tags, rng)
    constraints = transition_constraints(tags)
    scores = [rng.normal(size=(n, len(tags))).astype("float64") for n in (3, 1, 4)]
    gold = [numpy.array([1, 2, 0]), numpy.array([-1]), numpy.array([0, 3, -1, 0])]
    masks = [numpy.ones(len(tags), dtype=bool)] * 3
    masks[2] = numpy.array([True, False, False, True, True])
    for name in ("transitions", "start", "end"):
        model.set_param(name, model.get_param(name).astype("float64"))

    def loss():
        return crf_loss(model, scores, gold, masks, constraints)[0]

    _, d_scores = crf_loss(model, scores, gold, masks, constraints)
    grads = {name: model.get_grad(name).copy() for name in ("transitions", "start", "end")}
    for s, d in zip(scores, d_scores):
        numpy.testing.assert_allclose(d, numeric_gradient(loss, s, eps=1e-4), atol=1e-4)
    for name, grad in grads.items():
        numpy.testing.assert_allclose(grad, numeric_gradient(loss, model.get_param(name), eps=1e-4), atol=1e-4,
                                      err_msg=name)


@pytest.mark.parametrize("mixed", [False, True])
def test_a_batch_equals_its_sentences_one_by_one(mixed):
    """The same loss and gradients batched as alone, also when the batch
    mixes sentences of different tag masks (two datasets' types)."""
    rng = numpy.random.default_rng(3)
    model = crf_layer(BIO, rng)
    constraints = transition_constraints(BIO)
    scores = [rng.normal(size=(n, 5)).astype("float32") for n in (2, 5, 0, 1)]
    gold = [numpy.array(g) for g in ([1, 2], [0, 0, 3, 4, 0], [], [1])]
    masks = [CHEM_ONLY if mixed and k != 1 else EVERY_TAG for k in range(4)]
    batch_loss, batch_d = crf_loss(model, scores, gold, masks, constraints)
    batch_grad = model.get_grad("transitions").copy()
    model.set_grad("transitions", model.ops.alloc2f(5, 5))
    alone = [crf_loss(model, [s], [g], [m], constraints) for s, g, m in zip(scores, gold, masks)]
    assert batch_loss == pytest.approx(sum(loss for loss, _ in alone), abs=1e-4)
    for d, (_, (d_alone,)) in zip(batch_d, alone):
        numpy.testing.assert_allclose(d, d_alone, atol=1e-5)
    numpy.testing.assert_allclose(batch_grad, model.get_grad("transitions"), atol=1e-5)
    assert batch_d[2].shape == (0, 5)


def test_a_gold_path_the_constraints_forbid_is_left_out():
    rng = numpy.random.default_rng(5)
    model = crf_layer(BIO, rng)
    constraints = transition_constraints(BIO)
    scores = [rng.normal(size=(2, 5)).astype("float32") for _ in range(2)]
    broken = numpy.array([0, 2])  # O then I-Chem
    loss, d = crf_loss(model, scores, [broken, numpy.array([1, 2])], [numpy.ones(5, dtype=bool)] * 2, constraints)
    alone, _ = crf_loss(model, scores[1:], [numpy.array([1, 2])], [numpy.ones(5, dtype=bool)], constraints)
    assert loss == pytest.approx(alone, abs=1e-4) and not d[0].any()


def test_viterbi_scores_starts_and_ends():
    E = numpy.zeros((2, 2))
    A = numpy.array([[0.0, 0.0], [0.0, 0.0]])
    assert viterbi(E, A, numpy.array([0.0, 1.0]), numpy.array([2.0, 0.0])) == [1, 0]
    assert viterbi(E, A, numpy.array([0.0, 1.0]), numpy.array([0.0, 0.5])) == [1, 1]
    assert viterbi(numpy.zeros((0, 2)), A, numpy.zeros(2), numpy.zeros(2)) == []


def test_layer_passes_scores_through_and_needs_its_size():
    model = CRF()
    X = [NumpyOps().alloc2f(3, 4) + 1]
    model.initialize(X=X)
    assert model.get_param("transitions").shape == (4, 4)
    Y, backprop = model(X, is_train=True)
    assert Y is X and backprop(Y) is Y
    with pytest.raises(ValueError, match="number of tags is unknown"):
        CRF().initialize()


def test_masked_tags_never_decoded():
    rng = numpy.random.default_rng(11)
    model = crf_layer(BIO, rng)
    E = numpy.zeros((3, 5), dtype="float32")
    E[:, 3] = 50.0  # B-Dis is by far the best... but the doc's dataset has only Chem
    path = crf_decode(model, E, numpy.array([True, True, True, False, False]), transition_constraints(BIO))
    assert all(BIO[t] in ("O", "B-Chem", "I-Chem") for t in path)


def test_tags_outside_a_mask_get_no_gradient():
    rng = numpy.random.default_rng(5)
    model = crf_layer(BIO, rng)
    scores = [rng.normal(size=(4, 5)).astype("float32")]
    loss, (d,) = crf_loss(model, scores, [numpy.array([0, 1, 2, -1])], [CHEM_ONLY], transition_constraints(BIO))
    assert loss > 0
    assert not d[:, 3:].any() and d[:, :3].any()
    grad = model.get_grad("transitions")
    assert not grad[3:].any() and not grad[:, 3:].any()
    assert not model.get_grad("start")[3:].any() and not model.get_grad("end")[3:].any()


def test_a_gold_tag_outside_the_mask_leaves_the_sentence_out():
    rng = numpy.random.default_rng(6)
    model = crf_layer(BIO, rng)
    scores = [rng.normal(size=(2, 5)).astype("float32") for _ in range(2)]
    gold = [numpy.array([3, 4]), numpy.array([1, 0])]  # the first is Dis, outside its Chem-only mask
    loss, d = crf_loss(model, scores, gold, [CHEM_ONLY, CHEM_ONLY], transition_constraints(BIO))
    alone, _ = crf_loss(crf_layer(BIO, numpy.random.default_rng(6)), scores[1:], gold[1:], [CHEM_ONLY],
                        transition_constraints(BIO))
    assert loss == pytest.approx(alone, abs=1e-5)
    assert not d[0].any()

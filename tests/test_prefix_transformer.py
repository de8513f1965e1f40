"""Seed 002's prefixes (Eq. 7) and attention-diversity loss (Eqs. 8-12):
hand-computed cases, the plain encoder at P = 0, the loss's gradient riding
on the encoder output, and pipelines over the prefixed tiny BERT that train
and round-trip."""
import math
import os

import numpy
import pytest
import spacy
from spacy.util import load_config, load_model_from_config
from thinc.api import Adam

from .conftest import REPO
from .tiny_bert import build_tiny_bert

torch = pytest.importorskip("torch")
pytest.importorskip("spacy_transformers")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bioner_spacy.ml.encoders.attention_diversity import attention_diversity_loss  # noqa: E402
from bioner_spacy.ml.encoders.prefix_transformer import PrefixedEncoder, PrefixSettings  # noqa: E402


def bert(layers=2, heads=2, hidden=8, seed=0):
    from transformers import BertConfig, BertModel

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=50, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=16, max_position_embeddings=32, hidden_dropout_prob=0.0,
                        attention_probs_dropout_prob=0.0, attn_implementation="eager")
    return BertModel(config).eval()


def inputs():
    ids = torch.tensor([[2, 7, 9, 11, 3], [2, 5, 3, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    return ids, mask


def test_diversity_loss_of_hand_built_maps():
    """Two heads, P = 1, L = 3 with the last query padding (its row must not
    count). Received attention, prefix column first:
      head 1: rows (.5 .5 0 0), (0 1 0 0)  -> p1 = (.5, 1.5, 0, 0), o1 = (1.5, 0, 0)
      head 2: rows (1 0 0 0),  (0 0 1 0)  -> p2 = (1, 0, 1, 0),    o2 = (0, 1, 0)
    o1 . o2 = 0 after normalising, so each head's P(i|o_i) = e^(1/tau) / (e^(1/tau) + 1):
      Loss_o = 2 log(1 + e^(-1/tau));
    p1 . p2 = .5 / (sqrt(2.5) sqrt(2)) = 1/(2 sqrt 5) = c:  Loss_p = 2 log(1 + e^((c - 1)/tau))."""
    pad_row = [0.25, 0.25, 0.25, 0.25]
    head1 = [[0.5, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]
    head2 = [[1, 0, 0, 0], [0, 0, 1, 0], pad_row]
    maps = torch.tensor([[head1, head2]])
    mask = torch.tensor([[1, 1, 0]])
    tau = 2.0
    loss_o = 2 * math.log1p(math.exp(-1 / tau))
    c = 1 / (2 * math.sqrt(5))
    loss_p = 2 * math.log1p(math.exp((c - 1) / tau))
    assert attention_diversity_loss([maps], mask, 1, tau, "o").item() == pytest.approx(loss_o, rel=1e-6)
    assert attention_diversity_loss([maps], mask, 1, tau, "p").item() == pytest.approx(loss_p, rel=1e-6)
    assert attention_diversity_loss([maps], mask, 1, tau).item() == pytest.approx((loss_o + loss_p) / 2, rel=1e-6)
    # the maps of two layers are one set of heads: split across layers, the same loss
    split = attention_diversity_loss([maps[:, :1], maps[:, 1:]], mask, 1, tau)
    assert split.item() == pytest.approx((loss_o + loss_p) / 2, rel=1e-6)


def test_identical_heads_cannot_be_told_apart():
    """n identical heads: P(i|v) = 1/n for each, so the loss is n log n
    whatever the maps (here random, 2 layers x 3 heads)."""
    torch.manual_seed(1)
    one = torch.softmax(torch.randn(2, 1, 4, 6), dim=-1)
    maps = one.expand(2, 3, 4, 6)
    loss = attention_diversity_loss([maps, maps], torch.ones(2, 4), 2, 0.5)
    assert loss.item() == pytest.approx(6 * math.log(6), rel=1e-5)


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="parts must be one of both, o, p, not 'q'"):
        attention_diversity_loss([torch.ones(1, 2, 3, 3)], torch.ones(1, 3), 0, parts="q")
    with pytest.raises(ValueError, match="prefix_length must be an integer >= 0, not -1"):
        PrefixSettings(prefix_length=-1)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        PrefixSettings(temperature=0)
    with pytest.raises(ValueError, match="diversity_layers = 4, but the encoder .* has 2 layers"):
        PrefixedEncoder(bert(), PrefixSettings())
    from bioner_spacy.ml.encoders.prefix_transformer import PrefixTransformerModel
    from spacy_transformers.span_getters import get_doc_spans

    with pytest.raises(ValueError, match="mixed_precision with diversity_weight > 0 is not supported"):
        PrefixTransformerModel("x", get_doc_spans, mixed_precision=True)
    # the model pickles (nlp.pipe over processes started by spawn)
    import pickle

    model = pickle.loads(pickle.dumps(PrefixTransformerModel("x", get_doc_spans)))
    assert type(model.layers[0].shims[0]).__name__ == "PrefixHFShim"


@pytest.mark.parametrize("train", [False, True])
def test_without_prefix_it_is_the_plain_encoder(train):
    encoder = bert()
    ids, mask = inputs()
    plain = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    wrapped = PrefixedEncoder(encoder, PrefixSettings(prefix_length=0, diversity_layers=1, diversity_weight=0.5))
    wrapped.train(train)
    assert torch.equal(wrapped(ids, mask).last_hidden_state, plain)
    assert (wrapped.last_diversity_loss is not None) == train


def test_positions_are_the_encoders_own():
    """With a prefix the encoder would count it into the positions; the
    sentence gets the ids it has without one: 0.. for BERT, from
    padding_idx + 1 for RoBERTa (padding at padding_idx)."""
    from transformers import RobertaConfig, RobertaModel

    ids, _ = inputs()
    bert_positions = PrefixedEncoder(bert(), PrefixSettings(prefix_length=2, diversity_layers=1)).positions(ids)
    assert bert_positions.tolist() == [[0, 1, 2, 3, 4]] * 2
    roberta = RobertaModel(RobertaConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=16, max_position_embeddings=40, pad_token_id=0))
    wrapped = PrefixedEncoder(roberta.eval(), PrefixSettings(prefix_length=2, diversity_layers=1))
    assert wrapped.positions(ids).tolist() == [[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]]
    # the same as RoBERTa's own numbering without a prefix
    from transformers.models.roberta.modeling_roberta import create_position_ids_from_input_ids

    assert torch.equal(wrapped.positions(ids), create_position_ids_from_input_ids(ids, 0))
    wrapped.eval()
    assert wrapped(ids, (ids != 0).long()).last_hidden_state.shape == (2, 5, 8)


def test_the_diversity_loss_can_be_switched_off_for_another_input():
    from bioner_spacy.ml.encoders.diversity_switch import without_diversity_loss
    from thinc.api import Model

    wrapped = PrefixedEncoder(bert(), PrefixSettings(prefix_length=2, diversity_layers=2)).train()

    class Shim:
        _model = wrapped

    holder = Model("holder", lambda model, X, is_train: (X, None), shims=[Shim()])
    ids, mask = inputs()
    with without_diversity_loss(holder):
        wrapped(ids, mask)
    assert wrapped.last_diversity_loss is None
    wrapped(ids, mask)
    assert wrapped.last_diversity_loss is not None


def test_prefix_attention_is_eq_7():
    """One layer, two heads, P = 3: the attention the encoder computes is
    softmax(Q [phi_k; K]^T / sqrt(d)) over the prefix and the unpadded words,
    and the head outputs are that times [phi_v; V]; positions count from 0."""
    encoder = bert(layers=1)
    wrapped = PrefixedEncoder(encoder, PrefixSettings(prefix_length=3, diversity_layers=1)).eval()
    ids, mask = inputs()
    contexts = []
    attention = encoder.encoder.layer[0].attention.self
    handle = attention.register_forward_hook(lambda module, args, out: contexts.append(out[0]))
    with torch.no_grad():
        maps = wrapped.encoder(input_ids=ids, attention_mask=torch.cat([torch.ones(2, 3, dtype=mask.dtype), mask], 1),
                               position_ids=torch.arange(5).expand(2, 5), past_key_values=wrapped.prefix_cache(2),
                               output_attentions=True).attentions[0]
        wrapped(ids, mask)
        handle.remove()
        hidden = encoder.embeddings(input_ids=ids)  # positions 0..4, as without a prefix
        heads, width = 2, 4
        for b in range(2):
            keep = int(mask[b].sum())
            for h in range(heads):
                cols = slice(h * width, (h + 1) * width)
                q = attention.query(hidden[b])[:, cols]
                k = torch.cat([wrapped.prefix_keys[0][:, cols], attention.key(hidden[b])[:keep, cols]])
                v = torch.cat([wrapped.prefix_values[0][:, cols], attention.value(hidden[b])[:keep, cols]])
                a = torch.softmax(q @ k.T / math.sqrt(width), dim=-1)
                numpy.testing.assert_allclose(maps[b, h, :, : 3 + keep], a, atol=1e-6)
                assert maps[b, h, :, 3 + keep:].abs().sum() < 1e-6  # padded keys get none
                numpy.testing.assert_allclose(contexts[-1][b, :, cols], a @ v, atol=1e-6)


def test_diversity_gradient_rides_on_the_output():
    """With no gradient from the NER head, the backward from the encoder's
    output still moves every weight by alpha * dLoss_PAMDFGA."""
    alpha = 0.3
    wrapped = PrefixedEncoder(bert(), PrefixSettings(prefix_length=2, diversity_layers=2, diversity_weight=alpha))
    wrapped.train()
    ids, mask = inputs()
    out = wrapped(ids, mask).last_hidden_state
    torch.autograd.backward(out, torch.zeros_like(out))
    got = wrapped.prefix_keys.grad.clone()
    query = wrapped.encoder.encoder.layer[1].attention.self.query.weight.grad.clone()
    assert got.abs().sum() > 0
    wrapped.zero_grad()
    output = wrapped.encoder(input_ids=ids, attention_mask=torch.cat([torch.ones(2, 2, dtype=mask.dtype), mask], 1),
                             position_ids=torch.arange(5).expand(2, 5), past_key_values=wrapped.prefix_cache(2),
                             output_attentions=True)
    loss = attention_diversity_loss(output.attentions, mask, 2, 2.0)
    assert wrapped.last_diversity_loss == pytest.approx(loss.item(), rel=1e-6)
    (alpha * loss).backward()
    numpy.testing.assert_allclose(got, wrapped.prefix_keys.grad, rtol=1e-5, atol=1e-8)
    numpy.testing.assert_allclose(query, wrapped.encoder.encoder.layer[1].attention.self.query.weight.grad,
                                  rtol=1e-5, atol=1e-8)


PREFIXED = {"components.transformer.model.@architectures": "bioner.PrefixTransformerModel.v1",
            "components.transformer.model.prefix_length": 4,
            "components.transformer.model.diversity_layers": 2,
            "components.transformer.model.diversity_weight": 1.0,
            "system.gpu_allocator": None}


def trained_pipeline(tmp_path, config_name, overrides, docs_of, steps):
    import bioner_spacy.ml.encoders.prefix_transformer  # noqa: F401  (registered by entry point when installed)

    spacy.util.fix_random_seed(0)  # the prefixes are drawn when the model is built
    config = load_config(REPO / "configs" / config_name, overrides={
        "components.transformer.model.name": str(build_tiny_bert(tmp_path / "tiny-bert")), **PREFIXED, **overrides})
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = docs_of(nlp)
    nlp.initialize(lambda: examples)
    encoder = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    assert type(encoder).__name__ == "PrefixedEncoder" and encoder.prefix_keys.shape == (2, 4, 32)
    optimizer = Adam(0.003)
    diversity = []
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, drop=0.0)
        diversity.append(encoder.last_diversity_loss)
    return nlp, examples, diversity


def grid_docs(nlp):
    from .test_grid_ner import examples_of, gold_doc

    sentences = [
        ("Treatment with cisplatin caused renal failure .".split(), [([(2, 3)], "Chemical"), ([(4, 6)], "Disease")]),
        ("No headache was seen after caffeine .".split(), [([(1, 2)], "Disease"), ([(5, 6)], "Chemical")]),
    ]
    return examples_of(nlp, [gold_doc(nlp, words, ents) for words, ents in sentences])


def test_prefixed_grid_trains_and_round_trips(tmp_path):
    """configs/grid_trf.cfg with the prefixed encoder: the diversity loss
    falls under training (alpha = 1, 2 layers x 2 heads), the entities are
    learnt, and the saved pipeline has the same prefixes and predictions."""
    nlp, examples, diversity = trained_pipeline(tmp_path, "grid_trf.cfg", {
        "components.grid_ner.model.hidden": 32, "components.grid_ner.model.channels": 16,
        "components.grid_ner.model.dropout": 0.0, "components.grid_ner.learn_rate_scale": 1.0}, grid_docs, 250)
    assert diversity[-1] < diversity[0] - 0.1
    texts = [eg.reference.text for eg in examples]
    predicted = [[(e.start, e.end, e.label_) for e in nlp(t).ents] for t in texts]
    assert predicted == [[(2, 3, "Chemical"), (4, 6, "Disease")], [(1, 2, "Disease"), (5, 6, "Chemical")]]
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    before = nlp.get_pipe("transformer").model.layers[0].shims[0]._model
    after = loaded.get_pipe("transformer").model.layers[0].shims[0]._model
    assert torch.equal(before.prefix_keys, after.prefix_keys) and torch.equal(before.prefix_values, after.prefix_values)
    assert [[(e.start, e.end, e.label_) for e in loaded(t).ents] for t in texts] == predicted


def test_prefixed_cfa_round_trips(tmp_path, syntax_nlp):
    """configs/cfa_trf.cfg with the prefixed encoder: same scores after
    saving and loading."""
    from .test_cfa_ner import examples, gold_docs

    nlp, train_examples, _ = trained_pipeline(tmp_path, "cfa_trf.cfg", {"bioner.syntax": "dep"},
                                              lambda nlp: examples(gold_docs(syntax_nlp)), 3)
    docs = [eg.predicted for eg in train_examples]
    nlp.to_disk(tmp_path / "trained")
    loaded = spacy.load(tmp_path / "trained")
    numpy.testing.assert_allclose(nlp.get_pipe("cfa_ner").predict(docs)[0],
                                  loaded.get_pipe("cfa_ner").predict(docs)[0], rtol=1e-5, atol=1e-6)

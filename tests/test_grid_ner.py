"""The grid_ner component and the bioner.GridTagger.v1 architecture."""
import numpy
import pytest
from spacy.attrs import IDS
from hypothesis import given, settings
from hypothesis import strategies as st
import spacy
import torch
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from thinc.api import Config, Model, set_dropout_rate

from bioner_spacy.corpus.brat import brat_to_docs
from bioner_spacy.extensions import GRID_SPANS_KEY
from bioner_spacy.ml.grid.grid_tagger import group_segments, sentence_segments
from bioner_spacy.ml.grid.word_pair_grid import ConditionalLayerNorm, WordPairGrid, distance_buckets, regions
from bioner_spacy.pipeline.grid_ner import gold_entities

SMALL_TOK2VEC = """
[model]
[model.tok2vec]
@architectures = "spacy.Tok2Vec.v2"

[model.tok2vec.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 32
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [500, 100, 100, 100]
include_static_vectors = false

[model.tok2vec.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 32
depth = 1
window_size = 1
maxout_pieces = 2
"""


def grid_config(tags=None, **settings):
    model = {"@architectures": "bioner.GridTagger.v1", "hidden": 32, "channels": 16, "dropout": 0.0, **settings}
    tok2vec = Config().from_str(SMALL_TOK2VEC)["model"]["tok2vec"]
    if tags:
        model["tok2vec"] = {"@architectures": "bioner.DatasetTagTok2Vec.v1", "tags": tags, "tok2vec": {
            "@architectures": "spacy.Tok2Vec.v2",
            "embed": tok2vec["embed"],
            "encode": {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": 32, "depth": 1, "dropout": 0.0},
        }}
    else:
        model["tok2vec"] = tok2vec
    return {"model": model}


def gold_doc(nlp, words, entities, dataset=None):
    """entities: (list of (start, end) fragments, label); the flat ones go to
    doc.ents too."""
    doc = Doc(nlp.vocab, words=words)
    spans = []
    for ranges, label in entities:
        span = doc[ranges[0][0] : ranges[-1][1]]
        span = spacy.tokens.Span(doc, span.start, span.end, label=label)
        span._.fragments = ranges
        spans.append(span)
    doc.spans[GRID_SPANS_KEY] = spans
    doc.ents = spacy.util.filter_spans(spans)
    doc._.dataset = dataset
    return doc


def examples_of(nlp, docs):
    examples = []
    for doc in docs:
        predicted = Doc(nlp.vocab, words=[t.text for t in doc])
        predicted._.dataset = doc._.dataset
        examples.append(Example(predicted, doc))
    return examples


def train(nlp, examples, steps=200):
    spacy.util.fix_random_seed(0)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(steps):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    return nlp


# "breast and ovarian cancer": two discontinuous diseases sharing "cancer";
# "renal failure" nested inside "acute renal failure"
NESTED_DISCONTINUOUS = [
    ("Risk of breast and ovarian cancer rose .".split(), [([(2, 3), (5, 6)], "Disease"), ([(4, 6)], "Disease")]),
    ("Cisplatin caused acute renal failure .".split(), [([(0, 1)], "Chemical"), ([(2, 5)], "Disease"), ([(3, 5)], "Disease")]),
    ("No event was seen .".split(), []),
]


@pytest.fixture(autouse=True)
def seeded():
    """The grid's torch layers draw their weights when the model is built,
    before `train` seeds: seed first, so no test depends on what ran before."""
    spacy.util.fix_random_seed(0)


@pytest.fixture(scope="module")
def trained():
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("grid_ner", config=grid_config())
    docs = [gold_doc(nlp, words, ents) for words, ents in NESTED_DISCONTINUOUS]
    examples = examples_of(nlp, docs)
    return train(nlp, examples), examples


def spans_of(doc):
    from bioner_spacy.extensions import group_fragments

    return sorted((tuple(ranges), s.label_) for s, ranges in group_fragments(doc, GRID_SPANS_KEY))


def test_overfits_nested_and_discontinuous_entities(trained):
    nlp, examples = trained
    # every entity with all its fragments (the flat doc.ents keep one of
    # each overlapping pair, by score, so they are not the gold's flat reading)
    assert nlp.evaluate(examples)["grid_f"] == 1.0
    doc = nlp("Risk of breast and ovarian cancer rose .")
    assert spans_of(doc) == [(((2, 3), (5, 6)), "Disease"), (((4, 6),), "Disease")]
    # doc.ents: the flat reading, the discontinuous entity as its full range
    # ("breast and ovarian cancer") wins or loses by score; the two overlap
    assert len(doc.ents) == 1 and doc.ents[0].text in ("breast and ovarian cancer", "ovarian cancer")
    doc = nlp("Cisplatin caused acute renal failure .")
    assert spans_of(doc) == [(((0, 1),), "Chemical"), (((2, 5),), "Disease"), (((3, 5),), "Disease")]
    assert len(doc.spans[GRID_SPANS_KEY].attrs["scores"]) == 3


def test_flat_ents_resolve_overlaps_by_score(trained):
    nlp, _ = trained
    doc = nlp("Cisplatin caused acute renal failure .")
    scores = dict(zip((s.text for s in doc.spans[GRID_SPANS_KEY]), doc.spans[GRID_SPANS_KEY].attrs["scores"]))
    winner = max(["acute renal failure", "renal failure"], key=scores.get)
    assert [e.text for e in doc.ents] == ["Cisplatin", winner]


def test_serialisation_round_trip(trained, tmp_path):
    nlp, _ = trained
    text = "Risk of breast and ovarian cancer rose ."
    nlp.to_disk(tmp_path / "grid")
    loaded = spacy.load(tmp_path / "grid")
    assert spans_of(loaded(text)) == spans_of(nlp(text))
    fresh = spacy.blank("en")
    fresh.add_pipe("grid_ner", config=grid_config())
    fresh.get_pipe("grid_ner").from_bytes(nlp.get_pipe("grid_ner").to_bytes())
    a = nlp.get_pipe("grid_ner").predict([nlp.make_doc(text)])[1][0]
    b = fresh.get_pipe("grid_ner").predict([fresh.make_doc(text)])[1][0]
    numpy.testing.assert_array_equal(a, b)


def test_bfloat16_inference_keeps_the_entities(trained, tmp_path):
    """The trained grid loaded with inference_dtype bfloat16: float32 logits
    close to (and not equal to) the float32 run, the same entities; training
    is unchanged (the option only applies when predicting)."""
    nlp, examples = trained
    nlp.to_disk(tmp_path / "grid")
    bf16 = spacy.load(tmp_path / "grid", config={"components": {"grid_ner": {"model": {"inference_dtype": "bfloat16"}}}})
    for words, _ in NESTED_DISCONTINUOUS:
        text = " ".join(words)
        a = nlp.get_pipe("grid_ner").predict([nlp.make_doc(text)])[1][0]
        b = bf16.get_pipe("grid_ner").predict([bf16.make_doc(text)])[1][0]
        assert b.dtype == numpy.float32 and not numpy.array_equal(a, b)
        numpy.testing.assert_allclose(a, b, atol=0.1 * numpy.abs(a).max())
        assert spans_of(bf16(text)) == spans_of(nlp(text))
    # the training pass is float32 in both (no update of the shared pipeline)
    docs = [eg.predicted for eg in examples]
    for pipe in (nlp.get_pipe("grid_ner"), bf16.get_pipe("grid_ner")):
        set_dropout_rate(pipe.model, 0.0)
    trained_a = nlp.get_pipe("grid_ner").model.begin_update(docs)[0][1]
    trained_b = bf16.get_pipe("grid_ner").model.begin_update(docs)[0][1]
    for a, b in zip(trained_a, trained_b):
        numpy.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="inference_dtype must be one of float32, bfloat16, not 'float16'"):
        spacy.load(tmp_path / "grid", config={"components": {"grid_ner": {"model": {"inference_dtype": "float16"}}}})


def test_predicted_spans_survive_docbin(trained):
    nlp, _ = trained
    doc = nlp("Risk of breast and ovarian cancer rose .")
    (back,) = DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab)
    assert spans_of(back) == spans_of(doc)


def test_model_shapes_and_gradients():
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("grid_ner", config=grid_config())
    docs = [gold_doc(nlp, words, ents) for words, ents in NESTED_DISCONTINUOUS]
    examples = examples_of(nlp, docs)
    nlp.initialize(lambda: examples)
    assert ner.relations == ["None", "NNW", "THW-Chemical", "THW-Disease"]
    (segments, grids), backprop = ner.model.begin_update([eg.predicted for eg in examples])
    assert segments == [(0, 0, 8), (1, 0, 6), (2, 0, 5)]
    assert [g.shape for g in grids] == [(8, 8, 4), (6, 6, 4), (5, 5, 4)]
    loss, d_grids = ner.get_loss(examples, (segments, grids))
    assert loss > 0 and [d.shape for d in d_grids] == [g.shape for g in grids]
    # softmax cross-entropy: each cell's gradient sums to zero
    for d in d_grids:
        numpy.testing.assert_allclose(d.sum(axis=2), 0.0, atol=1e-7)
    backprop(d_grids)
    tok2vec_grads = [node.get_grad(name) for node in ner.model.get_ref("tok2vec").walk() for name in node.param_names if node.has_grad(name)]
    assert tok2vec_grads and any(numpy.abs(g).sum() > 0 for g in tok2vec_grads)


def fixed_vectors(width: int) -> Model:
    """A stand-in encoder: a fixed random vector per token (seeded by the doc's
    text and the token's index), its gradient kept in attrs["dH"]."""

    def forward(model, docs, is_train):
        H = [numpy.random.default_rng([len(doc.text), i]).normal(size=(len(doc), width)).astype("float32")
             for i, doc in enumerate(docs)]

        def backprop(dH):
            model.attrs["dH"] = dH
            return []

        return H, backprop

    return Model("fixed_vectors", forward, dims={"nO": width})


def test_each_sentence_gets_the_gradient_of_its_own_grid():
    """The tagger concatenates the words of every sentence of a batch for the
    grid network and splits the gradient back: each doc's gradient is the one
    it gets alone (two-sentence docs, sentences batched across docs)."""
    from bioner_spacy.ml.grid.grid_tagger import build_grid_tagger

    nlp = spacy.blank("en")
    words = ["A b c .", "D e f g h .", "I j ."]
    docs = [Doc(nlp.vocab, words=w.split(), sent_starts=[True] + [False] * (len(w.split()) - 1)) for w in words]
    two = Doc(nlp.vocab, words="K l m . N o p .".split(), sent_starts=[True, False, False, False, True, False, False, False])
    docs.insert(1, two)
    model = build_grid_tagger(fixed_vectors(4), hidden=4, channels=3, distance_width=2, region_width=2, dropout=0.0, nO=3)
    model.initialize(X=docs)
    def gradients(batch):
        """The segments and dH of one update, each grid's gradient seeded by
        its sentence's start and its doc's length."""
        (segments, grids), backprop = model.begin_update(batch)
        d_grids = [numpy.random.default_rng([s[1], len(batch[s[0]])]).normal(size=g.shape).astype("float32")
                   for s, g in zip(segments, grids)]
        backprop(d_grids)
        return segments, model.get_ref("tok2vec").attrs["dH"]

    segments, dH = gradients(docs)
    assert segments == [(0, 0, 4), (1, 0, 4), (1, 4, 8), (2, 0, 6), (3, 0, 3)]
    assert all(numpy.abs(d).sum() > 0 for d in dH)
    for d, doc in enumerate(docs):
        # alone, at the same index of a batch (so the same input vectors): pad the batch with empty docs
        batch = [Doc(nlp.vocab, words=[]) for _ in range(d)] + [doc]
        _, dH_alone = gradients(batch)
        numpy.testing.assert_allclose(dH[d], dH_alone[d], rtol=1e-4, atol=1e-6)


def concatenated(X: torch.Tensor, lengths) -> torch.Tensor:
    """The words of a padded batch (B, L, nI), concatenated: the network's input."""
    return torch.cat([X[b, :n] for b, n in enumerate(lengths)])


def test_grid_network_gradient_matches_finite_differences():
    torch.manual_seed(0)
    network = WordPairGrid(4, 3, hidden=4, channels=3, distance_width=2, region_width=2, dilations=(1, 2), dropout=0.0).double()
    words = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([4, 2, 1])
    assert torch.autograd.gradcheck(lambda x: network(x, lengths, [[0, 2], [1]]), (words,), eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("dilations", [(1, 2, 3), (2,)])
def test_prediction_factored_equals_the_equations_as_written(dilations):
    """Prediction's factored grid MLP and classifier compute the function
    training computes (dropout off), padding included; every weight random,
    the conditional layer norm's condition layers too."""
    torch.manual_seed(0)
    network = WordPairGrid(5, 4, hidden=6, channels=3, distance_width=2, region_width=3, dilations=dilations).double().eval()
    with torch.no_grad():
        for weight in network.parameters():
            weight.normal_()
    X = torch.randn(3, 7, 5, dtype=torch.float64)
    lengths = torch.tensor([7, 4, 1])
    with torch.no_grad():
        h, _ = network.lstm(X)
        region = regions(lengths, 7)
        written = network.relations_of_cells(h, region)
        factored = network.relations_factored(h, region)
        assert written.abs().max() > 1.0  # not a trivially small output
        torch.testing.assert_close(factored, written, rtol=1e-10, atol=1e-10)
        # and eval-mode forward is the factored form
        states, position = network.encode(concatenated(X, lengths), lengths)
        (logits,) = network(concatenated(X, lengths), lengths)
        torch.testing.assert_close(logits, network.relations_factored(states[position], region))


def test_the_packed_encoder_reads_each_sentence_alone():
    """All sentences go through the BiLSTM in one packed call; each word's
    state is the one of its sentence read alone, and past a sentence's end
    the position points at a zero row."""
    torch.manual_seed(0)
    network = WordPairGrid(4, 3, hidden=6, channels=3).double().eval()
    lengths = torch.tensor([3, 7, 1, 5])
    words = torch.randn(int(lengths.sum()), 4, dtype=torch.float64)
    with torch.no_grad():
        states, position = network.encode(words, lengths)
        assert position.shape == (4, 7)
        start = 0
        for s, n in enumerate(lengths.tolist()):
            alone, _ = network.lstm(words[start : start + n][None])
            torch.testing.assert_close(states[position[s, :n]], alone[0])
            assert (states[position[s, n:]] == 0).all()
            start += n


def test_a_sentence_scores_the_same_alone_or_batched():
    torch.manual_seed(0)
    network = WordPairGrid(4, 3, hidden=4, channels=3, dilations=(1, 2, 3)).eval()
    X = torch.randn(2, 6, 4)
    with torch.no_grad():
        batched, second = network(concatenated(X, [6, 3]), torch.tensor([6, 3]), [[0, 1], [1]])
        (alone,) = network(X[1, :3], torch.tensor([3]))
    torch.testing.assert_close(batched[1, :3, :3], alone[0])
    torch.testing.assert_close(second[0], alone[0])


def test_conditional_layer_norm_starts_as_layer_norm():
    h = torch.randn(1, 3, 5)
    W = ConditionalLayerNorm(5)(h)
    assert W.shape == (1, 3, 3, 5)
    expected = torch.nn.functional.layer_norm(h, (5,))
    for i in range(3):
        torch.testing.assert_close(W[0, i], expected[0], atol=1e-5, rtol=1e-5)


def test_distance_buckets_and_regions():
    assert distance_buckets(5).tolist() == [
        [0, 1, 2, 2, 3],
        [10, 0, 1, 2, 2],
        [11, 10, 0, 1, 2],
        [11, 11, 10, 0, 1],
        [12, 11, 11, 10, 0],
    ]
    assert regions(torch.tensor([2]), 3).tolist() == [[[1, 2, 0], [1, 1, 0], [0, 0, 0]]]


def test_sentences_and_long_sentence_pieces():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["w"] * 10, sent_starts=[True] + [False] * 5 + [True] + [False] * 3)
    assert sentence_segments(doc, 4) == [(0, 4), (4, 6), (6, 10)]
    assert sentence_segments(Doc(nlp.vocab, words=["w"] * 5), 256) == [(0, 5)]
    assert sentence_segments(Doc(nlp.vocab, words=[]), 256) == []
    assert group_segments([3, 10, 4, 2], max_cells=40, padding_limit=2.0) == [[1], [2, 0], [3]]
    # 4 and 3 together pad to 32 cells for 25 of their own: more than 1.1 times
    assert group_segments([3, 10, 4, 2], max_cells=40) == [[1], [2], [0], [3]]
    assert group_segments([5, 5, 5], max_cells=100) == [[0, 1, 2]]
    assert group_segments([10, 9, 9], max_cells=1000) == [[0], [1, 2]]  # 2 x 100 > 1.1 x 181


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(1, 60), max_size=40), st.integers(1, 5000), st.floats(1.0, 3.0))
def test_segment_groups_bound_cells_and_padding(lengths, max_cells, padding_limit):
    groups = group_segments(lengths, max_cells, padding_limit)
    assert sorted(k for g in groups for k in g) == list(range(len(lengths)))
    for g in groups:
        assert [lengths[k] for k in g] == sorted((lengths[k] for k in g), reverse=True)
        padded = len(g) * lengths[g[0]] ** 2
        assert len(g) == 1 or (padded <= max_cells and padded <= padding_limit * sum(lengths[k] ** 2 for k in g) + 1e-9)


def test_long_sentence_is_cut_not_crashed(trained):
    nlp, _ = trained
    ner = nlp.get_pipe("grid_ner")
    words = ("Cisplatin caused acute renal failure . " * 70).split()
    doc = Doc(nlp.vocab, words=words, sent_starts=[True] + [False] * (len(words) - 1))
    old = ner.model.attrs["max_length"]
    ner.model.attrs["max_length"] = 100
    try:
        segments, grids = ner.predict([doc])
        ner.set_annotations([doc], (segments, grids))
    finally:
        ner.model.attrs["max_length"] = old
    assert [end - start for _, start, end in segments] == [100, 100, 100, 100, 20]
    assert max(g.shape[0] for g in grids) == 100
    assert all(s.end - s.start <= 100 for s in doc.spans[GRID_SPANS_KEY])


def test_the_speed_harness_reads_one_long_sentence_through_the_grid(trained, tmp_path):
    """The harness's long-sentence reading (benchmark.speed.measure_long_sentence)
    on a saved grid pipeline: the data's texts joined into one sentence of
    the asked length, cut at the asked max_length, timed, and its memory read."""
    from types import SimpleNamespace

    from bioner_spacy.benchmark.speed import measure_long_sentence

    nlp, _ = trained
    nlp.to_disk(tmp_path / "grid")
    texts = ["Cisplatin caused acute renal failure .", "Risk of breast and ovarian cancer rose ."] * 5
    DocBin(docs=[nlp.make_doc(t) for t in texts]).to_disk(tmp_path / "data.spacy")
    args = SimpleNamespace(one=str(tmp_path / "grid"), data=str(tmp_path / "data.spacy"), long_sentence=30, max_length=8)
    reading = measure_long_sentence(args)
    assert reading["words"] == 30 and reading["max_length"] == 8 and reading["seconds"] > 0
    # the peak is reset before the RSS is read, so it is at least that RSS, up to the
    # kernel's batched per-thread RSS counters (seen 0.17 MB below it with another test process beside)
    assert reading["peak_rss_mb"] >= reading["rss_before_mb"] - 4 > 0
    assert reading["increase_mb"] == reading["peak_rss_mb"] - reading["rss_before_mb"]


def test_assemble_with_the_senter_alone(trained, tmp_path):
    """`assemble --sentences senter` (and the default, "auto", for a grid):
    the syntax pipeline's senter (enabled) and the grid, nothing else; the grid reads the senter's sentences, and on
    one-sentence texts predicts what the trained pipeline does."""
    from .conftest import SYNTAX_PIPELINE
    from .test_cli import cli

    nlp, _ = trained
    nlp.to_disk(tmp_path / "grid")
    cli("assemble", tmp_path / "grid", tmp_path / "lean", "--syntax-pipeline", SYNTAX_PIPELINE, "--sentences", "senter", check=True)
    lean = spacy.load(tmp_path / "lean")
    assert lean.pipe_names == ["senter", "grid_ner"] and lean.disabled == []
    for text in ("Cisplatin caused acute renal failure .", "Risk of breast and ovarian cancer rose ."):
        assert spans_of(lean(text)) == spans_of(nlp(text))
    doc = lean("Cisplatin caused acute renal failure. Risk of breast and ovarian cancer rose.")
    assert [s.text for s in doc.sents] == ["Cisplatin caused acute renal failure.", "Risk of breast and ovarian cancer rose."]
    segments, grids = lean.get_pipe("grid_ner").predict([lean.get_pipe("senter")(lean.make_doc(doc.text))])
    assert segments == [(0, 0, 6), (0, 6, 14)] and [g.shape[0] for g in grids] == [6, 8]
    # the default ("auto") takes the senter for a grid, and --sentences parser keeps the whole syntax pipeline
    cli("assemble", tmp_path / "grid", tmp_path / "auto", "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    assert spacy.load(tmp_path / "auto").pipe_names == ["senter", "grid_ner"]
    cli("assemble", tmp_path / "grid", tmp_path / "full", "--syntax-pipeline", SYNTAX_PIPELINE, "--sentences", "parser", check=True)
    full = spacy.load(tmp_path / "full")
    assert full.pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "grid_ner"] and "senter" in full.disabled
    result = cli("assemble", tmp_path / "grid", tmp_path / "other", "--syntax-pipeline", SYNTAX_PIPELINE, "--sentences", "tagger")
    assert result.returncode == 1 and "--sentences must be one of auto, parser, senter, not 'tagger'" in result.stderr
    result = cli("assemble", tmp_path / "grid", tmp_path / "other", "--syntax-pipeline", "none", "--sentences", "senter")
    assert result.returncode == 1 and "--sentences senter needs a syntax pipeline with a senter" in result.stderr


def test_assemble_keeps_the_parser_for_a_grid_that_embeds_tags(tmp_path):
    """A grid whose own tok2vec embeds TAG reads the tagger: the default keeps
    the whole syntax pipeline, and --sentences senter is refused."""
    from .conftest import SYNTAX_PIPELINE
    from .test_cli import cli

    nlp = spacy.blank("en")
    config = grid_config()
    config["model"]["tok2vec"]["embed"]["attrs"] = ["NORM", "TAG"]
    config["model"]["tok2vec"]["embed"]["rows"] = [500, 50]
    nlp.add_pipe("grid_ner", config=config)
    nlp.initialize(lambda: examples_of(nlp, [gold_doc(nlp, words, ents) for words, ents in NESTED_DISCONTINUOUS]))
    nlp.to_disk(tmp_path / "grid")
    cli("assemble", tmp_path / "grid", tmp_path / "auto", "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    assert spacy.load(tmp_path / "auto").pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "grid_ner"]
    result = cli("assemble", tmp_path / "grid", tmp_path / "lean", "--syntax-pipeline", SYNTAX_PIPELINE, "--sentences", "senter")
    assert result.returncode == 1 and "which grid_ner (grid_ner: TAG) may read" in result.stderr


@pytest.mark.parametrize("attrs", [["NORM"], ["NORM", "TAG"]])
def test_assemble_judges_a_listened_encoder_by_its_features(tmp_path, attrs):
    """A grid listening to an encoder component (as grid_trf.cfg's
    transformer): the encoder reads only the text unless its features name a
    syntax attribute, so the default takes the senter for it, and keeps the
    whole syntax pipeline for one that embeds TAG."""
    from .conftest import SYNTAX_PIPELINE
    from .test_cli import cli

    nlp = spacy.blank("en")
    tok2vec = grid_config()["model"]["tok2vec"]
    tok2vec["embed"]["attrs"] = attrs
    tok2vec["embed"]["rows"] = [500, 50][:len(attrs)]
    nlp.add_pipe("tok2vec", name="encoder", config={"model": tok2vec})
    config = grid_config()
    config["model"]["tok2vec"] = {"@architectures": "spacy.Tok2VecListener.v1", "width": tok2vec["encode"]["width"],
                                  "upstream": "encoder"}
    nlp.add_pipe("grid_ner", config=config)
    examples = examples_of(nlp, [gold_doc(nlp, words, ents) for words, ents in NESTED_DISCONTINUOUS])
    train(nlp, examples, steps=200 if attrs == ["NORM"] else 0)  # trained where its predictions are compared
    nlp.to_disk(tmp_path / "grid")
    cli("assemble", tmp_path / "grid", tmp_path / "auto", "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    assembled = spacy.load(tmp_path / "auto")
    if attrs == ["NORM"]:
        assert assembled.pipe_names == ["senter", "encoder", "grid_ner"]
        assert assembled.get_pipe("encoder").listening_components == ["grid_ner"]
        words, _ = NESTED_DISCONTINUOUS[0]
        found = spans_of(nlp(" ".join(words)))
        assert found and spans_of(assembled(" ".join(words))) == found
    else:
        assert assembled.pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "encoder", "grid_ner"]
        result = cli("assemble", tmp_path / "grid", tmp_path / "lean", "--syntax-pipeline", SYNTAX_PIPELINE,
                     "--sentences", "senter")
        assert result.returncode == 1 and "which encoder (tok2vec: TAG) may read" in result.stderr


@pytest.mark.parametrize("key, attrs, readers", [
    ("ORTH", ["NORM"], []),
    ("LEMMA", ["NORM"], ["encoder (tok2vec: LEMMA)"]),
    ("ORTH", [IDS["NORM"], IDS["DEP"]], ["encoder (tok2vec: DEP)"]),
    ("HEAD", [IDS["MORPH"]], ["encoder (tok2vec: HEAD, MORPH)"]),
])
def test_syntax_read_by_features_or_static_vectors(key, attrs, readers):
    """Hashed features name their attributes (as names or IDs); static
    vectors are looked up by their table's key attribute, outside any feature
    extractor: a table keyed by LEMMA needs the lemmatiser."""
    from spacy.vectors import Vectors

    from bioner_spacy.cli import syntax_readers

    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, shape=(2, 4), attr=key)
    for row, word in enumerate(["cancer", "rose"]):
        nlp.vocab.vectors.add(word, row=row)
    tok2vec = grid_config()["model"]["tok2vec"]
    tok2vec["embed"].update(include_static_vectors=True, attrs=attrs, rows=[50] * len(attrs))
    nlp.add_pipe("tok2vec", name="encoder", config={"model": tok2vec})
    nlp.initialize()
    assert syntax_readers(nlp) == readers


def test_gold_entities_follow_the_predicted_tokens():
    nlp = spacy.blank("en")
    predicted = Doc(nlp.vocab, words=["IL-2", "gene", "and", "T", "cells"], spaces=[True, True, True, True, False])
    reference = Doc(nlp.vocab, words=["IL", "-2", "gene", "and", "T", "cells"], spaces=[False, True, True, True, True, False])
    span = spacy.tokens.Span(reference, 0, 2, label="DNA")
    reference.spans[GRID_SPANS_KEY] = [span, spacy.tokens.Span(reference, 4, 6, label="cell_type")]
    assert gold_entities(Example(predicted, reference)) == [((0,), "DNA"), ((3, 4), "cell_type")]


def test_brat_discontinuous_entity_trains_as_fragments(tmp_path):
    text = "Risk of breast and ovarian cancer rose."
    (tmp_path / "1.txt").write_text(text)
    (tmp_path / "1.ann").write_text("T1\tDisease 8 14;27 33\tbreast cancer\nT2\tDisease 19 33\tovarian cancer\n")
    nlp = spacy.blank("en")
    (doc,) = brat_to_docs(nlp.make_doc, tmp_path)
    assert spans_of(doc) == [(((2, 3), (5, 6)), "Disease"), (((4, 6),), "Disease")]
    (back,) = DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab)
    assert gold_entities(Example(nlp.make_doc(text), back)) == [((2, 5), "Disease"), ((4, 5), "Disease")]


@pytest.fixture(scope="module")
def two_datasets():
    """One sentence, two corpora of the same type: "whole" annotates the full
    mention, "head" only its head word."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("grid_ner", config=grid_config(tags="DN"))
    words = "Patients with acute renal failure improved .".split()
    docs = [
        gold_doc(nlp, words, [([(2, 5)], "Disease")], dataset="whole"),
        gold_doc(nlp, words, [([(4, 5)], "Disease")], dataset="head"),
        gold_doc(nlp, "Aspirin was given .".split(), [([(0, 1)], "Chemical")], dataset="chem"),
    ]
    return train(nlp, examples_of(nlp, docs), steps=300), words


def test_dataset_tag_picks_the_annotation_style(two_datasets):
    nlp, words = two_datasets
    ner = nlp.get_pipe("grid_ner")
    assert ner.datasets == {"chem": ["Chemical"], "head": ["Disease"], "whole": ["Disease"]}
    results = {}
    for dataset in ("whole", "head"):
        doc = Doc(nlp.vocab, words=words)
        doc._.dataset = dataset
        results[dataset] = [e.text for e in ner(doc).ents]
    assert results == {"whole": ["acute renal failure"], "head": ["failure"]}


def test_decoding_keeps_to_the_datasets_types(two_datasets):
    nlp, _ = two_datasets
    ner = nlp.get_pipe("grid_ner")
    doc = Doc(nlp.vocab, words="Aspirin was given .".split())
    doc._.dataset = "whole"
    assert all(e.label_ == "Disease" for e in ner(doc).ents)
    assert ner.relation_mask("whole").tolist() == [True, True, False, True]


def test_unknown_dataset_and_all_mode(two_datasets):
    nlp, words = two_datasets
    ner = nlp.get_pipe("grid_ner")
    doc = Doc(nlp.vocab, words=words)
    doc._.dataset = "nope"
    with pytest.raises(ValueError, match="unknown dataset tag 'nope': this model knows chem, head, whole"):
        ner(doc)
    doc = Doc(nlp.vocab, words=words)
    doc._.dataset = "all"
    ner(doc)
    found = {(s.text, s.id_) for s in doc.spans[GRID_SPANS_KEY]}
    assert {("acute renal failure", "whole"), ("failure", "head")} <= found
    assert doc._.dataset == "all" and len(doc.ents) == 1


def test_grid_mtm_config_trains_on_several_corpora(tmp_path):
    from pathlib import Path

    from spacy.cli.train import train as spacy_train

    nlp = spacy.blank("en")
    words = "Patients with acute renal failure improved .".split()
    for name, ents in (("whole", [([(2, 5)], "Disease")]), ("head", [([(4, 5)], "Disease")])):
        (tmp_path / name).mkdir()
        for split in ("train", "dev"):
            DocBin(docs=[gold_doc(nlp, words, ents, dataset=name)], store_user_data=True).to_disk(tmp_path / name / f"{split}.spacy")
    config = Path(__file__).resolve().parent.parent / "configs" / "grid_mtm.cfg"
    overrides = {"bioner.corpus_dir": str(tmp_path), "bioner.datasets": ["whole", "head"], "training.max_epochs": 2,
                 "components.grid_ner.model.hidden": 16, "components.grid_ner.model.channels": 8}
    spacy_train(config, tmp_path / "out", overrides=overrides)
    loaded = spacy.load(tmp_path / "out" / "model-last")
    ner = loaded.get_pipe("grid_ner")
    assert ner.datasets == {"head": ["Disease"], "whole": ["Disease"]}
    assert ner.model.get_ref("tok2vec").name == "dataset_tags"
    doc = loaded.make_doc(" ".join(words))
    doc._.dataset = "all"
    assert {s.id_ for s in ner(doc).spans[GRID_SPANS_KEY]} <= {"whole", "head"}


@pytest.mark.parametrize("restrict", [True, False])
def test_loss_hand_checked(restrict):
    nlp = spacy.blank("en")
    ner = nlp.add_pipe("grid_ner", config={**grid_config(), "restrict_loss": restrict})
    ner.cfg.update({"labels": ["X", "Y"], "datasets": {"a": ["X"], "b": ["Y"]}})
    reference = gold_doc(nlp, ["w1", "w2"], [([(0, 2)], "X")], dataset="a")
    (example,) = examples_of(nlp, [reference])
    logits = numpy.zeros((2, 2, 4), dtype="float32")  # None, NNW, THW-X, THW-Y
    loss, (d,) = ner.get_loss([example], ([(0, 0, 2)], [logits]))
    # gold: (0,1) NNW, (1,0) THW-X, the diagonal None; 4 cells
    p = 1 / 3 if restrict else 1 / 4
    assert loss == pytest.approx(-numpy.log(p))
    expected = numpy.full((2, 2, 4), p)
    if restrict:
        expected[:, :, 3] = 0.0  # THW-Y is not dataset a's
    expected[0, 1, 1] -= 1
    expected[1, 0, 2] -= 1
    expected[0, 0, 0] -= 1
    expected[1, 1, 0] -= 1
    numpy.testing.assert_allclose(d, expected / 4, atol=1e-6)


def test_entities_sharing_a_range_keep_their_own_fragments():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words="breast and ovarian cancer".split())
    from bioner_spacy.pipeline.grid_ner import GridNER

    GridNER.write_entities(doc, [((0, 3), "Disease", 0.9, None), ((0, 1, 2, 3), "Disease", 0.8, None)])
    from bioner_spacy.extensions import group_fragments

    assert [ranges for _, ranges in group_fragments(doc, GRID_SPANS_KEY)] == [[(0, 1), (3, 4)], [(0, 4)]]
    (back,) = DocBin(docs=[doc], store_user_data=True).get_docs(nlp.vocab)
    from bioner_spacy.scoring import grid_entity_chars

    assert len(grid_entity_chars(back)) == 2


def test_touching_brat_fragments_are_one_fragment(tmp_path):
    # a brat entity split at a space: "renal" + "failure" is contiguous in tokens
    text = "Acute renal failure ."
    (tmp_path / "1.txt").write_text(text)
    (tmp_path / "1.ann").write_text("T1\tDisease 6 11;12 19\trenal failure\n")
    from bioner_spacy.corpus.brat import AlignmentReport

    report = AlignmentReport()
    (doc,) = brat_to_docs(spacy.blank("en").make_doc, tmp_path, report=report)
    assert spans_of(doc) == [(((1, 3),), "Disease")] and report.discontinuous == 0


def test_conditional_layer_norm_conditions_on_the_row_word():
    torch.manual_seed(1)
    cln = ConditionalLayerNorm(4)
    for layer in (cln.gain, cln.bias):
        torch.nn.init.normal_(layer.weight)
        torch.nn.init.normal_(layer.bias)
    h = torch.randn(1, 3, 4)
    W = cln(h)
    normed = torch.nn.functional.layer_norm(h[0], (4,))
    for i in range(3):
        for j in range(3):
            # W_ij = gamma(h_i) * norm(h_j) + lambda(h_i)
            expected = cln.gain(h[0, i]) * normed[j] + cln.bias(h[0, i])
            torch.testing.assert_close(W[0, i, j], expected, atol=1e-5, rtol=1e-5)


def test_no_label_after_initialisation(trained):
    nlp, _ = trained
    with pytest.raises(ValueError, match="cannot add label 'Gene': the model is already initialised"):
        nlp.get_pipe("grid_ner").add_label("Gene")


def test_heap_is_trimmed_after_each_update_and_predicted_batch(trained, monkeypatch):
    """The grids of a batch fragment glibc's heap (bioner_spacy/ml/grid/heap.py):
    grid_ner gives the free pages back after every update and every batch it
    annotates, not only in training."""
    import bioner_spacy.pipeline.grid_ner as grid_ner_module

    nlp, examples = trained
    calls = []
    monkeypatch.setattr(grid_ner_module, "release_free_memory", lambda: calls.append(1) or True)
    texts = ["Cisplatin caused acute renal failure ."] * 5
    list(nlp.pipe(texts, batch_size=2))
    assert len(calls) == 3
    nlp.get_pipe("grid_ner").update(examples[:1], sgd=None)
    assert len(calls) == 4

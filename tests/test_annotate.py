"""The annotate CLI and the assembled pipeline on raw, hostile input."""
import json
import pickle

import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import TOY_TEXT as TEXT
from .test_cli import cli

EXPECTED = [
    {"start": 15, "end": 24, "label": "Chemical", "text": "cisplatin"},
    {"start": 32, "end": 45, "label": "Disease", "text": "renal failure"},
]


@pytest.fixture(scope="module")
def nlp(pipeline_dir):
    return spacy.load(pipeline_dir)


def test_assembled_pipeline(nlp):
    assert nlp.pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "cfa_ner"]
    assert [t.text for t in nlp.make_doc("IL-2/IL-2R")] == ["IL", "-", "2", "/", "IL", "-", "2R"]
    assert nlp.meta["name"] == "bioner_toy" and nlp.meta["requirements"][0].startswith("bioner-spacy>=")
    assert nlp.meta["bioner_datasets"] == {"toy": {"p": 1.0, "r": 1.0, "f": 1.0}}


def test_annotate_jsonl_keeps_good_lines_and_reports_bad_ones(pipeline_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"id": "a", "text": TEXT}) + "\n"
        + "{not json\n"
        + json.dumps({"text": 3}) + "\n"
        + "\n"
        + json.dumps({"text": "", "dataset": "toy"}) + "\n"
        + json.dumps({"id": "u", "text": TEXT, "dataset": "BC2GM"}) + "\n"
    )
    out = tmp_path / "out.jsonl"
    result = cli("annotate", pipeline_dir, src, "-o", out, check=True)
    assert f"{src}:2: not JSON" in result.stderr and f"{src}:3: expected an object" in result.stderr
    assert "u: [cfa_ner] unknown dataset tag 'BC2GM'" in result.stderr
    assert "2 docs" in result.stdout and "3 inputs skipped" in result.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == [
        {"id": "a", "dataset": "toy", "entities": EXPECTED},
        {"id": f"{src}:5", "dataset": "toy", "entities": []},
    ]


def test_annotate_brat_folder_to_brat(pipeline_dir, tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "d1.txt").write_text(TEXT)
    (folder / "d1.ann").write_text("T1\tChemical 15 24\tcisplatin\n")  # gold beside it: ignored
    out = tmp_path / "pred"
    cli("annotate", pipeline_dir, folder, "-o", out, "--format", "brat", check=True)
    assert sorted(p.name for p in out.iterdir()) == ["d1.ann", "d1.txt"]
    assert (out / "d1.txt").read_text() == TEXT
    assert (out / "d1.ann").read_text() == "T1\tChemical 15 24\tcisplatin\nT2\tDisease 32 45\trenal failure\n"


def test_annotate_brat_names_never_collide(pipeline_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": i, "text": TEXT}) + "\n" for i in ("a/b", "a_b", "a/b")))
    out = tmp_path / "pred"
    cli("annotate", pipeline_dir, src, "-o", out, "--format", "brat", check=True)
    assert sorted(p.name for p in out.glob("*.ann")) == ["a_b.ann", "a_b_2.ann", "a_b_3.ann"]


def test_annotate_errors_write_nothing(pipeline_dir, tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(TEXT)
    out = tmp_path / "out.jsonl"
    result = cli("annotate", pipeline_dir, src, "-o", out, "--dataset", "BC2GM")
    assert result.returncode == 1 and "unknown dataset tag 'BC2GM'" in result.stderr and "toy" in result.stderr
    result = cli("annotate", pipeline_dir, src, tmp_path / "missing.txt", "-o", out)
    assert result.returncode == 1 and "missing.txt" in result.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_annotate_model_with_a_broken_file(pipeline_dir, tmp_path, damage):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(pipeline_dir, broken)
    weights = broken / "cfa_ner" / "model"
    if damage == "missing":
        weights.unlink()
    else:
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    src = tmp_path / "a.txt"
    src.write_text(TEXT)
    result = cli("annotate", broken, src, "-o", tmp_path / "out.jsonl")
    assert result.returncode == 1 and "cannot load pipeline" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


def assert_valid_entities(nlp, text):
    """The text comes back unchanged and every entity is a non-empty, trimmed slice of it."""
    doc = nlp(text)
    assert doc.text == text
    for ent in doc.ents:
        assert text[ent.start_char : ent.end_char] == ent.text and ent.text == ent.text.strip() and ent.text


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\n\n\t", "Cisplatin\x00\x07 caused\u200b renal failure \u00e9\u4e2d .",
     "<p>Treatment with <b>cisplatin</b> caused renal failure.</p>", "no boundaries at all " * 20],
)
def test_hostile_text_gives_valid_entities(nlp, text):
    assert_valid_entities(nlp, text)


def test_long_document(nlp):
    doc = nlp((TEXT + " ") * 2200)  # ~100,000 characters
    assert len(doc.text) > 100_000
    assert [(e.text, e.label_) for e in doc.ents[:2]] == [("cisplatin", "Chemical"), ("renal failure", "Disease")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_unicode(nlp, text):
    assert_valid_entities(nlp, text)


def test_pickle_and_two_processes(nlp):
    texts = [TEXT, "No headache was seen after caffeine.", ""]
    expected = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts)]
    assert [(e["start"], e["end"], e["label"]) for e in EXPECTED] == expected[0]
    again = pickle.loads(pickle.dumps(nlp))
    assert [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in again.pipe(texts)] == expected
    parallel = [[(e.start_char, e.end_char, e.label_) for e in d.ents] for d in nlp.pipe(texts, n_process=2)]
    assert parallel == expected


def test_displacy_renders_entities_and_the_span_group(nlp):
    from spacy import displacy

    html = displacy.render(nlp(TEXT), style="ent")
    assert "cisplatin" in html and "Chemical" in html and "Disease" in html
    doc = nlp.make_doc(TEXT)
    doc._.dataset = "all"
    doc = nlp(doc)
    assert [(s.text, s._.dataset) for s in doc.spans["bioner"]] == [("cisplatin", "toy"), ("renal failure", "toy")]
    html = displacy.render(doc, style="span", options={"spans_key": "bioner"})
    assert "renal" in html and "Disease" in html


def test_char_span_scores_hand_checked():
    from bioner_spacy.scoring import char_span_scores

    gold = {(0, 7, "Chemical"), (20, 33, "Disease")}
    pred = {(0, 7, "Chemical"), (26, 33, "Disease"), (40, 44, "Chemical")}
    scores = char_span_scores([(gold, pred), (set(), set())])
    assert scores["span_p"] == pytest.approx(1 / 3) and scores["span_r"] == pytest.approx(1 / 2)
    assert scores["span_f"] == pytest.approx(0.4)
    assert scores["span_per_type"]["Chemical"] == {"p": 0.5, "r": 1.0, "f": pytest.approx(2 / 3), "support": 1}
    assert scores["span_per_type"]["Disease"]["f"] == 0.0


def test_evaluate_brat_on_raw_text(pipeline_dir, tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "d1.txt").write_text(TEXT)
    # the pipeline finds both; gold marks "failure" alone: 1 of 2 right
    (folder / "d1.ann").write_text("T1\tChemical 15 24\tcisplatin\nT2\tDisease 38 45\tfailure\n")
    result = cli("evaluate-brat", pipeline_dir, folder, "--output", tmp_path / "s.json", check=True)
    assert "P 0.5000 R 0.5000 F1 0.5000" in result.stdout
    scores = json.loads((tmp_path / "s.json").read_text())
    assert scores["span_per_type"]["Chemical"]["f"] == 1.0 and scores["n_docs"] == 1


def distinct_texts(n):
    """Texts that each bring words no vocabulary has seen."""
    return [f"Patient {k} took zorblamycin{k} with {TEXT}" for k in range(n)]


def annotations(doc):
    return [t.text for t in doc], [(e.start_char, e.end_char, e.label_) for e in doc.ents]


def test_memory_zones_free_a_streams_new_strings_and_change_no_annotation(pipeline_dir):
    from bioner_spacy.annotate import pipe_in_memory_zones

    nlp = spacy.load(pipeline_dir)  # its own vocabulary: the plain stream below grows it
    texts = distinct_texts(7)
    before = len(nlp.vocab.strings)
    zoned = [(annotations(doc), k) for doc, k in
             pipe_in_memory_zones(nlp, ((t, k) for k, t in enumerate(texts)), 3, as_tuples=True, batch_size=2)]
    assert len(nlp.vocab.strings) == before and "zorblamycin6" not in nlp.vocab.strings
    plain = [(annotations(doc), k) for doc, k in nlp.pipe(((t, k) for k, t in enumerate(texts)), as_tuples=True)]
    assert zoned == plain and [k for _, k in zoned] == list(range(7))
    assert all(texts[k][s:e] == "cisplatin" for (_, ents), k in plain for s, e, label in ents if label == "Chemical")
    assert sum(label == "Chemical" for (_, ents), _ in plain for *_, label in ents) == 7
    assert "zorblamycin6" in nlp.vocab.strings and len(nlp.vocab.strings) > before  # kept without zones
    # zone_docs 0 is the plain stream
    assert [annotations(d) for d in pipe_in_memory_zones(nlp, texts, 0)] == [a for a, _ in plain]


def test_a_lazy_stream_of_docs_is_tokenized_inside_its_zone(pipeline_dir):
    """`annotate` hands the zones docs that a generator makes with make_doc:
    their strings are freed too."""
    from bioner_spacy.annotate import pipe_in_memory_zones

    nlp = spacy.load(pipeline_dir)
    before = len(nlp.vocab.strings)
    docs = (nlp.make_doc(text) for text in distinct_texts(5))
    assert [len(doc.ents) for doc in pipe_in_memory_zones(nlp, docs, 2)] == [2] * 5
    assert len(nlp.vocab.strings) == before and "zorblamycin4" not in nlp.vocab.strings


def test_annotate_without_memory_zones_writes_the_same(pipeline_dir, tmp_path):
    """Five docs in zones of 2 (three zones, the last one short), in one
    zone, and without zones: the same output; a zone of no docs is refused."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"id": str(k), "text": t}) + "\n" for k, t in enumerate(distinct_texts(5))))
    outputs = []
    for name, flags in (("zones2", ["--zone-docs", "2"]), ("zone", ["--memory-zone"]), ("none", ["--no-memory-zone"])):
        cli("annotate", pipeline_dir, src, "-o", tmp_path / f"{name}.jsonl", *flags, check=True)
        outputs.append((tmp_path / f"{name}.jsonl").read_text())
    assert outputs[0] == outputs[1] == outputs[2] and outputs[0].count('"Chemical"') >= 5
    assert [json.loads(line)["id"] for line in outputs[0].splitlines()] == ["0", "1", "2", "3", "4"]
    result = cli("annotate", pipeline_dir, src, "-o", tmp_path / "bad.jsonl", "--zone-docs", "0")
    assert result.returncode != 0 and "--zone-docs must be at least 1, got 0" in result.stderr
    assert not (tmp_path / "bad.jsonl").exists()


def test_a_zone_closed_early_or_broken_leaves_the_vocabulary_as_it_was(pipeline_dir):
    from bioner_spacy.annotate import pipe_in_memory_zones

    nlp = spacy.load(pipeline_dir)
    before = len(nlp.vocab.strings)
    stream = pipe_in_memory_zones(nlp, distinct_texts(5), 2)
    next(stream)
    assert nlp.vocab.in_memory_zone
    stream.close()
    assert not nlp.vocab.in_memory_zone and len(nlp.vocab.strings) == before

    def broken():
        yield from distinct_texts(3)
        raise OSError("input gone")

    with pytest.raises(OSError, match="input gone"):
        list(pipe_in_memory_zones(nlp, broken(), 2))
    assert not nlp.vocab.in_memory_zone and len(nlp.vocab.strings) == before
    # inside a zone already (spaCy's zones do not nest): one plain stream within the caller's zone
    with nlp.memory_zone():
        assert len(list(pipe_in_memory_zones(nlp, distinct_texts(3), 2))) == 3
    assert len(nlp.vocab.strings) == before


def test_zones_stay_off_where_they_would_change_the_entities(pipeline_dir):
    """An abbreviation component with context reads the docs before each one in
    the stream: cutting the stream into zones would cut that context."""
    from bioner_spacy.annotate import zones_change_output

    nlp = spacy.load(pipeline_dir)
    assert not zones_change_output(nlp)
    nlp.add_pipe("bioner_abbreviations", config={"context": 0})
    assert not zones_change_output(nlp)
    nlp.remove_pipe("bioner_abbreviations")
    nlp.add_pipe("bioner_abbreviations", config={"context": 3})
    assert zones_change_output(nlp)

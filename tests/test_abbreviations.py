"""bioner_abbreviations: Schwartz and Hearst's long forms, short forms typed by
the predicted entity of their long form, and context across a stream."""
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc, Span

from bioner_spacy.pipeline.abbreviations import Abbreviations, find_definitions, is_short_form, long_form_start


BLANK = spacy.blank("en")


@pytest.fixture
def nlp():
    return BLANK


def doc_of(nlp, text, ents=()):
    """A doc of the space-split ``text`` with entities (start, end, label)."""
    words = text.split()
    tags = ["O"] * len(words)
    for start, end, label in ents:
        tags[start:end] = [f"B-{label}"] + [f"I-{label}"] * (end - start - 1)
    return Doc(nlp.vocab, words=words, ents=tags)


def ents(doc):
    return [(e.text, e.label_, e.start) for e in doc.ents]


@pytest.mark.parametrize("short, words, start", [
    ("HT", "with hypertension", 1),  # H starts a word, T inside it
    ("CHC", "patients with chronic hepatitis C", 2),
    ("BIS", "monitored by the bispectral index", 3),
    ("AF", "with atrial fibrillation", 1),
    ("5-FU", "treated with 5 - fluorouracil", 2),
    ("XYZ", "with a fever", None),  # no X
    ("AF", "a fibrillation", 0),  # F in "fibrillation", A at the start of a word: "a"
    ("AF", "with fibrillation", None),  # no word starts with A
])
def test_long_form_start_hand_checked(short, words, start):
    assert long_form_start(short, words.split()) == start


@pytest.mark.parametrize("tokens, expected", [
    (("AF",), True), (("D", "-", "MED"), True), (("CB", "3717"), True), (("TGF", "-", "beta1"), True),
    (("A",), False),  # one character
    (("12",), False),  # no letter
    (("-", "AF"), False),  # not a letter or digit first
    (("see", "the", "text"), False),  # three words
    (("hydrochlorothiazide",), False),  # over 10 characters
])
def test_short_form_shape(tokens, expected):
    assert is_short_form(tokens) is expected


def test_definitions_found_in_a_doc(nlp):
    doc = doc_of(nlp, "Rats given 5 - fluorouracil ( 5 - FU ) or saline ( n = 12 ) developed atrial fibrillation ( AF ) .")
    assert [(short, doc[lf:paren].text) for short, lf, paren in find_definitions(doc)] == [
        (("5", "-", "FU"), "5 - fluorouracil"), (("AF",), "atrial fibrillation")]


def test_whitespace_tokens_sentences_and_the_long_form_checks(nlp):
    # raw text with double spaces: spaCy's " " tokens neither count in the window nor end the long form
    raw = spacy.blank("en")("Patients had  atrial fibrillation  (AF) and AF.")
    assert [t.text for t in raw][2:6] == [" ", "atrial", "fibrillation", " "]
    raw.ents = [Span(raw, 3, 5, label="Disease")]
    assert [(short, raw[lf:end].text) for short, lf, end in find_definitions(raw)] == [(("AF",), "atrial fibrillation")]
    assert ents(Abbreviations()(raw)) == [("atrial fibrillation", "Disease", 3), ("AF", "Disease", 7), ("AF", "Disease", 10)]
    # the long form stays inside the sentence of "("
    words = "He had atrial flutter . Fibrillation ( AF ) followed".split()
    doc = Doc(nlp.vocab, words=words, sent_starts=[True, False, False, False, False, True, False, False, False, False])
    assert find_definitions(doc) == []
    doc = Doc(nlp.vocab, words=words, sent_starts=[True] + [False] * 9)
    assert [doc[lf:end].text for _, lf, end in find_definitions(doc)] == ["atrial flutter . Fibrillation"]
    # a long form no longer than its short form, or one that contains it, is no definition
    assert find_definitions(doc_of(nlp, "then AF ( AF ) again")) == []
    assert find_definitions(doc_of(nlp, "with BAF ( BAF )")) == []


def test_short_forms_take_the_type_of_their_long_form(nlp):
    text = ("Patients with atrial fibrillation ( AF ) took digoxin ( DGX ) under the bispectral index ( BIS ) ; "
            "AF recurred , DGX was stopped and BIS fell .")
    doc = doc_of(nlp, text, [(2, 4, "Disease"), (8, 9, "Chemical"), (17, 18, "Chemical"), (27, 28, "Chemical")])
    assert [doc[i].text for i in (5, 17, 20, 23, 27)] == ["AF", "BIS", "AF", "DGX", "BIS"]
    out = Abbreviations()(doc)
    assert ents(out) == [("atrial fibrillation", "Disease", 2), ("AF", "Disease", 5), ("digoxin", "Chemical", 8),
                         ("DGX", "Chemical", 10), ("AF", "Disease", 20), ("DGX", "Chemical", 23)]
    kept = Abbreviations(remove_undefined=False)(doc_of(nlp, text, [(2, 4, "Disease"), (8, 9, "Chemical"), (17, 18, "Chemical")]))
    assert ("BIS", "Chemical", 17) in ents(kept)


def test_a_long_form_partly_an_entity_leaves_its_short_form_alone(nlp):
    # the entity touches the long form but does not end before "(": undecided
    doc = doc_of(nlp, "Wilms tumor cells ( WTC ) grew ; WTC were counted .", [(0, 2, "Disease")])
    assert ents(Abbreviations()(doc)) == [("Wilms tumor", "Disease", 0)]
    # an entity of the short form keeps its own type where the definition says another
    doc = doc_of(nlp, "renal failure ( RF ) ; RF rose .", [(0, 2, "Disease"), (6, 7, "Chemical")])
    assert ents(Abbreviations()(doc)) == [("renal failure", "Disease", 0), ("RF", "Disease", 3), ("RF", "Chemical", 6)]


def test_context_carries_definitions_across_a_stream(nlp):
    texts = ["Rats had atrial fibrillation ( AF ) .", "Nothing here .", "AF stopped .", "AF came back ."]
    docs = lambda: [doc_of(nlp, texts[0], [(2, 4, "Disease")])] + [doc_of(nlp, t) for t in texts[1:]]
    alone = [ents(d) for d in Abbreviations(context=0).pipe(docs())]
    assert alone == [[("atrial fibrillation", "Disease", 2), ("AF", "Disease", 5)], [], [], []]
    assert [ents(d) for d in map(Abbreviations(context=0), docs())] == alone
    two = [ents(d) for d in Abbreviations(context=2).pipe(docs())]
    assert two[2] == [("AF", "Disease", 0)] and two[3] == []  # the definition is 3 docs back
    three = [ents(d) for d in Abbreviations(context=3).pipe(docs())]
    assert three[3] == [("AF", "Disease", 0)]
    with pytest.raises(ValueError, match="context must be 0 or more docs, got -1"):
        Abbreviations(context=-1)


def test_in_a_pipeline_and_round_trip(nlp, tmp_path):
    pipeline = spacy.blank("en")
    pipeline.add_pipe("bioner_abbreviations", config={"context": 3, "remove_undefined": False})
    pipeline.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    component = loaded.get_pipe("bioner_abbreviations")
    assert (component.context, component.remove_undefined) == (3, False)
    doc = doc_of(loaded, "Rats had atrial fibrillation ( AF ) .", [(2, 4, "Disease")])
    assert ents(loaded(doc)) == [("atrial fibrillation", "Disease", 2), ("AF", "Disease", 5)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["AF", "(", ")", "atrial", "fibrillation", "BIS", "index", "the", "."]), min_size=1, max_size=25),
       st.data())
def test_never_overlaps_and_only_touches_short_forms(words, data):
    """Whatever the text and entities: the entities stay non-overlapping, and
    every entity added or removed is an occurrence of a short form defined in it."""
    n = len(words)
    tags, i = ["O"] * n, 0
    while i < n:
        if data.draw(st.booleans()):
            end = min(n, i + data.draw(st.integers(1, 3)))
            label = data.draw(st.sampled_from(["Disease", "Chemical"]))
            tags[i:end] = [f"B-{label}"] + [f"I-{label}"] * (end - i - 1)
            i = end
        else:
            i += 1
    doc = Doc(BLANK.vocab, words=words, ents=tags)
    before = {(e.start, e.end, e.label_) for e in doc.ents}
    shorts = {short for short, _, _ in find_definitions(doc)}
    after = {(e.start, e.end, e.label_) for e in Abbreviations()(doc).ents}
    taken = [i for start, end, _ in after for i in range(start, end)]
    assert len(taken) == len(set(taken))
    for start, end, _ in before ^ after:
        assert tuple(words[start:end]) in shorts

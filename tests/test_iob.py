import pytest
import spacy
from spacy.tokens import DocBin

from bioner_spacy.corpus.errors import CorpusFormatError
from bioner_spacy.corpus.iob import dataset_name, iob_to_docs, read_iob


def write(tmp_path, text, name="c.tsv", mode="w"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf8")
    return path


def test_reads_sentences_and_docstart(tmp_path):
    path = write(
        tmp_path,
        "-DOCSTART-\tO\n\nSelegiline\tB-Chemical\n-\tO\ninduced\tO\n\n\nLevo\tB-Chemical\ndopa\tI-Chemical\n",
    )
    sentences = list(read_iob(path))
    assert [s.words for s in sentences] == [["Selegiline", "-", "induced"], ["Levo", "dopa"]]
    assert [s.tags for s in sentences] == [["B-Chemical", "O", "O"], ["B-Chemical", "I-Chemical"]]
    assert [s.line for s in sentences] == [3, 8]


def test_docs_carry_entities_and_dataset_through_docbin(tmp_path):
    path = write(tmp_path, "Levo\tB-Chemical\ndopa\tI-Chemical\nworks\tO\n")
    nlp = spacy.blank("en")
    (doc,) = iob_to_docs(nlp.vocab, path, dataset="BC5CDR-chem")
    assert [(e.text, e.label_) for e in doc.ents] == [("Levo dopa", "Chemical")]
    docbin = DocBin(store_user_data=True, docs=[doc])
    (restored,) = DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab)
    assert restored._.dataset == "BC5CDR-chem"
    assert [(e.text, e.label_) for e in restored.ents] == [("Levo dopa", "Chemical")]


def test_space_separated_file(tmp_path):
    path = write(tmp_path, "IL-2 B-protein\ngene I-protein\n")
    assert list(read_iob(path))[0].tags == ["B-protein", "I-protein"]


def test_iob1_opens_entities_with_i(tmp_path):
    path = write(tmp_path, "IL-2\tI-protein\ngene\tI-protein\nand\tO\nTNF\tI-protein\n")
    assert list(read_iob(path, scheme="IOB1"))[0].tags == ["B-protein", "I-protein", "O", "B-protein"]


@pytest.mark.parametrize(
    "text,line,message",
    [
        ("a\tO\nb\tO\tX\n", 2, "expected 2 columns"),
        ("a\tO\nb\t\n", 2, "empty tag"),
        ("a\tO\nb\tI-Chemical\n", 2, "I-Chemical after O"),
        ("a\tI-Chemical\n", 1, "I-Chemical after sentence start"),
        ("a\tB-Gene\nb\tI-Chemical\n", 2, "I-Chemical after B-Gene"),
        ("a\tO\nb O\n", 2, "mixed tab/space"),
        ("a O\nb\tO\n", 2, "mixed tab/space"),
        ("a\tX-Chemical\n", 1, "is not O, B-TYPE or I-TYPE"),
        ("a\tO\n\n\nb\n", 4, "expected 2 columns"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(CorpusFormatError, match=message) as err:
        list(read_iob(path))
    assert err.value.line == line
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_empty_file(tmp_path):
    path = write(tmp_path, "\n\n")
    with pytest.raises(CorpusFormatError, match="empty"):
        list(read_iob(path))


def test_non_utf8(tmp_path):
    path = write(tmp_path, b"a\tO\n\xff\xfe\tO\n")
    with pytest.raises(CorpusFormatError, match="not valid UTF-8") as err:
        list(read_iob(path))
    assert err.value.line == 2


def test_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.tsv"):
        list(read_iob(tmp_path / "nope.tsv"))


def test_dataset_name():
    assert dataset_name("/x/BC5CDR-chem-IOB") == "BC5CDR-chem"
    assert dataset_name("/x/JNLPBA") == "JNLPBA"


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bioner_spacy.decoding import bio_to_spans, spans_to_bio  # noqa: E402

WORD = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Z")), min_size=1, max_size=8).filter(
    lambda w: w.split() == [w] and w != "-DOCSTART-"
)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.tuples(WORD, st.sampled_from(["O", "B-Chemical", "I-Chemical", "B-Gene", "I-Gene"])), min_size=1, max_size=8), min_size=1, max_size=5))
def test_written_sentences_read_back_unchanged(tmp_path_factory, sentences):
    # make the random tags valid IOB2 first, as a corpus would have them
    sentences = [
        list(zip([w for w, _ in s], spans_to_bio(len(s), bio_to_spans([t for _, t in s])))) for s in sentences
    ]
    path = tmp_path_factory.mktemp("iob") / "c.tsv"
    path.write_text("\n\n".join("\n".join(f"{w}\t{t}" for w, t in s) for s in sentences) + "\n", encoding="utf8")
    read = [list(zip(s.words, s.tags)) for s in read_iob(path)]
    assert read == sentences

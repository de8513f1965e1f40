import pytest
import spacy

from bioner_spacy.corpus.brat import AlignmentReport, brat_to_docs
from bioner_spacy.corpus.errors import CorpusFormatError

TEXT = "IL-2 gene expression in T cells requires NF-kappaB."


def make_folder(tmp_path, ann, text=TEXT, name="1"):
    (tmp_path / f"{name}.txt").write_text(text, encoding="utf8")
    (tmp_path / f"{name}.ann").write_text(ann, encoding="utf8")
    return tmp_path


def test_entities_at_character_offsets(tmp_path):
    folder = make_folder(tmp_path, "T1\tDNA 0 9\tIL-2 gene\nT2\tcell_type 24 31\tT cells\nR1\tRel Arg1:T1 Arg2:T2\n")
    report = AlignmentReport()
    (doc,) = brat_to_docs(spacy.blank("en").make_doc, folder, "JNLPBA", report=report)
    assert [(e.text, e.label_, e.start_char) for e in doc.ents] == [("IL-2 gene", "DNA", 0), ("T cells", "cell_type", 24)]
    assert doc._.dataset == "JNLPBA"
    assert doc.text == TEXT
    assert report.n_entities == 2 and not report.misaligned


def test_misaligned_entity_is_reported_not_silently_dropped(tmp_path):
    # "IL-2 ge": ends inside the token "gene"
    folder = make_folder(tmp_path, "T1\tDNA 0 7\tIL-2 ge\nT2\tcell_type 24 31\tT cells\n")
    report = AlignmentReport()
    (doc,) = brat_to_docs(spacy.blank("en").make_doc, folder, "X", report=report)
    assert [e.text for e in doc.ents] == ["T cells"]
    assert len(report.misaligned) == 1
    assert "1.ann:1 DNA 'IL-2 ge' (0-7)" in report.misaligned[0]
    assert "1 not aligned" in report.summary()


def test_discontinuous_and_overlapping_are_counted(tmp_path):
    # T1's pieces are apart ("IL-2 ... expression"); T3's touch, so it is one fragment
    folder = make_folder(tmp_path, "T1\tDNA 0 4;10 20\tIL-2 expression\nT2\tprotein 0 4\tIL-2\n"
                                   "T3\tcell_type 24 25;26 31\tT cells\n")
    report = AlignmentReport()
    (doc,) = brat_to_docs(spacy.blank("en").make_doc, folder, "X", report=report)
    assert [e.text for e in doc.ents] == ["IL-2 gene expression", "T cells"]
    assert report.discontinuous == 1 and len(report.overlapping) == 1


def test_offsets_outside_text(tmp_path):
    folder = make_folder(tmp_path, "T1\tDNA 0 9\tIL-2 gene\nT2\tDNA 40 99\tx\n")
    with pytest.raises(CorpusFormatError, match="outside the text") as err:
        list(brat_to_docs(spacy.blank("en").make_doc, folder))
    assert err.value.line == 2 and err.value.path.endswith("1.ann")


def test_missing_ann_and_empty_folder(tmp_path):
    with pytest.raises(CorpusFormatError, match="no .txt files"):
        list(brat_to_docs(spacy.blank("en").make_doc, tmp_path))
    (tmp_path / "2.txt").write_text("x")
    with pytest.raises(CorpusFormatError, match="2.ann: missing"):
        list(brat_to_docs(spacy.blank("en").make_doc, tmp_path))
    with pytest.raises(FileNotFoundError, match="brat folder does not exist"):
        list(brat_to_docs(spacy.blank("en").make_doc, tmp_path / "none"))


def test_non_utf8_text(tmp_path):
    (tmp_path / "1.txt").write_bytes(b"ok\n\xff bad")
    (tmp_path / "1.ann").write_text("")
    with pytest.raises(CorpusFormatError, match="not valid UTF-8") as err:
        list(brat_to_docs(spacy.blank("en").make_doc, tmp_path))
    assert err.value.line == 2

import subprocess
import sys

import spacy
from spacy.tokens import DocBin

import bioner_spacy  # noqa: F401

from .conftest import SYNTAX_PIPELINE


def cli(*args, check=False):
    return subprocess.run([sys.executable, "-m", "bioner_spacy", *map(str, args)], capture_output=True, text=True, check=check)


def test_convert_iob_stores_syntax_and_dataset(tmp_path):
    src = tmp_path / "Toy-IOB" / "train.tsv"
    src.parent.mkdir()
    src.write_text("Aspirin\tB-Chemical\nreduced\tO\nfever\tO\n.\tO\n\nNo\tO\nheadache\tO\n")
    out = tmp_path / "out" / "train.spacy"
    result = cli("convert", "iob", src, out, "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    assert "2 sentences of Toy" in result.stdout
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert [d.text for d in docs] == ["Aspirin reduced fever .", "No headache"]
    assert all(d._.dataset == "Toy" for d in docs)
    assert all(d.has_annotation("TAG") and d.has_annotation("DEP") for d in docs)
    assert [(e.text, e.label_) for e in docs[0].ents] == [("Aspirin", "Chemical")]


def test_convert_error_names_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "bad.tsv"
    src.write_text("a\tO\nb\tI-Chemical\n")
    out = tmp_path / "out" / "bad.spacy"
    result = cli("convert", "iob", src, out, "--syntax-pipeline", "none")
    assert result.returncode == 1
    assert f"{src}:2: I-Chemical after O" in result.stderr
    assert not out.exists()
    assert not list(out.parent.glob("*")) if out.parent.exists() else True


def test_unknown_syntax_pipeline(tmp_path):
    src = tmp_path / "ok.tsv"
    src.write_text("a\tO\n")
    result = cli("convert", "iob", src, tmp_path / "x.spacy", "--syntax-pipeline", "en_no_such_model")
    assert result.returncode == 1
    assert "Unknown syntax pipeline 'en_no_such_model'" in result.stderr
    assert not (tmp_path / "x.spacy").exists()


def test_missing_corpus_path(tmp_path):
    result = cli("convert", "iob", tmp_path / "nope.tsv", tmp_path / "x.spacy", "--syntax-pipeline", "none")
    assert result.returncode == 1 and "does not exist" in result.stderr and "nope.tsv" in result.stderr


def test_convert_brat_with_dev_split(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    for i in range(10):
        (folder / f"{i}.txt").write_text(f"IL-{i} activates T cells.")
        (folder / f"{i}.ann").write_text(f"T1\tprotein 0 {3 + len(str(i))}\tIL-{i}\n")
    out, dev = tmp_path / "train.spacy", tmp_path / "dev.spacy"
    result = cli("convert", "brat", folder, out, "--dataset", "JNLPBA", "--dev-output", dev,
                 "--syntax-pipeline", SYNTAX_PIPELINE, check=True)
    assert "9 documents" in result.stdout and "1 documents" in result.stdout
    vocab = spacy.blank("en").vocab
    train_docs = list(DocBin().from_disk(out).get_docs(vocab))
    dev_docs = list(DocBin().from_disk(dev).get_docs(vocab))
    assert len(train_docs) == 9 and len(dev_docs) == 1
    assert {d.text for d in train_docs}.isdisjoint({d.text for d in dev_docs})
    assert all(d.ents[0].label_ == "protein" and d._.dataset == "JNLPBA" for d in train_docs + dev_docs)


def test_convert_brat_with_the_biomedical_tokenizer(tmp_path):
    folder = tmp_path / "brat"
    folder.mkdir()
    (folder / "1.txt").write_text("It activates NF-kappa B. Then it stops.")
    (folder / "1.ann").write_text("T1\tprotein 13 23\tNF-kappa B\n")
    ents = {}
    for tokenizer in ("syntax", "bio"):
        out = tmp_path / f"{tokenizer}.spacy"
        result = cli("convert", "brat", folder, out, "--dataset", "X", "--syntax-pipeline", "none",
                     "--tokenizer", tokenizer, check=True)
        (doc,) = DocBin().from_disk(out).get_docs(spacy.blank("en").vocab)
        ents[tokenizer] = [e.text for e in doc.ents]
        if tokenizer == "syntax":
            assert "misaligned" in result.stdout and "'NF-kappa B'" in result.stdout
    assert ents == {"syntax": [], "bio": ["NF-kappa B"]}

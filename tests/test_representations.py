"""Unlabelled text -> filtered pretraining input -> floret vectors."""
import gzip
import json
import subprocess
import sys

import numpy
import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from bioner_spacy.representations.text import (
    ContaminationFilter,
    informative,
    informative_ngrams,
    ngrams,
    normal_words,
    prepare_text,
    write_pretrain_jsonl,
)

from .conftest import CORPORA, REPO

TEST_SENTENCE = ("Naloxone reversed the antihypertensive effect of clonidine in 10 rats with "
                 "spontaneous hypertension given 5 mg / kg intravenously .")


def iob_file(path, sentences):
    lines = []
    for sentence in sentences:
        lines += [f"{token}\tO" for token in sentence.split()] + [""]
    path.write_text("\n".join(lines))
    return path


def test_normal_words_survive_sumpubmed_preprocessing():
    assert normal_words("IL-2 (10 mg) <dig> <cit> Ab_c") == ["il", "0", "0", "mg", "0", "ab", "c"]
    # the same sentence as SumPubMed's authors print it: lower case, numbers as <dig>
    sumpubmed = TEST_SENTENCE.lower().replace("10", "<dig>").replace("5 mg", "<dig> mg")
    assert normal_words(sumpubmed) == normal_words(TEST_SENTENCE)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["0", "a", "mm", "tris", "rats", "b2"]), max_size=30), st.integers(1, 8))
def test_informative_ngrams_are_the_informative_ones_of_all_ngrams(words, n):
    assert list(informative_ngrams(words, n)) == [g for g in ngrams(words, n) if informative(g)]


def test_numeric_ngrams_are_not_indexed():
    assert not informative(("0", "mm", "tris", "0", "0", "0", "0", "0"))
    assert informative(("the", "rats", "0", "0"))
    f = ContaminationFilter(["7.5 mM Tris 1 2 3 4 5 6 7 8 9 10 11 12"], n=6)
    assert not f.overlaps("buffer 7.5 mM Tris 1 2 3 4 5 6 7 8 9 10 11 12")


def test_filter_drops_a_shared_12_gram_and_keeps_11(tmp_path):
    f = ContaminationFilter.from_paths([iob_file(tmp_path / "test.tsv", [TEST_SENTENCE])])
    words = TEST_SENTENCE.split()
    # 12 consecutive words of the test sentence inside other text, other case and punctuation
    shared = "We saw that " + " ".join(words[2:14]).upper() + ", as before."
    assert f.overlaps(shared)
    assert f.overlaps(TEST_SENTENCE.lower().replace("10", "<dig>"))
    eleven = "We saw that " + " ".join(words[2:13]) + " before."
    assert not f.overlaps(eleven)
    assert not f.overlaps("Clonidine lowers blood pressure in rats.")


def test_filter_reads_across_sentences_and_matches_short_ones_whole(tmp_path):
    title = "Clonidine and naloxone in hypertensive rats ."
    f = ContaminationFilter.from_paths([iob_file(tmp_path / "test.tsv", [title, TEST_SENTENCE])])
    # 12 words across the two sentences' boundary
    assert f.overlaps("hypertensive rats . Naloxone reversed the antihypertensive effect of clonidine in <dig> rats")
    # the 6-word title alone is a paragraph of exactly its words, not a part of one
    assert f.overlaps("CLONIDINE AND NALOXONE IN HYPERTENSIVE RATS")
    assert not f.overlaps("Clonidine and naloxone in hypertensive rats were compared.")
    # a heading of fewer than 6 words is every article's, not the test set's
    headings = ContaminationFilter.from_paths([iob_file(tmp_path / "h.tsv", ["Materials and methods", TEST_SENTENCE])])
    assert not headings.overlaps("Materials and Methods")


def test_filter_reads_brat_text_and_needs_evaluation_text(tmp_path):
    (tmp_path / "brat").mkdir()
    (tmp_path / "brat" / "1.txt").write_text(TEST_SENTENCE + "\nSecond line .")
    (tmp_path / "brat" / "1.ann").write_text("T1\tChemical 0 8\tNaloxone\n")
    f = ContaminationFilter.from_paths([tmp_path / "brat"])
    assert f.overlaps(TEST_SENTENCE)
    with pytest.raises(ValueError, match="no evaluation splits"):
        ContaminationFilter.from_paths([])
    with pytest.raises(FileNotFoundError, match="missing.tsv"):
        ContaminationFilter.from_paths([tmp_path / "missing.tsv"])


def unlabelled_folder(tmp_path):
    folder = tmp_path / "unlabelled"
    folder.mkdir()
    with gzip.open(folder / "a.txt.gz", "wt") as f:
        f.write("Metformin reduced hepatic glucose production.\n\n"
                f"Earlier work: {TEST_SENTENCE}\n"
                "Rosiglitazone (RSG) increased the risk of heart failure.\n")
    (folder / "b.txt").write_text("the dose was <dig> mg <cit> .\n")
    return folder


def test_prepare_text_removes_test_paragraphs_and_tokenises(tmp_path):
    evaluation = iob_file(tmp_path / "test.tsv", [TEST_SENTENCE])
    folder = unlabelled_folder(tmp_path)
    output = tmp_path / "out" / "text.txt"
    report = prepare_text(sorted(folder.iterdir()), [evaluation], output, jobs=1, log=lambda m: None)
    assert output.read_text().splitlines() == [
        "metformin reduced hepatic glucose production .",
        "rosiglitazone ( rsg ) increased the risk of heart failure .",
        "the dose was 0 mg .",
    ]
    assert (report.files, report.paragraphs, report.removed, report.kept) == (2, 4, 1, 3)
    assert write_pretrain_jsonl(output, tmp_path / "pretrain.jsonl") == 3
    first = json.loads((tmp_path / "pretrain.jsonl").read_text().splitlines()[0])
    assert first == {"text": "metformin reduced hepatic glucose production ."}


def test_prepare_text_writes_nothing_when_it_fails(tmp_path):
    folder = unlabelled_folder(tmp_path)
    output = tmp_path / "text.txt"
    with pytest.raises(FileNotFoundError):
        prepare_text(sorted(folder.iterdir()), [tmp_path / "missing.tsv"], output, log=lambda m: None)
    assert not output.exists() and list(tmp_path.iterdir()) == [folder]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "bioner_spacy", *map(str, args)], capture_output=True, text=True)


def test_missing_folders_are_named_with_what_builds_them(tmp_path):
    out = cli("prepare-text", tmp_path / "nowhere", tmp_path / "text.txt", "--eval", tmp_path)
    assert out.returncode == 1 and "nowhere" in out.stderr and "unlabelled_dir" in out.stderr
    out = cli("vectors", tmp_path / "text.txt", tmp_path / "vectors")
    assert out.returncode == 1 and "text.txt" in out.stderr and "prepare-text" in out.stderr
    assert not (tmp_path / "vectors").exists()


@pytest.fixture(scope="module")
def tiny_vectors(tmp_path_factory):
    from bioner_spacy.representations.vectors import FloretSettings, build_vectors

    tmp_path = tmp_path_factory.mktemp("floret")
    text = tmp_path / "text.txt"
    sentences = ["metformin lowers glucose in diabetic patients .", "rosiglitazone lowers glucose too ."]
    text.write_text("\n".join(sentences * 50) + "\n")
    settings = FloretSettings(dim=8, epoch=2, minCount=1, bucket=500, thread=1)
    manifest = build_vectors(text, tmp_path / "vectors", settings, log=lambda m: None)
    return tmp_path, manifest


def test_floret_vectors_cover_unseen_words(tiny_vectors):
    tmp_path, manifest = tiny_vectors
    assert manifest["words"] == 600 and manifest["attr"] == "LOWER"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.txt", "vectors"]
    nlp = spacy.blank("en", config={"initialize": {"vectors": str(tmp_path / "vectors")}})
    nlp.initialize()
    vectors = nlp.vocab.vectors
    assert vectors.mode == "floret" and vectors.shape == (500, 8)
    # keyed by LOWER: a word and its capitalised form share a vector, and an
    # unseen word gets one from its subwords
    doc = nlp("Metformin metformin troglitazone rosiglitazone patients")
    numpy.testing.assert_array_equal(doc[0].vector, doc[1].vector)
    # "troglitazone" is in no training text: its vector comes from subword rows
    # that "rosiglitazone" shares (-litazone), not from those of "patients"

    def cos(a, b):
        return float(a @ b / numpy.linalg.norm(a) / numpy.linalg.norm(b))

    assert cos(doc[2].vector, doc[3].vector) > 0.5 > cos(doc[2].vector, doc[4].vector)


def test_on_one_thread_floret_builds_the_same_table_again(tiny_vectors, tmp_path):
    """The reason `--threads 1` exists: a build a benchmark cell can name and
    another machine can make again."""
    from bioner_spacy.representations.vectors import FloretSettings, build_vectors

    first_dir, first = tiny_vectors
    settings = FloretSettings(dim=8, epoch=2, minCount=1, bucket=500, thread=1)
    again = build_vectors(first_dir / "text.txt", tmp_path / "vectors", settings, log=lambda m: None)
    assert again["sha256"] == first["sha256"]


def test_vectors_travel_with_the_pipeline_and_are_never_silently_missing(tiny_vectors, tmp_path):
    """A cfa_ner trained with static vectors: assemble carries them into the
    pipeline users load; rebuilt without them, it refuses to run."""
    from spacy.tokens import Doc
    from spacy.training import Example
    from spacy.vectors import Vectors

    vectors_dir = tiny_vectors[0] / "vectors"
    nlp = spacy.blank("en", config={"initialize": {"vectors": str(vectors_dir)}})
    nlp.add_pipe("cfa_ner", config={"model": {"syntax": "none", "tok2vec": {"embed": {"include_static_vectors": True}}}})
    words = "Metformin lowers glucose .".split()
    gold = Doc(nlp.vocab, words=words, ents=["B-Chemical", "O", "B-Chemical", "O"])
    examples = [Example(Doc(nlp.vocab, words=words), gold)]
    nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, drop=0.0)
    nlp.to_disk(tmp_path / "trained")
    out = cli("assemble", tmp_path / "trained", tmp_path / "assembled", "--syntax-pipeline", "none")
    assert out.returncode == 0, out.stderr
    loaded = spacy.load(tmp_path / "assembled")
    assert loaded.vocab.vectors.mode == "floret" and loaded.vocab.vectors.shape == (500, 8)
    assert [(e.text, e.label_) for e in loaded(" ".join(words)).ents] == [("Metformin", "Chemical"), ("glucose", "Chemical")]
    loaded.vocab.vectors = Vectors(strings=loaded.vocab.strings)  # the trained model, its vectors dropped
    with pytest.raises(ValueError, match=r"\[cfa_ner\] this model was trained with static word vectors"):
        loaded("Metformin lowers glucose .")
    bare = spacy.blank("en").from_config(loaded.config)  # the same components, no vectors
    with pytest.raises(ValueError, match=r"\[cfa_ner\] this model was trained with static word vectors"):
        bare("Metformin lowers glucose .")


def test_training_without_the_vectors_names_the_path_and_command(tmp_path):
    out = subprocess.run([sys.executable, "-m", "spacy", "train", str(REPO / "configs" / "cfa_bilstm_vectors.cfg"),
                          "--paths.vectors", str(tmp_path / "no-vectors"), "--paths.train", str(tmp_path / "t.spacy"),
                          "--paths.dev", str(tmp_path / "d.spacy")], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode != 0
    assert f"vectors not found: {tmp_path / 'no-vectors'}" in out.stderr + out.stdout
    assert "spacy project run vectors" in out.stderr + out.stdout


def test_unknown_split_is_named(tmp_path):
    if not (CORPORA / "mtl-bioinformatics-2016").is_dir():
        pytest.skip(f"corpora not found under {CORPORA}")
    out = cli("prepare-text", unlabelled_folder(tmp_path), tmp_path / "text.txt", "--corpora-dir", CORPORA,
              "--splits", "test,dev")
    assert out.returncode == 1 and "no 'dev' split" in out.stderr and not (tmp_path / "text.txt").exists()


def test_a_file_that_is_not_text_is_named(tmp_path):
    from bioner_spacy.representations.text import read_paragraphs

    bad = tmp_path / "broken.txt.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"broken.txt.gz: cannot read it as UTF-8 text, gzip-compressed or plain"):
        list(read_paragraphs(bad))


def test_pretrain_text_keeps_the_first_paragraphs(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("first paragraph .\n\nsecond one\nthird\n")
    out = cli("pretrain-text", text, tmp_path / "text.jsonl", "--paragraphs", "2")
    assert out.returncode == 0, out.stderr
    lines = (tmp_path / "text.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [{"text": "first paragraph ."}, {"text": "second one"}]
    out = cli("pretrain-text", tmp_path / "none.txt", tmp_path / "none.jsonl")
    assert out.returncode == 1 and "none.txt" in out.stderr and "prepare-text" in out.stderr
    assert not (tmp_path / "none.jsonl").exists()


@pytest.mark.slow
def test_pretrain_then_train_from_the_pretrained_tok2vec(tmp_path):
    """`spacy project run pretrain` then `train-pretrained`: the trained
    config starts from pretraining/tok2vec (init_tok2vec into cfa_ner's
    tok2vec), and initialising it loads exactly the pretrained weights."""
    from spacy.training.initialize import init_nlp
    from spacy.util import load_config

    from .conftest import project_copy

    root = project_copy(tmp_path)
    (root / "pretraining").mkdir()
    from .conftest import corpus_file

    train_tsv = corpus_file("mtl-bioinformatics-2016", "BC5CDR-chem-IOB", "train.tsv")
    sentences = [line.split("\t")[0] for line in train_tsv.read_text().splitlines()[:3000]]
    words = [w for w in sentences if w]
    (root / "pretraining" / "text.txt").write_text("\n".join(" ".join(words[i:i + 40]) for i in range(0, 2000, 40)))
    variables = ["--vars.config", "cfa_cnn", "--vars.corpora_dir", str(CORPORA), "--vars.pretrain_paragraphs", "30",
                 "--vars.train_limit", "40", "--vars.eval_limit", "20", "--vars.max_steps", "4", "--vars.eval_frequency", "2"]
    for command in ("pretrain", "convert", "train-pretrained"):
        done = subprocess.run([sys.executable, "-m", "spacy", "project", "run", command, str(root), *variables],
                              capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stdout[-2000:], done.stderr[-2000:])
    assert len((root / "pretraining" / "text.jsonl").read_text().splitlines()) == 30
    weights = root / "pretraining" / "tok2vec" / "model-last.bin"
    trained = load_config(root / "training" / "BC5CDR-chem" / "cfa_cnn-dep-from-pretraining" / "tok2vec" / "model-best" / "config.cfg")
    assert trained["paths"]["init_tok2vec"] == "pretraining/tok2vec/model-last.bin"
    assert (trained["pretraining"]["component"], trained["pretraining"]["layer"]) == ("cfa_ner", "tok2vec")
    # trained as `train` trains: with the project's parameter averages (project.yml's use_averages)
    assert trained["training"]["optimizer"]["use_averages"] is True
    config = load_config(root / "pretraining" / "cfa_cnn-pretrain.cfg", overrides={
        "paths.train": str(root / "corpus" / "BC5CDR-chem" / "train.spacy"),
        "paths.dev": str(root / "corpus" / "BC5CDR-chem" / "dev.spacy"), "paths.init_tok2vec": str(weights),
        "pretraining.component": "cfa_ner", "pretraining.layer": "tok2vec"})
    tok2vec = init_nlp(config).get_pipe("cfa_ner").model.get_ref("tok2vec")
    pretrained = tok2vec.copy().from_bytes(weights.read_bytes())
    for node, expected in zip(tok2vec.walk(), pretrained.walk()):
        for name in node.param_names:
            if node.has_param(name):
                numpy.testing.assert_array_equal(node.get_param(name), expected.get_param(name))
